/** Engine acquisition in Node: Dawn through the `webgpu` package, kernels read from kernels/. */
import { FileTuneStore } from './gpu/autotune-node.js';
import { Engine, type EngineOptions } from './gpu/engine.js';
import { KernelSources } from './gpu/kernels.js';
import { acquireNodeDevice, nodeKernelReader, type BackendName } from './gpu/node.js';
import { engineForDevice } from './engine-factory.js';

export interface CreateEngineOptions extends EngineOptions {
  /** Use this device as it is (embedding). The engine never destroys it. */
  device?: GPUDevice;
  /** Force a backend (default: TOK1D_BACKEND, else automatic). */
  backend?: BackendName;
}

export async function createEngine(options: CreateEngineOptions = {}): Promise<Engine> {
  const { device, backend, ...engineOptions } = options;
  if (device) return engineForDevice(device, nodeKernelReader(), engineOptions);
  const acquired = await acquireNodeDevice(backend);
  return new Engine(acquired.device, acquired.info, new KernelSources(nodeKernelReader()), { tuneStore: new FileTuneStore(), ...engineOptions }, acquired.release);
}
