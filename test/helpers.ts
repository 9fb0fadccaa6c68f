import { expect } from 'chai';
import { MemoryTuneStore } from '../src/gpu/autotune.js';
import { Engine } from '../src/gpu/engine.js';
import { KernelSources } from '../src/gpu/kernels.js';
import { acquireNodeDevice, nodeKernelReader } from '../src/gpu/node.js';
import { createEngine } from '../src/node-engine.js';
import { RUN_SEED, relL2 } from './reference/util.js';

export { rng, RUN_SEED, freshRng, randomF32, randomNormal, relL2 } from './reference/util.js';
import type { BackendName } from '../src/gpu/node.js';

/** The headless browser of the browser tests and its flags (Debian's chromium on SwiftShader). */
export { CHROMIUM, CHROMIUM_ARGS } from '../src/bench/chromium.js';

/** Backends the suite runs on: TOK1D_TEST_BACKENDS=opengl,swiftshader (default both). */
export const TEST_BACKENDS = (process.env.TOK1D_TEST_BACKENDS ?? 'opengl,swiftshader').split(',').filter(Boolean) as BackendName[];

const engines = new Map<string, Promise<Engine | string>>();

/**
 * One poisoning engine per backend for the whole run; a string is the reason it is missing. Kernel
 * choices live in memory: tests neither read nor write the user's tune cache.
 */
export function engineFor(backend: BackendName): Promise<Engine | string> {
  let e = engines.get(backend);
  if (!e) {
    e = createEngine({ backend, poison: true, tuneStore: new MemoryTuneStore() }).catch((err: Error) => `${backend} unavailable: ${err.message}`);
    engines.set(backend, e);
  }
  return e;
}

/**
 * An engine on a device of its own (its errors reach no other engine) whose kernel `name` has
 * `find` replaced by `replace`: a planted fault for the start-up checks to catch. Throws when the
 * source has no `find` (the fault would not be planted). Dispose it after use.
 */
export async function engineWithPlantedFault(backend: BackendName, name: string, find: string, replace: string): Promise<Engine> {
  const read = nodeKernelReader();
  const planted = read(name).replace(find, replace);
  if (planted === read(name)) throw new Error(`kernel ${name} has no "${find}" to replace`);
  const acquired = await acquireNodeDevice(backend);
  return new Engine(acquired.device, acquired.info, new KernelSources((n) => (n === name ? planted : read(n))), { tuneStore: new MemoryTuneStore() }, acquired.release);
}

export async function disposeEngines(): Promise<void> {
  for (const e of engines.values()) {
    const v = await e;
    if (typeof v !== 'string') v.dispose();
  }
  engines.clear();
}

/**
 * Declares the same tests once per backend. `get()` returns that backend's engine; when the backend
 * is missing, the block's tests are skipped and the reason printed.
 */
export function describeBackends(title: string, body: (get: () => Engine, backend: BackendName) => void): void {
  for (const backend of TEST_BACKENDS) {
    describe(`${title} [${backend}]`, function () {
      let engine: Engine | undefined;
      before(async function () {
        const e = await engineFor(backend);
        if (typeof e === 'string') {
          console.log(`      skipped: ${e}`);
          this.skip();
        }
        engine = e as Engine;
      });
      body(() => engine!, backend);
    });
  }
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  const e = relL2(actual, expected);
  expect(e, `${what}: relative L2 error ${e.toExponential(2)} > ${tol} (seed ${RUN_SEED})`).to.be.at.most(tol);
}
