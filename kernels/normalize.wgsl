// L2 normalization of rows (the l2-normalized "cosine" codebook): x [rows, D] ->
//   y = x / max(‖x‖, eps),   norm [rows] = ‖x‖ (unclamped, saved for the backward pass).
// Backward (dy, the forward's y and norm -> dx), the exact derivative of x / max(‖x‖, eps):
//   ‖x‖ >= eps:  dx = (dy - y (y·dy)) / ‖x‖      (the projection off y, scaled)
//   ‖x‖ <  eps:  dx = dy / eps                     (the clamp is constant there)
// A zero row stays zero in both directions (y = 0, dx = dy / eps).
//
// Numerics: the norm is a plain f32 sum of squares (four vec4 lanes in row4, then summed
// pairwise); rows whose squares overflow f32 (|x| ≳ 1e19) are not supported. y is x times
// 1 / max(‖x‖, eps) (one rounding more than a division, within 2 ulp).
//
// Layouts (the op picks by device, as layernorm does):
//  row4 / row1 (CPU executors): one invocation per row, two sequential passes over the row (sum of
//    squares or y·dy, then the write), no workgroup memory or barriers. Loop trips per invocation:
//    2 D / 4 (row4, D % 4 == 0) or 2 D (row1); the op uses them only while that stays far under
//    llvmpipe's 65535-trip cap.
//  wg (GPUs, and long rows anywhere): one FLAT_WG-invocation workgroup per row; invocation t takes
//    elements t, t + FLAT_WG, ... (coalesced), then a tree sum in workgroup memory (reduce.wgsl).
//
// Work per row: forward 3 D FLOPs (square-add, scale), bytes 4 (2 D + 1): x read, y written, norm;
// backward 5 D FLOPs (dot, then fma and scale), bytes 4 (3 D + 1): dy and y read, dx written.
// Both are memory-bound; the bench counts bytes only. The workgroup layout is barrier-bound on
// llvmpipe, hence the row layouts on software devices (docs/perf-log.md).
//!include flat

override WG: u32;  // invocations per workgroup of the row layout

struct Params {
  rows: u32,
  d: u32,       // row length (in vec4 for row4 and bwd_row4)
  stride: u32,  // row layout: rows per row of the dispatch grid (groupsX * WG)
  eps: f32,     // the norm is clamped to at least eps before dividing
}

@group(0) @binding(0) var<uniform> p: Params;

// ---- forward. Bindings: 1 x, 2 y, 3 norm.
@group(0) @binding(1) var<storage, read> x4: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> y4: array<vec4f>;
@group(0) @binding(1) var<storage, read> x1: array<f32>;
@group(0) @binding(2) var<storage, read_write> y1: array<f32>;
@group(0) @binding(3) var<storage, read_write> norm_out: array<f32>;

@compute @workgroup_size(WG)
fn row4(@builtin(global_invocation_id) gid: vec3u) {
  let row = gid.x + gid.y * p.stride;
  if (row >= p.rows) { return; }
  let base = row * p.d;
  var acc = vec4f(0.0);
  for (var j = 0u; j < p.d; j++) {
    let v = x4[base + j];
    acc = fma(v, v, acc);
  }
  let n = sqrt((acc.x + acc.y) + (acc.z + acc.w));
  let inv = 1.0 / max(n, p.eps);
  for (var j = 0u; j < p.d; j++) { y4[base + j] = x4[base + j] * inv; }
  norm_out[row] = n;
}

@compute @workgroup_size(WG)
fn row1(@builtin(global_invocation_id) gid: vec3u) {
  let row = gid.x + gid.y * p.stride;
  if (row >= p.rows) { return; }
  let base = row * p.d;
  var acc = 0.0;
  for (var j = 0u; j < p.d; j++) {
    let v = x1[base + j];
    acc = fma(v, v, acc);
  }
  let n = sqrt(acc);
  let inv = 1.0 / max(n, p.eps);
  for (var j = 0u; j < p.d; j++) { y1[base + j] = x1[base + j] * inv; }
  norm_out[row] = n;
}

