// Codebook search (vector quantizer): for each query z_n (row of z [N, D]) find the code e_k (row of
// the codebook [K, D]) with the smallest ‖z_n − e_k‖², ties to the lowest k.
//
// Algorithm (ops in src/ops/codebook.ts):
//   row_norms        ‖e_k‖² for every code (one invocation per row; usually computed once by the caller).
//   prep_rows        copies rows into a zero-padded vec4 layout [rows, D4], D4 = ceil(D / 4); with
//                    NORMALIZE it writes x / max(‖x‖, EPS) instead (cosine mode).
//   pack_tex         the same padded layout into an rgba32float texture: texel (d4, k) = e_k[4·d4 .. 4·d4+3].
//   search_partial   pass 1. Invocation = 16 queries × (TPI tiles of 16 codes). Per tile it keeps a
//                    16 × 16 register tile of dot products, accumulated over D with vec4 loads: per vec4
//                    step 32 loads (16 query vec4, 16 code vec4) feed 1024 FMAs. Then
//                    score = ‖e‖² − 2 z·e (cosine: ‖ê‖² − 2 ẑ·e / max(‖e‖, EPS)), and the running
//                    minimum per query (strict <, codes ascending, so ties keep the lowest index).
//                    Writes one (score bits, index) partial per query and chunk.
//   search_reduce    pass 2. One invocation per query: minimum of the partials (strict <, chunks
//                    ascending), then the reported distance ‖z − e‖² (cosine ‖ẑ − ê‖²) computed
//                    directly from the rows, so it keeps f32 accuracy even when z ≈ e.
//
// Loop budget (llvmpipe stops every loop of an invocation after 65535 trips in total):
//   search_partial: TPI·(D4 + 1) trips, search_reduce: NCHUNKS + D4, prep_rows: D4 (2·D4 normalized),
//   row_norms: D4. The op picks TPI so that NCHUNKS ≤ 8192 and TPI·(D4 + 1) ≤ 32768; at
//   256 × 8192 × 1024 that is TPI = 1: 257 trips in pass 1 and 512 + 256 in pass 2.
//
// Work: FLOPs = 2·N·K·D (pass 1; the padded tail and the 16-query tile of a partial last tile are
//   computed but not counted). Bytes at least: 4·(N·D + K·D + K) read, 8·N written; pass 1 re-reads
//   the codebook once per 16-query tile (K·D·4·ceil(N/16) bytes through the cache).
//
// Variants: USE_TEX reads codes through texture_2d<f32> (textureLoad), else from a storage buffer.
// Both bindings exist in both variants (the unused one is a placeholder) so one source serves both.
// The op packs the codebook into the texture with copyBufferToTexture when D is a multiple of 64
// (several times faster than pack_tex), else with pack_tex, and keeps it while a constant
// codebook's version is unchanged.
//
// Tile: 16 queries × 16 codes. On llvmpipe the tile is load-bound (loads are about 2/3 of its
// time); smaller tiles feed fewer FMAs per load and larger ones spill registers, both slower. The
// texture variant is the faster one on CPU executors. Figures: docs/performance.md and
// docs/perf-log.md.

struct Params {
  n: u32,        // queries (prep_rows/row_norms: rows)
  k: u32,        // codes
  d: u32,        // dimension
  d4: u32,       // ceil(d / 4): vec4 steps per row of the padded layout
  tpi: u32,      // code tiles per invocation (pass 1)
  nchunks: u32,  // partials per query = ceil(ceil(k / 16) / tpi)
  stride: u32,   // 1D dispatches: invocations per row of the grid
  eps: f32,      // cosine: norms are clamped to at least eps before dividing
}

@group(0) @binding(0) var<uniform> p: Params;

override WG: u32;  // invocations per workgroup of every entry point (set by src/ops/codebook.ts)
override NORMALIZE: bool = false;
override COSINE: bool = false;
override USE_TEX: bool = false;
// Pass 1 loops over p.tpi code tiles per invocation; false when p.tpi = 1.
override MULTI_TILE: bool = true;

const TILE: u32 = 16u;
// Largest f32: the score of codes past the codebook and the initial best.
const BIG: f32 = 0x1.fffffep+127f;

// ---------------------------------------------------------------- row kernels: row_norms, prep_rows, pack_tex

@group(0) @binding(1) var<storage, read> rows_src: array<f32>;        // [rows, D]

