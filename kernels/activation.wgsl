// Activation helpers shared by gelu.wgsl and the matmul epilogue (//!include activation).
//
// erfc for z >= 0 is the Chebyshev fit of Numerical Recipes (erfcc): relative error < 1.2e-7 for
// every z >= 0 in exact arithmetic, so erfc keeps its relative accuracy far into the tail (where
// 1 - erf(z) would cancel). erf_approx uses it for |x| >= 0.75 and the Taylor series of erf (8
// terms, truncation < 2e-9) below, where 1 - erfc would lose the leading bits.
//
// Error bound of erf_approx in f32, measured against a float64 erf (test/reference/gelu.ts) on a
// grid of 2^20 + 1 points over [-8, 8]: max |error| about 1.2e-7 on llvmpipe and on SwiftShader
// (2 ulp of values near 1); test/gelu.test.ts asserts <= 2.5e-7.
// gelu_erf(x) = x Phi(x) is computed from erfc directly (Phi(x) = erfc(-x / sqrt 2) / 2 for
// x < 0), so its negative tail has a small relative error (about 1e-5 at x = -8) instead of the
// absolute error of erf.

const ERF_TAYLOR_MAX: f32 = 0.75;

// erfc(z) for z >= 0. z is clamped to 10 (erfc(10) ~ 2e-45, already zero in f32) so z*z stays finite.
fn erfc_pos(z0: f32) -> f32 {
  let z = min(z0, 10.0);
  let t = 1.0 / (1.0 + 0.5 * z);
  let poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
             t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * exp(poly - z * z);
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
// x / (1 + exp(-2u)): one exp, no cancellation in the negative tail. -2u is clamped to 80
// (exp(80) ~ 5.5e34 stays finite), which changes nothing visible: x / 5.5e34 is below f32 precision.
fn gelu_tanh(x: f32) -> f32 {
  let u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
  return x / (1.0 + exp(min(-2.0 * u, 80.0)));
}

// act: 0 identity, 1 GELU (erf), 2 GELU (tanh).
fn activate(x: f32, act: u32) -> f32 {
  if (act == 1u) { return gelu_erf(x); }
  if (act == 2u) { return gelu_tanh(x); }
  return x;
}
