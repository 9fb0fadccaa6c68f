import { FileTuneStore } from '../gpu/autotune-node.js';
import { Engine } from '../gpu/engine.js';
import { KernelSources } from '../gpu/kernels.js';
import { acquireNodeDevice, BACKENDS, nodeKernelReader, type BackendName } from '../gpu/node.js';
import { UsageError } from './errors.js';

/**
 * Creates the CLI's engine straight from the gpu layer (as createEngine does, without loading the
 * op modules), so a missing or broken family cannot take down `tok1d doctor` or `tok1d bench`:
 * those load each family on its own and report it.
 */
export async function openEngine(backend: BackendName | undefined, poison: boolean): Promise<Engine> {
  const acquired = await acquireNodeDevice(backend);
  return new Engine(acquired.device, acquired.info, new KernelSources(nodeKernelReader()), { poison, tuneStore: new FileTuneStore() }, acquired.release);
}

/** The backend from --backend, else TOK1D_BACKEND, else undefined (automatic). */
export function resolveBackend(flag: string | undefined): BackendName | undefined {
  const [value, source] = flag !== undefined ? [flag, '--backend'] : [process.env.TOK1D_BACKEND, 'TOK1D_BACKEND'];
  if (value === undefined || value === '') return undefined;
  if (!(BACKENDS as readonly string[]).includes(value)) {
    throw new UsageError(`unknown backend '${value}' (from ${source}); choose one of ${BACKENDS.join(', ')}`);
  }
  return value as BackendName;
}

export { describeEngine, KEY_LIMITS } from '../bench/adapter.js';

export const BYTE_LIMITS: ReadonlySet<string> = new Set(['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize']);

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1 && v % 1024 === 0) {
    v /= 1024;
    u++;
  }
  return `${v} ${units[u]}`;
}
