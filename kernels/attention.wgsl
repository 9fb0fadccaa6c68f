// Fused multi-head attention, forward and backward (bidirectional), flash style: the seq×seq score
// matrix never leaves registers. Optionally each sequence attends to a prefix of its keys only
// (MASK, below). The backward section is further down. For headDim
// 16 and 32 on CPU executors, attention_unrolled.wgsl has attn_fwd, attn_bwd_kv and the stored-dS
// attn_bwd_q with the head-dimension loops written out (no private arrays; src/ops/attention.ts
// picks them).
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
// Rows per invocation: 8 on CPU executors, where reuse per load is what counts (fewer rows ran
// slower; texture loads for K/V gained nothing), 2 on GPUs, with keys split over invocations
// there to fill the device. Figures: docs/performance.md and docs/perf-log.md.

override HD4: u32 = 16u;         // headDim / 4 (8..32)
override WG: u32;          // invocations per workgroup
override ROWS: u32 = 8u;         // query rows per invocation (1..8)
override STATIC_D: bool = true;  // head-dim loops to the constant HD4 (false: to the uniform hd4)
// MASK: every query of sequence b attends to keys [0, klen[kbase + b]) only (klen ≥ 1), as if the
// keys past it were not in the sequence: a batch of sequences of different lengths padded to one
// (nested dropout decodes each image from its own number of tokens in one pass). Keys past the end
// get P = 0 and zero dK and dV; rows past it still get their outputs (attending to the kept keys).
// Without MASK klen is a placeholder and never read.
override MASK: bool = false;
@group(0) @binding(6) var<storage, read> klen: array<u32>;

