import type { Engine } from '../gpu/engine.js';
import { GELU } from '../gpu/uniforms.js';
import { shapeStr, type Tensor } from '../tensor.js';
import { checkBindable, linearLaunch } from './elementwise.js';

const FN = { erf: 1, tanh: 2, erfOnly: 3 } as const;

function unary(engine: Engine, x: Tensor, fn: number, what: string): Tensor {
  checkBindable(engine, what, x);
  const y = engine.empty(x.shape);
  const vec = x.size % 4 === 0;
  const items = vec ? x.size / 4 : x.size;
  const { groups, stride } = linearLaunch(engine, items);
  engine.dispatch('gelu', vec ? 'main4' : 'main1', [x, y], GELU.with({ n: items, stride }), groups, { FN: fn });
  return y;
}

/**
 * GELU elementwise. 'erf' is the exact x·Φ(x) (erf approximated to ≤ 2.5e-7 absolute, see
 * kernels/activation.wgsl); 'tanh' is the tanh approximation 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))).
 */
export function gelu(engine: Engine, x: Tensor, approx: 'erf' | 'tanh' = 'erf'): Tensor {
  return unary(engine, x, approx === 'tanh' ? FN.tanh : FN.erf, 'gelu');
}

/** erf elementwise, the approximation GELU uses (max abs error ≤ 2.5e-7 over [-8, 8]). */
export function erf(engine: Engine, x: Tensor): Tensor {
  return unary(engine, x, FN.erfOnly, 'erf');
}

/**
 * GELU backward: dx = dy·gelu'(x), the exact derivative of the chosen form ('erf':
 * Φ(x) + x·φ(x); 'tanh': the derivative of 0.5x(1 + tanh(√(2/π)(x + 0.044715x³)))).
 */
export function geluBackward(engine: Engine, dy: Tensor, x: Tensor, approx: 'erf' | 'tanh' = 'erf'): Tensor {
  if (dy.size !== x.size) throw new Error(`geluBackward: dy ${shapeStr(dy.shape)} and x ${shapeStr(x.shape)} differ in size`);
  checkBindable(engine, 'geluBackward', x, dy);
  const dx = engine.empty(x.shape);
  const vec = x.size % 4 === 0;
  const items = vec ? x.size / 4 : x.size;
  const { groups, stride } = linearLaunch(engine, items);
  engine.dispatch('gelu', vec ? 'bwd4' : 'bwd1', [x, dy, dx], GELU.with({ n: items, stride }), groups, { FN: approx === 'tanh' ? FN.tanh : FN.erf });
  return dx;
}
