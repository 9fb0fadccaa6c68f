// Elementwise and data-movement kernels over flat arrays. Work is laid out 1D: item
// i = gid.x + gid.y * stride, with stride = groupsX * 256, so counts above 65535 workgroups split
// over y. Entry points ending in 4 move vec4 (used when the element count, or the row width, is a
// multiple of 4); the others move scalars. All are memory-bound: one load (two for add, mse) and
// one store per element, no reuse.
//
// entry               | what                                        | bytes moved (f32 = 4 B)
// fill                | out[i] = bitcast(bits)                      | 4n
// add4 / add1         | y = alpha a + beta b                        | 12n, 3n FLOPs
// scale4 / scale1     | y = alpha a                                 | 8n, n FLOPs
// gather4 / gather1   | y[r, :] = table[idx[r], :] (zeros past K)   | 8 N D + 4 N
// patchify4 / 1       | NHWC image -> [B gh gw, P P 3] patch rows   | 8 B H W 3
// unpatchify4 / 1     | its inverse (same index map, other way)     | 8 B H W 3
// sq_diff_partial4/1  | per-workgroup sums of (a - b)^2             | 8n, 3n FLOPs
// sum_final           | one workgroup sums the partials, times alpha| 4 groups
//
// Measured on llvmpipe with `tok1d bench` while the 2-core machine was shared (load 2-5; the
// copy probe of the same run gave 5.0-5.2 GB/s instead of the ~8 GB/s of an idle machine), bytes
// above / time: add4 (4096 x 1024) 5.0 GB/s (~100% of that copy), gather4 (256 rows of
// 8192 x 1024) 4.1 GB/s (~80%), patchify4 (16 x 256 x 256 x 3, P 16; one run of 3P values per
// invocation, 2.2x faster than one vec4 per invocation) 5.1-5.8 GB/s (~105%), mse (two passes,
// 4096 x 1024) 3.3 GB/s (~65%: each workgroup's tree reduction costs microseconds on llvmpipe,
// hence few workgroups with 16 vec4 per invocation).

// mse is deterministic: each invocation sums a fixed strided set of elements in a fixed order, a
// workgroup tree-reduces in workgroup memory, and sum_final (one workgroup) sums the per-workgroup
// partials the same way: no atomics, the same bits every run. Loop trips per invocation stay far
// below llvmpipe's 65535 cap (the op bounds them; see src/ops/elementwise.ts).

struct Params {
  n: u32,       // items: elements (vec4 in the *4 entries); patchify: runs (patch rows x P);
                // sum_final: partial count
  stride: u32,  // items per row of the dispatch grid (groupsX * 256)
  bits: u32,    // fill: the 32-bit pattern; others: unused
  d: u32,       // gather: row width (vec4 in gather4); patchify: patch size P
  k: u32,       // gather: table rows K; patchify: image height H; sq_diff_partial: items per invocation
  w: u32,       // patchify: image width W
  alpha: f32,   // add / scale: y = alpha a (+ beta b); sum_final: factor (1 / count for a mean)
  beta: f32,
}

@group(0) @binding(0) var<uniform> p: Params;

// ---- fill: out[i] = bitcast(p.bits)
@group(0) @binding(1) var<storage, read_write> fill_out: array<u32>;

@compute @workgroup_size(256)
fn fill(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i < p.n) { fill_out[i] = p.bits; }
}

// ---- add / scale
@group(0) @binding(1) var<storage, read> a4: array<vec4f>;
@group(0) @binding(2) var<storage, read> b4: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> y4: array<vec4f>;
@group(0) @binding(1) var<storage, read> a1: array<f32>;
@group(0) @binding(2) var<storage, read> b1: array<f32>;
@group(0) @binding(3) var<storage, read_write> y1: array<f32>;
// Output at binding 2 (scale, patchify, unpatchify, sum_final).
@group(0) @binding(2) var<storage, read_write> ys4: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> ys1: array<f32>;

@compute @workgroup_size(256)
fn add4(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i < p.n) { y4[i] = p.alpha * a4[i] + p.beta * b4[i]; }
}

@compute @workgroup_size(256)
fn add1(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i < p.n) { y1[i] = p.alpha * a1[i] + p.beta * b1[i]; }
}

@compute @workgroup_size(256)
fn scale4(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i < p.n) { ys4[i] = p.alpha * a4[i]; }
}

@compute @workgroup_size(256)
fn scale1(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i < p.n) { ys1[i] = p.alpha * a1[i]; }
}

// ---- gather: y[r, :] = table[idx[r], :]; an index >= K gives a row of zeros.
// Bindings: 1 table, 2 indices, 3 output. n = N * d items (d in vec4 for gather4).
@group(0) @binding(2) var<storage, read> gidx: array<u32>;

@compute @workgroup_size(256)
fn gather4(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let r = i / p.d;
  let c = i - r * p.d;
  let src = gidx[r];
  var v = vec4f(0.0);
  if (src < p.k) { v = a4[src * p.d + c]; }
  y4[i] = v;
}

