/** tok1d for Node. */
export { createEngine, type CreateEngineOptions } from './node-engine.js';
export { Engine, grid, type DeviceInfo, type EngineOptions } from './gpu/engine.js';
export { Tensor, type DType } from './tensor.js';
export { NoAdapterError, BACKENDS, type BackendName } from './gpu/node.js';
export * as ops from './ops/index.js';