// Elements col .. col+3 of the row starting at `base`, zero past the row end (D % 4 != 0).
fn load4(base: u32, col: u32) -> vec4f {
  let last = base + p.d - 1u;
  let i = vec4u(base + col) + vec4u(0u, 1u, 2u, 3u);
  let v = vec4f(rows_src[min(i.x, last)], rows_src[min(i.y, last)], rows_src[min(i.z, last)], rows_src[min(i.w, last)]);
  return select(vec4f(0.0), v, vec4u(col) + vec4u(0u, 1u, 2u, 3u) < vec4u(p.d));
}

fn row_sq_norm(base: u32) -> f32 {
  var acc = vec4f(0.0);
  for (var j = 0u; j < p.d4; j++) {
    let v = load4(base, j * 4u);
    acc = fma(v, v, acc);
  }
  return (acc.x + acc.y) + (acc.z + acc.w);
}

// row_norms: out[r] = ‖src[r, :]‖², one invocation per row (p.n rows).
@group(0) @binding(2) var<storage, read_write> rn_out: array<f32>;

@compute @workgroup_size(WG)
fn row_norms(@builtin(global_invocation_id) gid: vec3u) {
  let r = gid.x + gid.y * p.stride;
  if (r < p.n) { rn_out[r] = row_sq_norm(r * p.d); }
}

// prep_rows: dst[r, j] = src[r, 4j .. 4j+3] (zero-padded), times 1/max(‖row‖, EPS) with NORMALIZE.
@group(0) @binding(2) var<storage, read_write> pr_dst: array<vec4f>;  // [rows, D4]

@compute @workgroup_size(WG)
fn prep_rows(@builtin(global_invocation_id) gid: vec3u) {
  let r = gid.x + gid.y * p.stride;
  if (r >= p.n) { return; }
  let base = r * p.d;
  var scale = 1.0;
  if (NORMALIZE) { scale = 1.0 / max(sqrt(row_sq_norm(base)), p.eps); }
  let out = r * p.d4;
  for (var j = 0u; j < p.d4; j++) {
    pr_dst[out + j] = load4(base, j * 4u) * scale;
  }
}

// pack_tex: texel (j, r) = src[r, 4j .. 4j+3] (zero-padded). gid.x = j < D4, gid.y = r < p.k.
@group(0) @binding(2) var pt_dst: texture_storage_2d<rgba32float, write>;

@compute @workgroup_size(WG)
fn pack_tex(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x < p.d4 && gid.y < p.k) {
    textureStore(pt_dst, gid.xy, load4(gid.y * p.d, gid.x * 4u));
  }
}

// ---------------------------------------------------------------- search, shared helpers

struct Best {
  s: f32,
  i: u32,
}

// Lowest score of 4 codes c0..c0+3, lowest index on ties.
fn best4(s: vec4f, c0: u32) -> Best {
  var a = Best(s.x, c0);
  if (s.y < a.s) { a = Best(s.y, c0 + 1u); }
  var b = Best(s.z, c0 + 2u);
  if (s.w < b.s) { b = Best(s.w, c0 + 3u); }
  if (b.s < a.s) { a = b; }
  return a;
}

// `later` covers higher indices than `cur`: it wins only when strictly lower.
fn merge(cur: Best, later: Best) -> Best {
  if (later.s < cur.s) { return later; }
  return cur;
}

// Per-tile constants: column b of `sq` holds ‖e‖² (cosine ‖ê‖²) of codes c0+4b .. c0+4b+3, column b
// of `w` the factor applied to z·e (1; cosine 1/max(‖e‖, EPS)). Codes past the codebook get
// sq = BIG, w = 0, so their score is exactly BIG and never wins (strict <) over the initial BIG.
struct TileConsts {
  sq: mat4x4f,
  w: mat4x4f,
  c0: u32,
}

struct BlockConsts {
  sq: vec4f,
  w: vec4f,
}

fn block_consts(c0: u32) -> BlockConsts {
  let c = vec4u(c0) + vec4u(0u, 1u, 2u, 3u);
  let cl = min(c, vec4u(p.k - 1u));
  let nrm = vec4f(sn_norms[cl.x], sn_norms[cl.y], sn_norms[cl.z], sn_norms[cl.w]);
  var sq = nrm;
  var w = vec4f(1.0);
  if (COSINE) {
    w = 1.0 / max(sqrt(nrm), vec4f(p.eps));
    sq = nrm * w * w;
  }
  let valid = c < vec4u(p.k);
  return BlockConsts(select(vec4f(BIG), sq, valid), select(vec4f(0.0), w, valid));
}

