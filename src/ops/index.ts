/** The op layer: each file picks a kernel variant, binds and dispatches; forward and backward live together. */
export * from './matmul.js';
export * from './elementwise.js';
export * from './layernorm.js';
export * from './gelu.js';
export * from './softmax.js';
export * from './attention.js';
export * from './codebook.js';
export * from './normalize.js';
export * from './pixels.js';
export * from './sequence.js';
export * from './conv.js';
