// How much arithmetic must each load feed on this device? Every invocation streams `loads` vec4s
// from src (the same ones for every invocation, so they come from the cache) and feeds each to
// REUSE independent accumulators with one vec4 FMA each (REUSE · 8 FLOPs per load), plus the
// variant READ = 0, which makes its vec4 from the loop index instead of loading it (the same
// arithmetic, no loads). Sweeping REUSE shows where a kernel stops paying for its loads. On a GPU a
// few FMAs per load suffice. On llvmpipe (Mesa 22.3) a storage load is a loop over the 8 lanes of
// a SIMD batch with a bounds check per lane: about 20 ns of one core per vec4 load, as long as
// its FMA probe takes for some 450 lane FMAs, so even 16 vec4 FMAs per load leave the loads 35%
// of the time (bench/results/llvmpipe-load-reuse.txt; SwiftShader: swiftshader-load-reuse.txt).
//
// out[i] = Σ_r (r + 1) · Σ_j (v_j.x + v_j.y + v_j.z + v_j.w): the spec's check recomputes it.

struct Dims { n: u32, loads: u32 }

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> src: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

override REUSE: u32 = 8u;   // accumulators fed by each loaded vec4 (1..16)
override READ: u32 = 1u;    // 0: no loads (the vec4 comes from the loop index; the check is skipped)
override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i >= dims.n) { return; }
  // Named accumulators, not an array: an array indexed in a loop costs memory traffic on CPU
  // executors that do not unroll it (SwiftShader), which would be measured instead of the loads.
  var a0 = vec4f(0.0); var a1 = vec4f(0.0); var a2 = vec4f(0.0); var a3 = vec4f(0.0); var a4 = vec4f(0.0); var a5 = vec4f(0.0); var a6 = vec4f(0.0); var a7 = vec4f(0.0);
  var a8 = vec4f(0.0); var a9 = vec4f(0.0); var a10 = vec4f(0.0); var a11 = vec4f(0.0); var a12 = vec4f(0.0); var a13 = vec4f(0.0); var a14 = vec4f(0.0); var a15 = vec4f(0.0);
  for (var j = 0u; j < dims.loads; j++) {
    var v = vec4f(f32(j & 7u), 1.0, 0.5, 0.25);
    if (READ == 1u) { v = src[j]; }
    a0 = fma(vec4f(1.0), v, a0);
    if (REUSE > 1u) { a1 = fma(vec4f(2.0), v, a1); }
    if (REUSE > 2u) { a2 = fma(vec4f(3.0), v, a2); }
    if (REUSE > 3u) { a3 = fma(vec4f(4.0), v, a3); }
    if (REUSE > 4u) { a4 = fma(vec4f(5.0), v, a4); }
    if (REUSE > 5u) { a5 = fma(vec4f(6.0), v, a5); }
    if (REUSE > 6u) { a6 = fma(vec4f(7.0), v, a6); }
    if (REUSE > 7u) { a7 = fma(vec4f(8.0), v, a7); }
    if (REUSE > 8u) { a8 = fma(vec4f(9.0), v, a8); }
    if (REUSE > 9u) { a9 = fma(vec4f(10.0), v, a9); }
    if (REUSE > 10u) { a10 = fma(vec4f(11.0), v, a10); }
    if (REUSE > 11u) { a11 = fma(vec4f(12.0), v, a11); }
    if (REUSE > 12u) { a12 = fma(vec4f(13.0), v, a12); }
    if (REUSE > 13u) { a13 = fma(vec4f(14.0), v, a13); }
    if (REUSE > 14u) { a14 = fma(vec4f(15.0), v, a14); }
    if (REUSE > 15u) { a15 = fma(vec4f(16.0), v, a15); }
  }
  let s = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)) + ((a12 + a13) + (a14 + a15));
  out[i] = (s.x + s.y) + (s.z + s.w);
}
