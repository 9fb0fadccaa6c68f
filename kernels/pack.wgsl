// Packs row-major f32 matrices (optionally stored transposed) into vec4 rows, zero-padded. A job
// describes one matrix: dst[b][r][c4] = (src[b][r][4c4], ..., src[b][r][4c4+3]) for the logical
// [rows, cols] matrix, where src is stored as [rows, cols] (trans = 0) or [cols, rows] (trans = 1).
// Rows in [rows, rowsOut) are zero (K padding for the B operand). One invocation per output vec4.
// Bytes per job: 4*rows*cols read, 16*rowsOut*ceil(cols/4) written.
//
// to_textures4 runs up to four jobs in one dispatch, job j reading s<j> (binding 1 + j) and writing
// the rgba32float texture d<j> (binding 5 + j): the weights a training step changed are packed
// together instead of one dispatch each (unused bindings hold placeholders). to_block4 packs one
// job whose rows are whole vec4s, four texels per invocation (below). to_buffer runs job 0
// into a storage buffer (binding 9) over an 8 x 8 grid of (c4, y); to_texture_h, into the
// rgba16float texture dh (binding 10): weights whose values are all exactly float16, which the
// halves hold without loss (half the texture's bytes; ops/matmul.ts). from_texture inverts job 0:
// it reads texture src_tex (binding 11, rgba32float or rgba16float) back into the source layout in
// dstF (binding 12), the buffer of a weight whose buffer was dropped once the texture held it.
//!include flat
// to_buffer and to_texture_h: SIDE x SIDE invocations per workgroup, one texel each (set by src/ops/matmul/textures.ts).
override SIDE: u32;

struct Job {
  rows: u32,     // logical rows
  cols: u32,     // logical cols
  rowsOut: u32,  // rows written per batch (>= rows)
  cols4: u32,    // ceil(cols / 4)
  trans: u32,    // 1: src is stored [cols, rows]
  srcBatch: u32, // elements per batch in src
  batches: u32,
  start: u32,    // to_textures4: first item of this job (u32 max past count: no item falls in it)
  panel: u32,    // textures: 0 for the row layout, else columns per panel (matmul_tex.wgsl's BPANEL)
  shift: u32,    // panel layout: log2 of the column groups (c4) per texel row
  tileRows: u32, // panel layout: texel rows per panel, ceil(cols4 / 2^shift)
  unused: u32,
}

struct Jobs {
  count: u32,
  total: u32,    // to_textures4: texels of all jobs
  stride: u32,   // to_textures4: items per row of the dispatch grid (groupsX * FLAT_WG)
  unused: u32,
  job: array<Job, 4>,
}

@group(0) @binding(0) var<uniform> q: Jobs;
@group(0) @binding(1) var<storage, read> s0: array<f32>;
@group(0) @binding(2) var<storage, read> s1: array<f32>;
@group(0) @binding(3) var<storage, read> s2: array<f32>;
@group(0) @binding(4) var<storage, read> s3: array<f32>;
@group(0) @binding(5) var d0: texture_storage_2d<rgba32float, write>;
@group(0) @binding(6) var d1: texture_storage_2d<rgba32float, write>;
@group(0) @binding(7) var d2: texture_storage_2d<rgba32float, write>;
@group(0) @binding(8) var d3: texture_storage_2d<rgba32float, write>;
@group(0) @binding(9) var<storage, read_write> dstBuf: array<vec4f>;
@group(0) @binding(10) var dh: texture_storage_2d<rgba16float, write>;
@group(0) @binding(11) var src_tex: texture_2d<f32>;
@group(0) @binding(12) var<storage, read_write> dstF: array<f32>;

fn job_src(j: u32, i: u32) -> f32 {
  switch j {
    case 0u: { return s0[i]; }
    case 1u: { return s1[i]; }
    case 2u: { return s2[i]; }
    default: { return s3[i]; }
  }
}

// The vec4 of job j at batch b, row r, column group c4.
fn gather(j: u32, b: u32, r: u32, c4: u32) -> vec4f {
  let o = q.job[j];
  var v = vec4f(0.0);
  if (r < o.rows) {
    for (var e = 0u; e < 4u; e++) {
      let c = c4 * 4u + e;
      if (c < o.cols) {
        let i = select(r * o.cols + c, c * o.rows + r, o.trans == 1u);
        v[e] = job_src(j, b * o.srcBatch + i);
      }
    }
  }
  return v;
}

// Where a texture job's texel (batch b, row r, column group c4) goes: (c4, b * rowsOut + r) in the
// row layout; in the panel layout (rowsOut a multiple of panel) row r's group c4 is texel
// r % panel of run c4 % 2^shift in texel row c4 / 2^shift of panel r / panel (matmul_tex.wgsl).
fn texel_at(o: Job, b: u32, r: u32, c4: u32) -> vec2u {
  if (o.panel == 0u) { return vec2u(c4, b * o.rowsOut + r); }
  let mask = (1u << o.shift) - 1u;
  let tile = b * (o.rowsOut / o.panel) + r / o.panel;
  return vec2u((c4 & mask) * o.panel + r % o.panel, tile * o.tileRows + (c4 >> o.shift));
}

