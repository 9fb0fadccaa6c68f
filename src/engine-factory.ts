import { Engine, type DeviceInfo, type EngineOptions } from './gpu/engine.js';
import { KernelSources, type KernelReader } from './gpu/kernels.js';

/** Describes a device handed over by an application (its adapter is not ours to query). */
export function describeAppDevice(device: GPUDevice): DeviceInfo {
  const i = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  const name = i ? [i.vendor, i.architecture, i.device].filter(Boolean).join(' ') || i.description : '';
  const description = i?.description ?? '';
  return {
    backend: 'app',
    featureLevel: device.features.has('core-features-and-limits') ? 'core' : 'compatibility',
    adapter: name || 'application device',
    vendor: i?.vendor ?? '',
    architecture: i?.architecture ?? '',
    description,
    software: /llvmpipe|swiftshader|lavapipe|warp/i.test(`${name} ${description}`),
  };
}

/** Wraps a caller's device as it is: the engine never destroys it. */
export function engineForDevice(device: GPUDevice, reader: KernelReader, options: EngineOptions = {}, info?: DeviceInfo): Engine {
  return new Engine(device, info ?? describeAppDevice(device), new KernelSources(reader), options);
}