// End of the key range [.., ke) of sequence b (b counted from the dispatch's first, kbase from the
// binding's start).
fn keyEnd(b: u32, kbase: u32, ke: u32) -> u32 {
  if (MASK) { return min(ke, max(klen[kbase + b], 1u)); }
  return ke;
}

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
  kbase: u32,   // MASK: klen index of this batch group's first sequence
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
fn attend(bh: u32, i0: u32, kb: u32, kEnd: u32) -> Soft {
  let b = bh / p.heads;
  let h = bh % p.heads;
  let ke = keyEnd(b, p.kbase, kEnd);
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

// ======================================================================== backward
// FlashAttention-2 backward from the saved lse, without atomics and without a seq×seq matrix in memory.
// With P_ij = exp(s_ij − lse_i), dP_ij = dO_i·v_j, D_i = Σ_d dO_i ⊙ O_i and dS_ij = P_ij (dP_ij − D_i):
//   dV_j = Σ_i P_ij dO_i,  dQ_i = scale Σ_j dS_ij k_j,  dK_j = scale Σ_i dS_ij q_i.
//   attn_bwd_prep  one invocation per row (bh, i): stats = (lse_i·log2 e, D_i) [bh][seq] vec2.
//   attn_bwd_q     ROWS query rows per invocation, keys [kb, ke) in steps of 8: per step the ROWS×8
//                  scores and dP (each K and V vec4 load feeds ROWS rows), P = exp2(s − lse₂) with q
//                  pre-scaled by scale·log2 e, dS, then dQ += dS·K (K loaded again). P is recomputed here
//                  and again in attn_bwd_kv; nothing of size seq² is stored.
//   attn_bwd_kv    ROWS key rows per invocation, queries [qb, qe) in steps of 8: scores (k pre-scaled)
//                  and dP from Q, dO and the query rows' stats, then dK += dS·Q and dV += P·dO in two
//                  loops (one loop holding the 2·ROWS·8 weights P and dS ran 1.4× slower on llvmpipe).
//   attn_bwd_sum   when a range is split over invocations (grid y, `chunk` per split) the two kernels write
//                  per-split partials [bh][split][seq][np·HD4] (np = 1: dQ, 2: dK dV); this pass adds them in
//                  split order into dqkv. Every output element is written by exactly one invocation, in a
//                  fixed order: bit-identical results run to run.
// Both main kernels write through one strided destination (uniform strides) so the same entry point
// writes straight into dqkv [batch, seq, 3D] (q, k, v column blocks) or into the partials.
// Loop trips per invocation (llvmpipe cap): HD4 + steps·(L·HD4 + 1) + ROWS·(HD4 + 1) with L = 2 head-dim
// loops per step in attn_bwd_q (as the forward: maxAttentionChunk) and L = 3 in attn_bwd_kv
// (maxAttentionKvChunk); attn_bwd_sum runs np·HD4·(splits + 1) + np + 1.
// FLOPs executed: 14·batch·heads·seq²·headDim (scores and dP in both kernels, dQ, dK, dV; FMA = 2),
// plus 2 exp2 per score; with the stored dS (DS, below) 10·… and one exp2 per score, plus dS
// written once and read once (4·batch·heads·seq·ceil(seq/8)·8 bytes each way). The FlashAttention-2
// convention (one recompute of S) counts 10·… = 2.5× forward.
// Bytes (minimum): qkv 12·B·S·D, dOut and out 8·B·S·D, lse 4·B·H·S read; dqkv 12·B·S·D written.
// The kernels re-read K/V (attn_bwd_q) and Q/dO (attn_bwd_kv) once per ROWS rows, as the forward does.
// First use compiles for several seconds per kernel on llvmpipe (Mesa's disk cache then keeps it).

const LOG2E = 1.4426950408889634;

struct BwdParams {
  seq: u32,
  d4: u32,      // D / 4
  heads: u32,
  bhn: u32,     // batch · heads covered by this dispatch
  chunk: u32,   // keys (attn_bwd_q) or queries (attn_bwd_kv) per split, multiple of KB
  hd4: u32,     // headDim / 4 as a uniform (STATIC_D = false)
  gx: u32,      // workgroups along x (invocation blocks continue along z)
  qbase: u32,   // first vec4 of this batch group in the qkv binding
  gbase: u32,   // first vec4 of this batch group in the dOut binding
  dbase: u32,   // destination vec4 of (b, h, split, row) = dbase + b·sb + h·sh + split·ss + row·si + d
  sb: u32,
  sh: u32,
  ss: u32,
  si: u32,
  voff: u32,    // attn_bwd_kv: offset of dV from dK in the destination
  dsw: u32,     // DS: vec4s per row of bw_ds (ceil(seq / 8) · 2)
  kbase: u32,   // MASK: klen index of this batch group's first sequence
  scale2: f32,  // softmax scale · log2(e)
  scale: f32,   // softmax scale
}
@group(0) @binding(0) var<uniform> bp: BwdParams;
@group(0) @binding(2) var<storage, read> bw_dout: array<vec4f>;
@group(0) @binding(3) var<storage, read> bw_stats: array<vec2f>;  // [bh][seq] (lse·log2 e, D)
@group(0) @binding(4) var<storage, read_write> bw_dst: array<vec4f>;
// DS = 1 (short sequences, ROWS = 8, no splits): attn_bwd_kv also stores dS (unscaled) as
// [bh][key j][query i] rows of dsw vec4s, zeros past seq, and attn_bwd_q reads it back instead
// of recomputing scores and dP: 3 of the backward's 7 products fewer per score, and no exp2 in
// attn_bwd_q. Without DS the binding is a 4-float placeholder.
@group(0) @binding(5) var<storage, read_write> bw_ds: array<vec4f>;
override DS: u32 = 0u;

// Second per-row input (dO in attn_bwd_q, v in attn_bwd_kv) and the dV accumulators.
var<private> x0: array<vec4f, MAXD4>;
var<private> x1: array<vec4f, MAXD4>;
var<private> x2: array<vec4f, MAXD4>;
var<private> x3: array<vec4f, MAXD4>;
var<private> x4: array<vec4f, MAXD4>;
var<private> x5: array<vec4f, MAXD4>;
var<private> x6: array<vec4f, MAXD4>;
var<private> x7: array<vec4f, MAXD4>;
var<private> y0: array<vec4f, MAXD4>;
var<private> y1: array<vec4f, MAXD4>;
var<private> y2: array<vec4f, MAXD4>;
var<private> y3: array<vec4f, MAXD4>;
var<private> y4: array<vec4f, MAXD4>;
var<private> y5: array<vec4f, MAXD4>;
var<private> y6: array<vec4f, MAXD4>;
var<private> y7: array<vec4f, MAXD4>;

fn bwdTask(wg: vec3u, li: u32) -> Task {
  let n = (wg.z * bp.gx + wg.x) * WG + li;
  let rb = (bp.seq + ROWS - 1u) / ROWS;
  let live = n < rb * bp.bhn;
  return Task(min(n / rb, bp.bhn - 1u), select(bp.seq, (n % rb) * ROWS, live));
}

// Query rows i0 .. i0+ROWS-1 (clamped) of bh against keys [kb, ke): leaves Σ_j dS_ij k_j in o0..o7.
fn gradQ(bh: u32, i0: u32, kb: u32, kEnd: u32) {
  let b = bh / bp.heads;
  let h = bh % bp.heads;
  let ke = keyEnd(b, bp.kbase, kEnd);
  let row = 3u * bp.d4;
  let qoff = bp.qbase + b * bp.seq * row + h * HD4;
  let koff = qoff + bp.d4;
  let vo = bp.d4;
  let goff = bp.gbase + b * bp.seq * bp.d4 + h * HD4;
  let last = bp.seq - 1u;
  let nd = select(bp.hd4, HD4, STATIC_D);
  let r0 = min(i0, last); let r1 = min(i0 + 1u, last); let r2 = min(i0 + 2u, last); let r3 = min(i0 + 3u, last);
  let r4 = min(i0 + 4u, last); let r5 = min(i0 + 5u, last); let r6 = min(i0 + 6u, last); let r7 = min(i0 + 7u, last);
  if (DS == 1u) {
    for (var d = 0u; d < nd; d++) {
      o0[d] = vec4f(0.0); o1[d] = vec4f(0.0); o2[d] = vec4f(0.0); o3[d] = vec4f(0.0);
      o4[d] = vec4f(0.0); o5[d] = vec4f(0.0); o6[d] = vec4f(0.0); o7[d] = vec4f(0.0);
    }
  }
  for (var d = 0u; d < select(nd, 0u, DS == 1u); d++) {
    q0[d] = qkv[qoff + r0 * row + d] * bp.scale2; x0[d] = bw_dout[goff + r0 * bp.d4 + d]; o0[d] = vec4f(0.0);
    if (ROWS > 1u) { q1[d] = qkv[qoff + r1 * row + d] * bp.scale2; x1[d] = bw_dout[goff + r1 * bp.d4 + d]; o1[d] = vec4f(0.0); }
    if (ROWS > 2u) { q2[d] = qkv[qoff + r2 * row + d] * bp.scale2; x2[d] = bw_dout[goff + r2 * bp.d4 + d]; o2[d] = vec4f(0.0); }
    if (ROWS > 3u) { q3[d] = qkv[qoff + r3 * row + d] * bp.scale2; x3[d] = bw_dout[goff + r3 * bp.d4 + d]; o3[d] = vec4f(0.0); }
    if (ROWS > 4u) { q4[d] = qkv[qoff + r4 * row + d] * bp.scale2; x4[d] = bw_dout[goff + r4 * bp.d4 + d]; o4[d] = vec4f(0.0); }
    if (ROWS > 5u) { q5[d] = qkv[qoff + r5 * row + d] * bp.scale2; x5[d] = bw_dout[goff + r5 * bp.d4 + d]; o5[d] = vec4f(0.0); }
    if (ROWS > 6u) { q6[d] = qkv[qoff + r6 * row + d] * bp.scale2; x6[d] = bw_dout[goff + r6 * bp.d4 + d]; o6[d] = vec4f(0.0); }
    if (ROWS > 7u) { q7[d] = qkv[qoff + r7 * row + d] * bp.scale2; x7[d] = bw_dout[goff + r7 * bp.d4 + d]; o7[d] = vec4f(0.0); }
  }
  let sb = bh * bp.seq;
  let t0 = bw_stats[sb + r0]; let t1 = bw_stats[sb + r1]; let t2 = bw_stats[sb + r2]; let t3 = bw_stats[sb + r3];
  let t4 = bw_stats[sb + r4]; let t5 = bw_stats[sb + r5]; let t6 = bw_stats[sb + r6]; let t7 = bw_stats[sb + r7];
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
    // w: dS of row r with keys j..j+3 (wra) and j+4..j+7 (wrb), read back (DS) or recomputed.
    var w0a: vec4f; var w0b: vec4f; var w1a: vec4f; var w1b: vec4f; var w2a: vec4f; var w2b: vec4f; var w3a: vec4f; var w3b: vec4f;
    var w4a: vec4f; var w4b: vec4f; var w5a: vec4f; var w5b: vec4f; var w6a: vec4f; var w6b: vec4f; var w7a: vec4f; var w7b: vec4f;
    let oka = vec4u(j, j + 1u, j + 2u, j + 3u) < vec4u(ke);
    let okb = vec4u(j + 4u, j + 5u, j + 6u, j + 7u) < vec4u(ke);
    if (DS == 1u) {
      // Row j + c of bw_ds holds dS of key j + c with queries i0 .. i0+3 (A) and i0+4 .. i0+7 (B).
      let qs = i0 / 4u;
      let e = bh * bp.seq;
      let z0 = (e + j) * bp.dsw + qs; let z1 = (e + min(j + 1u, kl)) * bp.dsw + qs;
      let z2 = (e + min(j + 2u, kl)) * bp.dsw + qs; let z3 = (e + min(j + 3u, kl)) * bp.dsw + qs;
      let z4 = (e + min(j + 4u, kl)) * bp.dsw + qs; let z5 = (e + min(j + 5u, kl)) * bp.dsw + qs;
      let z6 = (e + min(j + 6u, kl)) * bp.dsw + qs; let z7 = (e + min(j + 7u, kl)) * bp.dsw + qs;
      let A0 = bw_ds[z0]; let A1 = bw_ds[z1]; let A2 = bw_ds[z2]; let A3 = bw_ds[z3];
      let A4 = bw_ds[z4]; let A5 = bw_ds[z5]; let A6 = bw_ds[z6]; let A7 = bw_ds[z7];
      let B0 = bw_ds[z0 + 1u]; let B1 = bw_ds[z1 + 1u]; let B2 = bw_ds[z2 + 1u]; let B3 = bw_ds[z3 + 1u];
      let B4 = bw_ds[z4 + 1u]; let B5 = bw_ds[z5 + 1u]; let B6 = bw_ds[z6 + 1u]; let B7 = bw_ds[z7 + 1u];
      let zero = vec4f(0.0);
      w0a = select(zero, vec4f(A0.x, A1.x, A2.x, A3.x), oka); w0b = select(zero, vec4f(A4.x, A5.x, A6.x, A7.x), okb);
      w1a = select(zero, vec4f(A0.y, A1.y, A2.y, A3.y), oka); w1b = select(zero, vec4f(A4.y, A5.y, A6.y, A7.y), okb);
      w2a = select(zero, vec4f(A0.z, A1.z, A2.z, A3.z), oka); w2b = select(zero, vec4f(A4.z, A5.z, A6.z, A7.z), okb);
      w3a = select(zero, vec4f(A0.w, A1.w, A2.w, A3.w), oka); w3b = select(zero, vec4f(A4.w, A5.w, A6.w, A7.w), okb);
      w4a = select(zero, vec4f(B0.x, B1.x, B2.x, B3.x), oka); w4b = select(zero, vec4f(B4.x, B5.x, B6.x, B7.x), okb);
      w5a = select(zero, vec4f(B0.y, B1.y, B2.y, B3.y), oka); w5b = select(zero, vec4f(B4.y, B5.y, B6.y, B7.y), okb);
      w6a = select(zero, vec4f(B0.z, B1.z, B2.z, B3.z), oka); w6b = select(zero, vec4f(B4.z, B5.z, B6.z, B7.z), okb);
      w7a = select(zero, vec4f(B0.w, B1.w, B2.w, B3.w), oka); w7b = select(zero, vec4f(B4.w, B5.w, B6.w, B7.w), okb);
    } else {
      // s: scores (log2 units), g: dP, for keys j..j+3 (a) and j+4..j+7 (b).
      var s0a = vec4f(0.0); var s0b = vec4f(0.0); var g0a = vec4f(0.0); var g0b = vec4f(0.0);
      var s1a = vec4f(0.0); var s1b = vec4f(0.0); var g1a = vec4f(0.0); var g1b = vec4f(0.0);
      var s2a = vec4f(0.0); var s2b = vec4f(0.0); var g2a = vec4f(0.0); var g2b = vec4f(0.0);
      var s3a = vec4f(0.0); var s3b = vec4f(0.0); var g3a = vec4f(0.0); var g3b = vec4f(0.0);
      var s4a = vec4f(0.0); var s4b = vec4f(0.0); var g4a = vec4f(0.0); var g4b = vec4f(0.0);
      var s5a = vec4f(0.0); var s5b = vec4f(0.0); var g5a = vec4f(0.0); var g5b = vec4f(0.0);
      var s6a = vec4f(0.0); var s6b = vec4f(0.0); var g6a = vec4f(0.0); var g6b = vec4f(0.0);
      var s7a = vec4f(0.0); var s7b = vec4f(0.0); var g7a = vec4f(0.0); var g7b = vec4f(0.0);
      for (var d = 0u; d < nd; d++) {
        let k0 = qkv[a0 + d]; let k1 = qkv[a1 + d]; let k2 = qkv[a2 + d]; let k3 = qkv[a3 + d];
        let k4 = qkv[a4 + d]; let k5 = qkv[a5 + d]; let k6 = qkv[a6 + d]; let k7 = qkv[a7 + d];
        let v0 = qkv[a0 + vo + d]; let v1 = qkv[a1 + vo + d]; let v2 = qkv[a2 + vo + d]; let v3 = qkv[a3 + vo + d];
        let v4 = qkv[a4 + vo + d]; let v5 = qkv[a5 + vo + d]; let v6 = qkv[a6 + vo + d]; let v7 = qkv[a7 + vo + d];
        { let x = q0[d]; s0a += dot4(x, k0, k1, k2, k3); s0b += dot4(x, k4, k5, k6, k7);
          let y = x0[d]; g0a += dot4(y, v0, v1, v2, v3); g0b += dot4(y, v4, v5, v6, v7); }
        if (ROWS > 1u) { let x = q1[d]; s1a += dot4(x, k0, k1, k2, k3); s1b += dot4(x, k4, k5, k6, k7);
          let y = x1[d]; g1a += dot4(y, v0, v1, v2, v3); g1b += dot4(y, v4, v5, v6, v7); }
        if (ROWS > 2u) { let x = q2[d]; s2a += dot4(x, k0, k1, k2, k3); s2b += dot4(x, k4, k5, k6, k7);
          let y = x2[d]; g2a += dot4(y, v0, v1, v2, v3); g2b += dot4(y, v4, v5, v6, v7); }
        if (ROWS > 3u) { let x = q3[d]; s3a += dot4(x, k0, k1, k2, k3); s3b += dot4(x, k4, k5, k6, k7);
          let y = x3[d]; g3a += dot4(y, v0, v1, v2, v3); g3b += dot4(y, v4, v5, v6, v7); }
        if (ROWS > 4u) { let x = q4[d]; s4a += dot4(x, k0, k1, k2, k3); s4b += dot4(x, k4, k5, k6, k7);
          let y = x4[d]; g4a += dot4(y, v0, v1, v2, v3); g4b += dot4(y, v4, v5, v6, v7); }
        if (ROWS > 5u) { let x = q5[d]; s5a += dot4(x, k0, k1, k2, k3); s5b += dot4(x, k4, k5, k6, k7);
          let y = x5[d]; g5a += dot4(y, v0, v1, v2, v3); g5b += dot4(y, v4, v5, v6, v7); }
        if (ROWS > 6u) { let x = q6[d]; s6a += dot4(x, k0, k1, k2, k3); s6b += dot4(x, k4, k5, k6, k7);
          let y = x6[d]; g6a += dot4(y, v0, v1, v2, v3); g6b += dot4(y, v4, v5, v6, v7); }
        if (ROWS > 7u) { let x = q7[d]; s7a += dot4(x, k0, k1, k2, k3); s7b += dot4(x, k4, k5, k6, k7);
          let y = x7[d]; g7a += dot4(y, v0, v1, v2, v3); g7b += dot4(y, v4, v5, v6, v7); }
      }
      // dS = P·(dP − D); keys past ke get 0.
      w0a = select(vec4f(0.0), exp2(s0a - t0.x) * (g0a - t0.y), oka); w0b = select(vec4f(0.0), exp2(s0b - t0.x) * (g0b - t0.y), okb);
      w1a = select(vec4f(0.0), exp2(s1a - t1.x) * (g1a - t1.y), oka); w1b = select(vec4f(0.0), exp2(s1b - t1.x) * (g1b - t1.y), okb);
      w2a = select(vec4f(0.0), exp2(s2a - t2.x) * (g2a - t2.y), oka); w2b = select(vec4f(0.0), exp2(s2b - t2.x) * (g2b - t2.y), okb);
      w3a = select(vec4f(0.0), exp2(s3a - t3.x) * (g3a - t3.y), oka); w3b = select(vec4f(0.0), exp2(s3b - t3.x) * (g3b - t3.y), okb);
      w4a = select(vec4f(0.0), exp2(s4a - t4.x) * (g4a - t4.y), oka); w4b = select(vec4f(0.0), exp2(s4b - t4.x) * (g4b - t4.y), okb);
      w5a = select(vec4f(0.0), exp2(s5a - t5.x) * (g5a - t5.y), oka); w5b = select(vec4f(0.0), exp2(s5b - t5.x) * (g5b - t5.y), okb);
      w6a = select(vec4f(0.0), exp2(s6a - t6.x) * (g6a - t6.y), oka); w6b = select(vec4f(0.0), exp2(s6b - t6.x) * (g6b - t6.y), okb);
      w7a = select(vec4f(0.0), exp2(s7a - t7.x) * (g7a - t7.y), oka); w7b = select(vec4f(0.0), exp2(s7b - t7.x) * (g7b - t7.y), okb);
    }
    for (var d = 0u; d < nd; d++) {
      let k0 = qkv[a0 + d]; let k1 = qkv[a1 + d]; let k2 = qkv[a2 + d]; let k3 = qkv[a3 + d];
      let k4 = qkv[a4 + d]; let k5 = qkv[a5 + d]; let k6 = qkv[a6 + d]; let k7 = qkv[a7 + d];
      o0[d] = pv4(pv4(o0[d], w0a, k0, k1, k2, k3), w0b, k4, k5, k6, k7);
      if (ROWS > 1u) { o1[d] = pv4(pv4(o1[d], w1a, k0, k1, k2, k3), w1b, k4, k5, k6, k7); }
      if (ROWS > 2u) { o2[d] = pv4(pv4(o2[d], w2a, k0, k1, k2, k3), w2b, k4, k5, k6, k7); }
      if (ROWS > 3u) { o3[d] = pv4(pv4(o3[d], w3a, k0, k1, k2, k3), w3b, k4, k5, k6, k7); }
      if (ROWS > 4u) { o4[d] = pv4(pv4(o4[d], w4a, k0, k1, k2, k3), w4b, k4, k5, k6, k7); }
      if (ROWS > 5u) { o5[d] = pv4(pv4(o5[d], w5a, k0, k1, k2, k3), w5b, k4, k5, k6, k7); }
      if (ROWS > 6u) { o6[d] = pv4(pv4(o6[d], w6a, k0, k1, k2, k3), w6b, k4, k5, k6, k7); }
      if (ROWS > 7u) { o7[d] = pv4(pv4(o7[d], w7a, k0, k1, k2, k3), w7b, k4, k5, k6, k7); }
    }
  }
}