// One invocation per texel of all jobs together: item i = gid.x + gid.y * q.stride belongs to the
// job whose range [start, start + cols4 * rowsOut * batches) holds it (texels in row order).
@compute @workgroup_size(FLAT_WG)
fn to_textures4(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * q.stride;
  if (i >= q.total) { return; }
  let j = select(0u, 1u, i >= q.job[1].start) + select(0u, 1u, i >= q.job[2].start) + select(0u, 1u, i >= q.job[3].start);
  let o = q.job[j];
  let li = i - o.start;
  let c4 = li % o.cols4;
  let y = li / o.cols4;  // b * rowsOut + r
  let b = y / o.rowsOut;
  let r = y % o.rowsOut;
  let v = gather(j, b, r, c4);
  let at = texel_at(o, b, r, c4);
  switch j {
    case 0u: { textureStore(d0, at, v); }
    case 1u: { textureStore(d1, at, v); }
    case 2u: { textureStore(d2, at, v); }
    default: { textureStore(d3, at, v); }
  }
}

// to_block4: job 0 alone, for sources whose rows are whole vec4s (cols % 4 == 0, and rows % 4 == 0
// when transposed; the host checks). One invocation per block of 4 rows × one column group, item
// i = gid.x + gid.y * q.stride = (b * ceil(rowsOut / 4) + r0 / 4) * cols4 + c4, writing the texels
// of rows r0 .. r0 + 3: 4 vec4 loads for 4 texels. Row-major, each texel is one load; transposed,
// the 4 loads are the 4 stored rows (logical columns 4c4 .. 4c4 + 3) over logical rows r0 .. r0 + 3,
// transposed in registers. to_textures4 spends 4 scalar loads per texel, each under a switch over
// its 4 sources; on llvmpipe this takes 0.53-0.65 of its time (docs/perf-log.md).
// Bindings: 1 the source as vec4s, 5 the texture.
@group(0) @binding(1) var<storage, read> s0v: array<vec4f>;

@compute @workgroup_size(FLAT_WG)
fn to_block4(@builtin(global_invocation_id) gid: vec3u) {
  let o = q.job[0];
  let i = gid.x + gid.y * q.stride;
  let blocks = (o.rowsOut + 3u) / 4u;
  if (i >= o.cols4 * blocks * o.batches) { return; }
  let c4 = i % o.cols4;
  let y = i / o.cols4;
  let b = y / blocks;
  let r0 = (y - b * blocks) * 4u;
  let base = b * (o.srcBatch / 4u);
  var t0 = vec4f(0.0);
  var t1 = vec4f(0.0);
  var t2 = vec4f(0.0);
  var t3 = vec4f(0.0);
  if (o.trans == 1u) {
    if (r0 < o.rows) {
      let at = base + (4u * c4 * o.rows + r0) / 4u;
      let step = o.rows / 4u;
      let l0 = s0v[at];
      let l1 = s0v[at + step];
      let l2 = s0v[at + 2u * step];
      let l3 = s0v[at + 3u * step];
      t0 = vec4f(l0.x, l1.x, l2.x, l3.x);
      t1 = vec4f(l0.y, l1.y, l2.y, l3.y);
      t2 = vec4f(l0.z, l1.z, l2.z, l3.z);
      t3 = vec4f(l0.w, l1.w, l2.w, l3.w);
    }
  } else {
    let at = base + r0 * o.cols4 + c4;
    if (r0 < o.rows) { t0 = s0v[at]; }
    if (r0 + 1u < o.rows) { t1 = s0v[at + o.cols4]; }
    if (r0 + 2u < o.rows) { t2 = s0v[at + 2u * o.cols4]; }
    if (r0 + 3u < o.rows) { t3 = s0v[at + 3u * o.cols4]; }
  }
  textureStore(d0, texel_at(o, b, r0, c4), t0);
  if (r0 + 1u < o.rowsOut) { textureStore(d0, texel_at(o, b, r0 + 1u, c4), t1); }
  if (r0 + 2u < o.rowsOut) { textureStore(d0, texel_at(o, b, r0 + 2u, c4), t2); }
  if (r0 + 3u < o.rowsOut) { textureStore(d0, texel_at(o, b, r0 + 3u, c4), t3); }
}

// Job 0's texel (c4, y) for the 8 x 8 grid of to_buffer and to_texture_h, and whether it exists.
fn job0_at(gid: vec3u) -> bool {
  return gid.x < q.job[0].cols4 && gid.y < q.job[0].rowsOut * q.job[0].batches;
}

fn job0_texel(gid: vec3u) -> vec4f {
  return gather(0u, gid.y / q.job[0].rowsOut, gid.y % q.job[0].rowsOut, gid.x);
}

@compute @workgroup_size(SIDE, SIDE, 1)
fn to_buffer(@builtin(global_invocation_id) gid: vec3u) {
  if (!job0_at(gid)) { return; }
  dstBuf[gid.y * q.job[0].cols4 + gid.x] = job0_texel(gid);
}

@compute @workgroup_size(SIDE, SIDE, 1)
fn to_texture_h(@builtin(global_invocation_id) gid: vec3u) {
  if (!job0_at(gid)) { return; }
  let o = q.job[0];
  textureStore(dh, texel_at(o, gid.y / o.rowsOut, gid.y % o.rowsOut, gid.x), job0_texel(gid));
}

// One invocation per source element i = gid.x + gid.y * q.stride of job 0 (q.total of them: batches
// x srcBatch): the element gather() put at batch b, row r, column c, read back from its texel.
@compute @workgroup_size(FLAT_WG)
fn from_texture(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * q.stride;
  if (i >= q.total) { return; }
  let o = q.job[0];
  let b = i / o.srcBatch;
  let li = i % o.srcBatch;
  let r = select(li / o.cols, li % o.rows, o.trans == 1u);
  let c = select(li % o.cols, li / o.rows, o.trans == 1u);
  let v = textureLoad(src_tex, texel_at(o, b, r, c / 4u), 0);
  dstF[i] = v[c % 4u];
}
