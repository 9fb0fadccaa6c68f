// Fused multi-head attention, forward (bidirectional, no mask), flash style: the seq×seq score
// matrix never leaves registers.
//
// Input qkv [batch, seq, 3D] (D = heads·headDim): for token t, q = cols [0, D), k = [D, 2D),
// v = [2D, 3D); head h uses cols h·headDim .. (h+1)·headDim of each part. Read as vec4 (headDim % 4 == 0).
// Outputs out [batch, seq, D] (heads laid out like q) and lse [batch, heads, seq] =
// ln Σ_j exp(s_ij), s_ij = scale·q_i·k_j. A flash-style backward recomputes P_ij = exp(s_ij − lse_i)
// tile by tile from q, k and lse without storing P.
//
// Algorithm. One invocation owns ROWS (≤ 8) consecutive query rows of one (batch, head) and scans
// a key range [kb, ke) in steps of KB = 8 keys. Per step: the ROWS×8 scores in registers (each K vec4
// load feeds 8 rows), online softmax in base 2 (scale·log2 e is folded into q once, so p = exp2(s − m)),
// rescale of the running accumulators by exp2(m_old − m_new), then acc += P·V (each V vec4 load again
// feeds 8 rows). Keys past ke are clamped for the load and masked to p = 0. The running max starts at
// −3e38 (finite), so the first rescale is exp2(−huge) = 0 and no inf − inf appears; large scores
// cannot overflow because every exponent is ≤ 0.
//   attn_fwd      one key range (the whole sequence): writes out = acc / l and lse = ln2·(m + log2 l).
//   attn_partial  key range `chunk` per split (grid y): writes unnormalized (acc, m, l) per row and split.
//   attn_combine  per row: M = max m_s, L = Σ l_s·exp2(m_s − M), out = Σ acc_s·exp2(m_s − M) / L
//                 (flash-decoding); lse = ln2·(M + log2 L).
//
// llvmpipe. Every storage or workgroup-memory access there is a per-lane loop with a bounds check
// (about 30 FMAs), so reuse per load is what counts: 8 rows × 8 keys per step. q and acc live in one
// private array per row (a single [rows][dims] array made LLVM compile 4× slower), and on llvmpipe the
// head-dim loops run to the uniform hd4 (STATIC_D = false): with constant bounds Mesa unrolls them and
// compiling takes up to 100 s at headDim 128, for no speed gain. No workgroup memory (no faster there).
// Loop cap: llvmpipe stops loops after 65535 iterations per invocation (all loops together). One
// invocation runs about HD4 + (ke − kb)/8 · (2·HD4 + 1) + ROWS·(HD4 + 1) iterations: 8320 + 300 for
// 1024 keys at headDim 128. The host caps the key range per invocation below that budget
// (src/ops/attention.ts maxAttentionChunk) and splits longer ranges over attn_partial.
//
// FLOPs: 4·batch·heads·seq²·headDim (QKᵀ and PV, one FMA = 2), plus one exp2 per score.
// Bytes (minimum): qkv read once 12·batch·seq·D, out written 4·batch·seq·D, lse 4·batch·heads·seq;
// the split path adds partials written and read: 2 · 4·batch·heads·splits·seq·(headDim + 2).
// Measured (tok1d bench --kernel attention: 16 heads × 64 dims, batch 1; GFLOP/s by the formula above):
//   llvmpipe, 2 shared cores (FMA probe 85 GFLOP/s at the time): 2.9 / 14.0 / 14.6 at seq 16 / 256 / 1024
//     (17% of the probe; about 14 GFLOP per CPU-second, so ~28 on 2 idle cores). Rows per invocation
//     1 / 2 / 4 / 8 / 16 gave 3.1 / 5.1 / 7.9 / 13 / 13 GFLOP per CPU-second; texture loads for K/V gave
//     no gain (unlike matmul). Seq 16 is dispatch overhead (0.3 ms).
//   SwiftShader, same machine: 0.8 / 1.5 / 1.6.
//   NVIDIA H200 (Dawn Vulkan, wall clock, 2 rows per invocation): 5.5-5.8 TFLOP/s at seq 1024 with
//     4-8 key splits (3.6 in one pass), 8.1 at batch 8, 6.0 at headDim 128; about 10% of its f32 FMA
//     peak (no tensor cores, no workgroup-memory tiling).

override HD4: u32 = 16u;         // headDim / 4 (8..32)
override WG: u32 = 64u;          // invocations per workgroup
override ROWS: u32 = 8u;         // query rows per invocation (1..8)
override STATIC_D: bool = true;  // head-dim loops to the constant HD4 (false: to the uniform hd4)

