// Softmax forward and backward over the last axis. Forward: x [rows, cols] -> y[r, j] = exp(x[r, j] - m_r) / sum_j exp(x[r, j] - m_r),
// m_r the row maximum (so inputs such as 1e4 cannot overflow). -inf entries give 0; a row of all
// -inf gives a row of zeros, not NaN (every exp is guarded, so nothing relies on exp(-inf) = 0 or
// meets -inf - -inf). FLOPs about 5 cols per row (2 to 2.25 exp per element, each counted as 1);
// bytes 8 rows cols (x read once, y written once).
//
// Layouts, as in layernorm.wgsl (the op picks by device):
//  row4 / row1: one invocation per row, sequential loops (CPU executors). row4 (cols % 4 == 0)
//    reads the row twice (online maximum and sum, then the write); row1 three times (maximum,
//    sum, write). Loop trips per invocation about cols/8 (row4) or 3 cols (row1), kept well
//    under llvmpipe's 65535 cap by the op.
//  wg: one FLAT_WG-invocation workgroup per row, strided coalesced loops, tree reductions in
//    workgroup memory (GPUs, and long rows). Barrier-bound on llvmpipe, hence the row layouts
//    there (docs/perf-log.md).
//!include flat

override WG: u32;  // invocations per workgroup of the row layout

struct Params {
  rows: u32,
  d: u32,       // row length (in vec4 for row4)
  stride: u32,  // row layout: rows per row of the dispatch grid (groupsX * WG)
}

// Below every finite f32: a row maximum under it means the whole row is -inf.
const NEG_MAX: f32 = -3.4028234663852886e38;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x4: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> y4: array<vec4f>;
@group(0) @binding(1) var<storage, read> x1: array<f32>;
@group(0) @binding(2) var<storage, read_write> y1: array<f32>;

// row4 reads the row twice: an online pass keeps a running maximum m and sum s = sum exp(x - m)
// per vec4 component, a chunk of 4 vec4 at a time (s is rescaled by exp(m_old - m_new) when the
// maximum grows: 1.25 exp per element), then the components merge and a second pass writes.
// A component that has seen only -inf keeps m = -inf and s = 0 (guarded: -inf - -inf is NaN).
// exp(v - m) with 0 wherever v or m is -inf (no reliance on exp(-inf) being 0).
fn exp_below(v: vec4f, m: vec4f) -> vec4f {
  return select(exp(v - m), vec4f(0.0), (v < vec4f(NEG_MAX)) | (m < vec4f(NEG_MAX)));
}

fn exp_below1(v: f32, m: f32) -> f32 {
  return select(exp(v - m), 0.0, v < NEG_MAX);
}

@compute @workgroup_size(WG)
fn row4(@builtin(global_invocation_id) gid: vec3u) {
  let row = gid.x + gid.y * p.stride;
  if (row >= p.rows) { return; }
  let n = p.d;
  let base = row * n;
  var m = x4[base];
  var s = vec4f(0.0);
  let full = n / 4u;
  for (var c = 0u; c < full; c++) {
    let o = base + 4u * c;
    let v0 = x4[o];
    let v1 = x4[o + 1u];
    let v2 = x4[o + 2u];
    let v3 = x4[o + 3u];
    let mn = max(m, max(max(v0, v1), max(v2, v3)));
    s = s * select(exp_below(m, mn), vec4f(1.0), m == mn) +
        ((exp_below(v0, mn) + exp_below(v1, mn)) + (exp_below(v2, mn) + exp_below(v3, mn)));
    m = mn;
  }
  for (var j = 4u * full; j < n; j++) {
    let v = x4[base + j];
    let mn = max(m, v);
    s = s * select(exp_below(m, mn), vec4f(1.0), m == mn) + exp_below(v, mn);
    m = mn;
  }
  let mx = max(max(m.x, m.y), max(m.z, m.w));
  let dead = mx < NEG_MAX;
  let mm = select(mx, 0.0, dead);
  let total = dot(s, exp_below(m, vec4f(mm)));
  let inv = select(1.0 / total, 0.0, dead);
  for (var j = 0u; j < n; j++) { y4[base + j] = exp_below(x4[base + j], vec4f(mm)) * inv; }
}

