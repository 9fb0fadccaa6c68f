import { expect } from 'chai';
import { MemoryTuneStore } from '../src/gpu/autotune.js';
import { Engine } from '../src/gpu/engine.js';
import { KernelSources } from '../src/gpu/kernels.js';
import { acquireNodeDevice, nodeKernelReader, type AcquiredDevice } from '../src/gpu/node.js';
import { createEngine } from '../src/node-engine.js';
import { withLimits } from '../src/gpu/limits.js';
import { entryBindingCounts } from '../src/gpu/wgsl-bindings.js';
import { RUN_SEED, relL2 } from './reference/util.js';

export { rng, RUN_SEED, freshRng, randomF32, randomNormal, relL2 } from './reference/util.js';
export { withLimits } from '../src/gpu/limits.js';
import type { BackendName } from '../src/gpu/node.js';

/** The headless browser of the browser tests and its flags (Debian's chromium on SwiftShader). */
export { CHROMIUM, CHROMIUM_ARGS } from '../src/bench/chromium.js';

/** Backends the suite runs on: TOK1D_TEST_BACKENDS=opengl,swiftshader (default both). */
export const TEST_BACKENDS = (process.env.TOK1D_TEST_BACKENDS ?? 'opengl,swiftshader').split(',').filter(Boolean) as BackendName[];

const engines = new Map<string, Promise<Engine | string>>();

/**
 * Storage buffers per shader stage the shared engines are held to: TOK1D_TEST_STORAGE_BUFFERS=4 runs
 * the op tests through storage packing (withStorageBufferLimit); unset, the device's own limit.
 */
const TEST_STORAGE_BUFFERS = Number(process.env.TOK1D_TEST_STORAGE_BUFFERS ?? 0);

/**
 * One poisoning engine per backend for the whole run; a string is the reason it is missing. Kernel
 * choices live in memory: tests neither read nor write the user's tune cache.
 */
export function engineFor(backend: BackendName): Promise<Engine | string> {
  let e = engines.get(backend);
  if (!e) {
    const options = { poison: true, tuneStore: new MemoryTuneStore() };
    const make = async (): Promise<Engine> => {
      if (!TEST_STORAGE_BUFFERS) return createEngine({ backend, ...options });
      const acquired = await acquireNodeDevice(backend);
      const held = withStorageBufferLimit(acquired.device, TEST_STORAGE_BUFFERS).device;
      return new Engine(held, acquired.info, new KernelSources(nodeKernelReader()), options, acquired.release);
    };
    e = make().catch((err: Error) => `${backend} unavailable: ${err.message}`);
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

/**
 * For a before() hook: a device of the backend's own (the caller releases it), or, when the backend
 * is missing, the block skipped with the reason printed.
 */
export async function deviceOrSkip(ctx: Mocha.Context, backend: BackendName): Promise<AcquiredDevice> {
  try {
    return await acquireNodeDevice(backend);
  } catch (e) {
    console.log(`      skipped: ${backend} unavailable: ${(e as Error).message}`);
    return ctx.skip();
  }
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

/** What a device wrapped by withStorageBufferLimit saw: the most storage buffers of a bind group and of a pipeline. */
export interface StorageBufferUse {
  bindGroups: number;
  pipelines: number;
  mostInBindGroup: number;
  mostInPipeline: number;
}

/**
 * `device` reporting `limit` storage buffers per shader stage and holding tok1d to it, since Dawn
 * grants no device below its defaults: a bind group with more than `limit` entries on buffers made
 * with STORAGE usage, or a compute pipeline whose entry point uses more than `limit` storage
 * buffers (counted in the WGSL of its module), throws.
 */
export function withStorageBufferLimit(device: GPUDevice, limit: number): { device: GPUDevice; use: StorageBufferUse } {
  const use: StorageBufferUse = { bindGroups: 0, pipelines: 0, mostInBindGroup: 0, mostInPipeline: 0 };
  const code = new WeakMap<GPUShaderModule, string>();
  const checkPipeline = (d: GPUComputePipelineDescriptor): void => {
    const source = code.get(d.compute.module);
    if (source === undefined) throw new Error('pipeline from a module not created through the wrapped device');
    const n = entryBindingCounts(source).get(d.compute.entryPoint!)?.storage ?? 0;
    use.pipelines++;
    use.mostInPipeline = Math.max(use.mostInPipeline, n);
    if (n > limit) throw new Error(`pipeline ${d.label}: ${n} storage buffers, the device allows ${limit}`);
  };
  const wrapped = withLimits(
    device,
    { maxStorageBuffersPerShaderStage: limit },
    {
      createShaderModule: (d: GPUShaderModuleDescriptor) => {
        const m = device.createShaderModule(d);
        code.set(m, d.code);
        return m;
      },
      createComputePipeline: (d: GPUComputePipelineDescriptor) => (checkPipeline(d), device.createComputePipeline(d)),
      createComputePipelineAsync: async (d: GPUComputePipelineDescriptor) => (checkPipeline(d), device.createComputePipelineAsync(d)),
      createBindGroup: (d: GPUBindGroupDescriptor) => {
        let n = 0;
        for (const e of d.entries) {
          const r = e.resource as GPUBufferBinding;
          const buffer = (typeof GPUBuffer !== 'undefined' && r instanceof GPUBuffer ? r : 'buffer' in r ? r.buffer : null) as GPUBuffer | null;
          if (buffer && buffer.usage & GPUBufferUsage.STORAGE) n++;
        }
        use.bindGroups++;
        use.mostInBindGroup = Math.max(use.mostInBindGroup, n);
        if (n > limit) throw new Error(`bind group ${d.label ?? ''}: ${n} storage buffers, the device allows ${limit}`);
        return device.createBindGroup(d);
      },
    },
  );
  return { device: wrapped, use };
}
