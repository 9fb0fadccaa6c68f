// LayerNorm forward and backward over the last axis: x [rows, D] -> y = (x - mean) * rstd * gamma + beta, with
// mean [rows] and rstd [rows] = 1 / sqrt(var + eps) (biased variance) saved for the backward pass.
// Never E[x^2] - E[x]^2: either two passes (mean, then the sum of squared deviations) or a
// pairwise (Chan et al.) merge of exact chunk statistics, then a pass that writes y. All sums are
// of x - x0, x0 the row's first element (x - x0 is exact for nearby values), and y uses
// (x - x0) - (mean - x0), so a large common offset (1e3 + N(0, 1)) costs no accuracy.
// FLOPs about 10 D per row; bytes 4 (2 rows D + 2 D + 2 rows): x read, y written once, gamma and
// beta, mean and rstd.
//
// Layouts (the op picks by device):
//  row4 / row1 (CPU executors): one invocation per row, sequential loops, no workgroup memory or
//    barriers (on llvmpipe each storage or workgroup load costs ~30 FMAs and barriers are slow;
//    the row stays in the core's cache between its passes). row4 (D % 4 == 0) reads the row twice:
//    statistics by chunks of 4 vec4, merged pairwise, then the write; row1 reads it three times.
//    Loop trips per invocation: about D/8 (row4) or 3 D (row1); the op uses these only while
//    that stays well under llvmpipe's 65535 cap.
//  wg (GPUs, and long rows anywhere): one FLAT_WG-invocation workgroup per row; invocation t takes
//    elements t, t + FLAT_WG, ... (coalesced), two-pass, tree reductions in workgroup memory.
// On llvmpipe wg is barrier-bound (about a tenth of row4's bandwidth), which is why software
// devices get the row layout (docs/perf-log.md).
//!include flat

override WG: u32;  // invocations per workgroup of the row layout

