// Matmul, texture variant for CPU executors (llvmpipe): a 16x16 (main) or 16x32 (main_wide) register tile per invocation,
// both operands K-major in rgba32float textures, read with textureLoad (about twice as fast as a
// storage-buffer load on llvmpipe):
//   A: texel (x = k4, y = batch*aBatchRows + m) = A[m, 4k4 .. 4k4+3]   (zero-padded past K)
//   B: texel (x = k4, y = batch*bBatchRows + n) = B[4k4 .. 4k4+3, n]   (B transposed, zero-padded)
// Per vec4 step along K an invocation loads 16 A texels and 16 B texels and issues 256 4-wide dot
// products (1024 FMAs): 32 FMAs per load. main_wide doubles the columns (16 A and 32 B texels, 2048
// FMAs: 43 per load); on llvmpipe that measured about 1.25x faster on the model's larger shapes
// (slower on narrow ones: the tuner decides), at a longer first compile (about 2 s instead of
// 0.5 s; Mesa's disk cache keeps it). Each entry is straight-line code: a shared body with an
// override-guarded second half measured 15% slower. The tile is written out with named variables rather
// than arrays so every accumulator stays a register value (arrays indexed in loops were measured
// 2x slower on llvmpipe). Invocations of a workgroup share their rows of A (x runs along N), so
// the A loads of one SIMD batch hit the same cache lines. Rows/columns past M/N clamp their loads
// and are not stored. FLOPs 2*M*N*K; bytes >= 4*(M*K + K*N + M*N). Loop trips per invocation:
// ceil(K/4) + 16 (epilogue): far below llvmpipe's 65535 cap for any K the texture can hold.
//
// Split-K (splits > 1, for skinny outputs with a long K): gid.z = batch * splits + s, and
// invocation s sums only the vec4 steps [s*kChunk4, min(K4, (s+1)*kChunk4)); it stores the raw
// partial sum (no alpha, bias, activation or accumulation) at P[(gid.z * M + row) * N + col] in the
// C binding, and matmul_splitk.wgsl adds the partials in a fixed order and applies the epilogue.

//!include activation

override WG: u32 = 64u;  // invocations per workgroup, along N
override ACT: u32 = 0u;  // epilogue activation: 0 none, 1 GELU (erf), 2 GELU (tanh)

