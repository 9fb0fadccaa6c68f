import type { Engine } from '../gpu/engine.js';
import { L2_EPS, l2normalize, l2normalizeBackward } from '../ops/normalize.js';
import { freshRng, randomNormal, relL2 } from './util.js';

export interface L2NormalizeRef {
  y: Float64Array;
  norm: Float64Array;
}

/** Each row of x [rows, D] divided by max(‖row‖, eps), in float64; also the unclamped norms. */
export function l2normalizeRef(x: ArrayLike<number>, rows: number, D: number, eps = L2_EPS): L2NormalizeRef {
  const y = new Float64Array(rows * D);
  const norm = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < D; j++) s += x[r * D + j]! ** 2;
    const n = Math.sqrt(s);
    const c = Math.max(n, eps);
    for (let j = 0; j < D; j++) y[r * D + j] = x[r * D + j]! / c;
    norm[r] = n;
  }
  return { y, norm };
}

/**
 * Backward of l2normalize in float64, from x: the Jacobian of x / max(‖x‖, eps) applied to dy.
 * Where ‖x‖ ≥ eps, ∂y_i/∂x_j = δ_ij/‖x‖ − x_i·x_j/‖x‖³, so dx_j = dy_j/‖x‖ − x_j·(x·dy)/‖x‖³;
 * below eps the clamp is constant and dx = dy/eps.
 */
export function l2normalizeBackwardRef(dy: ArrayLike<number>, x: ArrayLike<number>, rows: number, D: number, eps = L2_EPS): Float64Array {
  const dx = new Float64Array(rows * D);
  for (let r = 0; r < rows; r++) {
    const o = r * D;
    let s = 0;
    let xg = 0;
    for (let j = 0; j < D; j++) {
      s += x[o + j]! ** 2;
      xg += x[o + j]! * dy[o + j]!;
    }
    const n = Math.sqrt(s);
    for (let j = 0; j < D; j++) dx[o + j] = n >= eps ? dy[o + j]! / n - (x[o + j]! * xg) / (n * n * n) : dy[o + j]! / eps;
  }
  return dx;
}

/** l2normalize and its backward on 7 × 33 (scalar path) and 5 × 36 (vec4 path) against the float64 references. */
export async function selfTest(engine: Engine): Promise<string | null> {
  const r = freshRng();
  for (const [rows, D] of [
    [7, 33],
    [5, 36],
  ] as const) {
    const x = randomNormal(rows * D, r, 2);
    const dy = randomNormal(rows * D, r);
    const tx = engine.upload(x, [rows, D]);
    const tdy = engine.upload(dy, [rows, D]);
    const { y, norm } = l2normalize(engine, tx);
    const dx = l2normalizeBackward(engine, tdy, y, norm);
    try {
      const ref = l2normalizeRef(x, rows, D);
      const checks: [string, Float32Array, ArrayLike<number>][] = [
        ['l2normalize y', await engine.readF32(y), ref.y],
        ['l2normalize norm', await engine.readF32(norm), ref.norm],
        ['l2normalizeBackward', await engine.readF32(dx), l2normalizeBackwardRef(dy, x, rows, D)],
      ];
      for (const [what, got, want] of checks) {
        const e = relL2(got, want);
        if (!(e <= 1e-5)) return `${what} ${rows}×${D}: relative L2 error ${e.toExponential(2)} > 1e-5`;
      }
    } finally {
      engine.release(tx, tdy, y, norm, dx);
    }
  }
  return null;
}
