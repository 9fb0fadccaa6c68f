import type { Engine } from '../gpu/engine.js';
import { layernorm, layernormBackward } from '../ops/layernorm.js';
import { freshRng, randomF32, randomNormal, relL2 } from './util.js';

export interface LayernormRef {
  y: Float64Array;
  mean: Float64Array;
  rstd: Float64Array;
}

/** Mean and 1/sqrt(biased variance + eps) of x[o .. o+D) in float64, two passes. */
function rowStats(x: ArrayLike<number>, o: number, D: number, eps: number): [number, number] {
  let s = 0;
  for (let j = 0; j < D; j++) s += x[o + j]!;
  const m = s / D;
  let q = 0;
  for (let j = 0; j < D; j++) q += (x[o + j]! - m) ** 2;
  return [m, 1 / Math.sqrt(q / D + eps)];
}

/** LayerNorm of each row of x [rows, D] in float64 (two-pass mean and biased variance). */
export function layernormRef(x: ArrayLike<number>, gamma: ArrayLike<number>, beta: ArrayLike<number>, rows: number, D: number, eps = 1e-5): LayernormRef {
  const y = new Float64Array(rows * D);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * D;
    const [m, rs] = rowStats(x, o, D, eps);
    for (let j = 0; j < D; j++) y[o + j] = (x[o + j]! - m) * rs * gamma[j]! + beta[j]!;
    mean[r] = m;
    rstd[r] = rs;
  }
  return { y, mean, rstd };
}

export interface LayernormBackwardRef {
  dx: Float64Array;
  dgamma: Float64Array;
  dbeta: Float64Array;
}

/**
 * LayerNorm backward in float64 (mean and rstd recomputed from x): with x̂ = (x − mean)·rstd and
 * g = dy·gamma, dx = rstd·(g − mean(g) − x̂·mean(g·x̂)); dgamma = Σ_rows dy·x̂; dbeta = Σ_rows dy.
 */
export function layernormBackwardRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  gamma: ArrayLike<number>,
  rows: number,
  D: number,
  eps = 1e-5,
): LayernormBackwardRef {
  const dx = new Float64Array(rows * D);
  const dgamma = new Float64Array(D);
  const dbeta = new Float64Array(D);
  const xh = new Float64Array(D);
  for (let r = 0; r < rows; r++) {
    const o = r * D;
    const [m, rs] = rowStats(x, o, D, eps);
    let sg = 0;
    let sgx = 0;
    for (let j = 0; j < D; j++) {
      xh[j] = (x[o + j]! - m) * rs;
      const g = dy[o + j]! * gamma[j]!;
      sg += g;
      sgx += g * xh[j]!;
      dgamma[j] += dy[o + j]! * xh[j]!;
      dbeta[j] += dy[o + j]!;
    }
    for (let j = 0; j < D; j++) dx[o + j] = rs * (dy[o + j]! * gamma[j]! - sg / D - (xh[j]! * sgx) / D);
  }
  return { dx, dgamma, dbeta };
}

/** layernorm (both layouts) and its backward on a 7 × 33 input against the float64 references. */
export async function selfTest(engine: Engine): Promise<string | null> {
  const rows = 7;
  const D = 33;
  const r = freshRng();
  const x = randomNormal(rows * D, r, 3);
  const g = randomF32(D, r, 0.5, 1.5);
  const b = randomF32(D, r, -0.5, 0.5);
  const ref = layernormRef(x, g, b, rows, D);
  const tx = engine.upload(x, [rows, D]);
  const tg = engine.upload(g, [D]);
  const tb = engine.upload(b, [D]);
  try {
    for (const layout of ['row', 'workgroup'] as const) {
      const out = layernorm(engine, tx, tg, tb, 1e-5, { layout });
      const [y, mean, rstd] = [await engine.readF32(out.y), await engine.readF32(out.mean), await engine.readF32(out.rstd)];
      engine.release(out.y, out.mean, out.rstd);
      const e = Math.max(relL2(y, ref.y), relL2(mean, ref.mean), relL2(rstd, ref.rstd));
      if (!(e <= 1e-5)) return `layernorm (${layout}): relative L2 error ${e.toExponential(2)} > 1e-5`;
    }
    const dy = randomNormal(rows * D, r);
    const tdy = engine.upload(dy, [rows, D]);
    const stats = layernorm(engine, tx, tg, tb);
    const grads = layernormBackward(engine, tdy, tx, tg, stats.mean, stats.rstd);
    const got = [await engine.readF32(grads.dx), await engine.readF32(grads.dgamma), await engine.readF32(grads.dbeta)];
    engine.release(tdy, stats.y, stats.mean, stats.rstd, grads.dx, grads.dgamma, grads.dbeta);
    const bref = layernormBackwardRef(dy, x, g, rows, D);
    const e = Math.max(relL2(got[0]!, bref.dx), relL2(got[1]!, bref.dgamma), relL2(got[2]!, bref.dbeta));
    if (!(e <= 1e-4)) return `layernormBackward: relative L2 error ${e.toExponential(2)} > 1e-4`;
    return null;
  } finally {
    engine.release(tx, tg, tb);
  }
}
