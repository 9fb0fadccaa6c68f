import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../tensor.js';
import { AdamW, Ema, clipGradNorm, gradNorm } from '../train/optim.js';
import { freshRng, randomF32, randomNormal, relL2 } from './util.js';

export interface AdamWRefOptions {
  /** Learning rate of each step (the array's length is the number of steps). */
  lrs: readonly number[];
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Whether decoupled weight decay applies. */
  decay: boolean;
  /** Gradient factor of each step (clipping), default 1. */
  scales?: readonly number[];
}

export interface AdamWRef {
  p: Float64Array;
  m: Float64Array;
  v: Float64Array;
  /** Largest L2 norm the weight had along the way (p0 included): what f32 rounding scales with. */
  peakP: number;
  /** Largest L2 norm of m, or of a step's (1 − β1)·g, along the way (m's rounding scale). */
  peakM: number;
}

/**
 * AdamW in float64 over several steps, written from the textbook definition (bias-corrected
 * moments m̂ = m / (1 − β1ᵗ), v̂ = v / (1 − β2ᵗ); p ← p − lr·wd·p − lr · m̂ / (√v̂ + eps), the decay
 * term taken from the weight before the step). grads[s] is the gradient of step s.
 */
export function adamwRef(p0: ArrayLike<number>, grads: readonly ArrayLike<number>[], o: AdamWRefOptions): AdamWRef {
  const { lrs, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.01, decay, scales } = o;
  const n = p0.length;
  const p = Float64Array.from(p0);
  const m = new Float64Array(n);
  const v = new Float64Array(n);
  const norm = (x: ArrayLike<number>, k = 1) => {
    let q = 0;
    for (let i = 0; i < x.length; i++) q += (k * x[i]!) ** 2;
    return Math.sqrt(q);
  };
  let peakP = norm(p);
  let peakM = 0;
  for (let s = 0; s < lrs.length; s++) {
    const t = s + 1;
    const lr = lrs[s]!;
    const c = scales?.[s] ?? 1;
    const g = grads[s]!;
    const wd = decay ? weightDecay : 0;
    for (let i = 0; i < n; i++) {
      const gi = c * g[i]!;
      m[i] = beta1 * m[i]! + (1 - beta1) * gi;
      v[i] = beta2 * v[i]! + (1 - beta2) * gi * gi;
      const mHat = m[i]! / (1 - beta1 ** t);
      const vHat = v[i]! / (1 - beta2 ** t);
      p[i] = p[i]! - lr * wd * p[i]! - (lr * mHat) / (Math.sqrt(vHat) + eps);
    }
    peakP = Math.max(peakP, norm(p));
    peakM = Math.max(peakM, norm(m), norm(grads[s]!, (1 - beta1) * c));
  }
  return { p, m, v, peakP, peakM };
}

/** ‖(g₀, g₁, ...)‖₂ in float64. */
export function globalNormRef(grads: readonly ArrayLike<number>[]): number {
  let s = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) s += g[i]! * g[i]!;
  return Math.sqrt(s);
}

/** The clipping factor min(1, maxNorm / (norm + 1e-6)). */
export function clipFactorRef(norm: number, maxNorm: number): number {
  return Math.min(1, maxNorm / (norm + 1e-6));
}

/** EMA e ← decay·e + (1 − decay)·w over the successive weights w, starting from e0. */
export function emaRef(e0: ArrayLike<number>, weights: readonly ArrayLike<number>[], decay: number): Float64Array {
  const e = Float64Array.from(e0);
  for (const w of weights) for (let i = 0; i < e.length; i++) e[i] = decay * e[i]! + (1 - decay) * w[i]!;
  return e;
}

/**
 * The error of an f32 result `a` against the float64 reference `r` after `steps` steps, as a
 * fraction of what f32 allows; ≤ 1 passes. The bound has two parts:
 * - rel · ‖r − a0‖ (a0 given: the update's own arithmetic, relative to the change) or rel · ‖r‖;
 * - steps · 2⁻²³ · peak: storing the value in f32. Each step rounds it about twice, at most half an
 *   ulp each, so one ulp per step of the largest magnitude it had on the way (peak, an L2 norm).
 *   This part matters where the steps cancel: a 1-element weight of 0.79 that moves by 1.6e-4 over
 *   5 steps is 0.2 ulp off after exact-as-f32 arithmetic, which is 8e-5 of its change; a weight that
 *   shrinks from 0.9 to 0.02 carries the ulps of 0.9, 3e-6 of its final value.
 */