fn tile_consts(c0: u32) -> TileConsts {
  let b0 = block_consts(c0);
  let b1 = block_consts(c0 + 4u);
  let b2 = block_consts(c0 + 8u);
  let b3 = block_consts(c0 + 12u);
  return TileConsts(mat4x4f(b0.sq, b1.sq, b2.sq, b3.sq), mat4x4f(b0.w, b1.w, b2.w, b3.w), c0);
}

// Folds one query's 16 dot products (columns of `a`: 4 codes each) into its running best.
fn tile_best(cur: Best, a: mat4x4f, t: TileConsts) -> Best {
  var r = merge(cur, best4(t.sq[0] - 2.0 * t.w[0] * a[0], t.c0));
  r = merge(r, best4(t.sq[1] - 2.0 * t.w[1] * a[1], t.c0 + 4u));
  r = merge(r, best4(t.sq[2] - 2.0 * t.w[2] * a[2], t.c0 + 8u));
  r = merge(r, best4(t.sq[3] - 2.0 * t.w[3] * a[3], t.c0 + 12u));
  return r;
}

// One vec4 step of a code row: `row` is the code (texel row), `base` its offset in the padded buffer.
fn code4(row: u32, base: u32, j: u32) -> vec4f {
  if (USE_TEX) { return textureLoad(sn_tex, vec2u(j, row), 0); }
  return sn_codes[base + j];
}

fn write_partial(q: u32, chunk: u32, b: Best) {
  if (q < p.n) { sn_part[q * p.nchunks + chunk] = vec2u(bitcast<u32>(b.s), b.i); }
}

// ---------------------------------------------------------------- search_partial (pass 1)

@group(0) @binding(1) var<storage, read> sn_z: array<vec4f>;        // [N, D4] queries (ẑ in cosine mode)
@group(0) @binding(2) var<storage, read> sn_codes: array<vec4f>;    // [K, D4] codes (placeholder with USE_TEX)
@group(0) @binding(3) var sn_tex: texture_2d<f32>;                  // D4 × K texels (placeholder without)
@group(0) @binding(4) var<storage, read> sn_norms: array<f32>;      // [K] ‖e‖²
@group(0) @binding(5) var<storage, read_write> sn_part: array<vec2u>; // [N, NCHUNKS] (score bits, index)