@compute @workgroup_size(WG)
fn row1(@builtin(global_invocation_id) gid: vec3u) {
  let row = gid.x + gid.y * p.stride;
  if (row >= p.rows) { return; }
  let n = p.d;
  let base = row * n;
  var m = x1[base];
  for (var j = 1u; j < n; j++) { m = max(m, x1[base + j]); }
  let dead = m < NEG_MAX;
  let mm = select(m, 0.0, dead);
  var s = 0.0;
  for (var j = 0u; j < n; j++) { s += exp_below1(x1[base + j], mm); }
  let inv = select(1.0 / s, 0.0, dead);
  for (var j = 0u; j < n; j++) { y1[base + j] = exp_below1(x1[base + j], mm) * inv; }
}

// ---- one workgroup per row
// The maximum and the sums are reduce.wgsl's wg_max and wg_sum (FLAT_WG invocations).
//!include reduce

@compute @workgroup_size(FLAT_WG)
fn wg(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
      @builtin(local_invocation_index) t: u32) {
  let row = wid.x + wid.y * nwg.x;
  let n = select(0u, p.d, row < p.rows);  // the grid may overshoot; guard work, not barriers
  let base = row * p.d;
  // Start from an element of the row (invocations past the row's end hold its last element), so
  // the maximum is exact and -inf only when the whole row is.
  var m = x1[base + min(t, p.d - 1u)];
  for (var j = t; j < n; j += FLAT_WG) { m = max(m, x1[base + j]); }
  let rm = wg_max(t, m);
  let dead = rm < NEG_MAX;
  let mm = select(rm, 0.0, dead);
  var s = 0.0;
  for (var j = t; j < n; j += FLAT_WG) { s += exp_below1(x1[base + j], mm); }
  let inv = select(1.0 / wg_sum(t, s), 0.0, dead);
  for (var j = t; j < n; j += FLAT_WG) { y1[base + j] = exp_below1(x1[base + j], mm) * inv; }
}

// ---- backward: dx = y (dy - sum_j dy_j y_j) per row, from the forward's output y. Row layouts
// as the forward (bwd_row4 / bwd_row1 / bwd_wg): one pass for the row's dot product, one that
// writes (loop trips 2 cols, or 2 cols / 4 for bwd_row4). A row of zeros in y (all -inf in x)
// gives zeros. FLOPs 4 cols per row; bytes 12 rows cols (dy and y read, dx written).
// Bindings: 1 dy, 2 y, 3 dx.
@group(0) @binding(2) var<storage, read> sy4: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> dx4: array<vec4f>;
@group(0) @binding(2) var<storage, read> sy1: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx1: array<f32>;

@compute @workgroup_size(WG)
fn bwd_row4(@builtin(global_invocation_id) gid: vec3u) {
  let row = gid.x + gid.y * p.stride;
  if (row >= p.rows) { return; }
  let n = p.d;
  let base = row * n;
  var s = vec4f(0.0);
  for (var j = 0u; j < n; j++) { s = fma(x4[base + j], sy4[base + j], s); }
  let dot = (s.x + s.y) + (s.z + s.w);
  for (var j = 0u; j < n; j++) { dx4[base + j] = sy4[base + j] * (x4[base + j] - dot); }
}

@compute @workgroup_size(WG)
fn bwd_row1(@builtin(global_invocation_id) gid: vec3u) {
  let row = gid.x + gid.y * p.stride;
  if (row >= p.rows) { return; }
  let n = p.d;
  let base = row * n;
  var s = 0.0;
  for (var j = 0u; j < n; j++) { s = fma(x1[base + j], sy1[base + j], s); }
  for (var j = 0u; j < n; j++) { dx1[base + j] = sy1[base + j] * (x1[base + j] - s); }
}

@compute @workgroup_size(FLAT_WG)
fn bwd_wg(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
          @builtin(local_invocation_index) t: u32) {
  let row = wid.x + wid.y * nwg.x;
  let n = select(0u, p.d, row < p.rows);  // the grid may overshoot; guard work, not barriers
  let base = row * p.d;
  var s = 0.0;
  for (var j = t; j < n; j += FLAT_WG) { s = fma(x1[base + j], sy1[base + j], s); }
  let dot = wg_sum(t, s);
  for (var j = t; j < n; j += FLAT_WG) { dx1[base + j] = sy1[base + j] * (x1[base + j] - dot); }
}
