import type { Engine } from '../gpu/engine.js';
import { SOFTMAX } from '../gpu/uniforms.js';
import { shapeStr, type Tensor } from '../tensor.js';
import { checkBindable } from './elementwise.js';
import { rowsCols, rowwiseLaunch, type RowwiseOptions } from './layernorm.js';

/**
 * Softmax over the last axis, with the row maximum subtracted. −∞ entries give 0; a row of all
 * −∞ gives a row of zeros.
 */
export function softmax(engine: Engine, x: Tensor, options: RowwiseOptions = {}): Tensor {
  const [rows, cols] = rowsCols('softmax', x);
  checkBindable(engine, 'softmax', x);
  const y = engine.empty(x.shape);
  const l = rowwiseLaunch(engine, rows, cols, 3, options.layout);
  engine.dispatch('softmax', l.entry, [x, y], SOFTMAX.with({ rows, d: l.d, stride: l.stride }), l.groups, l.overrides);
  return y;
}

/**
 * Softmax backward from the forward's output y: dx = y ⊙ (dy − rowsum(dy ⊙ y)) over the last
 * axis. Row layouts as the forward; deterministic (fixed summation order per row).
 */
export function softmaxBackward(engine: Engine, dy: Tensor, y: Tensor, options: RowwiseOptions = {}): Tensor {
  const [rows, cols] = rowsCols('softmaxBackward', y);
  if (dy.size !== y.size) throw new Error(`softmaxBackward: dy ${shapeStr(dy.shape)} and y ${shapeStr(y.shape)} differ in size`);
  checkBindable(engine, 'softmaxBackward', y, dy);
  const dx = engine.empty(y.shape);
  const l = rowwiseLaunch(engine, rows, cols, 2, options.layout);
  engine.dispatch('softmax', 'bwd_' + l.entry, [dy, y, dx], SOFTMAX.with({ rows, d: l.d, stride: l.stride }), l.groups, l.overrides);
  return dx;
}