// Grid: x = chunks of TPI code tiles (WG per workgroup), y = tiles of 16 queries, so every invocation
// of a workgroup reads the same query rows.
@compute @workgroup_size(WG)
fn search_partial(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let chunk = wid.x * WG + lid.x;
  if (chunk >= p.nchunks) { return; }
  let q0 = wid.y * TILE;
  let ql = p.n - 1u;
  let zr0 = min(q0, ql) * p.d4;        let zr1 = min(q0 + 1u, ql) * p.d4;
  let zr2 = min(q0 + 2u, ql) * p.d4;   let zr3 = min(q0 + 3u, ql) * p.d4;
  let zr4 = min(q0 + 4u, ql) * p.d4;   let zr5 = min(q0 + 5u, ql) * p.d4;
  let zr6 = min(q0 + 6u, ql) * p.d4;   let zr7 = min(q0 + 7u, ql) * p.d4;
  let zr8 = min(q0 + 8u, ql) * p.d4;   let zr9 = min(q0 + 9u, ql) * p.d4;
  let zr10 = min(q0 + 10u, ql) * p.d4; let zr11 = min(q0 + 11u, ql) * p.d4;
  let zr12 = min(q0 + 12u, ql) * p.d4; let zr13 = min(q0 + 13u, ql) * p.d4;
  let zr14 = min(q0 + 14u, ql) * p.d4; let zr15 = min(q0 + 15u, ql) * p.d4;

  let first = chunk * p.tpi * TILE;
  var b0 = Best(BIG, first);  var b1 = b0;  var b2 = b0;  var b3 = b0;
  var b4 = b0;  var b5 = b0;  var b6 = b0;  var b7 = b0;
  var b8 = b0;  var b9 = b0;  var b10 = b0; var b11 = b0;
  var b12 = b0; var b13 = b0; var b14 = b0; var b15 = b0;

  // With MULTI_TILE off (TPI = 1) the bound is the constant 1 and the compiler drops the loop, which
  // measured 10-15% faster on llvmpipe than the same loop with a uniform bound of 1.
  let ntiles = select(1u, p.tpi, MULTI_TILE);
  for (var t = 0u; t < ntiles; t++) {
    let c0 = first + t * TILE;
    if (c0 >= p.k) { break; }
    let kl = p.k - 1u;
    let r0 = min(c0, kl);         let r1 = min(c0 + 1u, kl);   let r2 = min(c0 + 2u, kl);   let r3 = min(c0 + 3u, kl);
    let r4 = min(c0 + 4u, kl);    let r5 = min(c0 + 5u, kl);   let r6 = min(c0 + 6u, kl);   let r7 = min(c0 + 7u, kl);
    let r8 = min(c0 + 8u, kl);    let r9 = min(c0 + 9u, kl);   let r10 = min(c0 + 10u, kl); let r11 = min(c0 + 11u, kl);
    let r12 = min(c0 + 12u, kl);  let r13 = min(c0 + 13u, kl); let r14 = min(c0 + 14u, kl); let r15 = min(c0 + 15u, kl);
    let e0 = r0 * p.d4;   let e1 = r1 * p.d4;   let e2 = r2 * p.d4;   let e3 = r3 * p.d4;
    let e4 = r4 * p.d4;   let e5 = r5 * p.d4;   let e6 = r6 * p.d4;   let e7 = r7 * p.d4;
    let e8 = r8 * p.d4;   let e9 = r9 * p.d4;   let e10 = r10 * p.d4; let e11 = r11 * p.d4;
    let e12 = r12 * p.d4; let e13 = r13 * p.d4; let e14 = r14 * p.d4; let e15 = r15 * p.d4;

    // a_q column b = dot products of query q0+q with codes c0+4b .. c0+4b+3.
    var a0 = mat4x4f();  var a1 = mat4x4f();  var a2 = mat4x4f();  var a3 = mat4x4f();
    var a4 = mat4x4f();  var a5 = mat4x4f();  var a6 = mat4x4f();  var a7 = mat4x4f();
    var a8 = mat4x4f();  var a9 = mat4x4f();  var a10 = mat4x4f(); var a11 = mat4x4f();
    var a12 = mat4x4f(); var a13 = mat4x4f(); var a14 = mat4x4f(); var a15 = mat4x4f();

    for (var j = 0u; j < p.d4; j++) {
      // Columns of m_b are 4 codes: z * m_b = their 4 dot products with z.
      let m0 = mat4x4f(code4(r0, e0, j), code4(r1, e1, j), code4(r2, e2, j), code4(r3, e3, j));
      let m1 = mat4x4f(code4(r4, e4, j), code4(r5, e5, j), code4(r6, e6, j), code4(r7, e7, j));
      let m2 = mat4x4f(code4(r8, e8, j), code4(r9, e9, j), code4(r10, e10, j), code4(r11, e11, j));
      let m3 = mat4x4f(code4(r12, e12, j), code4(r13, e13, j), code4(r14, e14, j), code4(r15, e15, j));
      let z0 = sn_z[zr0 + j];   a0 += mat4x4f(z0 * m0, z0 * m1, z0 * m2, z0 * m3);
      let z1 = sn_z[zr1 + j];   a1 += mat4x4f(z1 * m0, z1 * m1, z1 * m2, z1 * m3);
      let z2 = sn_z[zr2 + j];   a2 += mat4x4f(z2 * m0, z2 * m1, z2 * m2, z2 * m3);
      let z3 = sn_z[zr3 + j];   a3 += mat4x4f(z3 * m0, z3 * m1, z3 * m2, z3 * m3);
      let z4 = sn_z[zr4 + j];   a4 += mat4x4f(z4 * m0, z4 * m1, z4 * m2, z4 * m3);
      let z5 = sn_z[zr5 + j];   a5 += mat4x4f(z5 * m0, z5 * m1, z5 * m2, z5 * m3);
      let z6 = sn_z[zr6 + j];   a6 += mat4x4f(z6 * m0, z6 * m1, z6 * m2, z6 * m3);
      let z7 = sn_z[zr7 + j];   a7 += mat4x4f(z7 * m0, z7 * m1, z7 * m2, z7 * m3);
      let z8 = sn_z[zr8 + j];   a8 += mat4x4f(z8 * m0, z8 * m1, z8 * m2, z8 * m3);
      let z9 = sn_z[zr9 + j];   a9 += mat4x4f(z9 * m0, z9 * m1, z9 * m2, z9 * m3);
      let z10 = sn_z[zr10 + j]; a10 += mat4x4f(z10 * m0, z10 * m1, z10 * m2, z10 * m3);
      let z11 = sn_z[zr11 + j]; a11 += mat4x4f(z11 * m0, z11 * m1, z11 * m2, z11 * m3);
      let z12 = sn_z[zr12 + j]; a12 += mat4x4f(z12 * m0, z12 * m1, z12 * m2, z12 * m3);
      let z13 = sn_z[zr13 + j]; a13 += mat4x4f(z13 * m0, z13 * m1, z13 * m2, z13 * m3);
      let z14 = sn_z[zr14 + j]; a14 += mat4x4f(z14 * m0, z14 * m1, z14 * m2, z14 * m3);
      let z15 = sn_z[zr15 + j]; a15 += mat4x4f(z15 * m0, z15 * m1, z15 * m2, z15 * m3);
    }

    let tc = tile_consts(c0);
    b0 = tile_best(b0, a0, tc);    b1 = tile_best(b1, a1, tc);    b2 = tile_best(b2, a2, tc);    b3 = tile_best(b3, a3, tc);
    b4 = tile_best(b4, a4, tc);    b5 = tile_best(b5, a5, tc);    b6 = tile_best(b6, a6, tc);    b7 = tile_best(b7, a7, tc);
    b8 = tile_best(b8, a8, tc);    b9 = tile_best(b9, a9, tc);    b10 = tile_best(b10, a10, tc); b11 = tile_best(b11, a11, tc);
    b12 = tile_best(b12, a12, tc); b13 = tile_best(b13, a13, tc); b14 = tile_best(b14, a14, tc); b15 = tile_best(b15, a15, tc);
  }

  write_partial(q0, chunk, b0);         write_partial(q0 + 1u, chunk, b1);
  write_partial(q0 + 2u, chunk, b2);    write_partial(q0 + 3u, chunk, b3);
  write_partial(q0 + 4u, chunk, b4);    write_partial(q0 + 5u, chunk, b5);
  write_partial(q0 + 6u, chunk, b6);    write_partial(q0 + 7u, chunk, b7);
  write_partial(q0 + 8u, chunk, b8);    write_partial(q0 + 9u, chunk, b9);
  write_partial(q0 + 10u, chunk, b10);  write_partial(q0 + 11u, chunk, b11);
  write_partial(q0 + 12u, chunk, b12);  write_partial(q0 + 13u, chunk, b13);
  write_partial(q0 + 14u, chunk, b14);  write_partial(q0 + 15u, chunk, b15);
}