// The workgroup sum is reduce.wgsl's wg_sum (FLAT_WG invocations).
//!include reduce

@compute @workgroup_size(FLAT_WG)
fn wg(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
      @builtin(local_invocation_index) t: u32) {
  let row = wid.x + wid.y * nwg.x;
  let live = row < p.rows;  // the grid may overshoot; guard work, not barriers
  let n = select(0u, p.d, live);
  let base = row * p.d;
  var acc = 0.0;
  for (var j = t; j < n; j += FLAT_WG) {
    let v = x1[base + j];
    acc = fma(v, v, acc);
  }
  let nrm = sqrt(wg_sum(t, acc));
  let inv = 1.0 / max(nrm, p.eps);
  for (var j = t; j < n; j += FLAT_WG) { y1[base + j] = x1[base + j] * inv; }
  if (live && t == 0u) { norm_out[row] = nrm; }
}

// ---- backward. Bindings: 1 dy, 2 y, 3 norm, 4 dx.
@group(0) @binding(1) var<storage, read> dy4: array<vec4f>;
@group(0) @binding(2) var<storage, read> by4: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> dx4: array<vec4f>;
@group(0) @binding(1) var<storage, read> dy1: array<f32>;
@group(0) @binding(2) var<storage, read> by1: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx1: array<f32>;
@group(0) @binding(3) var<storage, read> norm_in: array<f32>;

// The projection factor: y·dy where the norm passed the clamp, 0 where it did not.
fn proj(dot_yg: f32, n: f32) -> f32 {
  return select(0.0, dot_yg, n >= p.eps);
}

@compute @workgroup_size(WG)
fn bwd_row4(@builtin(global_invocation_id) gid: vec3u) {
  let row = gid.x + gid.y * p.stride;
  if (row >= p.rows) { return; }
  let base = row * p.d;
  var acc = vec4f(0.0);
  for (var j = 0u; j < p.d; j++) { acc = fma(by4[base + j], dy4[base + j], acc); }
  let n = norm_in[row];
  let s = proj((acc.x + acc.y) + (acc.z + acc.w), n);
  let inv = 1.0 / max(n, p.eps);
  for (var j = 0u; j < p.d; j++) { dx4[base + j] = fma(-by4[base + j], vec4f(s), dy4[base + j]) * inv; }
}

@compute @workgroup_size(WG)
fn bwd_row1(@builtin(global_invocation_id) gid: vec3u) {
  let row = gid.x + gid.y * p.stride;
  if (row >= p.rows) { return; }
  let base = row * p.d;
  var acc = 0.0;
  for (var j = 0u; j < p.d; j++) { acc = fma(by1[base + j], dy1[base + j], acc); }
  let n = norm_in[row];
  let s = proj(acc, n);
  let inv = 1.0 / max(n, p.eps);
  for (var j = 0u; j < p.d; j++) { dx1[base + j] = fma(-by1[base + j], s, dy1[base + j]) * inv; }
}

@compute @workgroup_size(FLAT_WG)
fn bwd_wg(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
          @builtin(local_invocation_index) t: u32) {
  let row = wid.x + wid.y * nwg.x;
  let live = row < p.rows;  // the grid may overshoot; guard work, not barriers
  let len = select(0u, p.d, live);
  let base = row * p.d;
  var acc = 0.0;
  for (var j = t; j < len; j += FLAT_WG) { acc = fma(by1[base + j], dy1[base + j], acc); }
  let total = wg_sum(t, acc);
  let n = norm_in[min(row, p.rows - 1u)];
  let s = proj(total, n);
  let inv = 1.0 / max(n, p.eps);
  for (var j = t; j < len; j += FLAT_WG) { dx1[base + j] = fma(-by1[base + j], s, dy1[base + j]) * inv; }
}
