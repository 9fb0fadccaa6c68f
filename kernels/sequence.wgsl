// Token-row assembly for sequence models (TiTok's encoder and decoder): a sequence
// x [batch, seq, D] is built from segments of rows, and segments are read back out of it.
//
// entry             | what                                                        | bytes moved (f32)
// rows_into4 / 1    | x[b, offset + r, :] = src[b·sb + r·sr, :] + pos[pos0 + r, :] | 12 batch rows D
// rows_from4 / 1    | y[b, r, :] = x[b, offset + r, :]                            | 8 batch rows D
//
// rows_into writes one segment of `rows` rows per image; its source rows advance by sr rows per
// row and sb rows per image, so one kernel writes a class token (sb = sr = 0: one row for every
// image), grid² copies of a mask token (sb = sr = 0), learned latent tokens shared by the batch
// (sb = 0, sr = 1) or per-image rows such as patch embeddings (sb = rows, sr = 1). The position rows
// are added in the same pass (the sum is one f32 addition, as in the reference). Segments of one
// sequence are disjoint, so their dispatches may run in any order. rows_from is the slice that
// keeps a segment (the latent tokens after the encoder, the patch positions after the decoder).
//
// Layout: item i = gid.x + gid.y · stride is one element (vec4 in the *4 entries, which need
// D % 4 == 0): i = (b · rows + r) · d + c. Memory-bound: one or two loads and one store per item.
// Bindings: rows_into 1 x (written), 2 src, 3 pos; rows_from 1 x, 2 y (written).

struct Params {
  n: u32,        // items: batch · rows · d
  stride: u32,   // items per row of the dispatch grid (groupsX · 256)
  d: u32,        // row width (vec4s in the *4 entries)
  rows: u32,     // rows of the segment, per image
  seq: u32,      // rows of x per image
  offset: u32,   // first row of the segment within an image of x
  sb: u32,       // rows_into: source rows per image step (0: shared by every image)
  sr: u32,       // rows_into: source rows per row step (0: one row repeated)
  pos0: u32,     // rows_into: first position row
}

@group(0) @binding(0) var<uniform> p: Params;

@group(0) @binding(1) var<storage, read_write> x4: array<vec4f>;
@group(0) @binding(2) var<storage, read> src4: array<vec4f>;
@group(0) @binding(3) var<storage, read> pos4: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> x1: array<f32>;
@group(0) @binding(2) var<storage, read> src1: array<f32>;
@group(0) @binding(3) var<storage, read> pos1: array<f32>;

@group(0) @binding(1) var<storage, read> xr4: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> y4: array<vec4f>;
@group(0) @binding(1) var<storage, read> xr1: array<f32>;
@group(0) @binding(2) var<storage, read_write> y1: array<f32>;

struct Where {
  b: u32,
  r: u32,
  c: u32,
}

fn split(i: u32) -> Where {
  let br = i / p.d;
  let b = br / p.rows;
  return Where(b, br - b * p.rows, i - br * p.d);
}

// Element index of (image b, sequence row, column c) in x.
fn at_x(b: u32, row: u32, c: u32) -> u32 {
  return (b * p.seq + row) * p.d + c;
}

@compute @workgroup_size(256)
fn rows_into4(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let w = split(i);
  x4[at_x(w.b, p.offset + w.r, w.c)] = src4[(w.b * p.sb + w.r * p.sr) * p.d + w.c] + pos4[(p.pos0 + w.r) * p.d + w.c];
}

@compute @workgroup_size(256)
fn rows_into1(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let w = split(i);
  x1[at_x(w.b, p.offset + w.r, w.c)] = src1[(w.b * p.sb + w.r * p.sr) * p.d + w.c] + pos1[(p.pos0 + w.r) * p.d + w.c];
}

@compute @workgroup_size(256)
fn rows_from4(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let w = split(i);
  y4[i] = xr4[at_x(w.b, p.offset + w.r, w.c)];
}

@compute @workgroup_size(256)
fn rows_from1(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let w = split(i);
  y1[i] = xr1[at_x(w.b, p.offset + w.r, w.c)];
}
