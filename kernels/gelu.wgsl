// GELU forward and backward (and erf itself, for testing the approximation), elementwise over a
// flat array.
// Item i = gid.x + gid.y * stride (stride = groupsX * FLAT_WG). main4 moves vec4 (element count a
// multiple of 4), main1 scalars.
//
// FN (override): 1 GELU exact (x Phi(x) through erfc, activation.wgsl), 2 GELU tanh form,
// 3 erf_approx(x). Error of erf_approx: max |error| <= 2.5e-7 over [-8, 8] (1.52e-7 measured on
// llvmpipe and SwiftShader; see activation.wgsl and test/gelu.test.ts).
//
// Backward (bwd4 / bwd1, FN 1 or 2): dx = dy * gelu'(x), the exact derivative of each form
// (activation.wgsl: gelu_erf_grad, gelu_tanh_grad). Per element two loads and one store
// (12 bytes), FLOPs about 35 (erf form) or 20 (tanh form), memory-bound like the forward.
//
// Per element: one load, one store (8 bytes); FLOPs about 30 (erf form: 10-term polynomial, one
// exp, one division) or 10 (tanh form), counted as 1 in the bench: memory-bound, though on
// llvmpipe the erf form's arithmetic costs about as much as its memory traffic.
//!include flat

//!include activation

override FN: u32 = 1u;

struct Params {
  n: u32,       // items (vec4 count for main4)
  stride: u32,  // items per row of the dispatch grid
}

@group(0) @binding(0) var<uniform> p: Params;

fn apply(x: f32) -> f32 {
  if (FN == 3u) { return erf_approx(x); }
  return activate(x, FN);
}

@group(0) @binding(1) var<storage, read> x4: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> y4: array<vec4f>;
@group(0) @binding(1) var<storage, read> x1: array<f32>;
@group(0) @binding(2) var<storage, read_write> y1: array<f32>;

@compute @workgroup_size(FLAT_WG)
fn main4(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i < p.n) {
    let v = x4[i];
    y4[i] = vec4f(apply(v.x), apply(v.y), apply(v.z), apply(v.w));
  }
}

@compute @workgroup_size(FLAT_WG)
fn main1(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i < p.n) { y1[i] = apply(x1[i]); }
}

// ---- backward. Bindings: 1 x, 2 dy, 3 dx.
@group(0) @binding(2) var<storage, read> dy4: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> dx4: array<vec4f>;
@group(0) @binding(2) var<storage, read> dy1: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx1: array<f32>;

@compute @workgroup_size(FLAT_WG)
fn bwd4(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i < p.n) {
    let v = x4[i];
    dx4[i] = dy4[i] * vec4f(activate_grad(v.x, FN), activate_grad(v.y, FN), activate_grad(v.z, FN), activate_grad(v.w, FN));
  }
}

@compute @workgroup_size(FLAT_WG)
fn bwd1(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i < p.n) { dx1[i] = dy1[i] * activate_grad(x1[i], FN); }
}