export function f32ErrorRatio(a: ArrayLike<number>, r: ArrayLike<number>, o: { a0?: ArrayLike<number>; steps: number; peak: number; rel?: number }): number {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < r.length; i++) {
    err += (a[i]! - r[i]!) ** 2;
    scale += (r[i]! - (o.a0 ? o.a0[i]! : 0)) ** 2;
  }
  return Math.sqrt(err) / ((o.rel ?? 1e-5) * Math.sqrt(scale) + o.steps * 2 ** -23 * o.peak);
}

/** f32ErrorRatio of an AdamW weight against its reference (the update relative to the change). */
export function updateErrorRatio(a: ArrayLike<number>, a0: ArrayLike<number>, ref: AdamWRef, steps: number): number {
  return f32ErrorRatio(a, ref.p, { a0, steps, peak: ref.peakP });
}

/**
 * AdamW (3 steps, one parameter with decay, one without, odd sizes), clipGradNorm and fused
 * clipping, and the EMA against the float64 references.
 */
export async function selfTest(engine: Engine): Promise<string | null> {
  const r = freshRng();
  const sizes = [7, 5 * 33];
  const decays = [true, false];
  const lrs = [0.05, 0.03, 0.02];
  const p0 = sizes.map((n) => randomF32(n, r));
  const grads = lrs.map(() => sizes.map((n) => randomNormal(n, r)));
  const owned: Tensor[] = [];
  const up = (a: Float32Array): Tensor => {
    const t = engine.upload(a, [a.length]);
    owned.push(t);
    return t;
  };
  const params = p0.map((a, i) => ({ name: `p${i}`, tensor: up(a), decay: decays[i]! }));
  const opt = new AdamW(engine, params, { lr: 0.05, weightDecay: 0.1 });
  const ema = new Ema(engine, params, 0.9);
  try {
    // Steps 1-2 plain; step 3 with fused clipping at half the gradient norm.
    for (let s = 0; s < 2; s++) {
      opt.step(grads[s]!.map(up), lrs[s]);
      ema.update();
    }
    const g3 = grads[2]!.map(up);
    const norm = gradNorm(engine, g3);
    owned.push(norm);
    const n3 = globalNormRef(grads[2]!);
    opt.step(g3, lrs[2], { norm, maxNorm: n3 / 2 });
    const scales = [1, 1, clipFactorRef(n3, n3 / 2)];
    for (let i = 0; i < sizes.length; i++) {
      const ref = adamwRef(p0[i]!, grads.map((g) => g[i]!), { lrs, decay: decays[i]!, weightDecay: 0.1, scales });
      const got = await engine.readF32(params[i]!.tensor);
      const e = updateErrorRatio(got, p0[i]!, ref, lrs.length);
      if (!(e <= 1)) return `adamw p${i}: update error ${e.toFixed(2)}× the f32 bound`;
    }
    const gotNorm = (await engine.readF32(norm))[0]!;
    if (!(Math.abs(gotNorm - n3) <= 1e-5 * n3)) return `gradNorm: ${gotNorm} vs ${n3}`;
    // EMA after two updates: weights after steps 1 and 2.
    const w1 = sizes.map((_, i) => adamwRef(p0[i]!, grads.map((g) => g[i]!), { lrs: lrs.slice(0, 1), decay: decays[i]!, weightDecay: 0.1 }).p);
    const w2 = sizes.map((_, i) => adamwRef(p0[i]!, grads.map((g) => g[i]!), { lrs: lrs.slice(0, 2), decay: decays[i]!, weightDecay: 0.1 }).p);
    const emaState = await ema.state();
    for (let i = 0; i < sizes.length; i++) {
      const e = relL2(emaState[`p${i}`]!, emaRef(p0[i]!, [w1[i]!, w2[i]!], 0.9));
      if (!(e <= 1e-5)) return `ema p${i}: relative L2 error ${e.toExponential(2)} > 1e-5`;
    }
    // clipGradNorm in place.
    const gc = grads[0]!.map(up);
    const n1 = globalNormRef(grads[0]!);
    const cn = clipGradNorm(engine, gc, n1 / 3);
    owned.push(cn);
    const f = clipFactorRef(n1, n1 / 3);
    for (let i = 0; i < sizes.length; i++) {
      const e = relL2(await engine.readF32(gc[i]!), Array.from(grads[0]![i]!, (x) => x * f));
      if (!(e <= 1e-5)) return `clipGradNorm: relative L2 error ${e.toExponential(2)} > 1e-5`;
    }
    return null;
  } finally {
    opt.dispose();
    ema.dispose();
    engine.release(...owned);
  }
}
