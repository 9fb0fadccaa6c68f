// C = A·B, row-major A [M, K], B [K, N], C [M, N]: one invocation per element of C.
// The workgroup is WG_X × WG_Y invocations (override constants, swept by the spec).

struct Dims { M: u32, N: u32, K: u32 }

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

override WG_X: u32 = 8;
override WG_Y: u32 = 8;

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let col = gid.x;
  let row = gid.y;
  if (row >= dims.M || col >= dims.N) {
    return;
  }
  var acc = 0.0;
  for (var k = 0u; k < dims.K; k++) {
    acc += a[row * dims.K + k] * b[k * dims.N + col];
  }
  c[row * dims.N + col] = acc;
}
