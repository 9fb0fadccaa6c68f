// Split-K reduction for matmul.wgsl and matmul_tex.wgsl: C = act(alpha * sum_s P[s] + bias)
// (+ beta * C), with epilogue.wgsl's AUX modes. P holds `splits` raw partial sums per batch item, laid out
// P[((b * splits + s) * M + row) * N + col]; each invocation adds one output element's partials
// in the order s = 0, 1, ... (no atomics: the same bits every run) and applies the epilogue the
// one-pass kernels apply. Items i = gid.x + gid.y * stride (stride = groupsX * FLAT_WG), one per
// output element. Loop trips per invocation: splits (<= 64).
// FLOPs: splits * batch * M * N adds; bytes 4 * (splits + 1 (+1 accumulating)) * batch * M * N.
//!include flat

//!include epilogue

override ACT: u32 = 0u;  // epilogue activation: 0 none, 1 GELU (erf), 2 GELU (tanh)

struct Params {
  M: u32,
  N: u32,
  total: u32,      // batch * M * N
  stride: u32,     // items per row of the dispatch grid
  splits: u32,
  hasBias: u32,
  accumulate: u32,
  alpha: f32,
  beta: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> P: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;

@compute @workgroup_size(FLAT_WG, 1, 1)
fn reduce(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.total) { return; }
  let mn = p.M * p.N;
  let b = i / mn;
  let rem = i - b * mn;
  let base = b * p.splits * mn + rem;
  var sum = 0.0;
  for (var s = 0u; s < p.splits; s++) { sum += P[base + s * mn]; }
  var x = sum * p.alpha;
  if (p.hasBias == 1u) { x += bias[rem % p.N]; }
  x = act_aux(x, i);
  if (p.accumulate == 1u) { x += p.beta * C[i]; }
  C[i] = x;
}