// Key rows j0 .. j0+ROWS-1 (clamped) of bh against queries [qb, qe): leaves Σ_i dS_ij q_i in o0..o7
// and Σ_i P_ij dO_i in y0..y7.
fn gradKV(bh: u32, j0: u32, qb: u32, qe: u32) {
  let b = bh / bp.heads;
  let h = bh % bp.heads;
  let row = 3u * bp.d4;
  let qoff = bp.qbase + b * bp.seq * row + h * HD4;
  let koff = qoff + bp.d4;
  let vo = bp.d4;
  let goff = bp.gbase + b * bp.seq * bp.d4 + h * HD4;
  let last = bp.seq - 1u;
  let nd = select(bp.hd4, HD4, STATIC_D);
  let r0 = min(j0, last) * row; let r1 = min(j0 + 1u, last) * row; let r2 = min(j0 + 2u, last) * row; let r3 = min(j0 + 3u, last) * row;
  let r4 = min(j0 + 4u, last) * row; let r5 = min(j0 + 5u, last) * row; let r6 = min(j0 + 6u, last) * row; let r7 = min(j0 + 7u, last) * row;
  for (var d = 0u; d < nd; d++) {
    q0[d] = qkv[koff + r0 + d] * bp.scale2; x0[d] = qkv[koff + r0 + vo + d]; o0[d] = vec4f(0.0); y0[d] = vec4f(0.0);
    if (ROWS > 1u) { q1[d] = qkv[koff + r1 + d] * bp.scale2; x1[d] = qkv[koff + r1 + vo + d]; o1[d] = vec4f(0.0); y1[d] = vec4f(0.0); }
    if (ROWS > 2u) { q2[d] = qkv[koff + r2 + d] * bp.scale2; x2[d] = qkv[koff + r2 + vo + d]; o2[d] = vec4f(0.0); y2[d] = vec4f(0.0); }
    if (ROWS > 3u) { q3[d] = qkv[koff + r3 + d] * bp.scale2; x3[d] = qkv[koff + r3 + vo + d]; o3[d] = vec4f(0.0); y3[d] = vec4f(0.0); }
    if (ROWS > 4u) { q4[d] = qkv[koff + r4 + d] * bp.scale2; x4[d] = qkv[koff + r4 + vo + d]; o4[d] = vec4f(0.0); y4[d] = vec4f(0.0); }
    if (ROWS > 5u) { q5[d] = qkv[koff + r5 + d] * bp.scale2; x5[d] = qkv[koff + r5 + vo + d]; o5[d] = vec4f(0.0); y5[d] = vec4f(0.0); }
    if (ROWS > 6u) { q6[d] = qkv[koff + r6 + d] * bp.scale2; x6[d] = qkv[koff + r6 + vo + d]; o6[d] = vec4f(0.0); y6[d] = vec4f(0.0); }
    if (ROWS > 7u) { q7[d] = qkv[koff + r7 + d] * bp.scale2; x7[d] = qkv[koff + r7 + vo + d]; o7[d] = vec4f(0.0); y7[d] = vec4f(0.0); }
  }
  let sb = bh * bp.seq;
  let il = qe - 1u;
  for (var i = qb; i < qe; i += KB) {
    let n0 = i; let n1 = min(i + 1u, il); let n2 = min(i + 2u, il); let n3 = min(i + 3u, il);
    let n4 = min(i + 4u, il); let n5 = min(i + 5u, il); let n6 = min(i + 6u, il); let n7 = min(i + 7u, il);
    let c0 = qoff + n0 * row; let c1 = qoff + n1 * row; let c2 = qoff + n2 * row; let c3 = qoff + n3 * row;
    let c4 = qoff + n4 * row; let c5 = qoff + n5 * row; let c6 = qoff + n6 * row; let c7 = qoff + n7 * row;
    let e0 = goff + n0 * bp.d4; let e1 = goff + n1 * bp.d4; let e2 = goff + n2 * bp.d4; let e3 = goff + n3 * bp.d4;
    let e4 = goff + n4 * bp.d4; let e5 = goff + n5 * bp.d4; let e6 = goff + n6 * bp.d4; let e7 = goff + n7 * bp.d4;
    let t0 = bw_stats[sb + n0]; let t1 = bw_stats[sb + n1]; let t2 = bw_stats[sb + n2]; let t3 = bw_stats[sb + n3];
    let t4 = bw_stats[sb + n4]; let t5 = bw_stats[sb + n5]; let t6 = bw_stats[sb + n6]; let t7 = bw_stats[sb + n7];
    let la = vec4f(t0.x, t1.x, t2.x, t3.x); let lb = vec4f(t4.x, t5.x, t6.x, t7.x);
    let da = vec4f(t0.y, t1.y, t2.y, t3.y); let db = vec4f(t4.y, t5.y, t6.y, t7.y);
    // s: scores (log2 units), g: dP, of key row r with queries i..i+3 (a) and i+4..i+7 (b).
    var s0a = vec4f(0.0); var s0b = vec4f(0.0); var g0a = vec4f(0.0); var g0b = vec4f(0.0);
    var s1a = vec4f(0.0); var s1b = vec4f(0.0); var g1a = vec4f(0.0); var g1b = vec4f(0.0);
    var s2a = vec4f(0.0); var s2b = vec4f(0.0); var g2a = vec4f(0.0); var g2b = vec4f(0.0);
    var s3a = vec4f(0.0); var s3b = vec4f(0.0); var g3a = vec4f(0.0); var g3b = vec4f(0.0);
    var s4a = vec4f(0.0); var s4b = vec4f(0.0); var g4a = vec4f(0.0); var g4b = vec4f(0.0);
    var s5a = vec4f(0.0); var s5b = vec4f(0.0); var g5a = vec4f(0.0); var g5b = vec4f(0.0);
    var s6a = vec4f(0.0); var s6b = vec4f(0.0); var g6a = vec4f(0.0); var g6b = vec4f(0.0);
    var s7a = vec4f(0.0); var s7b = vec4f(0.0); var g7a = vec4f(0.0); var g7b = vec4f(0.0);
    for (var d = 0u; d < nd; d++) {
      let u0 = qkv[c0 + d]; let u1 = qkv[c1 + d]; let u2 = qkv[c2 + d]; let u3 = qkv[c3 + d];
      let u4 = qkv[c4 + d]; let u5 = qkv[c5 + d]; let u6 = qkv[c6 + d]; let u7 = qkv[c7 + d];
      let f0 = bw_dout[e0 + d]; let f1 = bw_dout[e1 + d]; let f2 = bw_dout[e2 + d]; let f3 = bw_dout[e3 + d];
      let f4 = bw_dout[e4 + d]; let f5 = bw_dout[e5 + d]; let f6 = bw_dout[e6 + d]; let f7 = bw_dout[e7 + d];
      { let x = q0[d]; s0a += dot4(x, u0, u1, u2, u3); s0b += dot4(x, u4, u5, u6, u7);
        let y = x0[d]; g0a += dot4(y, f0, f1, f2, f3); g0b += dot4(y, f4, f5, f6, f7); }
      if (ROWS > 1u) { let x = q1[d]; s1a += dot4(x, u0, u1, u2, u3); s1b += dot4(x, u4, u5, u6, u7);
        let y = x1[d]; g1a += dot4(y, f0, f1, f2, f3); g1b += dot4(y, f4, f5, f6, f7); }
      if (ROWS > 2u) { let x = q2[d]; s2a += dot4(x, u0, u1, u2, u3); s2b += dot4(x, u4, u5, u6, u7);
        let y = x2[d]; g2a += dot4(y, f0, f1, f2, f3); g2b += dot4(y, f4, f5, f6, f7); }
      if (ROWS > 3u) { let x = q3[d]; s3a += dot4(x, u0, u1, u2, u3); s3b += dot4(x, u4, u5, u6, u7);
        let y = x3[d]; g3a += dot4(y, f0, f1, f2, f3); g3b += dot4(y, f4, f5, f6, f7); }
      if (ROWS > 4u) { let x = q4[d]; s4a += dot4(x, u0, u1, u2, u3); s4b += dot4(x, u4, u5, u6, u7);
        let y = x4[d]; g4a += dot4(y, f0, f1, f2, f3); g4b += dot4(y, f4, f5, f6, f7); }
      if (ROWS > 5u) { let x = q5[d]; s5a += dot4(x, u0, u1, u2, u3); s5b += dot4(x, u4, u5, u6, u7);
        let y = x5[d]; g5a += dot4(y, f0, f1, f2, f3); g5b += dot4(y, f4, f5, f6, f7); }
      if (ROWS > 6u) { let x = q6[d]; s6a += dot4(x, u0, u1, u2, u3); s6b += dot4(x, u4, u5, u6, u7);
        let y = x6[d]; g6a += dot4(y, f0, f1, f2, f3); g6b += dot4(y, f4, f5, f6, f7); }
      if (ROWS > 7u) { let x = q7[d]; s7a += dot4(x, u0, u1, u2, u3); s7b += dot4(x, u4, u5, u6, u7);
        let y = x7[d]; g7a += dot4(y, f0, f1, f2, f3); g7b += dot4(y, f4, f5, f6, f7); }
    }
    // P and dS = P·(dP − D); queries past qe get 0.
    let oka = vec4u(i, i + 1u, i + 2u, i + 3u) < vec4u(qe);
    let okb = vec4u(i + 4u, i + 5u, i + 6u, i + 7u) < vec4u(qe);
    let p0a = select(vec4f(0.0), exp2(s0a - la), oka); let p0b = select(vec4f(0.0), exp2(s0b - lb), okb);
    let p1a = select(vec4f(0.0), exp2(s1a - la), oka); let p1b = select(vec4f(0.0), exp2(s1b - lb), okb);
    let p2a = select(vec4f(0.0), exp2(s2a - la), oka); let p2b = select(vec4f(0.0), exp2(s2b - lb), okb);
    let p3a = select(vec4f(0.0), exp2(s3a - la), oka); let p3b = select(vec4f(0.0), exp2(s3b - lb), okb);
    let p4a = select(vec4f(0.0), exp2(s4a - la), oka); let p4b = select(vec4f(0.0), exp2(s4b - lb), okb);
    let p5a = select(vec4f(0.0), exp2(s5a - la), oka); let p5b = select(vec4f(0.0), exp2(s5b - lb), okb);
    let p6a = select(vec4f(0.0), exp2(s6a - la), oka); let p6b = select(vec4f(0.0), exp2(s6b - lb), okb);
    let p7a = select(vec4f(0.0), exp2(s7a - la), oka); let p7b = select(vec4f(0.0), exp2(s7b - lb), okb);
    let w0a = p0a * (g0a - da); let w0b = p0b * (g0b - db);
    let w1a = p1a * (g1a - da); let w1b = p1b * (g1b - db);
    let w2a = p2a * (g2a - da); let w2b = p2b * (g2b - db);
    let w3a = p3a * (g3a - da); let w3b = p3b * (g3b - db);
    let w4a = p4a * (g4a - da); let w4b = p4b * (g4b - db);
    let w5a = p5a * (g5a - da); let w5b = p5b * (g5b - db);
    let w6a = p6a * (g6a - da); let w6b = p6b * (g6b - db);
    let w7a = p7a * (g7a - da); let w7b = p7b * (g7b - db);
    if (DS == 1u) {
      // dS of key rows j0 .. j0+7 with queries i .. i+7 (zeros past qe): two vec4s per key row.
      let z = (bh * bp.seq + j0) * bp.dsw + i / 4u;
      if (j0 < bp.seq) { bw_ds[z] = w0a; bw_ds[z + 1u] = w0b; }
      if (j0 + 1u < bp.seq) { bw_ds[z + bp.dsw] = w1a; bw_ds[z + bp.dsw + 1u] = w1b; }
      if (j0 + 2u < bp.seq) { bw_ds[z + 2u * bp.dsw] = w2a; bw_ds[z + 2u * bp.dsw + 1u] = w2b; }
      if (j0 + 3u < bp.seq) { bw_ds[z + 3u * bp.dsw] = w3a; bw_ds[z + 3u * bp.dsw + 1u] = w3b; }
      if (j0 + 4u < bp.seq) { bw_ds[z + 4u * bp.dsw] = w4a; bw_ds[z + 4u * bp.dsw + 1u] = w4b; }
      if (j0 + 5u < bp.seq) { bw_ds[z + 5u * bp.dsw] = w5a; bw_ds[z + 5u * bp.dsw + 1u] = w5b; }
      if (j0 + 6u < bp.seq) { bw_ds[z + 6u * bp.dsw] = w6a; bw_ds[z + 6u * bp.dsw + 1u] = w6b; }
      if (j0 + 7u < bp.seq) { bw_ds[z + 7u * bp.dsw] = w7a; bw_ds[z + 7u * bp.dsw + 1u] = w7b; }
    }
    for (var d = 0u; d < nd; d++) {
      let u0 = qkv[c0 + d]; let u1 = qkv[c1 + d]; let u2 = qkv[c2 + d]; let u3 = qkv[c3 + d];
      let u4 = qkv[c4 + d]; let u5 = qkv[c5 + d]; let u6 = qkv[c6 + d]; let u7 = qkv[c7 + d];
      o0[d] = pv4(pv4(o0[d], w0a, u0, u1, u2, u3), w0b, u4, u5, u6, u7);
      if (ROWS > 1u) { o1[d] = pv4(pv4(o1[d], w1a, u0, u1, u2, u3), w1b, u4, u5, u6, u7); }
      if (ROWS > 2u) { o2[d] = pv4(pv4(o2[d], w2a, u0, u1, u2, u3), w2b, u4, u5, u6, u7); }
      if (ROWS > 3u) { o3[d] = pv4(pv4(o3[d], w3a, u0, u1, u2, u3), w3b, u4, u5, u6, u7); }
      if (ROWS > 4u) { o4[d] = pv4(pv4(o4[d], w4a, u0, u1, u2, u3), w4b, u4, u5, u6, u7); }
      if (ROWS > 5u) { o5[d] = pv4(pv4(o5[d], w5a, u0, u1, u2, u3), w5b, u4, u5, u6, u7); }
      if (ROWS > 6u) { o6[d] = pv4(pv4(o6[d], w6a, u0, u1, u2, u3), w6b, u4, u5, u6, u7); }
      if (ROWS > 7u) { o7[d] = pv4(pv4(o7[d], w7a, u0, u1, u2, u3), w7b, u4, u5, u6, u7); }
    }
    for (var d = 0u; d < nd; d++) {
      let f0 = bw_dout[e0 + d]; let f1 = bw_dout[e1 + d]; let f2 = bw_dout[e2 + d]; let f3 = bw_dout[e3 + d];
      let f4 = bw_dout[e4 + d]; let f5 = bw_dout[e5 + d]; let f6 = bw_dout[e6 + d]; let f7 = bw_dout[e7 + d];
      y0[d] = pv4(pv4(y0[d], p0a, f0, f1, f2, f3), p0b, f4, f5, f6, f7);
      if (ROWS > 1u) { y1[d] = pv4(pv4(y1[d], p1a, f0, f1, f2, f3), p1b, f4, f5, f6, f7); }
      if (ROWS > 2u) { y2[d] = pv4(pv4(y2[d], p2a, f0, f1, f2, f3), p2b, f4, f5, f6, f7); }
      if (ROWS > 3u) { y3[d] = pv4(pv4(y3[d], p3a, f0, f1, f2, f3), p3b, f4, f5, f6, f7); }
      if (ROWS > 4u) { y4[d] = pv4(pv4(y4[d], p4a, f0, f1, f2, f3), p4b, f4, f5, f6, f7); }
      if (ROWS > 5u) { y5[d] = pv4(pv4(y5[d], p5a, f0, f1, f2, f3), p5b, f4, f5, f6, f7); }
      if (ROWS > 6u) { y6[d] = pv4(pv4(y6[d], p6a, f0, f1, f2, f3), p6b, f4, f5, f6, f7); }
      if (ROWS > 7u) { y7[d] = pv4(pv4(y7[d], p7a, f0, f1, f2, f3), p7b, f4, f5, f6, f7); }
    }
  }
}

