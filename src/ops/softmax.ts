import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../tensor.js';
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
  engine.dispatch('softmax', l.entry, [x, y], { u: [rows, l.d, l.stride] }, l.groups, l.overrides);
  return y;
}