struct Params {
  rows: u32,
  d: u32,       // row length (in vec4 for row4, bwd_row4, dgb_partial4)
  stride: u32,  // row layout: rows per row of the dispatch grid (groupsX * WG); dgb_partial: items
                // per row of the grid (groupsX * FLAT_WG)
  chunk: u32,   // dgb_partial: rows per chunk; forward: unused
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x4: array<vec4f>;
@group(0) @binding(2) var<storage, read> g4: array<vec4f>;
@group(0) @binding(3) var<storage, read> b4: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> y4: array<vec4f>;
@group(0) @binding(1) var<storage, read> x1: array<f32>;
@group(0) @binding(2) var<storage, read> g1: array<f32>;
@group(0) @binding(3) var<storage, read> b1: array<f32>;
@group(0) @binding(4) var<storage, read_write> y1: array<f32>;
@group(0) @binding(5) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> rstd_out: array<f32>;

// Statistics of a row in one read: each vec4 component is its own stream; chunks of 4 vec4 get
// their mean and sum of squared deviations from registers (two passes over the chunk), and are
// merged into the running (mean, M2) with Chan et al.'s pairwise update
//   delta = mean_c - mean; mean += delta nc / (n + nc); M2 += M2_c + delta^2 n nc / (n + nc),
// which is as stable as two passes (no E[x^2] - E[x]^2). The four streams merge the same way.
struct Stats { mean: vec4f, m2: vec4f, n: f32 }

fn merge(a: Stats, mc: vec4f, m2c: vec4f, nc: f32) -> Stats {
  let n = a.n + nc;
  let delta = mc - a.mean;
  let w = nc / n;
  return Stats(a.mean + delta * w, a.m2 + m2c + delta * delta * (a.n * w), n);
}

@compute @workgroup_size(WG)
fn row4(@builtin(global_invocation_id) gid: vec3u) {
  let row = gid.x + gid.y * p.stride;
  if (row >= p.rows) { return; }
  let n = p.d;
  let base = row * n;
  let x0 = x4[base].x;  // statistics of x - x0 (see the header)
  var st = Stats(vec4f(0.0), vec4f(0.0), 0.0);
  let full = n / 4u;
  for (var c = 0u; c < full; c++) {
    let o = base + 4u * c;
    let v0 = x4[o] - x0;
    let v1 = x4[o + 1u] - x0;
    let v2 = x4[o + 2u] - x0;
    let v3 = x4[o + 3u] - x0;
    let mc = ((v0 + v1) + (v2 + v3)) * 0.25;
    let d0 = v0 - mc;
    let d1 = v1 - mc;
    let d2 = v2 - mc;
    let d3 = v3 - mc;
    st = merge(st, mc, (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3), 4.0);
  }
  for (var j = 4u * full; j < n; j++) { st = merge(st, x4[base + j] - x0, vec4f(0.0), 1.0); }
  // Merge the four component streams (equal counts).
  let m = st.mean;
  let mean = ((m.x + m.y) + (m.z + m.w)) * 0.25;  // mean - x0
  let dm = m - mean;
  let m2 = (st.m2.x + st.m2.y) + (st.m2.z + st.m2.w) + st.n * dot(dm, dm);
  let rstd = 1.0 / sqrt(m2 / f32(4u * n) + p.eps);
  for (var j = 0u; j < n; j++) {
    y4[base + j] = fma(((x4[base + j] - x0) - mean) * rstd, g4[j], b4[j]);
  }
  mean_out[row] = x0 + mean;
  rstd_out[row] = rstd;
}

@compute @workgroup_size(WG)
fn row1(@builtin(global_invocation_id) gid: vec3u) {
  let row = gid.x + gid.y * p.stride;
  if (row >= p.rows) { return; }
  let n = p.d;
  let base = row * n;
  let x0 = x1[base];
  var s = 0.0;
  for (var j = 0u; j < n; j++) { s += x1[base + j] - x0; }
  let m = s / f32(n);  // mean - x0
  var q = 0.0;
  for (var j = 0u; j < n; j++) {
    let c = (x1[base + j] - x0) - m;
    q = fma(c, c, q);
  }
  let rstd = 1.0 / sqrt(q / f32(n) + p.eps);
  for (var j = 0u; j < n; j++) {
    y1[base + j] = fma(((x1[base + j] - x0) - m) * rstd, g1[j], b1[j]);
  }
  mean_out[row] = x0 + m;
  rstd_out[row] = rstd;
}

// ---- one workgroup per row
// The sums are reduce.wgsl's wg_sum (FLAT_WG invocations).
//!include reduce

@compute @workgroup_size(FLAT_WG)
fn wg(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
      @builtin(local_invocation_index) t: u32) {
  let row = wid.x + wid.y * nwg.x;
  let live = row < p.rows;  // the grid may overshoot; guard work, not barriers
  let n = select(0u, p.d, live);
  let base = row * p.d;
  let x0 = x1[base];
  var s = 0.0;
  for (var j = t; j < n; j += FLAT_WG) { s += x1[base + j] - x0; }
  let m = wg_sum(t, s) / f32(p.d);  // mean - x0
  var q = 0.0;
  for (var j = t; j < n; j += FLAT_WG) {
    let c = (x1[base + j] - x0) - m;
    q = fma(c, c, q);
  }
  let rstd = 1.0 / sqrt(wg_sum(t, q) / f32(p.d) + p.eps);
  for (var j = t; j < n; j += FLAT_WG) {
    y1[base + j] = fma(((x1[base + j] - x0) - m) * rstd, g1[j], b1[j]);
  }
  if (live && t == 0u) {
    mean_out[row] = x0 + m;
    rstd_out[row] = rstd;
  }
}

// ---- backward
// Given dy, x, gamma and the saved mean and rstd of each row, with xhat = (x - mean) rstd and
// g = dy gamma:
//   dx = rstd (g - mean_j(g) - xhat mean_j(g xhat)),
//   dgamma = sum over rows of dy xhat,   dbeta = sum over rows of dy.
// dx is row-wise, in the same three layouts as the forward (bwd_row4 / bwd_row1 / bwd_wg): one
// pass for the two row sums, one that writes (loop trips 2 D, or 2 D / 4 for bwd_row4).
// FLOPs about 11 D per row; bytes 4 (3 rows D + D + 2 rows): dy and x read, dx written.
// dgamma and dbeta are column reductions over the rows, deterministic without atomics:
// dgb_partial4 / dgb_partial1 write per-chunk partial sums [chunks, 2D], dgamma's then dbeta's in
// each row (item = chunk * d + c sums rows [chunk * p.chunk, ...) of column c in ascending order;
// p.chunk is 16 rows on CPU executors, 8 on GPUs, or all rows when at most twice that), then the op
// sums the chunks of both with one colsum pass of elementwise.wgsl. FLOPs 4 rows D; bytes
// 4 (2 rows D + 2 rows + 2 chunks D). Bindings: 1 dy, 2 x, 3 gamma, 4 mean, 5 rstd, 6 dx (bwd_*);
// 1 dy, 2 x, 4 mean, 5 rstd, 6 partials (dgb_partial*).
@group(0) @binding(1) var<storage, read> dy4: array<vec4f>;
@group(0) @binding(2) var<storage, read> bx4: array<vec4f>;
@group(0) @binding(3) var<storage, read> bg4: array<vec4f>;
@group(0) @binding(6) var<storage, read_write> dx4: array<vec4f>;
@group(0) @binding(1) var<storage, read> dy1: array<f32>;
@group(0) @binding(2) var<storage, read> bx1: array<f32>;
@group(0) @binding(3) var<storage, read> bg1: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx1: array<f32>;
@group(0) @binding(4) var<storage, read> smean: array<f32>;
@group(0) @binding(5) var<storage, read> srstd: array<f32>;
// bwd_* with ADD = 1: dx += the gradient the input already has (binding 7, bound to a dummy
// otherwise), so a tensor that also feeds a residual gets its summed gradient from this pass.
override ADD: u32 = 0u;
@group(0) @binding(7) var<storage, read> add4: array<vec4f>;
@group(0) @binding(7) var<storage, read> add1: array<f32>;

@compute @workgroup_size(WG)
fn bwd_row4(@builtin(global_invocation_id) gid: vec3u) {
  let row = gid.x + gid.y * p.stride;
  if (row >= p.rows) { return; }
  let n = p.d;
  let base = row * n;
  let m = smean[row];
  let rs = srstd[row];
  var s1 = vec4f(0.0);
  var s2 = vec4f(0.0);
  for (var j = 0u; j < n; j++) {
    let g = dy4[base + j] * bg4[j];
    s1 += g;
    s2 = fma(g, (bx4[base + j] - m) * rs, s2);
  }
  let inv = 1.0 / f32(4u * n);
  let a = ((s1.x + s1.y) + (s1.z + s1.w)) * inv;
  let b = ((s2.x + s2.y) + (s2.z + s2.w)) * inv;
  for (var j = 0u; j < n; j++) {
    let g = dy4[base + j] * bg4[j];
    let xh = (bx4[base + j] - m) * rs;
    var v = rs * ((g - a) - xh * b);
    if (ADD == 1u) { v += add4[base + j]; }
    dx4[base + j] = v;
  }
}

@compute @workgroup_size(WG)
fn bwd_row1(@builtin(global_invocation_id) gid: vec3u) {
  let row = gid.x + gid.y * p.stride;
  if (row >= p.rows) { return; }
  let n = p.d;
  let base = row * n;
  let m = smean[row];
  let rs = srstd[row];
  var s1 = 0.0;
  var s2 = 0.0;
  for (var j = 0u; j < n; j++) {
    let g = dy1[base + j] * bg1[j];
    s1 += g;
    s2 = fma(g, (bx1[base + j] - m) * rs, s2);
  }
  let inv = 1.0 / f32(n);
  let a = s1 * inv;
  let b = s2 * inv;
  for (var j = 0u; j < n; j++) {
    let g = dy1[base + j] * bg1[j];
    let xh = (bx1[base + j] - m) * rs;
    var v = rs * ((g - a) - xh * b);
    if (ADD == 1u) { v += add1[base + j]; }
    dx1[base + j] = v;
  }
}

@compute @workgroup_size(FLAT_WG)
fn bwd_wg(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
          @builtin(local_invocation_index) t: u32) {
  let row = wid.x + wid.y * nwg.x;
  let live = row < p.rows;  // the grid may overshoot; guard work, not barriers
  let n = select(0u, p.d, live);
  let base = row * p.d;
  let rr = min(row, p.rows - 1u);
  let m = smean[rr];
  let rs = srstd[rr];
  var s1 = 0.0;
  var s2 = 0.0;
  for (var j = t; j < n; j += FLAT_WG) {
    let g = dy1[base + j] * bg1[j];
    s1 += g;
    s2 = fma(g, (bx1[base + j] - m) * rs, s2);
  }
  let inv = 1.0 / f32(p.d);
  let a = wg_sum(t, s1) * inv;
  let b = wg_sum(t, s2) * inv;
  for (var j = t; j < n; j += FLAT_WG) {
    let g = dy1[base + j] * bg1[j];
    let xh = (bx1[base + j] - m) * rs;
    var v = rs * ((g - a) - xh * b);
    if (ADD == 1u) { v += add1[base + j]; }
    dx1[base + j] = v;
  }
}

@compute @workgroup_size(FLAT_WG)
fn dgb_partial4(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  let chunks = (p.rows + p.chunk - 1u) / p.chunk;
  if (i >= chunks * p.d) { return; }
  let chunk = i / p.d;
  let c = i - chunk * p.d;
  let r0 = chunk * p.chunk;
  let r1 = min(p.rows, r0 + p.chunk);
  var sg = vec4f(0.0);
  var sb = vec4f(0.0);
  for (var r = r0; r < r1; r++) {
    let o = r * p.d + c;
    let dy = dy4[o];
    sg = fma(dy, (bx4[o] - smean[r]) * srstd[r], sg);
    sb += dy;
  }
  // Row `chunk` of the partials: dgamma's D values, then dbeta's.
  let o = i + chunk * p.d;
  dx4[o] = sg;
  dx4[o + p.d] = sb;
}

@compute @workgroup_size(FLAT_WG)
fn dgb_partial1(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  let chunks = (p.rows + p.chunk - 1u) / p.chunk;
  if (i >= chunks * p.d) { return; }
  let chunk = i / p.d;
  let c = i - chunk * p.d;
  let r0 = chunk * p.chunk;
  let r1 = min(p.rows, r0 + p.chunk);
  var sg = 0.0;
  var sb = 0.0;
  for (var r = r0; r < r1; r++) {
    let o = r * p.d + c;
    let dy = dy1[o];
    sg = fma(dy, (bx1[o] - smean[r]) * srstd[r], sg);
    sb += dy;
  }
  // Row `chunk` of the partials: dgamma's D values, then dbeta's.
  let o = i + chunk * p.d;
  dx1[o] = sg;
  dx1[o + p.d] = sb;
}