fn dvRow(r: u32, d: u32) -> vec4f {
  switch r {
    case 0u: { return y0[d]; }
    case 1u: { return y1[d]; }
    case 2u: { return y2[d]; }
    case 3u: { return y3[d]; }
    case 4u: { return y4[d]; }
    case 5u: { return y5[d]; }
    case 6u: { return y6[d]; }
    default: { return y7[d]; }
  }
}

// dQ (split wg.y of the key range) of ROWS query rows.
@compute @workgroup_size(WG)
fn attn_bwd_q(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let t = bwdTask(wg, li);
  let k0 = wg.y * bp.chunk;
  gradQ(t.bh, t.i0, k0, min(k0 + bp.chunk, bp.seq));
  let base = bp.dbase + (t.bh / bp.heads) * bp.sb + (t.bh % bp.heads) * bp.sh + wg.y * bp.ss;
  let nd = select(bp.hd4, HD4, STATIC_D);
  for (var r = 0u; r < ROWS; r++) {
    let i = t.i0 + r;
    if (i < bp.seq) {
      let o = base + i * bp.si;
      for (var d = 0u; d < nd; d++) { bw_dst[o + d] = accRow(r, d) * bp.scale; }
    }
  }
}

// dK and dV (split wg.y of the query range) of ROWS key rows.
@compute @workgroup_size(WG)
fn attn_bwd_kv(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let t = bwdTask(wg, li);
  let i0 = wg.y * bp.chunk;
  // Keys past the sequence's end (MASK) get zero dK and dV: invocations with none before it skip
  // the query loop (their dS rows are never read: attn_bwd_q stops at the end too).
  let kend = keyEnd(t.bh / bp.heads, bp.kbase, bp.seq);
  gradKV(t.bh, t.i0, i0, select(min(i0 + bp.chunk, bp.seq), i0, t.i0 >= kend));
  let base = bp.dbase + (t.bh / bp.heads) * bp.sb + (t.bh % bp.heads) * bp.sh + wg.y * bp.ss;
  let nd = select(bp.hd4, HD4, STATIC_D);
  for (var r = 0u; r < ROWS; r++) {
    let j = t.i0 + r;
    if (j < bp.seq) {
      let o = base + j * bp.si;
      let live = j < kend;
      for (var d = 0u; d < nd; d++) {
        bw_dst[o + d] = select(vec4f(0.0), accRow(r, d) * bp.scale, live);
        bw_dst[o + bp.voff + d] = select(vec4f(0.0), dvRow(r, d), live);
      }
    }
  }
}

