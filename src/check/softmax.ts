import type { Engine } from '../gpu/engine.js';
import { softmax, softmaxBackward } from '../ops/softmax.js';
import { freshRng, randomNormal, relL2 } from './util.js';

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

/** Softmax backward in float64 from the forward's output y: dx = y·(dy − Σ_j dy_j·y_j) per row. */
export function softmaxBackwardRef(dy: ArrayLike<number>, y: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const dx = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let s = 0;
    for (let j = 0; j < cols; j++) s += dy[o + j]! * y[o + j]!;
    for (let j = 0; j < cols; j++) dx[o + j] = y[o + j]! * (dy[o + j]! - s);
  }
  return dx;
}

/** softmax and its backward on a 7 × 33 input (both layouts) against the float64 references. */
export async function selfTest(engine: Engine): Promise<string | null> {
  const rows = 7;
  const cols = 33;
  const r = freshRng();
  const x = randomNormal(rows * cols, r, 3);
  const dy = randomNormal(rows * cols, r);
  const ref = softmaxRef(x, rows, cols);
  const tx = engine.upload(x, [rows, cols]);
  const tdy = engine.upload(dy, [rows, cols]);
  try {
    for (const layout of ['row', 'workgroup'] as const) {
      const y = softmax(engine, tx, { layout });
      const got = await engine.readF32(y);
      engine.release(y);
      const e = relL2(got, ref);
      if (!(e <= 1e-5)) return `softmax (${layout}): relative L2 error ${e.toExponential(2)} > 1e-5`;
      const ty = engine.upload(Float32Array.from(ref), [rows, cols]);
      const dx = softmaxBackward(engine, tdy, ty, { layout });
      const gotDx = await engine.readF32(dx);
      engine.release(ty, dx);
      const eb = relL2(gotDx, softmaxBackwardRef(dy, ref, rows, cols));
      if (!(eb <= 1e-4)) return `softmaxBackward (${layout}): relative L2 error ${eb.toExponential(2)} > 1e-4`;
    }
    return null;
  } finally {
    engine.release(tx, tdy);
  }
}
