// Matmul, texture variant for CPU executors (llvmpipe): a register tile per invocation of 16x16
// (main), 16x32 (main_wide) or 32x32 (main_tall) outputs, both operands K-major in rgba32float
// textures, read with textureLoad (about twice as fast as a storage-buffer load on llvmpipe):
//   A: texel (x = k4, y = batch*aBatchRows + m) = A[m, 4k4 .. 4k4+3]   (zero-padded past K)
//   B: texel (x = k4, y = batch*bBatchRows + n) = B[4k4 .. 4k4+3, n]   (B transposed, zero-padded)
// Per vec4 step along K an invocation loads R A texels and C B texels and issues R*C 4-wide dot
// products: 16x16 1024 FMAs per 32 loads, 16x32 2048 per 48, 32x32 4096 per 64. On llvmpipe
// (quiet 2-core machine, 256x1024x1024, kernel alone) about 45, 54 and 61 GFLOP/s; a 64x32 tile
// reached 69 but took 32 s to compile, so it is not offered. Bigger tiles compile longer the first
// time (about 0.8 s, 2.7 s and 9 s; Mesa's disk cache keeps them) and waste work on short or
// narrow outputs, so ops/matmul.ts lets the tuner choose (src/gpu/autotune.ts).
//
// The code is straight-line and generated, not a shared body with switches: the tile is written
// out with named variables rather than arrays so every accumulator stays a register value (arrays
// indexed in loops were measured 2x slower on llvmpipe), and the epilogue is one store4 call per 4
// outputs with the bias of the invocation's columns loaded once and accumulate / split-K chosen
// by override constants: per-element loads and uniform branches in the epilogue made the first
// compile of the 16x32 tile take 27 s instead of 2.7 (and ran 5-25% slower). Invocations of a
// workgroup share their rows of A (x runs along N), so the A loads of one SIMD batch hit the same
// cache lines. Rows/columns past M/N clamp their loads and are not stored.
// FLOPs 2*M*N*K; bytes >= 4*(M*K + K*N + M*N). Loop trips per invocation: ceil(K/4) (at most
// 16384, the widest texture): below llvmpipe's 65535 cap.
//
// Split-K (PARTIAL = 1, splits > 1, for skinny outputs with a long K): gid.z = batch * splits + s,
// and invocation s sums only the vec4 steps [s*kChunk4, min(K4, (s+1)*kChunk4)); it stores the raw
// partial sum (no alpha, bias, activation or accumulation) at P[(gid.z * M + row) * N + col] in the
// C binding, and matmul_splitk.wgsl adds the partials in a fixed order and applies the epilogue.

//!include activation

override WG: u32 = 64u;  // invocations per workgroup, along N
override ACT: u32 = 0u;  // epilogue activation: 0 none, 1 GELU (erf), 2 GELU (tanh)
override ACC: u32 = 0u;  // 1: add beta * C (C's previous contents)
override PARTIAL: u32 = 0u; // 1: split-K, store raw partial sums (no epilogue)