struct Params {
  M: u32,
  N: u32,
  K4: u32,         // ceil(K / 4)
  aBatchRows: u32, // texel rows of A per batch (M), or 0 to broadcast
  bBatchRows: u32, // texel rows of B per batch (N), or 0 to broadcast
  hasBias: u32,
  accumulate: u32,
  splits: u32,     // K chunks (1: no split, C gets the finished result)
  kChunk4: u32,    // vec4 steps per chunk
  alpha: f32,
  beta: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var A: texture_2d<f32>;
@group(0) @binding(2) var B: texture_2d<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> C: array<f32>;

fn store_row(b: u32, row: u32, col0: u32, acc: mat4x4f) {
  if (row >= p.M) { return; }
  if (p.splits > 1u) {
    // b is gid.z here: one partial sum per (batch, chunk).
    for (var c = 0u; c < 4u; c++) {
      for (var e = 0u; e < 4u; e++) {
        let col = col0 + c * 4u + e;
        if (col < p.N) { C[(b * p.M + row) * p.N + col] = acc[c][e]; }
      }
    }
    return;
  }
  for (var c = 0u; c < 4u; c++) {
    let v = acc[c] * p.alpha;
    for (var e = 0u; e < 4u; e++) {
      let col = col0 + c * 4u + e;
      if (col < p.N) {
        let idx = (b * p.M + row) * p.N + col;
        var x = v[e];
        if (p.hasBias == 1u) { x += bias[col]; }
        x = activate(x, ACT);
        if (p.accumulate == 1u) { x += p.beta * C[idx]; }
        C[idx] = x;
      }
    }
  }
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let col0 = gid.x * 16u;
  let row0 = wid.y * 16u;
  let b = gid.z / p.splits;
  let kBegin = (gid.z % p.splits) * p.kChunk4;
  let kEnd = min(p.K4, kBegin + p.kChunk4);
  if (col0 >= p.N) { return; }
  let ml = p.M - 1u;
  let nl = p.N - 1u;
  let ab = b * p.aBatchRows;
  let bb = b * p.bBatchRows;
  let ra0 = ab + min(row0 + 0u, ml);
  let ra1 = ab + min(row0 + 1u, ml);
  let ra2 = ab + min(row0 + 2u, ml);
  let ra3 = ab + min(row0 + 3u, ml);
  let ra4 = ab + min(row0 + 4u, ml);
  let ra5 = ab + min(row0 + 5u, ml);
  let ra6 = ab + min(row0 + 6u, ml);
  let ra7 = ab + min(row0 + 7u, ml);
  let ra8 = ab + min(row0 + 8u, ml);
  let ra9 = ab + min(row0 + 9u, ml);
  let ra10 = ab + min(row0 + 10u, ml);
  let ra11 = ab + min(row0 + 11u, ml);
  let ra12 = ab + min(row0 + 12u, ml);
  let ra13 = ab + min(row0 + 13u, ml);
  let ra14 = ab + min(row0 + 14u, ml);
  let ra15 = ab + min(row0 + 15u, ml);
  let rb0 = bb + min(col0 + 0u, nl);
  let rb1 = bb + min(col0 + 1u, nl);
  let rb2 = bb + min(col0 + 2u, nl);
  let rb3 = bb + min(col0 + 3u, nl);
  let rb4 = bb + min(col0 + 4u, nl);
  let rb5 = bb + min(col0 + 5u, nl);
  let rb6 = bb + min(col0 + 6u, nl);
  let rb7 = bb + min(col0 + 7u, nl);
  let rb8 = bb + min(col0 + 8u, nl);
  let rb9 = bb + min(col0 + 9u, nl);
  let rb10 = bb + min(col0 + 10u, nl);
  let rb11 = bb + min(col0 + 11u, nl);
  let rb12 = bb + min(col0 + 12u, nl);
  let rb13 = bb + min(col0 + 13u, nl);
  let rb14 = bb + min(col0 + 14u, nl);
  let rb15 = bb + min(col0 + 15u, nl);
  var a0 = mat4x4f();
  var a1 = mat4x4f();
  var a2 = mat4x4f();
  var a3 = mat4x4f();
  var a4 = mat4x4f();
  var a5 = mat4x4f();
  var a6 = mat4x4f();
  var a7 = mat4x4f();
  var a8 = mat4x4f();
  var a9 = mat4x4f();
  var a10 = mat4x4f();
  var a11 = mat4x4f();
  var a12 = mat4x4f();
  var a13 = mat4x4f();
  var a14 = mat4x4f();
  var a15 = mat4x4f();
  for (var k = kBegin; k < kEnd; k++) {
    let m0 = mat4x4f(textureLoad(B, vec2u(k, rb0), 0), textureLoad(B, vec2u(k, rb1), 0), textureLoad(B, vec2u(k, rb2), 0), textureLoad(B, vec2u(k, rb3), 0));
    let m1 = mat4x4f(textureLoad(B, vec2u(k, rb4), 0), textureLoad(B, vec2u(k, rb5), 0), textureLoad(B, vec2u(k, rb6), 0), textureLoad(B, vec2u(k, rb7), 0));
    let m2 = mat4x4f(textureLoad(B, vec2u(k, rb8), 0), textureLoad(B, vec2u(k, rb9), 0), textureLoad(B, vec2u(k, rb10), 0), textureLoad(B, vec2u(k, rb11), 0));
    let m3 = mat4x4f(textureLoad(B, vec2u(k, rb12), 0), textureLoad(B, vec2u(k, rb13), 0), textureLoad(B, vec2u(k, rb14), 0), textureLoad(B, vec2u(k, rb15), 0));
    let z0 = textureLoad(A, vec2u(k, ra0), 0); a0 += mat4x4f(z0 * m0, z0 * m1, z0 * m2, z0 * m3);
    let z1 = textureLoad(A, vec2u(k, ra1), 0); a1 += mat4x4f(z1 * m0, z1 * m1, z1 * m2, z1 * m3);
    let z2 = textureLoad(A, vec2u(k, ra2), 0); a2 += mat4x4f(z2 * m0, z2 * m1, z2 * m2, z2 * m3);
    let z3 = textureLoad(A, vec2u(k, ra3), 0); a3 += mat4x4f(z3 * m0, z3 * m1, z3 * m2, z3 * m3);
    let z4 = textureLoad(A, vec2u(k, ra4), 0); a4 += mat4x4f(z4 * m0, z4 * m1, z4 * m2, z4 * m3);
    let z5 = textureLoad(A, vec2u(k, ra5), 0); a5 += mat4x4f(z5 * m0, z5 * m1, z5 * m2, z5 * m3);
    let z6 = textureLoad(A, vec2u(k, ra6), 0); a6 += mat4x4f(z6 * m0, z6 * m1, z6 * m2, z6 * m3);
    let z7 = textureLoad(A, vec2u(k, ra7), 0); a7 += mat4x4f(z7 * m0, z7 * m1, z7 * m2, z7 * m3);
    let z8 = textureLoad(A, vec2u(k, ra8), 0); a8 += mat4x4f(z8 * m0, z8 * m1, z8 * m2, z8 * m3);
    let z9 = textureLoad(A, vec2u(k, ra9), 0); a9 += mat4x4f(z9 * m0, z9 * m1, z9 * m2, z9 * m3);
    let z10 = textureLoad(A, vec2u(k, ra10), 0); a10 += mat4x4f(z10 * m0, z10 * m1, z10 * m2, z10 * m3);
    let z11 = textureLoad(A, vec2u(k, ra11), 0); a11 += mat4x4f(z11 * m0, z11 * m1, z11 * m2, z11 * m3);
    let z12 = textureLoad(A, vec2u(k, ra12), 0); a12 += mat4x4f(z12 * m0, z12 * m1, z12 * m2, z12 * m3);
    let z13 = textureLoad(A, vec2u(k, ra13), 0); a13 += mat4x4f(z13 * m0, z13 * m1, z13 * m2, z13 * m3);
    let z14 = textureLoad(A, vec2u(k, ra14), 0); a14 += mat4x4f(z14 * m0, z14 * m1, z14 * m2, z14 * m3);
    let z15 = textureLoad(A, vec2u(k, ra15), 0); a15 += mat4x4f(z15 * m0, z15 * m1, z15 * m2, z15 * m3);
  }
  // Finished results go to batch b; split-K partial sums to slot gid.z.
  let out_index = select(b, gid.z, p.splits > 1u);
  store_row(out_index, row0 + 0u, col0, a0);
  store_row(out_index, row0 + 1u, col0, a1);
  store_row(out_index, row0 + 2u, col0, a2);
  store_row(out_index, row0 + 3u, col0, a3);
  store_row(out_index, row0 + 4u, col0, a4);
  store_row(out_index, row0 + 5u, col0, a5);
  store_row(out_index, row0 + 6u, col0, a6);
  store_row(out_index, row0 + 7u, col0, a7);
  store_row(out_index, row0 + 8u, col0, a8);
  store_row(out_index, row0 + 9u, col0, a9);
  store_row(out_index, row0 + 10u, col0, a10);
  store_row(out_index, row0 + 11u, col0, a11);
  store_row(out_index, row0 + 12u, col0, a12);
  store_row(out_index, row0 + 13u, col0, a13);
  store_row(out_index, row0 + 14u, col0, a14);
  store_row(out_index, row0 + 15u, col0, a15);
}

@compute @workgroup_size(WG, 1, 1)
fn main_wide(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let col0 = gid.x * 32u;
  let row0 = wid.y * 16u;
  let b = gid.z / p.splits;
  let kBegin = (gid.z % p.splits) * p.kChunk4;
  let kEnd = min(p.K4, kBegin + p.kChunk4);
  if (col0 >= p.N) { return; }
  let ml = p.M - 1u;
  let nl = p.N - 1u;
  let ab = b * p.aBatchRows;
  let bb = b * p.bBatchRows;
  let ra0 = ab + min(row0 + 0u, ml);
  let ra1 = ab + min(row0 + 1u, ml);
  let ra2 = ab + min(row0 + 2u, ml);
  let ra3 = ab + min(row0 + 3u, ml);
  let ra4 = ab + min(row0 + 4u, ml);
  let ra5 = ab + min(row0 + 5u, ml);
  let ra6 = ab + min(row0 + 6u, ml);
  let ra7 = ab + min(row0 + 7u, ml);
  let ra8 = ab + min(row0 + 8u, ml);
  let ra9 = ab + min(row0 + 9u, ml);
  let ra10 = ab + min(row0 + 10u, ml);
  let ra11 = ab + min(row0 + 11u, ml);
  let ra12 = ab + min(row0 + 12u, ml);
  let ra13 = ab + min(row0 + 13u, ml);
  let ra14 = ab + min(row0 + 14u, ml);
  let ra15 = ab + min(row0 + 15u, ml);
  let rb0 = bb + min(col0 + 0u, nl);
  let rb1 = bb + min(col0 + 1u, nl);
  let rb2 = bb + min(col0 + 2u, nl);
  let rb3 = bb + min(col0 + 3u, nl);
  let rb4 = bb + min(col0 + 4u, nl);
  let rb5 = bb + min(col0 + 5u, nl);
  let rb6 = bb + min(col0 + 6u, nl);
  let rb7 = bb + min(col0 + 7u, nl);
  let rb8 = bb + min(col0 + 8u, nl);
  let rb9 = bb + min(col0 + 9u, nl);
  let rb10 = bb + min(col0 + 10u, nl);
  let rb11 = bb + min(col0 + 11u, nl);
  let rb12 = bb + min(col0 + 12u, nl);
  let rb13 = bb + min(col0 + 13u, nl);
  let rb14 = bb + min(col0 + 14u, nl);
  let rb15 = bb + min(col0 + 15u, nl);
  let rb16 = bb + min(col0 + 16u, nl);
  let rb17 = bb + min(col0 + 17u, nl);
  let rb18 = bb + min(col0 + 18u, nl);
  let rb19 = bb + min(col0 + 19u, nl);
  let rb20 = bb + min(col0 + 20u, nl);
  let rb21 = bb + min(col0 + 21u, nl);
  let rb22 = bb + min(col0 + 22u, nl);
  let rb23 = bb + min(col0 + 23u, nl);
  let rb24 = bb + min(col0 + 24u, nl);
  let rb25 = bb + min(col0 + 25u, nl);
  let rb26 = bb + min(col0 + 26u, nl);
  let rb27 = bb + min(col0 + 27u, nl);
  let rb28 = bb + min(col0 + 28u, nl);
  let rb29 = bb + min(col0 + 29u, nl);
  let rb30 = bb + min(col0 + 30u, nl);
  let rb31 = bb + min(col0 + 31u, nl);
  var a0 = mat4x4f();
  var a1 = mat4x4f();
  var a2 = mat4x4f();
  var a3 = mat4x4f();
  var a4 = mat4x4f();
  var a5 = mat4x4f();
  var a6 = mat4x4f();
  var a7 = mat4x4f();
  var a8 = mat4x4f();
  var a9 = mat4x4f();
  var a10 = mat4x4f();
  var a11 = mat4x4f();
  var a12 = mat4x4f();
  var a13 = mat4x4f();
  var a14 = mat4x4f();
  var a15 = mat4x4f();
  var c0 = mat4x4f();
  var c1 = mat4x4f();
  var c2 = mat4x4f();
  var c3 = mat4x4f();
  var c4 = mat4x4f();
  var c5 = mat4x4f();
  var c6 = mat4x4f();
  var c7 = mat4x4f();
  var c8 = mat4x4f();
  var c9 = mat4x4f();
  var c10 = mat4x4f();
  var c11 = mat4x4f();
  var c12 = mat4x4f();
  var c13 = mat4x4f();
  var c14 = mat4x4f();
  var c15 = mat4x4f();
  for (var k = kBegin; k < kEnd; k++) {
    let m0 = mat4x4f(textureLoad(B, vec2u(k, rb0), 0), textureLoad(B, vec2u(k, rb1), 0), textureLoad(B, vec2u(k, rb2), 0), textureLoad(B, vec2u(k, rb3), 0));
    let m1 = mat4x4f(textureLoad(B, vec2u(k, rb4), 0), textureLoad(B, vec2u(k, rb5), 0), textureLoad(B, vec2u(k, rb6), 0), textureLoad(B, vec2u(k, rb7), 0));
    let m2 = mat4x4f(textureLoad(B, vec2u(k, rb8), 0), textureLoad(B, vec2u(k, rb9), 0), textureLoad(B, vec2u(k, rb10), 0), textureLoad(B, vec2u(k, rb11), 0));
    let m3 = mat4x4f(textureLoad(B, vec2u(k, rb12), 0), textureLoad(B, vec2u(k, rb13), 0), textureLoad(B, vec2u(k, rb14), 0), textureLoad(B, vec2u(k, rb15), 0));
    let m4 = mat4x4f(textureLoad(B, vec2u(k, rb16), 0), textureLoad(B, vec2u(k, rb17), 0), textureLoad(B, vec2u(k, rb18), 0), textureLoad(B, vec2u(k, rb19), 0));
    let m5 = mat4x4f(textureLoad(B, vec2u(k, rb20), 0), textureLoad(B, vec2u(k, rb21), 0), textureLoad(B, vec2u(k, rb22), 0), textureLoad(B, vec2u(k, rb23), 0));
    let m6 = mat4x4f(textureLoad(B, vec2u(k, rb24), 0), textureLoad(B, vec2u(k, rb25), 0), textureLoad(B, vec2u(k, rb26), 0), textureLoad(B, vec2u(k, rb27), 0));
    let m7 = mat4x4f(textureLoad(B, vec2u(k, rb28), 0), textureLoad(B, vec2u(k, rb29), 0), textureLoad(B, vec2u(k, rb30), 0), textureLoad(B, vec2u(k, rb31), 0));
    let z0 = textureLoad(A, vec2u(k, ra0), 0); a0 += mat4x4f(z0 * m0, z0 * m1, z0 * m2, z0 * m3); c0 += mat4x4f(z0 * m4, z0 * m5, z0 * m6, z0 * m7);
    let z1 = textureLoad(A, vec2u(k, ra1), 0); a1 += mat4x4f(z1 * m0, z1 * m1, z1 * m2, z1 * m3); c1 += mat4x4f(z1 * m4, z1 * m5, z1 * m6, z1 * m7);
    let z2 = textureLoad(A, vec2u(k, ra2), 0); a2 += mat4x4f(z2 * m0, z2 * m1, z2 * m2, z2 * m3); c2 += mat4x4f(z2 * m4, z2 * m5, z2 * m6, z2 * m7);
    let z3 = textureLoad(A, vec2u(k, ra3), 0); a3 += mat4x4f(z3 * m0, z3 * m1, z3 * m2, z3 * m3); c3 += mat4x4f(z3 * m4, z3 * m5, z3 * m6, z3 * m7);
    let z4 = textureLoad(A, vec2u(k, ra4), 0); a4 += mat4x4f(z4 * m0, z4 * m1, z4 * m2, z4 * m3); c4 += mat4x4f(z4 * m4, z4 * m5, z4 * m6, z4 * m7);
    let z5 = textureLoad(A, vec2u(k, ra5), 0); a5 += mat4x4f(z5 * m0, z5 * m1, z5 * m2, z5 * m3); c5 += mat4x4f(z5 * m4, z5 * m5, z5 * m6, z5 * m7);
    let z6 = textureLoad(A, vec2u(k, ra6), 0); a6 += mat4x4f(z6 * m0, z6 * m1, z6 * m2, z6 * m3); c6 += mat4x4f(z6 * m4, z6 * m5, z6 * m6, z6 * m7);
    let z7 = textureLoad(A, vec2u(k, ra7), 0); a7 += mat4x4f(z7 * m0, z7 * m1, z7 * m2, z7 * m3); c7 += mat4x4f(z7 * m4, z7 * m5, z7 * m6, z7 * m7);
    let z8 = textureLoad(A, vec2u(k, ra8), 0); a8 += mat4x4f(z8 * m0, z8 * m1, z8 * m2, z8 * m3); c8 += mat4x4f(z8 * m4, z8 * m5, z8 * m6, z8 * m7);
    let z9 = textureLoad(A, vec2u(k, ra9), 0); a9 += mat4x4f(z9 * m0, z9 * m1, z9 * m2, z9 * m3); c9 += mat4x4f(z9 * m4, z9 * m5, z9 * m6, z9 * m7);
    let z10 = textureLoad(A, vec2u(k, ra10), 0); a10 += mat4x4f(z10 * m0, z10 * m1, z10 * m2, z10 * m3); c10 += mat4x4f(z10 * m4, z10 * m5, z10 * m6, z10 * m7);
    let z11 = textureLoad(A, vec2u(k, ra11), 0); a11 += mat4x4f(z11 * m0, z11 * m1, z11 * m2, z11 * m3); c11 += mat4x4f(z11 * m4, z11 * m5, z11 * m6, z11 * m7);
    let z12 = textureLoad(A, vec2u(k, ra12), 0); a12 += mat4x4f(z12 * m0, z12 * m1, z12 * m2, z12 * m3); c12 += mat4x4f(z12 * m4, z12 * m5, z12 * m6, z12 * m7);
    let z13 = textureLoad(A, vec2u(k, ra13), 0); a13 += mat4x4f(z13 * m0, z13 * m1, z13 * m2, z13 * m3); c13 += mat4x4f(z13 * m4, z13 * m5, z13 * m6, z13 * m7);
    let z14 = textureLoad(A, vec2u(k, ra14), 0); a14 += mat4x4f(z14 * m0, z14 * m1, z14 * m2, z14 * m3); c14 += mat4x4f(z14 * m4, z14 * m5, z14 * m6, z14 * m7);
    let z15 = textureLoad(A, vec2u(k, ra15), 0); a15 += mat4x4f(z15 * m0, z15 * m1, z15 * m2, z15 * m3); c15 += mat4x4f(z15 * m4, z15 * m5, z15 * m6, z15 * m7);
  }
  // Finished results go to batch b; split-K partial sums to slot gid.z.
  let out_index = select(b, gid.z, p.splits > 1u);
  store_row(out_index, row0 + 0u, col0, a0);
  store_row(out_index, row0 + 1u, col0, a1);
  store_row(out_index, row0 + 2u, col0, a2);
  store_row(out_index, row0 + 3u, col0, a3);
  store_row(out_index, row0 + 4u, col0, a4);
  store_row(out_index, row0 + 5u, col0, a5);
  store_row(out_index, row0 + 6u, col0, a6);
  store_row(out_index, row0 + 7u, col0, a7);
  store_row(out_index, row0 + 8u, col0, a8);
  store_row(out_index, row0 + 9u, col0, a9);
  store_row(out_index, row0 + 10u, col0, a10);
  store_row(out_index, row0 + 11u, col0, a11);
  store_row(out_index, row0 + 12u, col0, a12);
  store_row(out_index, row0 + 13u, col0, a13);
  store_row(out_index, row0 + 14u, col0, a14);
  store_row(out_index, row0 + 15u, col0, a15);
  store_row(out_index, row0 + 0u, col0 + 16u, c0);
  store_row(out_index, row0 + 1u, col0 + 16u, c1);
  store_row(out_index, row0 + 2u, col0 + 16u, c2);
  store_row(out_index, row0 + 3u, col0 + 16u, c3);
  store_row(out_index, row0 + 4u, col0 + 16u, c4);
  store_row(out_index, row0 + 5u, col0 + 16u, c5);
  store_row(out_index, row0 + 6u, col0 + 16u, c6);
  store_row(out_index, row0 + 7u, col0 + 16u, c7);
  store_row(out_index, row0 + 8u, col0 + 16u, c8);
  store_row(out_index, row0 + 9u, col0 + 16u, c9);
  store_row(out_index, row0 + 10u, col0 + 16u, c10);
  store_row(out_index, row0 + 11u, col0 + 16u, c11);
  store_row(out_index, row0 + 12u, col0 + 16u, c12);
  store_row(out_index, row0 + 13u, col0 + 16u, c13);
  store_row(out_index, row0 + 14u, col0 + 16u, c14);
  store_row(out_index, row0 + 15u, col0 + 16u, c15);
}
