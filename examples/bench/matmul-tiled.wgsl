// C = A·B, row-major A [M, K], B [K, N], C [M, N], with TILE × TILE tiles of A and B staged in
// workgroup memory: each workgroup computes one TILE × TILE block of C, one element per
// invocation. TILE is an override constant (the spec sweeps it); TILE² must fit the device's
// invocations per workgroup (256 in WebGPU's core limits).

struct Dims { M: u32, N: u32, K: u32 }

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

override TILE: u32 = 16;

var<workgroup> tileA: array<f32, TILE * TILE>;
var<workgroup> tileB: array<f32, TILE * TILE>;

@compute @workgroup_size(TILE, TILE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = wid.y * TILE + lid.y;
  let col = wid.x * TILE + lid.x;
  var acc = 0.0;
  let tiles = (dims.K + TILE - 1u) / TILE;
  for (var t = 0u; t < tiles; t++) {
    // Out-of-range elements load as 0 so partial tiles add nothing.
    let ka = t * TILE + lid.x;
    let kb = t * TILE + lid.y;
    tileA[lid.y * TILE + lid.x] = select(0.0, a[row * dims.K + ka], row < dims.M && ka < dims.K);
    tileB[lid.y * TILE + lid.x] = select(0.0, b[kb * dims.N + col], kb < dims.K && col < dims.N);
    workgroupBarrier();
    for (var k = 0u; k < TILE; k++) {
      acc += tileA[lid.y * TILE + k] * tileB[k * TILE + lid.x];
    }
    workgroupBarrier();
  }
  if (row < dims.M && col < dims.N) {
    c[row * dims.N + col] = acc;
  }
}