@compute @workgroup_size(256)
fn gather1(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let r = i / p.d;
  let c = i - r * p.d;
  let src = gidx[r];
  var v = 0.0;
  if (src < p.k) { v = a1[src * p.d + c]; }
  y1[i] = v;
}

// ---- patchify / unpatchify. Patch rows are ordered (b, py, px); columns (y, x, channel) within
// the patch, so row y of a patch is a run of 3P consecutive values in both layouts. Item i is one
// such run: i = patch_row * P + y, at i * 3P in the patch matrix and at run_start(i) in the NHWC
// image; the invocation copies the run (3P/4 vec4 in the *4 entries, which need P % 4 == 0 so
// runs and image rows stay vec4-aligned; 3P scalars otherwise). Bindings: 1 source, 2 destination.

// Image element index where run i starts.
fn run_start(i: u32) -> u32 {
  let P = p.d;
  let H = p.k;
  let W = p.w;
  let gw = W / P;
  let per_image = (H / P) * gw;
  let r = i / P;          // patch row
  let yy = i - r * P;     // y within the patch
  let bq = r / per_image;
  let rr = r - bq * per_image;
  let py = rr / gw;
  let px = rr - py * gw;
  return ((bq * H + py * P + yy) * W + px * P) * 3u;
}

@compute @workgroup_size(256)
fn patchify4(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let len = 3u * p.d / 4u;
  let src = run_start(i) / 4u;
  let dst = i * len;
  for (var j = 0u; j < len; j++) { ys4[dst + j] = a4[src + j]; }
}

@compute @workgroup_size(256)
fn patchify1(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let len = 3u * p.d;
  let src = run_start(i);
  let dst = i * len;
  for (var j = 0u; j < len; j++) { ys1[dst + j] = a1[src + j]; }
}

@compute @workgroup_size(256)
fn unpatchify4(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let len = 3u * p.d / 4u;
  let dst = run_start(i) / 4u;
  let src = i * len;
  for (var j = 0u; j < len; j++) { ys4[dst + j] = a4[src + j]; }
}

@compute @workgroup_size(256)
fn unpatchify1(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let len = 3u * p.d;
  let dst = run_start(i);
  let src = i * len;
  for (var j = 0u; j < len; j++) { ys1[dst + j] = a1[src + j]; }
}

// ---- mse: pass 1 writes one partial sum of (a - b)^2 per workgroup; pass 2 (sum_final) sums them.
// Workgroup w, invocation t reads items (w * k + j) * 256 + t for j < k (k = p.k items per
// invocation), so a workgroup covers 256 k consecutive items. Bindings: 1 a, 2 b, 3 partials.
const RED_WG: u32 = 256u;
var<workgroup> red: array<f32, RED_WG>;
@group(0) @binding(3) var<storage, read_write> partial_out: array<f32>;

// Tree reduction of red[] over the workgroup; every invocation must call it (barriers inside).
fn reduce_red(t: u32) -> f32 {
  for (var s = RED_WG / 2u; s > 0u; s = s / 2u) {
    workgroupBarrier();
    if (t < s) { red[t] = red[t] + red[t + s]; }
  }
  workgroupBarrier();
  return red[0];
}

@compute @workgroup_size(256)
fn sq_diff_partial4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                    @builtin(local_invocation_index) t: u32) {
  let w = wid.x + wid.y * nwg.x;
  var acc = vec4f(0.0);
  let base = w * p.k * RED_WG + t;
  for (var j = 0u; j < p.k; j++) {
    let i = base + j * RED_WG;
    if (i < p.n) {
      let d = a4[i] - b4[i];
      acc = fma(d, d, acc);
    }
  }
  red[t] = (acc.x + acc.y) + (acc.z + acc.w);
  let s = reduce_red(t);
  if (t == 0u) { partial_out[w] = s; }
}

@compute @workgroup_size(256)
fn sq_diff_partial1(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                    @builtin(local_invocation_index) t: u32) {
  let w = wid.x + wid.y * nwg.x;
  var acc = 0.0;
  let base = w * p.k * RED_WG + t;
  for (var j = 0u; j < p.k; j++) {
    let i = base + j * RED_WG;
    if (i < p.n) {
      let d = a1[i] - b1[i];
      acc = fma(d, d, acc);
    }
  }
  red[t] = acc;
  let s = reduce_red(t);
  if (t == 0u) { partial_out[w] = s; }
}

// One workgroup: out[0] = alpha * sum(partials[0 .. n)). Bindings: 1 partials, 2 out.
@compute @workgroup_size(256)
fn sum_final(@builtin(local_invocation_index) t: u32) {
  var acc = 0.0;
  for (var i = t; i < p.n; i += RED_WG) { acc += a1[i]; }
  red[t] = acc;
  let s = reduce_red(t);
  if (t == 0u) { ys1[0] = p.alpha * s; }
}
