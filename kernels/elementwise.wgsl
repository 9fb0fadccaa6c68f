// Elementwise and data-movement kernels over flat arrays. Work is laid out 1D: item
// i = gid.x + gid.y * stride, with stride = groupsX * FLAT_WG, so counts above 65535 workgroups split
// over y. Entry points ending in 4 move vec4 (used when the element count, or the row width, is a
// multiple of 4); the others move scalars. All are memory-bound: one load (two for add, mse) and
// one store per element, no reuse.
//
// entry               | what                                        | bytes moved (f32 = 4 B)
// fill                | out[i] = bitcast(bits)                      | 4n
// add4 / add1         | y = alpha a + beta b                        | 12n, 3n FLOPs
// scale4 / scale1     | y = alpha a                                 | 8n, n FLOPs
// affine4 / affine1   | y = alpha a + beta (value-range changes)    | 8n, 2n FLOPs
// gather4 / gather1   | y[r, :] = table[idx[r], :] (zeros past K)   | 8 N D + 4 N
// patchify4 / 1       | NHWC image -> [B gh gw, P P 3] patch rows   | 8 B H W 3
// unpatchify4 / 1     | its inverse (same index map, other way)     | 8 B H W 3
// loss_partial4/1     | per-workgroup sums of (a - b)^2 or |a - b|  | 8n, 3n FLOPs
// sum_final           | one workgroup sums the partials, times alpha| 4 groups
// loss_grad4/1        | y = alpha (a - b) or alpha sign(a - b)      | 12n, 2n FLOPs
// colsum4 / colsum1   | per-chunk column sums of x [rows, cols]     | 4 rows cols + 4 chunks cols
// rank_keys           | sort keys min(idx, K), padded to 4          | 8 N
// rank_partial        | per-chunk counts of tokens sorting before t | N^2 / 16 vec4 reads, N^2 compares
// rank_scatter        | sorted token order from the counts          | 4 N chunks + 16 N
// segment_starts      | first sorted position of each code          | 4 (K + 1) log2 N
// scatter_rows4 / 1   | dTable[k, :] = sum of dOut rows choosing k  | 4 (K D + N D + K + N), N D FLOPs
//
// patchify moves one run of 3P values per invocation (faster on llvmpipe than one vec4 per
// invocation); mse uses few workgroups of 16 vec4 per invocation, since each workgroup's tree
// reduction costs microseconds on llvmpipe. Bandwidths: docs/performance.md, docs/perf-log.md.
//!include flat

// mse and l1 are deterministic: each invocation sums a fixed strided set of elements in a fixed order, a
// workgroup tree-reduces in workgroup memory, and sum_final (one workgroup) sums the per-workgroup
// partials the same way: no atomics, the same bits every run. Loop trips per invocation stay far
// below llvmpipe's 65535 cap (the op bounds them; see src/ops/elementwise.ts).

struct Params {
  n: u32,       // items: elements (vec4 in the *4 entries); patchify: runs (patch rows x P);
                // sum_final: partial count
  stride: u32,  // items per row of the dispatch grid (groupsX * FLAT_WG)
  bits: u32,    // fill: the 32-bit pattern; others: unused
  d: u32,       // gather: row width (vec4 in gather4); patchify: patch size P; colsum: columns
                // (vec4 in colsum4); rank_*, segment_starts: tokens N; scatter_rows: row width
  k: u32,       // gather: table rows K; patchify: image height H; loss_partial: items per invocation;
                // colsum: rows; rank_*, segment_starts, scatter_rows: table rows K
  w: u32,       // patchify: image width W; colsum: rows per chunk; rank_*: tokens per chunk
  alpha: f32,   // add / scale: y = alpha a (+ beta b); sum_final: factor (1 / count for a mean);
                // loss_grad: factor
  beta: f32,
}

@group(0) @binding(0) var<uniform> p: Params;

// ---- fill: out[i] = bitcast(p.bits)
@group(0) @binding(1) var<storage, read_write> fill_out: array<u32>;

@compute @workgroup_size(FLAT_WG)
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

@compute @workgroup_size(FLAT_WG)
fn add4(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i < p.n) { y4[i] = p.alpha * a4[i] + p.beta * b4[i]; }
}

@compute @workgroup_size(FLAT_WG)
fn add1(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i < p.n) { y1[i] = p.alpha * a1[i] + p.beta * b1[i]; }
}

