// Token-row assembly for sequence models (TiTok's encoder and decoder): a sequence
// x [batch, seq, D] is built from segments of rows, and segments are read back out of it.
//
// entry             | what                                                        | bytes moved (f32)
// rows_into4 / 1    | x[b, offset + r, :] = src[b·sb + r·sr, :] + pos[pos0 + r, :] | 12 batch rows D
// rows_from4 / 1    | y[b, r, :] = x[b, offset + r, :]                            | 8 batch rows D
// rows_grad4 / 1    | backward of rows_into: one table's gradient from dx's segment | 4 (loads) + 4 table
// rows_scatter4 / 1 | backward of rows_from: dx = dy in the segment, 0 elsewhere    | 8 batch seq D
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
// Bindings: rows_into 1 x (written), 2 src, 3 pos; rows_from 1 x, 2 y (written);
// rows_grad 1 dx, 2 the table's gradient (written); rows_scatter 1 dy, 2 dx (written).
//
// Backward. rows_grad writes the gradient of one table a segment read (its source rows or its
// position rows) over the whole table [table_rows, d]: rows [q0, q0 + span) get the segment's
// gradient, the others 0 (acc = 0), or keep their value and get the segment's gradient added
// (acc = 1, a second segment reading the same table: the class and patch rows of one position
// table). The segment's gradient of table row q0 + t is, by mode:
//   0 perImage  dx[b, offset + r, :] for t = b · rows + r (a copy)       span batch · rows
//   1 shared    Σ_b dx[b, offset + t, :] (a position table, shared rows)  span rows
//   2 repeat    Σ_b Σ_r dx[b, offset + r, :] (class token, mask token)    span 1
// Each item sums its terms itself in a fixed order (b outer, r inner): deterministic, no atomics;
// loop trips per invocation batch (shared) or batch · rows (repeat). The caller keeps them under
// llvmpipe's loop cap by summing images [b0, b0 + batch) per pass, the passes after the first
// with acc = 1. rows_scatter is the slice's adjoint: every element of dx is written once.
//!include flat

struct Params {
  n: u32,        // items: batch · rows · d
  stride: u32,   // items per row of the dispatch grid (groupsX · FLAT_WG)
  d: u32,        // row width (vec4s in the *4 entries)
  rows: u32,     // rows of the segment, per image
  seq: u32,      // rows of x per image
  offset: u32,   // first row of the segment within an image of x
  sb: u32,       // rows_into: source rows per image step (0: shared by every image)
  sr: u32,       // rows_into: source rows per row step (0: one row repeated)
  pos0: u32,     // rows_into: first position row
  batch: u32,    // rows_grad: images
  q0: u32,       // rows_grad: first table row the segment reads
  mode: u32,     // rows_grad: 0 perImage, 1 shared, 2 repeat
  acc: u32,      // rows_grad: 1 adds to the table's gradient instead of writing zeros around the segment
  b0: u32,       // rows_grad: first image of this pass (shared, repeat)
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

@compute @workgroup_size(FLAT_WG)
fn rows_into4(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let w = split(i);
  x4[at_x(w.b, p.offset + w.r, w.c)] = src4[(w.b * p.sb + w.r * p.sr) * p.d + w.c] + pos4[(p.pos0 + w.r) * p.d + w.c];
}

@compute @workgroup_size(FLAT_WG)
fn rows_into1(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let w = split(i);
  x1[at_x(w.b, p.offset + w.r, w.c)] = src1[(w.b * p.sb + w.r * p.sr) * p.d + w.c] + pos1[(p.pos0 + w.r) * p.d + w.c];
}

@compute @workgroup_size(FLAT_WG)
fn rows_from4(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let w = split(i);
  y4[i] = xr4[at_x(w.b, p.offset + w.r, w.c)];
}

@compute @workgroup_size(FLAT_WG)
fn rows_from1(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let w = split(i);
  y1[i] = xr1[at_x(w.b, p.offset + w.r, w.c)];
}

// Items i = q · d + c over the whole table [table_rows, d] (p.n = table_rows · d).
fn table_span() -> u32 {
  if (p.mode == 0u) { return p.batch * p.rows; }
  if (p.mode == 1u) { return p.rows; }
  return 1u;
}

@compute @workgroup_size(FLAT_WG)
fn rows_grad4(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let q = i / p.d;
  let c = i - q * p.d;
  var prior = vec4f(0.0);
  if (p.acc == 1u) { prior = y4[i]; }
  if (q < p.q0 || q >= p.q0 + table_span()) {
    y4[i] = prior;
    return;
  }
  let t = q - p.q0;
  var s = vec4f(0.0);
  if (p.mode == 0u) {
    let b = t / p.rows;
    s = xr4[at_x(b, p.offset + t - b * p.rows, c)];
  } else if (p.mode == 1u) {
    for (var b = p.b0; b < p.b0 + p.batch; b++) { s += xr4[at_x(b, p.offset + t, c)]; }
  } else {
    for (var b = p.b0; b < p.b0 + p.batch; b++) {
      for (var r = 0u; r < p.rows; r++) { s += xr4[at_x(b, p.offset + r, c)]; }
    }
  }
  y4[i] = prior + s;
}

@compute @workgroup_size(FLAT_WG)
fn rows_grad1(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let q = i / p.d;
  let c = i - q * p.d;
  var prior = 0.0;
  if (p.acc == 1u) { prior = y1[i]; }
  if (q < p.q0 || q >= p.q0 + table_span()) {
    y1[i] = prior;
    return;
  }
  let t = q - p.q0;
  var s = 0.0;
  if (p.mode == 0u) {
    let b = t / p.rows;
    s = xr1[at_x(b, p.offset + t - b * p.rows, c)];
  } else if (p.mode == 1u) {
    for (var b = p.b0; b < p.b0 + p.batch; b++) { s += xr1[at_x(b, p.offset + t, c)]; }
  } else {
    for (var b = p.b0; b < p.b0 + p.batch; b++) {
      for (var r = 0u; r < p.rows; r++) { s += xr1[at_x(b, p.offset + r, c)]; }
    }
  }
  y1[i] = prior + s;
}

// Items i = (b · seq + row) · d + c over all of dx (p.n = batch · seq · d).
@compute @workgroup_size(FLAT_WG)
fn rows_scatter4(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let br = i / p.d;
  let c = i - br * p.d;
  let b = br / p.seq;
  let row = br - b * p.seq;
  var v = vec4f(0.0);
  if (row >= p.offset && row < p.offset + p.rows) { v = xr4[(b * p.rows + row - p.offset) * p.d + c]; }
  y4[i] = v;
}

@compute @workgroup_size(FLAT_WG)
fn rows_scatter1(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let br = i / p.d;
  let c = i - br * p.d;
  let b = br / p.seq;
  let row = br - b * p.seq;
  var v = 0.0;
  if (row >= p.offset && row < p.offset + p.rows) { v = xr1[(b * p.rows + row - p.offset) * p.d + c]; }
  y1[i] = v;
}
