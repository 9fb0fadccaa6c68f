import type { Engine } from '../../src/gpu/engine.js';
import { softmax } from '../../src/ops/softmax.js';
import { freshRng, randomNormal, relL2 } from '../helpers.js';

/** Softmax of each row of x [rows, cols] in float64; a row of all −∞ gives zeros. */
export function softmaxRef(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const y = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let m = -Infinity;
    for (let j = 0; j < cols; j++) m = Math.max(m, x[o + j]!);
    if (m === -Infinity) continue;
    let s = 0;
    for (let j = 0; j < cols; j++) s += Math.exp(x[o + j]! - m);
    for (let j = 0; j < cols; j++) y[o + j] = Math.exp(x[o + j]! - m) / s;
  }
  return y;
}

/** softmax on a 7 × 33 input (both layouts) against the float64 reference. */
export async function selfTest(engine: Engine): Promise<string | null> {
  const rows = 7;
  const cols = 33;
  const x = randomNormal(rows * cols, freshRng(), 3);
  const ref = softmaxRef(x, rows, cols);
  const tx = engine.upload(x, [rows, cols]);
  try {
    for (const layout of ['row', 'workgroup'] as const) {
      const y = softmax(engine, tx, { layout });
      const got = await engine.readF32(y);
      engine.release(y);
      const e = relL2(got, ref);
      if (!(e <= 1e-5)) return `softmax (${layout}): relative L2 error ${e.toExponential(2)} > 1e-5`;
    }
    return null;
  } finally {
    engine.release(tx);
  }
}
