import type { Engine } from '../gpu/engine.js';
import { NORMALIZE } from '../gpu/uniforms.js';
import { shapeStr, type Tensor } from '../tensor.js';
import { checkBindable } from './elementwise.js';
import { rowsCols, rowwiseLaunch, type RowwiseOptions } from './layernorm.js';

/**
 * L2 normalization of rows (kernels/normalize.wgsl), the l2-normalized codebook's building block:
 * y = x / max(‖x‖, eps) over the last axis.
 */

/** Default clamp of the norm (as torch.nn.functional.normalize): rows shorter than this are scaled by 1/eps. */
export const L2_EPS = 1e-12;

export interface L2NormalizeOptions extends RowwiseOptions {
  /** Clamp of the norm before dividing; default L2_EPS. */
  eps?: number;
}

export interface L2NormalizeResult {
  /** x's shape: each row divided by max(‖row‖, eps). */
  y: Tensor;
  /** [rows] ‖row‖ (not clamped), for the backward pass. */
  norm: Tensor;
}

function epsOf(o: L2NormalizeOptions): number {
  const eps = o.eps ?? L2_EPS;
  if (!(eps > 0 && Number.isFinite(eps))) throw new Error(`l2normalize: eps must be a positive number, got ${eps}`);
  return eps;
}

/** Rows of x (last axis) divided by max(‖row‖, eps); also returns the norms. Two passes over each row. */
export function l2normalize(engine: Engine, x: Tensor, options: L2NormalizeOptions = {}): L2NormalizeResult {
  const [rows, D] = rowsCols('l2normalize', x);
  const eps = epsOf(options);
  checkBindable(engine, 'l2normalize', x);
  const y = engine.empty(x.shape);
  const norm = engine.empty([rows]);
  const l = rowwiseLaunch(engine, rows, D, 2, options.layout);
  engine.dispatch('normalize', l.entry, [x, y, norm], NORMALIZE.with({ rows, d: l.d, stride: l.stride, eps }), l.groups, l.overrides);
  return { y, norm };
}

/**
 * Backward of l2normalize from its output y and norms: dx = (dy − y·(y·dy)) / ‖x‖ per row where
 * ‖x‖ ≥ eps, dx = dy / eps where the clamp held (the exact derivative of x / max(‖x‖, eps)).
 * `eps` must be the forward's.
 */
export function l2normalizeBackward(engine: Engine, dy: Tensor, y: Tensor, norm: Tensor, options: L2NormalizeOptions = {}): Tensor {
  const [rows, D] = rowsCols('l2normalizeBackward', y);
  const eps = epsOf(options);
  if (dy.size !== y.size) throw new Error(`l2normalizeBackward: dy ${shapeStr(dy.shape)} and y ${shapeStr(y.shape)} differ in size`);
  if (norm.size !== rows) throw new Error(`l2normalizeBackward: norm ${shapeStr(norm.shape)} must have ${rows} elements`);
  checkBindable(engine, 'l2normalizeBackward', y, dy);
  const dx = engine.empty(y.shape);
  const l = rowwiseLaunch(engine, rows, D, 2, options.layout);
  engine.dispatch('normalize', 'bwd_' + l.entry, [dy, y, norm, dx], NORMALIZE.with({ rows, d: l.d, stride: l.stride, eps }), l.groups, l.overrides);
  return dx;
}
