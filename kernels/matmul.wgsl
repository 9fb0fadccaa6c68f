// Matmul, storage-buffer variant: the default on GPUs (the texture variant for CPU executors is
// matmul_tex.wgsl). Both operands arrive in "packed" layout: A as [batch][M][K4] vec4 (K padded with zeros to a
// multiple of 4), B as [batch][K4*4][N4] vec4. ops/matmul.ts packs (and transposes) when the
// stored layout differs, or binds the caller's buffer directly when it already has that layout.
//
// Each invocation computes a TM x (4*TN4) block of C; per step of 4 along K it loads TM vec4 of A
// and 4*TN4 vec4 of B and issues 4*TM*TN4 vec4 FMAs (TM=8, TN4=4: 128 FMAs per 12 loads).
// No workgroup memory: on CPU executors each load costs ~30 FMAs and barriers are slow, and on
// GPUs the operands stream through L1/texture caches. Rows and columns past M/N clamp their loads
// (computed, never stored). FLOPs 2*M*N*K per batch; bytes >= 4*(M*K + K*N + M*N).

//!include epilogue

override TM: u32 = 8u;   // rows of C per invocation (1..16)
override TN4: u32 = 4u;  // vec4 columns of C per invocation (1..4)
override WGX: u32;  // invocations along N
override WGY: u32;  // invocations along M
override ACT: u32 = 0u;  // epilogue activation: 0 none, 1 GELU (erf), 2 GELU (tanh)

struct Params {
  M: u32,
  N: u32,
  K4: u32,         // ceil(K / 4)
  N4: u32,         // ceil(N / 4)
  aBatchRows: u32, // rows of packed A per batch (M), or 0 to broadcast one A over the batch
  bBatchRows: u32, // rows of packed B per batch (4*K4), or 0 to broadcast
  hasBias: u32,    // 1: add bias[col]
  accumulate: u32, // 1: add beta * C (C's previous contents)
  splits: u32,     // K chunks (1: no split)
  kChunk4: u32,    // vec4 steps per chunk
  alpha: f32,      // C = act(alpha * A.B + bias) (+ beta * C)
  beta: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> C: array<f32>;

@group(0) @binding(1) var<storage, read> A: array<vec4f>;
@group(0) @binding(2) var<storage, read> B: array<vec4f>;

fn loadA(b: u32, row: u32, k4: u32) -> vec4f {
  return A[(b * p.aBatchRows + row) * p.K4 + k4];
}

fn loadB(b: u32, k: u32, n4: u32) -> vec4f {
  return B[(b * p.bBatchRows + k) * p.N4 + n4];
}

@compute @workgroup_size(WGX, WGY, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let n40 = gid.x * TN4;
  let row0 = gid.y * TM;
  let b = gid.z / p.splits;
  let kBegin = (gid.z % p.splits) * p.kChunk4;
  let kEnd = min(p.K4, kBegin + p.kChunk4);
  if (row0 >= p.M || n40 >= p.N4) { return; }
  let lastRow = p.M - 1u;
  let lastN4 = p.N4 - 1u;

  var acc: array<vec4f, 64>;
  for (var t = 0u; t < TM * TN4; t++) { acc[t] = vec4f(0.0); }

  for (var k4 = kBegin; k4 < kEnd; k4++) {
    let k = k4 * 4u;
    var b0: array<vec4f, 4>;
    var b1: array<vec4f, 4>;
    var b2: array<vec4f, 4>;
    var b3: array<vec4f, 4>;
    for (var j = 0u; j < TN4; j++) {
      let n4 = min(n40 + j, lastN4);
      b0[j] = loadB(b, k, n4);
      b1[j] = loadB(b, k + 1u, n4);
      b2[j] = loadB(b, k + 2u, n4);
      b3[j] = loadB(b, k + 3u, n4);
    }
    for (var i = 0u; i < TM; i++) {
      let a = loadA(b, min(row0 + i, lastRow), k4);
      for (var j = 0u; j < TN4; j++) {
        let t = i * TN4 + j;
        acc[t] = fma(vec4f(a.x), b0[j], fma(vec4f(a.y), b1[j], fma(vec4f(a.z), b2[j], fma(vec4f(a.w), b3[j], acc[t]))));
      }
    }
  }

  for (var i = 0u; i < TM; i++) {
    let row = row0 + i;
    if (row >= p.M) { break; }
    for (var j = 0u; j < TN4; j++) {
      let n4 = n40 + j;
      if (n4 >= p.N4) { break; }
      if (p.splits > 1u) {
        for (var e = 0u; e < 4u; e++) {
          let col = n4 * 4u + e;
          if (col < p.N) { C[(gid.z * p.M + row) * p.N + col] = acc[i * TN4 + j][e]; }
        }
        continue;
      }
      let v = acc[i * TN4 + j] * p.alpha;
      for (var e = 0u; e < 4u; e++) {
        let col = n4 * 4u + e;
        if (col < p.N) {
          let idx = (b * p.M + row) * p.N + col;
          var x = v[e];
          if (p.hasBias == 1u) { x += bias[col]; }
          x = act_aux(x, idx);
          if (p.accumulate == 1u) { x += p.beta * C[idx]; }
          C[idx] = x;
        }
      }
    }
  }
}
