// Pixels between an application's GPU resources and the model's tensors (the embedding path of
// src/ops/pixels.ts): 8-bit or float textures and packed RGBA8 buffers in, model input out;
// model output in, an rgba8unorm storage texture or a packed RGBA8 buffer out. Work is laid out 1D:
// item i = gid.x + gid.y * stride (stride = groupsX * 64), one output value triple per item.
//
// Input: resize so the shorter side equals S and take the centre S x S crop, with the same
// antialiased triangle (tent) filter as the CPU path (toModelInput in src/io/image.ts): output
// sample i of a 1D pass sits at source coordinate c = (i + offset + 0.5) * scale - 0.5 with
// scale = source length / scaled length; taps j in [ceil(c - r), floor(c + r)] within the source,
// r = max(1, scale), weight max(0, 1 - |j - c| / r), normalized by their sum. The host computes
// each sample's first tap, tap count and c - first tap in f64 (a table of vec4f per axis), so the
// weights here only involve small numbers and agree with the CPU path's to f32 rounding (a
// position computed in f32 would be off by up to 2^-24 of the source width). Transparent pixels
// are composited on white first (c a + 1 - a), as PNG input is.
//
// entry          | what                                                   | per item (t taps): loads, stores, FLOPs
// resize_h_tex   | texture -> tmp [rows, S, 3], horizontal taps           | 16 B taps + 16 t B texels, 12 B, ~14 t
// resize_h_buf   | packed RGBA8 buffer -> tmp [rows, S, 3]                | 16 B taps + 4 t B, 12 B, ~18 t
// resize_v       | tmp -> model input [S, S, 3] in [-1, 1], vertical taps | 16 B taps + 12 t B, 12 B, ~10 t
// to_texture     | model output [S, S, 3] -> rgba8unorm storage texture   | 12 B, 4 B, 12
// to_buffer      | model output [S, S, 3] -> packed RGBA8 u32 per pixel   | 12 B, 4 B, 12
// (rows: the source rows the crop's vertical taps read; items: rows * S, S * S, S * S.)
//
// Output: v in [-1, 1] becomes the byte floor((clamp(v, -1, 1) + 1) * 127.5 + 0.5), as
// fromModelOutput computes it (there in f64: a product within an f32 rounding of a .5 tie may round
// the other way, one level apart); alpha is 255. Loop trips per invocation are the tap count,
// at most 2 max(1, scale) + 1 (257 for a 4096-pixel side down to 32), far below llvmpipe's 65535 cap.

struct Params {
  n: u32,          // items: rows * S (resize_h_*), S * S (resize_v, to_*)
  stride: u32,     // items per row of the dispatch grid (groupsX * 64)
  s: u32,          // model image side S
  y0: u32,         // first source row held in tmp
  src_offset: u32, // resize_h_buf: first pixel (u32 index); to_*: first value of the image in the model output
  row: u32,        // pixels (u32) per row of the packed buffer: source (resize_h_buf), destination (to_buffer)
  dst_offset: u32, // resize_v: first value of the image in the model input; to_buffer: first u32
  radius: f32,     // tap radius max(1, source length / scaled length) along the pass's axis
}

@group(0) @binding(0) var<uniform> p: Params;

override WG: u32;  // invocations per workgroup of every entry point (set by src/ops/pixels.ts)

@group(0) @binding(1) var src_tex: texture_2d<f32>;
@group(0) @binding(1) var<storage, read> src_rgba: array<u32>;
@group(0) @binding(1) var<storage, read> src_f: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst_f: array<f32>;
@group(0) @binding(2) var dst_tex: texture_storage_2d<rgba8unorm, write>;
@group(0) @binding(2) var<storage, read_write> dst_rgba: array<u32>;

@group(0) @binding(3) var<storage, read> taps: array<vec4f>; // per output sample: first tap, count, c - first tap

fn weight(t: i32, frac: f32) -> f32 {
  return max(0.0, 1.0 - abs(f32(t) - frac) / p.radius);
}

// RGB composited on white.
fn over_white(c: vec4f) -> vec3f {
  let a = clamp(c.a, 0.0, 1.0);
  return clamp(c.rgb, vec3f(0.0), vec3f(1.0)) * a + vec3f(1.0 - a);
}

fn store_tmp(i: u32, v: vec3f) {
  dst_f[3u * i] = v.x;
  dst_f[3u * i + 1u] = v.y;
  dst_f[3u * i + 2u] = v.z;
}

@compute @workgroup_size(WG)
fn resize_h_tex(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let y = i32(p.y0 + i / p.s);
  let tp = taps[i % p.s];
  let lo = i32(tp.x);
  var acc = vec3f(0.0);
  var sum = 0.0;
  for (var t = 0; t < i32(tp.y); t++) {
    let wt = weight(t, tp.z);
    acc += wt * over_white(textureLoad(src_tex, vec2i(lo + t, y), 0));
    sum += wt;
  }
  store_tmp(i, acc / max(sum, 1e-30));
}

@compute @workgroup_size(WG)
fn resize_h_buf(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let row = p.src_offset + (p.y0 + i / p.s) * p.row;
  let tp = taps[i % p.s];
  let lo = u32(tp.x);
  var acc = vec3f(0.0);
  var sum = 0.0;
  for (var t = 0; t < i32(tp.y); t++) {
    let wt = weight(t, tp.z);
    acc += wt * over_white(unpack4x8unorm(src_rgba[row + lo + u32(t)]));
    sum += wt;
  }
  store_tmp(i, acc / max(sum, 1e-30));
}

@compute @workgroup_size(WG)
fn resize_v(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let x = i % p.s;
  let tp = taps[i / p.s];
  let lo = u32(tp.x) - p.y0; // first tap's row in tmp
  var acc = vec3f(0.0);
  var sum = 0.0;
  for (var t = 0; t < i32(tp.y); t++) {
    let wt = weight(t, tp.z);
    let k = 3u * ((lo + u32(t)) * p.s + x);
    acc += wt * vec3f(src_f[k], src_f[k + 1u], src_f[k + 2u]);
    sum += wt;
  }
  let v = acc / max(sum, 1e-30) * 2.0 - 1.0;
  let o = p.dst_offset + 3u * i;
  dst_f[o] = v.x;
  dst_f[o + 1u] = v.y;
  dst_f[o + 2u] = v.z;
}

// Bytes of one output pixel (see the header).
fn to_bytes(i: u32) -> vec3f {
  let k = p.src_offset + 3u * i;
  let v = clamp(vec3f(src_f[k], src_f[k + 1u], src_f[k + 2u]), vec3f(-1.0), vec3f(1.0));
  return floor((v + 1.0) * 127.5 + 0.5);
}

@compute @workgroup_size(WG)
fn to_texture(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  // k / 255 converts back to the byte k exactly (the conversion rounds, and the error is far below
  // half a level).
  textureStore(dst_tex, vec2u(i % p.s, i / p.s), vec4f(to_bytes(i) / 255.0, 1.0));
}

@compute @workgroup_size(WG)
fn to_buffer(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let b = vec3u(to_bytes(i));
  dst_rgba[p.dst_offset + (i / p.s) * p.row + i % p.s] = b.x | (b.y << 8u) | (b.z << 16u) | (255u << 24u);
}