// ---------------------------------------------------------------- search_reduce (pass 2)

@group(0) @binding(1) var<storage, read> rd_part: array<vec2u>;
@group(0) @binding(2) var<storage, read> rd_z: array<vec4f>;
@group(0) @binding(3) var<storage, read> rd_codes: array<vec4f>;
@group(0) @binding(4) var rd_tex: texture_2d<f32>;
@group(0) @binding(5) var<storage, read> rd_norms: array<f32>;
@group(0) @binding(6) var<storage, read_write> rd_index: array<u32>;
@group(0) @binding(7) var<storage, read_write> rd_dist: array<f32>;

@compute @workgroup_size(WG)
fn search_reduce(@builtin(global_invocation_id) gid: vec3u) {
  let q = gid.x + gid.y * p.stride;
  if (q >= p.n) { return; }
  let pb = q * p.nchunks;
  let first = rd_part[pb];
  var best = Best(bitcast<f32>(first.x), first.y);
  for (var c = 1u; c < p.nchunks; c++) {
    let v = rd_part[pb + c];
    best = merge(best, Best(bitcast<f32>(v.x), v.y));
  }
  let k = best.i;
  // ‖z − w·e‖² with w = 1 (cosine: 1/max(‖e‖, EPS)), summed in 4 lanes.
  var w = 1.0;
  if (COSINE) { w = 1.0 / max(sqrt(rd_norms[k]), p.eps); }
  let zb = q * p.d4;
  let eb = k * p.d4;
  var acc = vec4f(0.0);
  for (var j = 0u; j < p.d4; j++) {
    var e: vec4f;
    if (USE_TEX) { e = textureLoad(rd_tex, vec2u(j, k), 0); } else { e = rd_codes[eb + j]; }
    let diff = rd_z[zb + j] - w * e;
    acc = fma(diff, diff, acc);
  }
  rd_index[q] = k;
  rd_dist[q] = (acc.x + acc.y) + (acc.z + acc.w);
}
