import type { Engine } from '../../src/gpu/engine.js';
import { layernorm } from '../../src/ops/layernorm.js';
import { freshRng, randomF32, randomNormal, relL2 } from '../helpers.js';

export interface LayernormRef {
  y: Float64Array;
  mean: Float64Array;
  rstd: Float64Array;
}

/** LayerNorm of each row of x [rows, D] in float64 (two-pass mean and biased variance). */
export function layernormRef(x: ArrayLike<number>, gamma: ArrayLike<number>, beta: ArrayLike<number>, rows: number, D: number, eps = 1e-5): LayernormRef {
  const y = new Float64Array(rows * D);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * D;
    let s = 0;
    for (let j = 0; j < D; j++) s += x[o + j]!;
    const m = s / D;
    let q = 0;
    for (let j = 0; j < D; j++) q += (x[o + j]! - m) ** 2;
    const rs = 1 / Math.sqrt(q / D + eps);
    for (let j = 0; j < D; j++) y[o + j] = (x[o + j]! - m) * rs * gamma[j]! + beta[j]!;
    mean[r] = m;
    rstd[r] = rs;
  }
  return { y, mean, rstd };
}

/** layernorm on a 7 × 33 input (both layouts) against the float64 reference. */
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
    return null;
  } finally {
    engine.release(tx, tg, tb);
  }
}