struct PrepParams {
  seq: u32,
  d4: u32,
  heads: u32,
  rows: u32,    // bhn · seq
  stride: u32,  // rows per grid line
  hd4: u32,
  gbase: u32,   // first vec4 of the group in the dOut binding
  obase: u32,   // first vec4 of the group in the out binding
  lbase: u32,   // first element of the group in the lse binding
}
@group(0) @binding(0) var<uniform> pp: PrepParams;
@group(0) @binding(1) var<storage, read> prep_out: array<vec4f>;
@group(0) @binding(3) var<storage, read> prep_lse: array<f32>;
@group(0) @binding(4) var<storage, read_write> prep_stats: array<vec2f>;

@compute @workgroup_size(WG)
fn attn_bwd_prep(@builtin(global_invocation_id) gid: vec3u) {
  let r = gid.x + gid.y * pp.stride;  // row (bh, i)
  if (r >= pp.rows) { return; }
  let bh = r / pp.seq;
  let i = r % pp.seq;
  let tok = (bh / pp.heads) * pp.seq + i;
  let h = bh % pp.heads;
  let g = pp.gbase + tok * pp.d4 + h * pp.hd4;
  let o = pp.obase + tok * pp.d4 + h * pp.hd4;
  var acc = vec4f(0.0);
  for (var d = 0u; d < pp.hd4; d++) { acc = fma(bw_dout[g + d], prep_out[o + d], acc); }
  prep_stats[r] = vec2f(prep_lse[pp.lbase + r] * LOG2E, hsum(acc));
}

