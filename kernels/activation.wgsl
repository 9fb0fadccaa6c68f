// Activation helpers shared by gelu.wgsl and the matmul epilogue (//!include activation).
//
// erfc for z >= 0 is the Chebyshev fit of Numerical Recipes (erfcc): relative error < 1.2e-7 for
// every z >= 0 in exact arithmetic, so erfc keeps its relative accuracy far into the tail (where
// 1 - erf(z) would cancel). erf_approx uses it for |x| >= 0.75 and the Taylor series of erf (8
// terms, truncation < 2e-9) below, where 1 - erfc would lose the leading bits.
//
// Error bound of erf_approx in f32, measured against a float64 erf (test/reference/gelu.ts) on a
// grid of 2^20 + 1 points over [-8, 8]: max |error| 1.52e-7 (at x = -0.82) on llvmpipe and on
// SwiftShader, about 2.5 ulp of values near 1 (a float64 emulation of the same f32 arithmetic
// gives 1.2e-7; the rest is the executors' exp). test/gelu.test.ts asserts <= 2.5e-7.
// GELU built on it: |error| <= 1.5e-7 max(1, |x|) measured on the same grid (asserted <= 4e-7).
// gelu_erf(x) = x Phi(x) is computed from erfc directly (Phi(x) = erfc(-x / sqrt 2) / 2 for
// x < 0), so its negative tail has a small relative error (about 1e-5 at x = -8) instead of the
// absolute error of erf.

const ERF_TAYLOR_MAX: f32 = 0.75;

// erfc(z) for z >= 0; exactly 0 from z = 10 on (erfc(10) ~ 2e-45 is below the smallest normal
// f32), so z * z stays finite and a huge |x| times erfc cannot pick up a denormal.
fn erfc_pos(z0: f32) -> f32 {
  let z = min(z0, 10.0);
  let t = 1.0 / (1.0 + 0.5 * z);
  let poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
             t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return select(t * exp(poly - z * z), 0.0, z0 >= 10.0);
}

// erf(x): Taylor series 2/sqrt(pi) sum_n (-1)^n x^(2n+1) / (n! (2n+1)) for |x| < 0.75, else 1 - erfc(|x|).
fn erf_approx(x: f32) -> f32 {
  let a = abs(x);
  let x2 = x * x;
  let taylor = x * (1.1283791670955126 + x2 * (-0.37612638903183754 + x2 * (0.11283791670955126 +
               x2 * (-0.026866170645131252 + x2 * (0.005223977625442188 + x2 * (-0.0008548327023450852 +
               x2 * (0.00012055332981789664 + x2 * -0.00001492565035840625)))))));
  let tail = 1.0 - erfc_pos(a);
  return select(select(tail, -tail, x < 0.0), taylor, a < ERF_TAYLOR_MAX);
}

// Exact GELU: x Phi(x), Phi(x) = 1 - erfc(x / sqrt 2) / 2 for x >= 0 and erfc(-x / sqrt 2) / 2 below.
fn gelu_erf(x: f32) -> f32 {
  let h = 0.5 * erfc_pos(abs(x) * 0.70710678118654752);
  return x * select(1.0 - h, h, x < 0.0);
}

// tanh written through exp of a clamped argument, so large |u| gives +-1 rather than inf/inf.
fn tanh_safe(u: f32) -> f32 {
  let c = clamp(u, -15.0, 15.0);
  let e = exp(2.0 * c);
  return (e - 1.0) / (e + 1.0);
}

// tanh GELU: 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), computed as the equal
// x / (1 + exp(-2u)): one exp, no cancellation in the negative tail. Past -2u = 80 (x < -5.9)
// the value is |x| e^(-2u) < 1e-34 |x| e^(-(x^3)/20): exactly 0 in f32 terms, returned as 0 (the
// exp argument is clamped so it stays finite).
fn gelu_tanh(x: f32) -> f32 {
  let u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
  let v = -2.0 * u;
  return select(x / (1.0 + exp(min(v, 80.0))), 0.0, v > 80.0);
}

// act: 0 identity, 1 GELU (erf), 2 GELU (tanh).
fn activate(x: f32, act: u32) -> f32 {
  if (act == 1u) { return gelu_erf(x); }
  if (act == 2u) { return gelu_tanh(x); }
  return x;
}

// ---- derivatives (GELU backward: dx = dy * act'(x)). Max |error| measured on a grid of 2^18 + 1
// points over [-8, 8] against float64 (test/gelu-backward.test.ts, asserted <= 5e-7): erf form
// 2.5e-7 (near x = 0.1, the rounding of Phi = 1 - erfc / 2), tanh form 2.1e-7, on llvmpipe and
// SwiftShader.
// Exact GELU: d/dx [x Phi(x)] = Phi(x) + x phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi), Phi through
// erfc as in gelu_erf (no cancellation in the negative tail, where both terms are tiny). x is
// clamped to [-20, 20], where the derivative is 0 or 1 in f32 terms, so huge |x| gives no inf * 0.
fn gelu_erf_grad(x0: f32) -> f32 {
  let x = clamp(x0, -20.0, 20.0);
  let h = 0.5 * erfc_pos(abs(x) * 0.70710678118654752);
  let cdf = select(1.0 - h, h, x < 0.0);
  let x2 = x * x;
  let pdf = select(0.3989422804014327 * exp(-0.5 * x2), 0.0, x2 > 170.0);
  return cdf + x * pdf;
}

// tanh GELU: f = x s with s = 1 / (1 + e), e = exp(-2u), u = sqrt(2/pi) (x + 0.044715 x^3), so
// f' = s + 2 x u' s (1 - s), u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2); 1 - s is formed as e s (no
// cancellation when s is near 1). As in gelu_tanh, -2u > 80 (x < -5.9) gives 0; x is clamped to
// [-10, 10], where the derivative is 0 or 1 in f32 terms.
fn gelu_tanh_grad(x0: f32) -> f32 {
  let x = clamp(x0, -10.0, 10.0);
  let x2 = x * x;
  let v = -1.5957691216057308 * x * (1.0 + 0.044715 * x2);
  let e = exp(min(v, 80.0));
  let s = 1.0 / (1.0 + e);
  let du = 0.7978845608028654 * (1.0 + 0.134145 * x2);
  return select(s + 2.0 * x * du * (s * (e * s)), 0.0, v > 80.0);
}

// act'(x) for activate: 0 identity (1), 1 GELU (erf), 2 GELU (tanh).
fn activate_grad(x: f32, act: u32) -> f32 {
  if (act == 1u) { return gelu_erf_grad(x); }
  if (act == 2u) { return gelu_tanh_grad(x); }
  return 1.0;
}