// add_rows: b repeats over a (p.d items per repeat): position embeddings added to every image.
@compute @workgroup_size(FLAT_WG)
fn add_rows4(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i < p.n) { y4[i] = p.alpha * a4[i] + p.beta * b4[i % p.d]; }
}

@compute @workgroup_size(FLAT_WG)
fn add_rows1(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i < p.n) { y1[i] = p.alpha * a1[i] + p.beta * b1[i % p.d]; }
}

@compute @workgroup_size(FLAT_WG)
fn scale4(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i < p.n) { ys4[i] = p.alpha * a4[i]; }
}

@compute @workgroup_size(FLAT_WG)
fn scale1(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i < p.n) { ys1[i] = p.alpha * a1[i]; }
}

@compute @workgroup_size(FLAT_WG)
fn affine4(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i < p.n) { ys4[i] = p.alpha * a4[i] + vec4f(p.beta); }
}

@compute @workgroup_size(FLAT_WG)
fn affine1(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i < p.n) { ys1[i] = p.alpha * a1[i] + p.beta; }
}

// ---- gather: y[r, :] = table[idx[r], :]; an index >= K gives a row of zeros.
// Bindings: 1 table, 2 indices, 3 output. n = N * d items (d in vec4 for gather4).
@group(0) @binding(2) var<storage, read> gidx: array<u32>;

@compute @workgroup_size(FLAT_WG)
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

@compute @workgroup_size(FLAT_WG)
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

@compute @workgroup_size(FLAT_WG)
fn patchify4(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let len = 3u * p.d / 4u;
  let src = run_start(i) / 4u;
  let dst = i * len;
  for (var j = 0u; j < len; j++) { ys4[dst + j] = a4[src + j]; }
}

@compute @workgroup_size(FLAT_WG)
fn patchify1(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let len = 3u * p.d;
  let src = run_start(i);
  let dst = i * len;
  for (var j = 0u; j < len; j++) { ys1[dst + j] = a1[src + j]; }
}

@compute @workgroup_size(FLAT_WG)
fn unpatchify4(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let len = 3u * p.d / 4u;
  let dst = run_start(i) / 4u;
  let src = i * len;
  for (var j = 0u; j < len; j++) { ys4[dst + j] = a4[src + j]; }
}

@compute @workgroup_size(FLAT_WG)
fn unpatchify1(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let len = 3u * p.d;
  let dst = run_start(i);
  let src = i * len;
  for (var j = 0u; j < len; j++) { ys1[dst + j] = a1[src + j]; }
}

// ---- mse and l1: pass 1 writes one partial sum of (a - b)^2 (LOSS 0) or |a - b| (LOSS 1) per
// workgroup; pass 2 (sum_final) sums them.
// Workgroup w, invocation t reads items (w * k + j) * FLAT_WG + t for j < k (k = p.k items per
// invocation), so a workgroup covers FLAT_WG k consecutive items. Bindings: 1 a, 2 b, 3 partials.
override LOSS: u32 = 0u;  // 0 squared difference (mse), 1 absolute difference (l1)
// The workgroup sum is reduce.wgsl's wg_sum (FLAT_WG invocations).
//!include reduce
@group(0) @binding(3) var<storage, read_write> partial_out: array<f32>;

@compute @workgroup_size(FLAT_WG)
fn loss_partial4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                    @builtin(local_invocation_index) t: u32) {
  let w = wid.x + wid.y * nwg.x;
  var acc = vec4f(0.0);
  let base = w * p.k * FLAT_WG + t;
  for (var j = 0u; j < p.k; j++) {
    let i = base + j * FLAT_WG;
    if (i < p.n) {
      let d = a4[i] - b4[i];
      if (LOSS == 1u) { acc += abs(d); } else { acc = fma(d, d, acc); }
    }
  }
  let s = wg_sum(t, (acc.x + acc.y) + (acc.z + acc.w));
  if (t == 0u) { partial_out[w] = s; }
}

@compute @workgroup_size(FLAT_WG)
fn loss_partial1(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                    @builtin(local_invocation_index) t: u32) {
  let w = wid.x + wid.y * nwg.x;
  var acc = 0.0;
  let base = w * p.k * FLAT_WG + t;
  for (var j = 0u; j < p.k; j++) {
    let i = base + j * FLAT_WG;
    if (i < p.n) {
      let d = a1[i] - b1[i];
      if (LOSS == 1u) { acc += abs(d); } else { acc = fma(d, d, acc); }
    }
  }
  let s = wg_sum(t, acc);
  if (t == 0u) { partial_out[w] = s; }
}

