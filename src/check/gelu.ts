import type { Engine } from '../gpu/engine.js';
import { gelu, geluBackward } from '../ops/gelu.js';
import { freshRng, randomNormal, relL2 } from './util.js';

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

/**
 * The derivative of GELU in float64: 'erf' Φ(x) + x·φ(x); 'tanh' d/dx of 0.5x(1 + tanh u),
 * u = √(2/π)(x + 0.044715x³), written as s + 2x·u'·s(1 − s) with s = (1 + tanh u)/2 = 1/(1 + e^(−2u))
 * and 1 − s = 1/(1 + e^(2u)) (each formed without cancellation).
 */
export function geluGrad64(x: number, approx: 'erf' | 'tanh' = 'erf'): number {
  if (approx === 'tanh') {
    const k = Math.sqrt(2 / Math.PI);
    const u = k * (x + 0.044715 * x * x * x);
    const du = k * (1 + 3 * 0.044715 * x * x);
    const e = Math.exp(-2 * Math.abs(u));
    const s = u >= 0 ? 1 / (1 + e) : e / (1 + e);
    const oneMinusS = u >= 0 ? e / (1 + e) : 1 / (1 + e);
    return s + 2 * x * du * s * oneMinusS;
  }
  return 0.5 * erfc64(-x / Math.SQRT2) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI);
}

/** GELU backward in float64: dx = dy·gelu'(x). */
export function geluBackwardRef(dy: ArrayLike<number>, x: ArrayLike<number>, approx: 'erf' | 'tanh' = 'erf'): Float64Array {
  const dx = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) dx[i] = dy[i]! * geluGrad64(x[i]!, approx);
  return dx;
}

/** Runs both GELU forms and their backward on a small odd-sized input against the float64 references. */
export async function selfTest(engine: Engine): Promise<string | null> {
  const r = freshRng();
  const x = randomNormal(7 * 33, r, 2);
  const dy = randomNormal(7 * 33, r);
  const t = engine.upload(x, [7, 33]);
  const tdy = engine.upload(dy, [7, 33]);
  try {
    for (const approx of ['erf', 'tanh'] as const) {
      const y = gelu(engine, t, approx);
      const got = await engine.readF32(y);
      engine.release(y);
      const e = relL2(got, geluRef(x, approx));
      if (!(e <= 1e-5)) return `gelu ${approx}: relative L2 error ${e.toExponential(2)} > 1e-5`;
      const dx = geluBackward(engine, tdy, t, approx);
      const gotDx = await engine.readF32(dx);
      engine.release(dx);
      const eb = relL2(gotDx, geluBackwardRef(dy, x, approx));
      if (!(eb <= 1e-4)) return `geluBackward ${approx}: relative L2 error ${eb.toExponential(2)} > 1e-4`;
    }
    return null;
  } finally {
    engine.release(t, tdy);
  }
}
