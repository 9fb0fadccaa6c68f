// Ceiling probes for the kernel bench: what this device can do at best, measured in the same run
// as the kernels so "% of ceiling" compares like with like.
//
// fma_probe: FMA throughput. Every invocation runs 8 independent vec4 chains a = fma(a, m, c)
//   (8 chains hide the FMA latency; one chain reaches about half the throughput on llvmpipe).
//   The loop body is unrolled 4x, so one trip is 4 * 8 vec4 FMAs = 4 * 8 * 4 * 2 = 256 FLOPs.
//   FLOPs per dispatch = invocations * p.iters * 256. The host keeps p.iters far below 65535
//   (llvmpipe silently stops loops after 65535 trips per invocation). m and c come from the
//   uniform so nothing folds; with m = c = 0.5 every chain converges to exactly 1.0, so each
//   invocation writes 32.0 (8 chains * 4 lanes), which the host checks. Bytes: 4 per invocation.
//
// copy_probe: memory bandwidth. dst[i] = src[i] over vec4<f32>; each invocation copies COPY_PER
//   vec4s strided by the number of invocations (neighbouring invocations touch neighbouring
//   addresses; 4 per invocation is about 15% faster than 1 on llvmpipe).
//   Bytes per dispatch = 32 * p.n (16 read + 16 written per element); FLOPs 0.

struct Params {
  iters: u32,   // fma_probe: loop trips per invocation
  n: u32,       // copy_probe: vec4 element count
  stride: u32,  // invocations per row of the dispatch grid (x groups * workgroup size)
  rows: u32,    // copy_probe: rows of the dispatch grid (y groups)
  m: f32,       // fma_probe: multiplier
  c: f32,       // fma_probe: addend
}

@group(0) @binding(0) var<uniform> p: Params;

override FMA_WG: u32 = 64;

@group(0) @binding(1) var<storage, read_write> fma_out: array<f32>;

@compute @workgroup_size(FMA_WG)
fn fma_probe(@builtin(global_invocation_id) gid: vec3u) {
  let idx = gid.x + gid.y * p.stride;
  let s = f32(idx & 1023u) * (1.0 / 1024.0);
  let m = vec4f(p.m);
  let c = vec4f(p.c);
  var a0 = vec4f(s, s + 0.01, s + 0.02, s + 0.03);
  var a1 = a0 + vec4f(0.04);
  var a2 = a0 + vec4f(0.08);
  var a3 = a0 + vec4f(0.12);
  var a4 = a0 + vec4f(0.16);
  var a5 = a0 + vec4f(0.20);
  var a6 = a0 + vec4f(0.24);
  var a7 = a0 + vec4f(0.28);
  for (var i = 0u; i < p.iters; i++) {
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c);
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c);
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c);
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c);
  }
  let sum = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
  fma_out[idx] = dot(sum, vec4f(1.0));
}

@group(0) @binding(1) var<storage, read> copy_src: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> copy_dst: array<vec4f>;

override COPY_PER: u32 = 4;

@compute @workgroup_size(256)
fn copy_probe(@builtin(global_invocation_id) gid: vec3u) {
  let base = gid.x + gid.y * p.stride;
  let total = p.stride * p.rows;
  for (var k = 0u; k < COPY_PER; k++) {
    let i = base + k * total;
    if (i < p.n) {
      copy_dst[i] = copy_src[i];
    }
  }
}
