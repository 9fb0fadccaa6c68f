import type { Engine } from '../../src/gpu/engine.js';
import { gelu } from '../../src/ops/gelu.js';
import { freshRng, randomNormal, relL2 } from '../helpers.js';

const SQRT_PI = Math.sqrt(Math.PI);

/** erf(x) for 0 ≤ x < 2: 2/√π · e^(−x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1)) (all terms positive, no cancellation). */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 400; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < 1e-17 * sum) break;
  }
  return (2 / SQRT_PI) * Math.exp(-x2) * sum;
}

/** erfc(x) for x ≥ 2: Laplace's continued fraction e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))). */
function erfcContinuedFraction(x: number): number {
  let q = x;
  for (let k = 100; k >= 1; k--) q = x + k / 2 / q;
  return Math.exp(-x * x) / SQRT_PI / q;
}

/** erf in float64 (absolute error about 1e-16). */
export function erf64(x: number): number {
  const a = Math.abs(x);
  const v = a < 2 ? erfSeries(a) : 1 - erfcContinuedFraction(a);
  return x < 0 ? -v : v;
}

/** erfc in float64, relative error about 1e-15 also far into the positive tail. */
export function erfc64(x: number): number {
  return x < 2 ? 1 - erf64(x) : erfcContinuedFraction(x);
}

/** GELU of one value in float64: exact x·Φ(x), or the tanh form. */
export function gelu64(x: number, approx: 'erf' | 'tanh' = 'erf'): number {
  if (approx === 'tanh') {
    const u = Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x);
    // For u < 0, 1 + tanh(u) cancels (to 0 past u ≈ -19); the same quantity is 2/(1 + e^(−2u)).
    return u >= 0 ? 0.5 * x * (1 + Math.tanh(u)) : x / (1 + Math.exp(-2 * u));
  }
  return 0.5 * x * erfc64(-x / Math.SQRT2);
}

export function geluRef(x: ArrayLike<number>, approx: 'erf' | 'tanh' = 'erf'): Float64Array {
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = gelu64(x[i]!, approx);
  return y;
}

/** Runs both GELU forms on a small odd-sized input against the float64 reference. */
export async function selfTest(engine: Engine): Promise<string | null> {
  const x = randomNormal(7 * 33, freshRng(), 2);
  const t = engine.upload(x, [7, 33]);
  try {
    for (const approx of ['erf', 'tanh'] as const) {
      const y = gelu(engine, t, approx);
      const got = await engine.readF32(y);
      engine.release(y);
      const e = relL2(got, geluRef(x, approx));
      if (!(e <= 1e-5)) return `gelu ${approx}: relative L2 error ${e.toExponential(2)} > 1e-5`;
    }
    return null;
  } finally {
    engine.release(t);
  }
}