// One workgroup: out[0] = alpha * sum(partials[0 .. n)). Bindings: 1 partials, 2 out.
@compute @workgroup_size(FLAT_WG)
fn sum_final(@builtin(local_invocation_index) t: u32) {
  var acc = 0.0;
  for (var i = t; i < p.n; i += FLAT_WG) { acc += a1[i]; }
  let s = wg_sum(t, acc);
  if (t == 0u) { ys1[0] = p.alpha * s; }
}

// ---- loss gradients: y = alpha (a - b) (LOSS 0: mse, alpha = 2 dLoss / n) or alpha sign(a - b)
// (LOSS 1: l1, alpha = dLoss / n; sign(0) = 0). a - b is formed first, so a close to b keeps its
// digits (alpha a - alpha b would cancel). Bindings: 1 a, 2 b, 3 y.
@compute @workgroup_size(FLAT_WG)
fn loss_grad4(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i < p.n) {
    let d = a4[i] - b4[i];
    y4[i] = p.alpha * select(d, sign(d), LOSS == 1u);
  }
}

@compute @workgroup_size(FLAT_WG)
fn loss_grad1(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i < p.n) {
    let d = a1[i] - b1[i];
    y1[i] = p.alpha * select(d, sign(d), LOSS == 1u);
  }
}

// ---- colsum: one pass of a deterministic column reduction of x [rows, cols] (cols = p.d, in
// vec4 for colsum4). Item i = chunk * cols + c sums rows [chunk w, min(rows, chunk w + w)) of
// column c in ascending row order and writes out[chunk, c]; the op repeats the pass on the
// [chunks, cols] result until one row is left (a tree of short sums: w is 32 on CPU executors,
// 16 on GPUs, at most 2 w in the last pass), so the summation order depends only on the shape
// and device kind. Adjacent invocations read adjacent columns (coalesced on GPUs).
// Bindings: 1 x, 2 out. n = chunks * cols items.
@compute @workgroup_size(FLAT_WG)
fn colsum4(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let chunk = i / p.d;
  let c = i - chunk * p.d;
  let r0 = chunk * p.w;
  let r1 = min(p.k, r0 + p.w);
  var acc = vec4f(0.0);
  for (var r = r0; r < r1; r++) { acc += a4[r * p.d + c]; }
  ys4[i] = acc;
}

@compute @workgroup_size(FLAT_WG)
fn colsum1(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let chunk = i / p.d;
  let c = i - chunk * p.d;
  let r0 = chunk * p.w;
  let r1 = min(p.k, r0 + p.w);
  var acc = 0.0;
  for (var r = r0; r < r1; r++) { acc += a1[r * p.d + c]; }
  ys1[i] = acc;
}

// ---- gatherRows backward: dTable[k, :] = sum over tokens t with idx[t] = k of dOut[t, :], summed
// in ascending t; rows nobody chose are 0; indices >= K (zero rows in the forward) are dropped.
// Deterministic without atomics, in five dispatches:
//  rank_keys      keys[t] = min(idx[t], K) for t < N, padded with 0xffffffff to a multiple of 4
//                 (a padded key sorts after every real one, so it never counts).
//  rank_partial   item (chunk, q): for the four tokens t = 4q .. 4q + 3, how many tokens j of the
//                 chunk [chunk w, chunk w + w) (w in quads) sort before t by (key, token). One
//                 vec4 load of keys serves 16 comparisons; w = 256 quads (1024 tokens) keeps each
//                 invocation's loop short (llvmpipe's 65535-trip cap) and spreads the O(N^2) work.
//  rank_scatter   t: rank = sum of its chunk counts (a permutation of 0..N-1); sorted[rank] = t and
//                 sorted_key[rank] = keys[t] (each slot written by exactly one invocation).
//  segment_starts k in 0..K: first[k] = first sorted position whose key >= k (binary search).
//  scatter_rows   (k, c): sum of dOut[sorted[r], c] for r in [first[k], first[k + 1]): the tokens
//                 that chose k, in ascending token order (ties in the sort go by token index).
// Loop trips per invocation: w, chunks, log2 N + 1, and the number of tokens that chose k (the op
// bounds N). Cost: N^2 / 16 vec4 loads and N^2 comparisons for the ranks; then memory-bound.
@group(0) @binding(1) var<storage, read> ux1: array<u32>;
@group(0) @binding(1) var<storage, read> uq1: array<vec4u>;
@group(0) @binding(2) var<storage, read_write> uy2: array<u32>;
@group(0) @binding(2) var<storage, read_write> uq2: array<vec4u>;
@group(0) @binding(3) var<storage, read_write> uy3: array<u32>;
@group(0) @binding(4) var<storage, read_write> uy4: array<u32>;
@group(0) @binding(3) var<storage, read> ux3: array<u32>;
@group(0) @binding(4) var<storage, read_write> dt4: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> dt1: array<f32>;