const MAXD4 = 32u;
const KB = 8u;
const NEG = -3.0e38;
const LN2 = 0.6931471805599453;

struct Params {
  seq: u32,     // tokens per sequence
  d4: u32,      // D / 4: vec4s in each of the q, k, v parts of a token
  heads: u32,
  bhn: u32,     // batch · heads covered by this dispatch
  chunk: u32,   // keys per split (multiple of KB)
  splits: u32,  // key splits (attn_partial)
  hd4: u32,     // headDim / 4 again, as a uniform (STATIC_D = false)
  gx: u32,      // workgroups along x (invocation blocks continue along z)
  qbase: u32,   // first vec4 of this batch group in the qkv binding
  obase: u32,   // first vec4 of this batch group in the out binding
  lbase: u32,   // first element of this batch group in the lse binding
  scale: f32,   // softmax scale · log2(e)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;
@group(0) @binding(2) var<storage, read_write> part_acc: array<vec4f>;  // [bh][split][seq][HD4]
@group(0) @binding(3) var<storage, read_write> part_ml: array<vec2f>;   // [bh][split][seq] (m, l)

// Query row r of the invocation: q (pre-scaled) and the unnormalized output accumulator.
var<private> q0: array<vec4f, MAXD4>;
var<private> q1: array<vec4f, MAXD4>;
var<private> q2: array<vec4f, MAXD4>;
var<private> q3: array<vec4f, MAXD4>;
var<private> q4: array<vec4f, MAXD4>;
var<private> q5: array<vec4f, MAXD4>;
var<private> q6: array<vec4f, MAXD4>;
var<private> q7: array<vec4f, MAXD4>;
var<private> o0: array<vec4f, MAXD4>;
var<private> o1: array<vec4f, MAXD4>;
var<private> o2: array<vec4f, MAXD4>;
var<private> o3: array<vec4f, MAXD4>;
var<private> o4: array<vec4f, MAXD4>;
var<private> o5: array<vec4f, MAXD4>;
var<private> o6: array<vec4f, MAXD4>;
var<private> o7: array<vec4f, MAXD4>;

fn dot4(x: vec4f, k0: vec4f, k1: vec4f, k2: vec4f, k3: vec4f) -> vec4f {
  return vec4f(dot(x, k0), dot(x, k1), dot(x, k2), dot(x, k3));
}
fn pv4(a: vec4f, w: vec4f, v0: vec4f, v1: vec4f, v2: vec4f, v3: vec4f) -> vec4f {
  return fma(vec4f(w.w), v3, fma(vec4f(w.z), v2, fma(vec4f(w.y), v1, fma(vec4f(w.x), v0, a))));
}
fn hmax(v: vec4f) -> f32 { return max(max(v.x, v.y), max(v.z, v.w)); }
fn hsum(v: vec4f) -> f32 { return (v.x + v.y) + (v.z + v.w); }

// Running max (log2 units) and sum of rows 0-3 (A) and 4-7 (B), one lane per row.
struct Soft { mA: vec4f, lA: vec4f, mB: vec4f, lB: vec4f }

// Online softmax of rows i0 .. i0+ROWS-1 (clamped to seq-1) of (batch, head) bh over keys [kb, ke).
// Leaves the unnormalized accumulators in o0..o7.
fn attend(bh: u32, i0: u32, kb: u32, ke: u32) -> Soft {
  let b = bh / p.heads;
  let h = bh % p.heads;
  let row = 3u * p.d4;
  let qoff = p.qbase + b * p.seq * row + h * HD4;
  let koff = qoff + p.d4;
  let vo = p.d4;
  let last = p.seq - 1u;
  let nd = select(p.hd4, HD4, STATIC_D);
  for (var d = 0u; d < nd; d++) {
    q0[d] = qkv[qoff + min(i0 + 0u, last) * row + d] * p.scale; o0[d] = vec4f(0.0);
    if (ROWS > 1u) { q1[d] = qkv[qoff + min(i0 + 1u, last) * row + d] * p.scale; o1[d] = vec4f(0.0); }
    if (ROWS > 2u) { q2[d] = qkv[qoff + min(i0 + 2u, last) * row + d] * p.scale; o2[d] = vec4f(0.0); }
    if (ROWS > 3u) { q3[d] = qkv[qoff + min(i0 + 3u, last) * row + d] * p.scale; o3[d] = vec4f(0.0); }
    if (ROWS > 4u) { q4[d] = qkv[qoff + min(i0 + 4u, last) * row + d] * p.scale; o4[d] = vec4f(0.0); }
    if (ROWS > 5u) { q5[d] = qkv[qoff + min(i0 + 5u, last) * row + d] * p.scale; o5[d] = vec4f(0.0); }
    if (ROWS > 6u) { q6[d] = qkv[qoff + min(i0 + 6u, last) * row + d] * p.scale; o6[d] = vec4f(0.0); }
    if (ROWS > 7u) { q7[d] = qkv[qoff + min(i0 + 7u, last) * row + d] * p.scale; o7[d] = vec4f(0.0); }
  }
  var mA = vec4f(NEG); var lA = vec4f(0.0); var mB = vec4f(NEG); var lB = vec4f(0.0);
  let kl = ke - 1u;
  for (var j = kb; j < ke; j += KB) {
    let a0 = koff + j * row;
    let a1 = koff + min(j + 1u, kl) * row;
    let a2 = koff + min(j + 2u, kl) * row;
    let a3 = koff + min(j + 3u, kl) * row;
    let a4 = koff + min(j + 4u, kl) * row;
    let a5 = koff + min(j + 5u, kl) * row;
    let a6 = koff + min(j + 6u, kl) * row;
    let a7 = koff + min(j + 7u, kl) * row;
    var s0a = vec4f(0.0); var s0b = vec4f(0.0);
    var s1a = vec4f(0.0); var s1b = vec4f(0.0);
    var s2a = vec4f(0.0); var s2b = vec4f(0.0);
    var s3a = vec4f(0.0); var s3b = vec4f(0.0);
    var s4a = vec4f(0.0); var s4b = vec4f(0.0);
    var s5a = vec4f(0.0); var s5b = vec4f(0.0);
    var s6a = vec4f(0.0); var s6b = vec4f(0.0);
    var s7a = vec4f(0.0); var s7b = vec4f(0.0);
    for (var d = 0u; d < nd; d++) {
      let k0 = qkv[a0 + d]; let k1 = qkv[a1 + d]; let k2 = qkv[a2 + d]; let k3 = qkv[a3 + d];
      let k4 = qkv[a4 + d]; let k5 = qkv[a5 + d]; let k6 = qkv[a6 + d]; let k7 = qkv[a7 + d];
      let x = q0[d]; s0a += dot4(x, k0, k1, k2, k3); s0b += dot4(x, k4, k5, k6, k7);
      if (ROWS > 1u) { let x = q1[d]; s1a += dot4(x, k0, k1, k2, k3); s1b += dot4(x, k4, k5, k6, k7); }
      if (ROWS > 2u) { let x = q2[d]; s2a += dot4(x, k0, k1, k2, k3); s2b += dot4(x, k4, k5, k6, k7); }
      if (ROWS > 3u) { let x = q3[d]; s3a += dot4(x, k0, k1, k2, k3); s3b += dot4(x, k4, k5, k6, k7); }
      if (ROWS > 4u) { let x = q4[d]; s4a += dot4(x, k0, k1, k2, k3); s4b += dot4(x, k4, k5, k6, k7); }
      if (ROWS > 5u) { let x = q5[d]; s5a += dot4(x, k0, k1, k2, k3); s5b += dot4(x, k4, k5, k6, k7); }
      if (ROWS > 6u) { let x = q6[d]; s6a += dot4(x, k0, k1, k2, k3); s6b += dot4(x, k4, k5, k6, k7); }
      if (ROWS > 7u) { let x = q7[d]; s7a += dot4(x, k0, k1, k2, k3); s7b += dot4(x, k4, k5, k6, k7); }
    }
    let oka = vec4u(j, j + 1u, j + 2u, j + 3u) < vec4u(ke);
    let okb = vec4u(j + 4u, j + 5u, j + 6u, j + 7u) < vec4u(ke);
    s0a = select(vec4f(NEG), s0a, oka); s0b = select(vec4f(NEG), s0b, okb);
    s1a = select(vec4f(NEG), s1a, oka); s1b = select(vec4f(NEG), s1b, okb);
    s2a = select(vec4f(NEG), s2a, oka); s2b = select(vec4f(NEG), s2b, okb);
    s3a = select(vec4f(NEG), s3a, oka); s3b = select(vec4f(NEG), s3b, okb);
    let mxA = max(mA, vec4f(hmax(max(s0a, s0b)), hmax(max(s1a, s1b)), hmax(max(s2a, s2b)), hmax(max(s3a, s3b))));
    let alA = exp2(mA - mxA);
    let p0a = select(vec4f(0.0), exp2(s0a - mxA.x), oka); let p0b = select(vec4f(0.0), exp2(s0b - mxA.x), okb);
    let p1a = select(vec4f(0.0), exp2(s1a - mxA.y), oka); let p1b = select(vec4f(0.0), exp2(s1b - mxA.y), okb);
    let p2a = select(vec4f(0.0), exp2(s2a - mxA.z), oka); let p2b = select(vec4f(0.0), exp2(s2b - mxA.z), okb);
    let p3a = select(vec4f(0.0), exp2(s3a - mxA.w), oka); let p3b = select(vec4f(0.0), exp2(s3b - mxA.w), okb);
    lA = lA * alA + vec4f(hsum(p0a + p0b), hsum(p1a + p1b), hsum(p2a + p2b), hsum(p3a + p3b));
    mA = mxA;
    s4a = select(vec4f(NEG), s4a, oka); s4b = select(vec4f(NEG), s4b, okb);
    s5a = select(vec4f(NEG), s5a, oka); s5b = select(vec4f(NEG), s5b, okb);
    s6a = select(vec4f(NEG), s6a, oka); s6b = select(vec4f(NEG), s6b, okb);
    s7a = select(vec4f(NEG), s7a, oka); s7b = select(vec4f(NEG), s7b, okb);
    let mxB = max(mB, vec4f(hmax(max(s4a, s4b)), hmax(max(s5a, s5b)), hmax(max(s6a, s6b)), hmax(max(s7a, s7b))));
    let alB = exp2(mB - mxB);
    let p4a = select(vec4f(0.0), exp2(s4a - mxB.x), oka); let p4b = select(vec4f(0.0), exp2(s4b - mxB.x), okb);
    let p5a = select(vec4f(0.0), exp2(s5a - mxB.y), oka); let p5b = select(vec4f(0.0), exp2(s5b - mxB.y), okb);
    let p6a = select(vec4f(0.0), exp2(s6a - mxB.z), oka); let p6b = select(vec4f(0.0), exp2(s6b - mxB.z), okb);
    let p7a = select(vec4f(0.0), exp2(s7a - mxB.w), oka); let p7b = select(vec4f(0.0), exp2(s7b - mxB.w), okb);
    lB = lB * alB + vec4f(hsum(p4a + p4b), hsum(p5a + p5b), hsum(p6a + p6b), hsum(p7a + p7b));
    mB = mxB;
    for (var d = 0u; d < nd; d++) {
      let v0 = qkv[a0 + vo + d]; let v1 = qkv[a1 + vo + d]; let v2 = qkv[a2 + vo + d]; let v3 = qkv[a3 + vo + d];
      let v4 = qkv[a4 + vo + d]; let v5 = qkv[a5 + vo + d]; let v6 = qkv[a6 + vo + d]; let v7 = qkv[a7 + vo + d];
      o0[d] = pv4(pv4(o0[d] * alA.x, p0a, v0, v1, v2, v3), p0b, v4, v5, v6, v7);
      if (ROWS > 1u) { o1[d] = pv4(pv4(o1[d] * alA.y, p1a, v0, v1, v2, v3), p1b, v4, v5, v6, v7); }
      if (ROWS > 2u) { o2[d] = pv4(pv4(o2[d] * alA.z, p2a, v0, v1, v2, v3), p2b, v4, v5, v6, v7); }
      if (ROWS > 3u) { o3[d] = pv4(pv4(o3[d] * alA.w, p3a, v0, v1, v2, v3), p3b, v4, v5, v6, v7); }
      if (ROWS > 4u) { o4[d] = pv4(pv4(o4[d] * alB.x, p4a, v0, v1, v2, v3), p4b, v4, v5, v6, v7); }
      if (ROWS > 5u) { o5[d] = pv4(pv4(o5[d] * alB.y, p5a, v0, v1, v2, v3), p5b, v4, v5, v6, v7); }
      if (ROWS > 6u) { o6[d] = pv4(pv4(o6[d] * alB.z, p6a, v0, v1, v2, v3), p6b, v4, v5, v6, v7); }
      if (ROWS > 7u) { o7[d] = pv4(pv4(o7[d] * alB.w, p7a, v0, v1, v2, v3), p7b, v4, v5, v6, v7); }
    }
  }
  return Soft(mA, lA, mB, lB);
}

fn accRow(r: u32, d: u32) -> vec4f {
  switch r {
    case 0u: { return o0[d]; }
    case 1u: { return o1[d]; }
    case 2u: { return o2[d]; }
    case 3u: { return o3[d]; }
    case 4u: { return o4[d]; }
    case 5u: { return o5[d]; }
    case 6u: { return o6[d]; }
    default: { return o7[d]; }
  }
}

fn softRow(s: Soft, r: u32) -> vec2f {
  let k = r % 4u;
  return select(vec2f(s.mA[k], s.lA[k]), vec2f(s.mB[k], s.lB[k]), r >= 4u);
}

// Invocation n covers rows (n % qb)·ROWS .. of (batch, head) n / qb; n past the end computes a
// clamped duplicate and stores nothing.
struct Task { bh: u32, i0: u32 }
fn task(wg: vec3u, li: u32) -> Task {
  let n = (wg.z * p.gx + wg.x) * WG + li;
  let qb = (p.seq + ROWS - 1u) / ROWS;
  let live = n < qb * p.bhn;
  return Task(min(n / qb, p.bhn - 1u), select(p.seq, (n % qb) * ROWS, live));
}

@compute @workgroup_size(WG)
fn attn_fwd(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let t = task(wg, li);
  let s = attend(t.bh, t.i0, 0u, p.seq);
  let b = t.bh / p.heads;
  let h = t.bh % p.heads;
  for (var r = 0u; r < ROWS; r++) {
    let i = t.i0 + r;
    if (i < p.seq) {
      let ml = softRow(s, r);
      let o = p.obase + (b * p.seq + i) * p.d4 + h * HD4;
      let inv = 1.0 / ml.y;
      for (var d = 0u; d < HD4; d++) { out[o + d] = accRow(r, d) * inv; }
      lse[p.lbase + t.bh * p.seq + i] = (ml.x + log2(ml.y)) * LN2;
    }
  }
}

@compute @workgroup_size(WG)
fn attn_partial(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let t = task(wg, li);
  let sp = wg.y;
  let k0 = sp * p.chunk;
  let s = attend(t.bh, t.i0, k0, min(k0 + p.chunk, p.seq));
  for (var r = 0u; r < ROWS; r++) {
    let i = t.i0 + r;
    if (i < p.seq) {
      let e = (t.bh * p.splits + sp) * p.seq + i;
      for (var d = 0u; d < HD4; d++) { part_acc[e * HD4 + d] = accRow(r, d); }
      part_ml[e] = softRow(s, r);
    }
  }
}

struct CombineParams {
  seq: u32,
  d4: u32,
  heads: u32,
  rows: u32,    // bhn · seq
  splits: u32,
  stride: u32,  // rows per grid line (groups.x · WG)
  obase: u32,   // as in Params
  lbase: u32,
}
@group(0) @binding(0) var<uniform> c: CombineParams;
@group(0) @binding(1) var<storage, read> comb_acc: array<vec4f>;
@group(0) @binding(2) var<storage, read> comb_ml: array<vec2f>;
@group(0) @binding(3) var<storage, read_write> comb_out: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> comb_lse: array<f32>;

var<private> acc: array<vec4f, MAXD4>;

@compute @workgroup_size(WG)
fn attn_combine(@builtin(global_invocation_id) gid: vec3u) {
  let r = gid.x + gid.y * c.stride;  // row (bh, i)
  if (r >= c.rows) { return; }
  let bh = r / c.seq;
  let i = r % c.seq;
  let base = bh * c.splits * c.seq + i;
  var m = NEG;
  for (var s = 0u; s < c.splits; s++) { m = max(m, comb_ml[base + s * c.seq].x); }
  var l = 0.0;
  for (var d = 0u; d < HD4; d++) { acc[d] = vec4f(0.0); }
  for (var s = 0u; s < c.splits; s++) {
    let e = base + s * c.seq;
    let ml = comb_ml[e];
    let w = exp2(ml.x - m);
    l += ml.y * w;
    for (var d = 0u; d < HD4; d++) { acc[d] = fma(vec4f(w), comb_acc[e * HD4 + d], acc[d]); }
  }
  let b = bh / c.heads;
  let h = bh % c.heads;
  let o = c.obase + (b * c.seq + i) * c.d4 + h * HD4;
  let inv = 1.0 / l;
  for (var d = 0u; d < HD4; d++) { comb_out[o + d] = acc[d] * inv; }
  comb_lse[c.lbase + r] = (m + log2(l)) * LN2;
}