struct Params {
  M: u32,
  N: u32,
  K4: u32,         // ceil(K / 4)
  aBatchRows: u32, // texel rows of A per batch (M), or 0 to broadcast
  bBatchRows: u32, // texel rows of B per batch (N), or 0 to broadcast
  hasBias: u32,
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

// Stores columns col .. col+3 of one row (those below N) with the epilogue. bias4 holds the bias of
// those columns (zeros without bias). Static component indices only (see the top of the file).
fn store4(z: u32, row: u32, col: u32, v: vec4f, bias4: vec4f) {
  if (col >= p.N) { return; }
  let base = (z * p.M + row) * p.N + col;
  let n = p.N - col;
  var x = v;
  if (PARTIAL == 0u) {
    x = x * p.alpha + bias4;
    x = vec4f(activate(x.x, ACT), activate(x.y, ACT), activate(x.z, ACT), activate(x.w, ACT));
    if (ACC == 1u) {
      let last = p.N - 1u - col;
      x += p.beta * vec4f(C[base], C[base + min(1u, last)], C[base + min(2u, last)], C[base + min(3u, last)]);
    }
  }
  C[base] = x.x;
  if (n > 1u) { C[base + 1u] = x.y; }
  if (n > 2u) { C[base + 2u] = x.z; }
  if (n > 3u) { C[base + 3u] = x.w; }
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
  let z = select(b, gid.z, PARTIAL == 1u);
  let useBias = p.hasBias == 1u && PARTIAL == 0u;
  let bias0 = select(vec4f(0.0), vec4f(bias[min(col0 + 0u, nl)], bias[min(col0 + 1u, nl)], bias[min(col0 + 2u, nl)], bias[min(col0 + 3u, nl)]), useBias);
  let bias1 = select(vec4f(0.0), vec4f(bias[min(col0 + 4u, nl)], bias[min(col0 + 5u, nl)], bias[min(col0 + 6u, nl)], bias[min(col0 + 7u, nl)]), useBias);
  let bias2 = select(vec4f(0.0), vec4f(bias[min(col0 + 8u, nl)], bias[min(col0 + 9u, nl)], bias[min(col0 + 10u, nl)], bias[min(col0 + 11u, nl)]), useBias);
  let bias3 = select(vec4f(0.0), vec4f(bias[min(col0 + 12u, nl)], bias[min(col0 + 13u, nl)], bias[min(col0 + 14u, nl)], bias[min(col0 + 15u, nl)]), useBias);
  if (row0 + 0u < p.M) { store4(z, row0 + 0u, col0 + 0u, a0[0], bias0); store4(z, row0 + 0u, col0 + 4u, a0[1], bias1); store4(z, row0 + 0u, col0 + 8u, a0[2], bias2); store4(z, row0 + 0u, col0 + 12u, a0[3], bias3); }
  if (row0 + 1u < p.M) { store4(z, row0 + 1u, col0 + 0u, a1[0], bias0); store4(z, row0 + 1u, col0 + 4u, a1[1], bias1); store4(z, row0 + 1u, col0 + 8u, a1[2], bias2); store4(z, row0 + 1u, col0 + 12u, a1[3], bias3); }
  if (row0 + 2u < p.M) { store4(z, row0 + 2u, col0 + 0u, a2[0], bias0); store4(z, row0 + 2u, col0 + 4u, a2[1], bias1); store4(z, row0 + 2u, col0 + 8u, a2[2], bias2); store4(z, row0 + 2u, col0 + 12u, a2[3], bias3); }
  if (row0 + 3u < p.M) { store4(z, row0 + 3u, col0 + 0u, a3[0], bias0); store4(z, row0 + 3u, col0 + 4u, a3[1], bias1); store4(z, row0 + 3u, col0 + 8u, a3[2], bias2); store4(z, row0 + 3u, col0 + 12u, a3[3], bias3); }
  if (row0 + 4u < p.M) { store4(z, row0 + 4u, col0 + 0u, a4[0], bias0); store4(z, row0 + 4u, col0 + 4u, a4[1], bias1); store4(z, row0 + 4u, col0 + 8u, a4[2], bias2); store4(z, row0 + 4u, col0 + 12u, a4[3], bias3); }
  if (row0 + 5u < p.M) { store4(z, row0 + 5u, col0 + 0u, a5[0], bias0); store4(z, row0 + 5u, col0 + 4u, a5[1], bias1); store4(z, row0 + 5u, col0 + 8u, a5[2], bias2); store4(z, row0 + 5u, col0 + 12u, a5[3], bias3); }
  if (row0 + 6u < p.M) { store4(z, row0 + 6u, col0 + 0u, a6[0], bias0); store4(z, row0 + 6u, col0 + 4u, a6[1], bias1); store4(z, row0 + 6u, col0 + 8u, a6[2], bias2); store4(z, row0 + 6u, col0 + 12u, a6[3], bias3); }
  if (row0 + 7u < p.M) { store4(z, row0 + 7u, col0 + 0u, a7[0], bias0); store4(z, row0 + 7u, col0 + 4u, a7[1], bias1); store4(z, row0 + 7u, col0 + 8u, a7[2], bias2); store4(z, row0 + 7u, col0 + 12u, a7[3], bias3); }
  if (row0 + 8u < p.M) { store4(z, row0 + 8u, col0 + 0u, a8[0], bias0); store4(z, row0 + 8u, col0 + 4u, a8[1], bias1); store4(z, row0 + 8u, col0 + 8u, a8[2], bias2); store4(z, row0 + 8u, col0 + 12u, a8[3], bias3); }
  if (row0 + 9u < p.M) { store4(z, row0 + 9u, col0 + 0u, a9[0], bias0); store4(z, row0 + 9u, col0 + 4u, a9[1], bias1); store4(z, row0 + 9u, col0 + 8u, a9[2], bias2); store4(z, row0 + 9u, col0 + 12u, a9[3], bias3); }
  if (row0 + 10u < p.M) { store4(z, row0 + 10u, col0 + 0u, a10[0], bias0); store4(z, row0 + 10u, col0 + 4u, a10[1], bias1); store4(z, row0 + 10u, col0 + 8u, a10[2], bias2); store4(z, row0 + 10u, col0 + 12u, a10[3], bias3); }
  if (row0 + 11u < p.M) { store4(z, row0 + 11u, col0 + 0u, a11[0], bias0); store4(z, row0 + 11u, col0 + 4u, a11[1], bias1); store4(z, row0 + 11u, col0 + 8u, a11[2], bias2); store4(z, row0 + 11u, col0 + 12u, a11[3], bias3); }
  if (row0 + 12u < p.M) { store4(z, row0 + 12u, col0 + 0u, a12[0], bias0); store4(z, row0 + 12u, col0 + 4u, a12[1], bias1); store4(z, row0 + 12u, col0 + 8u, a12[2], bias2); store4(z, row0 + 12u, col0 + 12u, a12[3], bias3); }
  if (row0 + 13u < p.M) { store4(z, row0 + 13u, col0 + 0u, a13[0], bias0); store4(z, row0 + 13u, col0 + 4u, a13[1], bias1); store4(z, row0 + 13u, col0 + 8u, a13[2], bias2); store4(z, row0 + 13u, col0 + 12u, a13[3], bias3); }
  if (row0 + 14u < p.M) { store4(z, row0 + 14u, col0 + 0u, a14[0], bias0); store4(z, row0 + 14u, col0 + 4u, a14[1], bias1); store4(z, row0 + 14u, col0 + 8u, a14[2], bias2); store4(z, row0 + 14u, col0 + 12u, a14[3], bias3); }
  if (row0 + 15u < p.M) { store4(z, row0 + 15u, col0 + 0u, a15[0], bias0); store4(z, row0 + 15u, col0 + 4u, a15[1], bias1); store4(z, row0 + 15u, col0 + 8u, a15[2], bias2); store4(z, row0 + 15u, col0 + 12u, a15[3], bias3); }
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
  let z = select(b, gid.z, PARTIAL == 1u);
  let useBias = p.hasBias == 1u && PARTIAL == 0u;
  let bias0 = select(vec4f(0.0), vec4f(bias[min(col0 + 0u, nl)], bias[min(col0 + 1u, nl)], bias[min(col0 + 2u, nl)], bias[min(col0 + 3u, nl)]), useBias);
  let bias1 = select(vec4f(0.0), vec4f(bias[min(col0 + 4u, nl)], bias[min(col0 + 5u, nl)], bias[min(col0 + 6u, nl)], bias[min(col0 + 7u, nl)]), useBias);
  let bias2 = select(vec4f(0.0), vec4f(bias[min(col0 + 8u, nl)], bias[min(col0 + 9u, nl)], bias[min(col0 + 10u, nl)], bias[min(col0 + 11u, nl)]), useBias);
  let bias3 = select(vec4f(0.0), vec4f(bias[min(col0 + 12u, nl)], bias[min(col0 + 13u, nl)], bias[min(col0 + 14u, nl)], bias[min(col0 + 15u, nl)]), useBias);
  let bias4 = select(vec4f(0.0), vec4f(bias[min(col0 + 16u, nl)], bias[min(col0 + 17u, nl)], bias[min(col0 + 18u, nl)], bias[min(col0 + 19u, nl)]), useBias);
  let bias5 = select(vec4f(0.0), vec4f(bias[min(col0 + 20u, nl)], bias[min(col0 + 21u, nl)], bias[min(col0 + 22u, nl)], bias[min(col0 + 23u, nl)]), useBias);
  let bias6 = select(vec4f(0.0), vec4f(bias[min(col0 + 24u, nl)], bias[min(col0 + 25u, nl)], bias[min(col0 + 26u, nl)], bias[min(col0 + 27u, nl)]), useBias);
  let bias7 = select(vec4f(0.0), vec4f(bias[min(col0 + 28u, nl)], bias[min(col0 + 29u, nl)], bias[min(col0 + 30u, nl)], bias[min(col0 + 31u, nl)]), useBias);
  if (row0 + 0u < p.M) { store4(z, row0 + 0u, col0 + 0u, a0[0], bias0); store4(z, row0 + 0u, col0 + 4u, a0[1], bias1); store4(z, row0 + 0u, col0 + 8u, a0[2], bias2); store4(z, row0 + 0u, col0 + 12u, a0[3], bias3); store4(z, row0 + 0u, col0 + 16u, c0[0], bias4); store4(z, row0 + 0u, col0 + 20u, c0[1], bias5); store4(z, row0 + 0u, col0 + 24u, c0[2], bias6); store4(z, row0 + 0u, col0 + 28u, c0[3], bias7); }
  if (row0 + 1u < p.M) { store4(z, row0 + 1u, col0 + 0u, a1[0], bias0); store4(z, row0 + 1u, col0 + 4u, a1[1], bias1); store4(z, row0 + 1u, col0 + 8u, a1[2], bias2); store4(z, row0 + 1u, col0 + 12u, a1[3], bias3); store4(z, row0 + 1u, col0 + 16u, c1[0], bias4); store4(z, row0 + 1u, col0 + 20u, c1[1], bias5); store4(z, row0 + 1u, col0 + 24u, c1[2], bias6); store4(z, row0 + 1u, col0 + 28u, c1[3], bias7); }
  if (row0 + 2u < p.M) { store4(z, row0 + 2u, col0 + 0u, a2[0], bias0); store4(z, row0 + 2u, col0 + 4u, a2[1], bias1); store4(z, row0 + 2u, col0 + 8u, a2[2], bias2); store4(z, row0 + 2u, col0 + 12u, a2[3], bias3); store4(z, row0 + 2u, col0 + 16u, c2[0], bias4); store4(z, row0 + 2u, col0 + 20u, c2[1], bias5); store4(z, row0 + 2u, col0 + 24u, c2[2], bias6); store4(z, row0 + 2u, col0 + 28u, c2[3], bias7); }
  if (row0 + 3u < p.M) { store4(z, row0 + 3u, col0 + 0u, a3[0], bias0); store4(z, row0 + 3u, col0 + 4u, a3[1], bias1); store4(z, row0 + 3u, col0 + 8u, a3[2], bias2); store4(z, row0 + 3u, col0 + 12u, a3[3], bias3); store4(z, row0 + 3u, col0 + 16u, c3[0], bias4); store4(z, row0 + 3u, col0 + 20u, c3[1], bias5); store4(z, row0 + 3u, col0 + 24u, c3[2], bias6); store4(z, row0 + 3u, col0 + 28u, c3[3], bias7); }
  if (row0 + 4u < p.M) { store4(z, row0 + 4u, col0 + 0u, a4[0], bias0); store4(z, row0 + 4u, col0 + 4u, a4[1], bias1); store4(z, row0 + 4u, col0 + 8u, a4[2], bias2); store4(z, row0 + 4u, col0 + 12u, a4[3], bias3); store4(z, row0 + 4u, col0 + 16u, c4[0], bias4); store4(z, row0 + 4u, col0 + 20u, c4[1], bias5); store4(z, row0 + 4u, col0 + 24u, c4[2], bias6); store4(z, row0 + 4u, col0 + 28u, c4[3], bias7); }
  if (row0 + 5u < p.M) { store4(z, row0 + 5u, col0 + 0u, a5[0], bias0); store4(z, row0 + 5u, col0 + 4u, a5[1], bias1); store4(z, row0 + 5u, col0 + 8u, a5[2], bias2); store4(z, row0 + 5u, col0 + 12u, a5[3], bias3); store4(z, row0 + 5u, col0 + 16u, c5[0], bias4); store4(z, row0 + 5u, col0 + 20u, c5[1], bias5); store4(z, row0 + 5u, col0 + 24u, c5[2], bias6); store4(z, row0 + 5u, col0 + 28u, c5[3], bias7); }
  if (row0 + 6u < p.M) { store4(z, row0 + 6u, col0 + 0u, a6[0], bias0); store4(z, row0 + 6u, col0 + 4u, a6[1], bias1); store4(z, row0 + 6u, col0 + 8u, a6[2], bias2); store4(z, row0 + 6u, col0 + 12u, a6[3], bias3); store4(z, row0 + 6u, col0 + 16u, c6[0], bias4); store4(z, row0 + 6u, col0 + 20u, c6[1], bias5); store4(z, row0 + 6u, col0 + 24u, c6[2], bias6); store4(z, row0 + 6u, col0 + 28u, c6[3], bias7); }
  if (row0 + 7u < p.M) { store4(z, row0 + 7u, col0 + 0u, a7[0], bias0); store4(z, row0 + 7u, col0 + 4u, a7[1], bias1); store4(z, row0 + 7u, col0 + 8u, a7[2], bias2); store4(z, row0 + 7u, col0 + 12u, a7[3], bias3); store4(z, row0 + 7u, col0 + 16u, c7[0], bias4); store4(z, row0 + 7u, col0 + 20u, c7[1], bias5); store4(z, row0 + 7u, col0 + 24u, c7[2], bias6); store4(z, row0 + 7u, col0 + 28u, c7[3], bias7); }
  if (row0 + 8u < p.M) { store4(z, row0 + 8u, col0 + 0u, a8[0], bias0); store4(z, row0 + 8u, col0 + 4u, a8[1], bias1); store4(z, row0 + 8u, col0 + 8u, a8[2], bias2); store4(z, row0 + 8u, col0 + 12u, a8[3], bias3); store4(z, row0 + 8u, col0 + 16u, c8[0], bias4); store4(z, row0 + 8u, col0 + 20u, c8[1], bias5); store4(z, row0 + 8u, col0 + 24u, c8[2], bias6); store4(z, row0 + 8u, col0 + 28u, c8[3], bias7); }
  if (row0 + 9u < p.M) { store4(z, row0 + 9u, col0 + 0u, a9[0], bias0); store4(z, row0 + 9u, col0 + 4u, a9[1], bias1); store4(z, row0 + 9u, col0 + 8u, a9[2], bias2); store4(z, row0 + 9u, col0 + 12u, a9[3], bias3); store4(z, row0 + 9u, col0 + 16u, c9[0], bias4); store4(z, row0 + 9u, col0 + 20u, c9[1], bias5); store4(z, row0 + 9u, col0 + 24u, c9[2], bias6); store4(z, row0 + 9u, col0 + 28u, c9[3], bias7); }
  if (row0 + 10u < p.M) { store4(z, row0 + 10u, col0 + 0u, a10[0], bias0); store4(z, row0 + 10u, col0 + 4u, a10[1], bias1); store4(z, row0 + 10u, col0 + 8u, a10[2], bias2); store4(z, row0 + 10u, col0 + 12u, a10[3], bias3); store4(z, row0 + 10u, col0 + 16u, c10[0], bias4); store4(z, row0 + 10u, col0 + 20u, c10[1], bias5); store4(z, row0 + 10u, col0 + 24u, c10[2], bias6); store4(z, row0 + 10u, col0 + 28u, c10[3], bias7); }
  if (row0 + 11u < p.M) { store4(z, row0 + 11u, col0 + 0u, a11[0], bias0); store4(z, row0 + 11u, col0 + 4u, a11[1], bias1); store4(z, row0 + 11u, col0 + 8u, a11[2], bias2); store4(z, row0 + 11u, col0 + 12u, a11[3], bias3); store4(z, row0 + 11u, col0 + 16u, c11[0], bias4); store4(z, row0 + 11u, col0 + 20u, c11[1], bias5); store4(z, row0 + 11u, col0 + 24u, c11[2], bias6); store4(z, row0 + 11u, col0 + 28u, c11[3], bias7); }
  if (row0 + 12u < p.M) { store4(z, row0 + 12u, col0 + 0u, a12[0], bias0); store4(z, row0 + 12u, col0 + 4u, a12[1], bias1); store4(z, row0 + 12u, col0 + 8u, a12[2], bias2); store4(z, row0 + 12u, col0 + 12u, a12[3], bias3); store4(z, row0 + 12u, col0 + 16u, c12[0], bias4); store4(z, row0 + 12u, col0 + 20u, c12[1], bias5); store4(z, row0 + 12u, col0 + 24u, c12[2], bias6); store4(z, row0 + 12u, col0 + 28u, c12[3], bias7); }
  if (row0 + 13u < p.M) { store4(z, row0 + 13u, col0 + 0u, a13[0], bias0); store4(z, row0 + 13u, col0 + 4u, a13[1], bias1); store4(z, row0 + 13u, col0 + 8u, a13[2], bias2); store4(z, row0 + 13u, col0 + 12u, a13[3], bias3); store4(z, row0 + 13u, col0 + 16u, c13[0], bias4); store4(z, row0 + 13u, col0 + 20u, c13[1], bias5); store4(z, row0 + 13u, col0 + 24u, c13[2], bias6); store4(z, row0 + 13u, col0 + 28u, c13[3], bias7); }
  if (row0 + 14u < p.M) { store4(z, row0 + 14u, col0 + 0u, a14[0], bias0); store4(z, row0 + 14u, col0 + 4u, a14[1], bias1); store4(z, row0 + 14u, col0 + 8u, a14[2], bias2); store4(z, row0 + 14u, col0 + 12u, a14[3], bias3); store4(z, row0 + 14u, col0 + 16u, c14[0], bias4); store4(z, row0 + 14u, col0 + 20u, c14[1], bias5); store4(z, row0 + 14u, col0 + 24u, c14[2], bias6); store4(z, row0 + 14u, col0 + 28u, c14[3], bias7); }
  if (row0 + 15u < p.M) { store4(z, row0 + 15u, col0 + 0u, a15[0], bias0); store4(z, row0 + 15u, col0 + 4u, a15[1], bias1); store4(z, row0 + 15u, col0 + 8u, a15[2], bias2); store4(z, row0 + 15u, col0 + 12u, a15[3], bias3); store4(z, row0 + 15u, col0 + 16u, c15[0], bias4); store4(z, row0 + 15u, col0 + 20u, c15[1], bias5); store4(z, row0 + 15u, col0 + 24u, c15[2], bias6); store4(z, row0 + 15u, col0 + 28u, c15[3], bias7); }
}

@compute @workgroup_size(WG, 1, 1)
fn main_tall(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let col0 = gid.x * 32u;
  let row0 = wid.y * 32u;
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
  let ra16 = ab + min(row0 + 16u, ml);
  let ra17 = ab + min(row0 + 17u, ml);
  let ra18 = ab + min(row0 + 18u, ml);
  let ra19 = ab + min(row0 + 19u, ml);
  let ra20 = ab + min(row0 + 20u, ml);
  let ra21 = ab + min(row0 + 21u, ml);
  let ra22 = ab + min(row0 + 22u, ml);
  let ra23 = ab + min(row0 + 23u, ml);
  let ra24 = ab + min(row0 + 24u, ml);
  let ra25 = ab + min(row0 + 25u, ml);
  let ra26 = ab + min(row0 + 26u, ml);
  let ra27 = ab + min(row0 + 27u, ml);
  let ra28 = ab + min(row0 + 28u, ml);
  let ra29 = ab + min(row0 + 29u, ml);
  let ra30 = ab + min(row0 + 30u, ml);
  let ra31 = ab + min(row0 + 31u, ml);
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
  var a16 = mat4x4f();
  var a17 = mat4x4f();
  var a18 = mat4x4f();
  var a19 = mat4x4f();
  var a20 = mat4x4f();
  var a21 = mat4x4f();
  var a22 = mat4x4f();
  var a23 = mat4x4f();
  var a24 = mat4x4f();
  var a25 = mat4x4f();
  var a26 = mat4x4f();
  var a27 = mat4x4f();
  var a28 = mat4x4f();
  var a29 = mat4x4f();
  var a30 = mat4x4f();
  var a31 = mat4x4f();
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
  var c16 = mat4x4f();
  var c17 = mat4x4f();
  var c18 = mat4x4f();
  var c19 = mat4x4f();
  var c20 = mat4x4f();
  var c21 = mat4x4f();
  var c22 = mat4x4f();
  var c23 = mat4x4f();
  var c24 = mat4x4f();
  var c25 = mat4x4f();
  var c26 = mat4x4f();
  var c27 = mat4x4f();
  var c28 = mat4x4f();
  var c29 = mat4x4f();
  var c30 = mat4x4f();
  var c31 = mat4x4f();
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
    let z16 = textureLoad(A, vec2u(k, ra16), 0); a16 += mat4x4f(z16 * m0, z16 * m1, z16 * m2, z16 * m3); c16 += mat4x4f(z16 * m4, z16 * m5, z16 * m6, z16 * m7);
    let z17 = textureLoad(A, vec2u(k, ra17), 0); a17 += mat4x4f(z17 * m0, z17 * m1, z17 * m2, z17 * m3); c17 += mat4x4f(z17 * m4, z17 * m5, z17 * m6, z17 * m7);
    let z18 = textureLoad(A, vec2u(k, ra18), 0); a18 += mat4x4f(z18 * m0, z18 * m1, z18 * m2, z18 * m3); c18 += mat4x4f(z18 * m4, z18 * m5, z18 * m6, z18 * m7);
    let z19 = textureLoad(A, vec2u(k, ra19), 0); a19 += mat4x4f(z19 * m0, z19 * m1, z19 * m2, z19 * m3); c19 += mat4x4f(z19 * m4, z19 * m5, z19 * m6, z19 * m7);
    let z20 = textureLoad(A, vec2u(k, ra20), 0); a20 += mat4x4f(z20 * m0, z20 * m1, z20 * m2, z20 * m3); c20 += mat4x4f(z20 * m4, z20 * m5, z20 * m6, z20 * m7);
    let z21 = textureLoad(A, vec2u(k, ra21), 0); a21 += mat4x4f(z21 * m0, z21 * m1, z21 * m2, z21 * m3); c21 += mat4x4f(z21 * m4, z21 * m5, z21 * m6, z21 * m7);
    let z22 = textureLoad(A, vec2u(k, ra22), 0); a22 += mat4x4f(z22 * m0, z22 * m1, z22 * m2, z22 * m3); c22 += mat4x4f(z22 * m4, z22 * m5, z22 * m6, z22 * m7);
    let z23 = textureLoad(A, vec2u(k, ra23), 0); a23 += mat4x4f(z23 * m0, z23 * m1, z23 * m2, z23 * m3); c23 += mat4x4f(z23 * m4, z23 * m5, z23 * m6, z23 * m7);
    let z24 = textureLoad(A, vec2u(k, ra24), 0); a24 += mat4x4f(z24 * m0, z24 * m1, z24 * m2, z24 * m3); c24 += mat4x4f(z24 * m4, z24 * m5, z24 * m6, z24 * m7);
    let z25 = textureLoad(A, vec2u(k, ra25), 0); a25 += mat4x4f(z25 * m0, z25 * m1, z25 * m2, z25 * m3); c25 += mat4x4f(z25 * m4, z25 * m5, z25 * m6, z25 * m7);
    let z26 = textureLoad(A, vec2u(k, ra26), 0); a26 += mat4x4f(z26 * m0, z26 * m1, z26 * m2, z26 * m3); c26 += mat4x4f(z26 * m4, z26 * m5, z26 * m6, z26 * m7);
    let z27 = textureLoad(A, vec2u(k, ra27), 0); a27 += mat4x4f(z27 * m0, z27 * m1, z27 * m2, z27 * m3); c27 += mat4x4f(z27 * m4, z27 * m5, z27 * m6, z27 * m7);
    let z28 = textureLoad(A, vec2u(k, ra28), 0); a28 += mat4x4f(z28 * m0, z28 * m1, z28 * m2, z28 * m3); c28 += mat4x4f(z28 * m4, z28 * m5, z28 * m6, z28 * m7);
    let z29 = textureLoad(A, vec2u(k, ra29), 0); a29 += mat4x4f(z29 * m0, z29 * m1, z29 * m2, z29 * m3); c29 += mat4x4f(z29 * m4, z29 * m5, z29 * m6, z29 * m7);
    let z30 = textureLoad(A, vec2u(k, ra30), 0); a30 += mat4x4f(z30 * m0, z30 * m1, z30 * m2, z30 * m3); c30 += mat4x4f(z30 * m4, z30 * m5, z30 * m6, z30 * m7);
    let z31 = textureLoad(A, vec2u(k, ra31), 0); a31 += mat4x4f(z31 * m0, z31 * m1, z31 * m2, z31 * m3); c31 += mat4x4f(z31 * m4, z31 * m5, z31 * m6, z31 * m7);
  }
  // Finished results go to batch b; split-K partial sums to slot gid.z.
  let z = select(b, gid.z, PARTIAL == 1u);
  let useBias = p.hasBias == 1u && PARTIAL == 0u;
  let bias0 = select(vec4f(0.0), vec4f(bias[min(col0 + 0u, nl)], bias[min(col0 + 1u, nl)], bias[min(col0 + 2u, nl)], bias[min(col0 + 3u, nl)]), useBias);
  let bias1 = select(vec4f(0.0), vec4f(bias[min(col0 + 4u, nl)], bias[min(col0 + 5u, nl)], bias[min(col0 + 6u, nl)], bias[min(col0 + 7u, nl)]), useBias);
  let bias2 = select(vec4f(0.0), vec4f(bias[min(col0 + 8u, nl)], bias[min(col0 + 9u, nl)], bias[min(col0 + 10u, nl)], bias[min(col0 + 11u, nl)]), useBias);
  let bias3 = select(vec4f(0.0), vec4f(bias[min(col0 + 12u, nl)], bias[min(col0 + 13u, nl)], bias[min(col0 + 14u, nl)], bias[min(col0 + 15u, nl)]), useBias);
  let bias4 = select(vec4f(0.0), vec4f(bias[min(col0 + 16u, nl)], bias[min(col0 + 17u, nl)], bias[min(col0 + 18u, nl)], bias[min(col0 + 19u, nl)]), useBias);
  let bias5 = select(vec4f(0.0), vec4f(bias[min(col0 + 20u, nl)], bias[min(col0 + 21u, nl)], bias[min(col0 + 22u, nl)], bias[min(col0 + 23u, nl)]), useBias);
  let bias6 = select(vec4f(0.0), vec4f(bias[min(col0 + 24u, nl)], bias[min(col0 + 25u, nl)], bias[min(col0 + 26u, nl)], bias[min(col0 + 27u, nl)]), useBias);
  let bias7 = select(vec4f(0.0), vec4f(bias[min(col0 + 28u, nl)], bias[min(col0 + 29u, nl)], bias[min(col0 + 30u, nl)], bias[min(col0 + 31u, nl)]), useBias);
  if (row0 + 0u < p.M) { store4(z, row0 + 0u, col0 + 0u, a0[0], bias0); store4(z, row0 + 0u, col0 + 4u, a0[1], bias1); store4(z, row0 + 0u, col0 + 8u, a0[2], bias2); store4(z, row0 + 0u, col0 + 12u, a0[3], bias3); store4(z, row0 + 0u, col0 + 16u, c0[0], bias4); store4(z, row0 + 0u, col0 + 20u, c0[1], bias5); store4(z, row0 + 0u, col0 + 24u, c0[2], bias6); store4(z, row0 + 0u, col0 + 28u, c0[3], bias7); }
  if (row0 + 1u < p.M) { store4(z, row0 + 1u, col0 + 0u, a1[0], bias0); store4(z, row0 + 1u, col0 + 4u, a1[1], bias1); store4(z, row0 + 1u, col0 + 8u, a1[2], bias2); store4(z, row0 + 1u, col0 + 12u, a1[3], bias3); store4(z, row0 + 1u, col0 + 16u, c1[0], bias4); store4(z, row0 + 1u, col0 + 20u, c1[1], bias5); store4(z, row0 + 1u, col0 + 24u, c1[2], bias6); store4(z, row0 + 1u, col0 + 28u, c1[3], bias7); }
  if (row0 + 2u < p.M) { store4(z, row0 + 2u, col0 + 0u, a2[0], bias0); store4(z, row0 + 2u, col0 + 4u, a2[1], bias1); store4(z, row0 + 2u, col0 + 8u, a2[2], bias2); store4(z, row0 + 2u, col0 + 12u, a2[3], bias3); store4(z, row0 + 2u, col0 + 16u, c2[0], bias4); store4(z, row0 + 2u, col0 + 20u, c2[1], bias5); store4(z, row0 + 2u, col0 + 24u, c2[2], bias6); store4(z, row0 + 2u, col0 + 28u, c2[3], bias7); }
  if (row0 + 3u < p.M) { store4(z, row0 + 3u, col0 + 0u, a3[0], bias0); store4(z, row0 + 3u, col0 + 4u, a3[1], bias1); store4(z, row0 + 3u, col0 + 8u, a3[2], bias2); store4(z, row0 + 3u, col0 + 12u, a3[3], bias3); store4(z, row0 + 3u, col0 + 16u, c3[0], bias4); store4(z, row0 + 3u, col0 + 20u, c3[1], bias5); store4(z, row0 + 3u, col0 + 24u, c3[2], bias6); store4(z, row0 + 3u, col0 + 28u, c3[3], bias7); }
  if (row0 + 4u < p.M) { store4(z, row0 + 4u, col0 + 0u, a4[0], bias0); store4(z, row0 + 4u, col0 + 4u, a4[1], bias1); store4(z, row0 + 4u, col0 + 8u, a4[2], bias2); store4(z, row0 + 4u, col0 + 12u, a4[3], bias3); store4(z, row0 + 4u, col0 + 16u, c4[0], bias4); store4(z, row0 + 4u, col0 + 20u, c4[1], bias5); store4(z, row0 + 4u, col0 + 24u, c4[2], bias6); store4(z, row0 + 4u, col0 + 28u, c4[3], bias7); }
  if (row0 + 5u < p.M) { store4(z, row0 + 5u, col0 + 0u, a5[0], bias0); store4(z, row0 + 5u, col0 + 4u, a5[1], bias1); store4(z, row0 + 5u, col0 + 8u, a5[2], bias2); store4(z, row0 + 5u, col0 + 12u, a5[3], bias3); store4(z, row0 + 5u, col0 + 16u, c5[0], bias4); store4(z, row0 + 5u, col0 + 20u, c5[1], bias5); store4(z, row0 + 5u, col0 + 24u, c5[2], bias6); store4(z, row0 + 5u, col0 + 28u, c5[3], bias7); }
  if (row0 + 6u < p.M) { store4(z, row0 + 6u, col0 + 0u, a6[0], bias0); store4(z, row0 + 6u, col0 + 4u, a6[1], bias1); store4(z, row0 + 6u, col0 + 8u, a6[2], bias2); store4(z, row0 + 6u, col0 + 12u, a6[3], bias3); store4(z, row0 + 6u, col0 + 16u, c6[0], bias4); store4(z, row0 + 6u, col0 + 20u, c6[1], bias5); store4(z, row0 + 6u, col0 + 24u, c6[2], bias6); store4(z, row0 + 6u, col0 + 28u, c6[3], bias7); }
  if (row0 + 7u < p.M) { store4(z, row0 + 7u, col0 + 0u, a7[0], bias0); store4(z, row0 + 7u, col0 + 4u, a7[1], bias1); store4(z, row0 + 7u, col0 + 8u, a7[2], bias2); store4(z, row0 + 7u, col0 + 12u, a7[3], bias3); store4(z, row0 + 7u, col0 + 16u, c7[0], bias4); store4(z, row0 + 7u, col0 + 20u, c7[1], bias5); store4(z, row0 + 7u, col0 + 24u, c7[2], bias6); store4(z, row0 + 7u, col0 + 28u, c7[3], bias7); }
  if (row0 + 8u < p.M) { store4(z, row0 + 8u, col0 + 0u, a8[0], bias0); store4(z, row0 + 8u, col0 + 4u, a8[1], bias1); store4(z, row0 + 8u, col0 + 8u, a8[2], bias2); store4(z, row0 + 8u, col0 + 12u, a8[3], bias3); store4(z, row0 + 8u, col0 + 16u, c8[0], bias4); store4(z, row0 + 8u, col0 + 20u, c8[1], bias5); store4(z, row0 + 8u, col0 + 24u, c8[2], bias6); store4(z, row0 + 8u, col0 + 28u, c8[3], bias7); }
  if (row0 + 9u < p.M) { store4(z, row0 + 9u, col0 + 0u, a9[0], bias0); store4(z, row0 + 9u, col0 + 4u, a9[1], bias1); store4(z, row0 + 9u, col0 + 8u, a9[2], bias2); store4(z, row0 + 9u, col0 + 12u, a9[3], bias3); store4(z, row0 + 9u, col0 + 16u, c9[0], bias4); store4(z, row0 + 9u, col0 + 20u, c9[1], bias5); store4(z, row0 + 9u, col0 + 24u, c9[2], bias6); store4(z, row0 + 9u, col0 + 28u, c9[3], bias7); }
  if (row0 + 10u < p.M) { store4(z, row0 + 10u, col0 + 0u, a10[0], bias0); store4(z, row0 + 10u, col0 + 4u, a10[1], bias1); store4(z, row0 + 10u, col0 + 8u, a10[2], bias2); store4(z, row0 + 10u, col0 + 12u, a10[3], bias3); store4(z, row0 + 10u, col0 + 16u, c10[0], bias4); store4(z, row0 + 10u, col0 + 20u, c10[1], bias5); store4(z, row0 + 10u, col0 + 24u, c10[2], bias6); store4(z, row0 + 10u, col0 + 28u, c10[3], bias7); }
  if (row0 + 11u < p.M) { store4(z, row0 + 11u, col0 + 0u, a11[0], bias0); store4(z, row0 + 11u, col0 + 4u, a11[1], bias1); store4(z, row0 + 11u, col0 + 8u, a11[2], bias2); store4(z, row0 + 11u, col0 + 12u, a11[3], bias3); store4(z, row0 + 11u, col0 + 16u, c11[0], bias4); store4(z, row0 + 11u, col0 + 20u, c11[1], bias5); store4(z, row0 + 11u, col0 + 24u, c11[2], bias6); store4(z, row0 + 11u, col0 + 28u, c11[3], bias7); }
  if (row0 + 12u < p.M) { store4(z, row0 + 12u, col0 + 0u, a12[0], bias0); store4(z, row0 + 12u, col0 + 4u, a12[1], bias1); store4(z, row0 + 12u, col0 + 8u, a12[2], bias2); store4(z, row0 + 12u, col0 + 12u, a12[3], bias3); store4(z, row0 + 12u, col0 + 16u, c12[0], bias4); store4(z, row0 + 12u, col0 + 20u, c12[1], bias5); store4(z, row0 + 12u, col0 + 24u, c12[2], bias6); store4(z, row0 + 12u, col0 + 28u, c12[3], bias7); }
  if (row0 + 13u < p.M) { store4(z, row0 + 13u, col0 + 0u, a13[0], bias0); store4(z, row0 + 13u, col0 + 4u, a13[1], bias1); store4(z, row0 + 13u, col0 + 8u, a13[2], bias2); store4(z, row0 + 13u, col0 + 12u, a13[3], bias3); store4(z, row0 + 13u, col0 + 16u, c13[0], bias4); store4(z, row0 + 13u, col0 + 20u, c13[1], bias5); store4(z, row0 + 13u, col0 + 24u, c13[2], bias6); store4(z, row0 + 13u, col0 + 28u, c13[3], bias7); }
  if (row0 + 14u < p.M) { store4(z, row0 + 14u, col0 + 0u, a14[0], bias0); store4(z, row0 + 14u, col0 + 4u, a14[1], bias1); store4(z, row0 + 14u, col0 + 8u, a14[2], bias2); store4(z, row0 + 14u, col0 + 12u, a14[3], bias3); store4(z, row0 + 14u, col0 + 16u, c14[0], bias4); store4(z, row0 + 14u, col0 + 20u, c14[1], bias5); store4(z, row0 + 14u, col0 + 24u, c14[2], bias6); store4(z, row0 + 14u, col0 + 28u, c14[3], bias7); }
  if (row0 + 15u < p.M) { store4(z, row0 + 15u, col0 + 0u, a15[0], bias0); store4(z, row0 + 15u, col0 + 4u, a15[1], bias1); store4(z, row0 + 15u, col0 + 8u, a15[2], bias2); store4(z, row0 + 15u, col0 + 12u, a15[3], bias3); store4(z, row0 + 15u, col0 + 16u, c15[0], bias4); store4(z, row0 + 15u, col0 + 20u, c15[1], bias5); store4(z, row0 + 15u, col0 + 24u, c15[2], bias6); store4(z, row0 + 15u, col0 + 28u, c15[3], bias7); }
  if (row0 + 16u < p.M) { store4(z, row0 + 16u, col0 + 0u, a16[0], bias0); store4(z, row0 + 16u, col0 + 4u, a16[1], bias1); store4(z, row0 + 16u, col0 + 8u, a16[2], bias2); store4(z, row0 + 16u, col0 + 12u, a16[3], bias3); store4(z, row0 + 16u, col0 + 16u, c16[0], bias4); store4(z, row0 + 16u, col0 + 20u, c16[1], bias5); store4(z, row0 + 16u, col0 + 24u, c16[2], bias6); store4(z, row0 + 16u, col0 + 28u, c16[3], bias7); }
  if (row0 + 17u < p.M) { store4(z, row0 + 17u, col0 + 0u, a17[0], bias0); store4(z, row0 + 17u, col0 + 4u, a17[1], bias1); store4(z, row0 + 17u, col0 + 8u, a17[2], bias2); store4(z, row0 + 17u, col0 + 12u, a17[3], bias3); store4(z, row0 + 17u, col0 + 16u, c17[0], bias4); store4(z, row0 + 17u, col0 + 20u, c17[1], bias5); store4(z, row0 + 17u, col0 + 24u, c17[2], bias6); store4(z, row0 + 17u, col0 + 28u, c17[3], bias7); }
  if (row0 + 18u < p.M) { store4(z, row0 + 18u, col0 + 0u, a18[0], bias0); store4(z, row0 + 18u, col0 + 4u, a18[1], bias1); store4(z, row0 + 18u, col0 + 8u, a18[2], bias2); store4(z, row0 + 18u, col0 + 12u, a18[3], bias3); store4(z, row0 + 18u, col0 + 16u, c18[0], bias4); store4(z, row0 + 18u, col0 + 20u, c18[1], bias5); store4(z, row0 + 18u, col0 + 24u, c18[2], bias6); store4(z, row0 + 18u, col0 + 28u, c18[3], bias7); }
  if (row0 + 19u < p.M) { store4(z, row0 + 19u, col0 + 0u, a19[0], bias0); store4(z, row0 + 19u, col0 + 4u, a19[1], bias1); store4(z, row0 + 19u, col0 + 8u, a19[2], bias2); store4(z, row0 + 19u, col0 + 12u, a19[3], bias3); store4(z, row0 + 19u, col0 + 16u, c19[0], bias4); store4(z, row0 + 19u, col0 + 20u, c19[1], bias5); store4(z, row0 + 19u, col0 + 24u, c19[2], bias6); store4(z, row0 + 19u, col0 + 28u, c19[3], bias7); }
  if (row0 + 20u < p.M) { store4(z, row0 + 20u, col0 + 0u, a20[0], bias0); store4(z, row0 + 20u, col0 + 4u, a20[1], bias1); store4(z, row0 + 20u, col0 + 8u, a20[2], bias2); store4(z, row0 + 20u, col0 + 12u, a20[3], bias3); store4(z, row0 + 20u, col0 + 16u, c20[0], bias4); store4(z, row0 + 20u, col0 + 20u, c20[1], bias5); store4(z, row0 + 20u, col0 + 24u, c20[2], bias6); store4(z, row0 + 20u, col0 + 28u, c20[3], bias7); }
  if (row0 + 21u < p.M) { store4(z, row0 + 21u, col0 + 0u, a21[0], bias0); store4(z, row0 + 21u, col0 + 4u, a21[1], bias1); store4(z, row0 + 21u, col0 + 8u, a21[2], bias2); store4(z, row0 + 21u, col0 + 12u, a21[3], bias3); store4(z, row0 + 21u, col0 + 16u, c21[0], bias4); store4(z, row0 + 21u, col0 + 20u, c21[1], bias5); store4(z, row0 + 21u, col0 + 24u, c21[2], bias6); store4(z, row0 + 21u, col0 + 28u, c21[3], bias7); }
  if (row0 + 22u < p.M) { store4(z, row0 + 22u, col0 + 0u, a22[0], bias0); store4(z, row0 + 22u, col0 + 4u, a22[1], bias1); store4(z, row0 + 22u, col0 + 8u, a22[2], bias2); store4(z, row0 + 22u, col0 + 12u, a22[3], bias3); store4(z, row0 + 22u, col0 + 16u, c22[0], bias4); store4(z, row0 + 22u, col0 + 20u, c22[1], bias5); store4(z, row0 + 22u, col0 + 24u, c22[2], bias6); store4(z, row0 + 22u, col0 + 28u, c22[3], bias7); }
  if (row0 + 23u < p.M) { store4(z, row0 + 23u, col0 + 0u, a23[0], bias0); store4(z, row0 + 23u, col0 + 4u, a23[1], bias1); store4(z, row0 + 23u, col0 + 8u, a23[2], bias2); store4(z, row0 + 23u, col0 + 12u, a23[3], bias3); store4(z, row0 + 23u, col0 + 16u, c23[0], bias4); store4(z, row0 + 23u, col0 + 20u, c23[1], bias5); store4(z, row0 + 23u, col0 + 24u, c23[2], bias6); store4(z, row0 + 23u, col0 + 28u, c23[3], bias7); }
  if (row0 + 24u < p.M) { store4(z, row0 + 24u, col0 + 0u, a24[0], bias0); store4(z, row0 + 24u, col0 + 4u, a24[1], bias1); store4(z, row0 + 24u, col0 + 8u, a24[2], bias2); store4(z, row0 + 24u, col0 + 12u, a24[3], bias3); store4(z, row0 + 24u, col0 + 16u, c24[0], bias4); store4(z, row0 + 24u, col0 + 20u, c24[1], bias5); store4(z, row0 + 24u, col0 + 24u, c24[2], bias6); store4(z, row0 + 24u, col0 + 28u, c24[3], bias7); }
  if (row0 + 25u < p.M) { store4(z, row0 + 25u, col0 + 0u, a25[0], bias0); store4(z, row0 + 25u, col0 + 4u, a25[1], bias1); store4(z, row0 + 25u, col0 + 8u, a25[2], bias2); store4(z, row0 + 25u, col0 + 12u, a25[3], bias3); store4(z, row0 + 25u, col0 + 16u, c25[0], bias4); store4(z, row0 + 25u, col0 + 20u, c25[1], bias5); store4(z, row0 + 25u, col0 + 24u, c25[2], bias6); store4(z, row0 + 25u, col0 + 28u, c25[3], bias7); }
  if (row0 + 26u < p.M) { store4(z, row0 + 26u, col0 + 0u, a26[0], bias0); store4(z, row0 + 26u, col0 + 4u, a26[1], bias1); store4(z, row0 + 26u, col0 + 8u, a26[2], bias2); store4(z, row0 + 26u, col0 + 12u, a26[3], bias3); store4(z, row0 + 26u, col0 + 16u, c26[0], bias4); store4(z, row0 + 26u, col0 + 20u, c26[1], bias5); store4(z, row0 + 26u, col0 + 24u, c26[2], bias6); store4(z, row0 + 26u, col0 + 28u, c26[3], bias7); }
  if (row0 + 27u < p.M) { store4(z, row0 + 27u, col0 + 0u, a27[0], bias0); store4(z, row0 + 27u, col0 + 4u, a27[1], bias1); store4(z, row0 + 27u, col0 + 8u, a27[2], bias2); store4(z, row0 + 27u, col0 + 12u, a27[3], bias3); store4(z, row0 + 27u, col0 + 16u, c27[0], bias4); store4(z, row0 + 27u, col0 + 20u, c27[1], bias5); store4(z, row0 + 27u, col0 + 24u, c27[2], bias6); store4(z, row0 + 27u, col0 + 28u, c27[3], bias7); }
  if (row0 + 28u < p.M) { store4(z, row0 + 28u, col0 + 0u, a28[0], bias0); store4(z, row0 + 28u, col0 + 4u, a28[1], bias1); store4(z, row0 + 28u, col0 + 8u, a28[2], bias2); store4(z, row0 + 28u, col0 + 12u, a28[3], bias3); store4(z, row0 + 28u, col0 + 16u, c28[0], bias4); store4(z, row0 + 28u, col0 + 20u, c28[1], bias5); store4(z, row0 + 28u, col0 + 24u, c28[2], bias6); store4(z, row0 + 28u, col0 + 28u, c28[3], bias7); }
  if (row0 + 29u < p.M) { store4(z, row0 + 29u, col0 + 0u, a29[0], bias0); store4(z, row0 + 29u, col0 + 4u, a29[1], bias1); store4(z, row0 + 29u, col0 + 8u, a29[2], bias2); store4(z, row0 + 29u, col0 + 12u, a29[3], bias3); store4(z, row0 + 29u, col0 + 16u, c29[0], bias4); store4(z, row0 + 29u, col0 + 20u, c29[1], bias5); store4(z, row0 + 29u, col0 + 24u, c29[2], bias6); store4(z, row0 + 29u, col0 + 28u, c29[3], bias7); }
  if (row0 + 30u < p.M) { store4(z, row0 + 30u, col0 + 0u, a30[0], bias0); store4(z, row0 + 30u, col0 + 4u, a30[1], bias1); store4(z, row0 + 30u, col0 + 8u, a30[2], bias2); store4(z, row0 + 30u, col0 + 12u, a30[3], bias3); store4(z, row0 + 30u, col0 + 16u, c30[0], bias4); store4(z, row0 + 30u, col0 + 20u, c30[1], bias5); store4(z, row0 + 30u, col0 + 24u, c30[2], bias6); store4(z, row0 + 30u, col0 + 28u, c30[3], bias7); }
  if (row0 + 31u < p.M) { store4(z, row0 + 31u, col0 + 0u, a31[0], bias0); store4(z, row0 + 31u, col0 + 4u, a31[1], bias1); store4(z, row0 + 31u, col0 + 8u, a31[2], bias2); store4(z, row0 + 31u, col0 + 12u, a31[3], bias3); store4(z, row0 + 31u, col0 + 16u, c31[0], bias4); store4(z, row0 + 31u, col0 + 20u, c31[1], bias5); store4(z, row0 + 31u, col0 + 24u, c31[2], bias6); store4(z, row0 + 31u, col0 + 28u, c31[3], bias7); }
}
