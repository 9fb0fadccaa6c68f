// Packs a row-major f32 matrix (optionally stored transposed) into vec4 rows, zero-padded:
// dst[b][r][c4] = (src[b][r][4c4], ..., src[b][r][4c4+3]) for the logical [rows, cols] matrix,
// where src is stored as [rows, cols] (trans = 0) or [cols, rows] (trans = 1). Rows in
// [rows, rowsOut) are zero (K padding for the B operand). One invocation per output vec4.
// Bytes: 4*rows*cols read, 16*rowsOut*ceil(cols/4) written.

struct Params {
  rows: u32,     // logical rows
  cols: u32,     // logical cols
  rowsOut: u32,  // rows written per batch (>= rows)
  cols4: u32,    // ceil(cols / 4)
  trans: u32,    // 1: src is stored [cols, rows]
  srcBatch: u32, // elements per batch in src
  batches: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var dstTex: texture_storage_2d<rgba32float, write>;
@group(0) @binding(3) var<storage, read_write> dstBuf: array<vec4f>;

fn gather(b: u32, r: u32, c4: u32) -> vec4f {
  var v = vec4f(0.0);
  if (r < p.rows) {
    for (var e = 0u; e < 4u; e++) {
      let c = c4 * 4u + e;
      if (c < p.cols) {
        let i = select(r * p.cols + c, c * p.rows + r, p.trans == 1u);
        v[e] = src[b * p.srcBatch + i];
      }
    }
  }
  return v;
}

@compute @workgroup_size(8, 8, 1)
fn to_texture(@builtin(global_invocation_id) gid: vec3u) {
  let c4 = gid.x;
  let y = gid.y;  // b * rowsOut + r
  if (c4 >= p.cols4 || y >= p.rowsOut * p.batches) { return; }
  textureStore(dstTex, vec2u(c4, y), gather(y / p.rowsOut, y % p.rowsOut, c4));
}

@compute @workgroup_size(8, 8, 1)
fn to_buffer(@builtin(global_invocation_id) gid: vec3u) {
  let c4 = gid.x;
  let y = gid.y;
  if (c4 >= p.cols4 || y >= p.rowsOut * p.batches) { return; }
  dstBuf[y * p.cols4 + c4] = gather(y / p.rowsOut, y % p.rowsOut, c4);
}