struct SumParams {
  seq: u32,
  d4: u32,
  heads: u32,
  rows: u32,    // bhn · seq
  splits: u32,
  stride: u32,  // rows per grid line
  np: u32,      // vec4 blocks of HD4 per partial row: 1 (dQ) or 2 (dK, dV)
  hd4: u32,
  dbase: u32,   // first vec4 of the group's first destination column block in the dqkv binding
}
@group(0) @binding(0) var<uniform> sp: SumParams;
@group(0) @binding(1) var<storage, read> sum_part: array<vec4f>;  // [bh][split][seq][np·hd4]
@group(0) @binding(2) var<storage, read_write> sum_dst: array<vec4f>;

@compute @workgroup_size(WG)
fn attn_bwd_sum(@builtin(global_invocation_id) gid: vec3u) {
  let r = gid.x + gid.y * sp.stride;  // row (bh, i)
  if (r >= sp.rows) { return; }
  let bh = r / sp.seq;
  let i = r % sp.seq;
  let w = sp.np * sp.hd4;
  let src = (bh * sp.splits * sp.seq + i) * w;
  let step = sp.seq * w;
  let dst = sp.dbase + ((bh / sp.heads) * sp.seq + i) * 3u * sp.d4 + (bh % sp.heads) * sp.hd4;
  for (var part = 0u; part < sp.np; part++) {
    for (var d = 0u; d < sp.hd4; d++) {
      let c = part * sp.hd4 + d;
      var acc = sum_part[src + c];
      for (var s = 1u; s < sp.splits; s++) { acc += sum_part[src + s * step + c]; }
      sum_dst[dst + part * sp.d4 + d] = acc;
    }
  }
}