// Bindings: 1 indices [N], 2 keys [4 ceil(N / 4)]. n = 4 ceil(N / 4), d = N, k = K.
@compute @workgroup_size(FLAT_WG)
fn rank_keys(@builtin(global_invocation_id) gid: vec3u) {
  let t = gid.x + gid.y * p.stride;
  if (t >= p.n) { return; }
  var key = 0xffffffffu;
  if (t < p.d) { key = min(ux1[t], p.k); }
  uy2[t] = key;
}

// 1 where token j (key kj) sorts before each of the four tokens t (keys kt).
fn before(kj: u32, j: u32, kt: vec4u, t: vec4u) -> vec4u {
  let k = vec4u(kj);
  return select(vec4u(0u), vec4u(1u), (k < kt) | ((k == kt) & (vec4u(j) < t)));
}

// Bindings: 1 keys as vec4 [T], 2 counts as vec4 [chunks, T] (T = ceil(N / 4) quads).
// n = chunks * T items, d = T, w = chunk (quads).
@compute @workgroup_size(FLAT_WG)
fn rank_partial(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let chunk = i / p.d;
  let q = i - chunk * p.d;
  let kt = uq1[q];
  let t = vec4u(4u * q) + vec4u(0u, 1u, 2u, 3u);
  let j0 = chunk * p.w;
  let j1 = min(p.d, j0 + p.w);
  var count = vec4u(0u);
  for (var jq = j0; jq < j1; jq++) {
    let kj = uq1[jq];
    let j = 4u * jq;
    count += (before(kj.x, j, kt, t) + before(kj.y, j + 1u, kt, t)) + (before(kj.z, j + 2u, kt, t) + before(kj.w, j + 3u, kt, t));
  }
  uq2[i] = count;
}

// Bindings: 1 keys, 2 counts (read, [chunks, 4T]), 3 sorted tokens [N], 4 sorted keys [N].
// n = N, d = 4T (a row of counts), k = chunks.
@compute @workgroup_size(FLAT_WG)
fn rank_scatter(@builtin(global_invocation_id) gid: vec3u) {
  let t = gid.x + gid.y * p.stride;
  if (t >= p.n) { return; }
  var rank = 0u;
  for (var c = 0u; c < p.k; c++) { rank += gidx[c * p.d + t]; }
  uy3[rank] = t;
  uy4[rank] = ux1[t];
}

// Bindings: 1 sorted keys [N], 2 first [K + 1]. n = K + 1, d = N.
@compute @workgroup_size(FLAT_WG)
fn segment_starts(@builtin(global_invocation_id) gid: vec3u) {
  let k = gid.x + gid.y * p.stride;
  if (k >= p.n) { return; }
  var lo = 0u;
  var hi = p.d;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    if (ux1[mid] < k) { lo = mid + 1u; } else { hi = mid; }
  }
  uy2[k] = lo;
}

// Bindings: 1 dOut [N, D], 2 sorted tokens, 3 first [K + 1], 4 dTable [K, D]. n = K d items,
// d = row width (vec4 in scatter_rows4).
@compute @workgroup_size(FLAT_WG)
fn scatter_rows4(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let k = i / p.d;
  let c = i - k * p.d;
  var acc = vec4f(0.0);
  let r1 = ux3[k + 1u];
  for (var r = ux3[k]; r < r1; r++) { acc += a4[gidx[r] * p.d + c]; }
  dt4[i] = acc;
}

@compute @workgroup_size(FLAT_WG)
fn scatter_rows1(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let k = i / p.d;
  let c = i - k * p.d;
  var acc = 0.0;
  let r1 = ux3[k + 1u];
  for (var r = ux3[k]; r < r1; r++) { acc += a1[gidx[r] * p.d + c]; }
  dt1[i] = acc;
}
