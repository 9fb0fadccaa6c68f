// 3×3 convolution, stride 1, zero padding 1 (output the size of the input), over NHWC images with
// few channels: TiTok's last layer, a 3→3 convolution over the decoded pixels.
//
//   y[b, h, w, o] = bias[o] + Σ_{ky, kx < 3} Σ_{i < cin} x[b, h + ky − 1, w + kx − 1, i] · wt[o, i, ky, kx]
//
// with x outside the image read as 0. The weight keeps PyTorch's Conv2d layout [cout, cin, 3, 3].
// Sums run in the order ky, kx, i (f32, the bias added first); results agree with a float64
// reference to f32 rounding.
//
// conv3x3 (any channel counts; up to 4 in and out the host takes conv3x3_small, at the end of this
// file): one invocation per output element, item i = gid.x + gid.y · stride = ((b · H + h) · W + w)
// · cout + o: 9 · cin loads of x (neighbouring invocations share them through the cache) and of the
// weight, 9 · cin FMAs. Bindings: 1 x, 2 weight, 3 bias, 4 y (written).
//
// Backward (deterministic: every sum in a fixed order, no atomics):
//   conv3x3_dx         dx[b, h, w, i] = Σ_{ky, kx} Σ_o dy[b, h − ky + 1, w − kx + 1, o] · wt[o, i, ky, kx]
//                      (the output pixels whose window read (h, w)); one invocation per element of
//                      dx, 9 · cout FMAs (conv3x3_small with TRANSPOSED for up to 4 channels).
//                      Bindings: 1 dy, 2 weight, 4 dx (written).
//   conv3x3_dw_partial the weight and bias gradients are sums over every pixel,
//                        dwt[o, i, ky, kx] = Σ_{b, h, w} dy[b, h, w, o] · x[b, h + ky − 1, w + kx − 1, i]
//                        dbias[o] = Σ_{b, h, w} dy[b, h, w, o]
//                      in two passes. Invocation (lane t, pair z = k0 + gid.z) sums the 9 taps of
//                      output channel o = z / cin and input channel i = z % cin over its pixels
//                      j · n + t (j < per: neighbouring lanes read neighbouring pixels), each dy
//                      value loaded once for its 9 products, and for i = 0 also dbias[o]; it writes
//                      its own partial sums to row t of partial [n, cout · cin · 9] (PyTorch order)
//                      and of partial_b [n, cout]: no workgroup reduction (on CPU executors a
//                      workgroup barrier switches every SIMD fiber of the workgroup). The column
//                      sum of elementwise.wgsl then adds the rows in order.
//                      Bindings: 1 x, 3 dy, 4 partial, 5 partial_b (written).
//!include flat

struct Params {
  n: u32,       // items: batch · H · W · cout
  stride: u32,  // items per row of the dispatch grid (groupsX · FLAT_WG)
  h: u32,       // image height
  w: u32,       // image width
  cin: u32,
  cout: u32,
  k0: u32,      // conv3x3_dw_partial: first (output, input) channel pair of the dispatch
  per: u32,     // conv3x3_dw_partial: pixels per invocation
  pixels: u32,  // conv3x3_dw_partial: batch · H · W
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read> dy_in: array<f32>;
@group(0) @binding(3) var<storage, read> dy_w: array<f32>;
@group(0) @binding(5) var<storage, read_write> y_b: array<f32>;

// Image, row and column of pixel index pix = (b · H + row) · W + col.
struct Pixel {
  b: u32,
  row: u32,
  col: u32,
}

fn pixel(pix: u32) -> Pixel {
  let bh = pix / p.w;
  let b = bh / p.h;
  return Pixel(b, bh - b * p.h, pix - bh * p.w);
}

// Pixel index of (yy, xx) in image b (inside the image).
fn pixel_at(b: u32, yy: i32, xx: i32) -> u32 {
  return (b * p.h + u32(yy)) * p.w + u32(xx);
}

@compute @workgroup_size(FLAT_WG)
fn conv3x3(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let pix = i / p.cout;
  let o = i - pix * p.cout;
  let at = pixel(pix);
  var acc = bias[o];
  for (var ky = 0u; ky < 3u; ky++) {
    let yy = i32(at.row) + i32(ky) - 1;
    if (yy < 0 || yy >= i32(p.h)) { continue; }
    for (var kx = 0u; kx < 3u; kx++) {
      let xx = i32(at.col) + i32(kx) - 1;
      if (xx < 0 || xx >= i32(p.w)) { continue; }
      let base = pixel_at(at.b, yy, xx) * p.cin;
      for (var c = 0u; c < p.cin; c++) {
        acc = fma(x[base + c], wt[((o * p.cin + c) * 3u + ky) * 3u + kx], acc);
      }
    }
  }
  y[i] = acc;
}

@compute @workgroup_size(FLAT_WG)
fn conv3x3_dx(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let pix = i / p.cin;
  let c = i - pix * p.cin;
  let at = pixel(pix);
  var acc = 0.0;
  for (var ky = 0u; ky < 3u; ky++) {
    let yy = i32(at.row) - i32(ky) + 1;
    if (yy < 0 || yy >= i32(p.h)) { continue; }
    for (var kx = 0u; kx < 3u; kx++) {
      let xx = i32(at.col) - i32(kx) + 1;
      if (xx < 0 || xx >= i32(p.w)) { continue; }
      let base = pixel_at(at.b, yy, xx) * p.cout;
      for (var o = 0u; o < p.cout; o++) {
        acc = fma(dy_in[base + o], wt[((o * p.cin + c) * 3u + ky) * 3u + kx], acc);
      }
    }
  }
  y[i] = acc;
}

// x at a flat index clamped into the images: a neighbour outside its image is read from somewhere
// valid and then discarded by select (both operands of select are evaluated).
fn xat(i: i32) -> f32 {
  return x[u32(clamp(i, 0, i32(p.pixels * p.cin) - 1))];
}

@compute @workgroup_size(FLAT_WG)
fn conv3x3_dw_partial(@builtin(global_invocation_id) gid: vec3u) {
  let t = gid.x + gid.y * p.stride;
  if (t >= p.n) { return; }
  let z = p.k0 + gid.z;
  let o = z / p.cin;
  let c = z - o * p.cin;
  // Taps (ky, kx) in PyTorch order: a00 = (0, 0), a01 = (0, 1), ... a22 = (2, 2).
  var a00 = 0.0; var a01 = 0.0; var a02 = 0.0;
  var a10 = 0.0; var a11 = 0.0; var a12 = 0.0;
  var a20 = 0.0; var a21 = 0.0; var a22 = 0.0;
  var ab = 0.0;
  let hl = i32(p.h) - 1;
  let wl = i32(p.w) - 1;
  for (var j = 0u; j < p.per; j++) {
    let pix = j * p.n + t;
    if (pix < p.pixels) {
      let g = dy_w[pix * p.cout + o];
      ab += g;
      let at = pixel(pix);
      let r = i32(at.row);
      let q = i32(at.col);
      // Neighbour (r + ky − 1, q + kx − 1) of channel c; 0 outside the image.
      let base = i32(at.b * p.h * p.w);
      let up = r > 0; let down = r < hl; let left = q > 0; let right = q < wl;
      let rm = (base + (r - 1) * i32(p.w)) * i32(p.cin) + i32(c);
      let r0 = (base + r * i32(p.w)) * i32(p.cin) + i32(c);
      let rp = (base + (r + 1) * i32(p.w)) * i32(p.cin) + i32(c);
      let ci = i32(p.cin);
      let qm = (q - 1) * ci; let q0 = q * ci; let qp = (q + 1) * ci;
      a00 = fma(g, select(0.0, xat(rm + qm), up && left), a00);
      a01 = fma(g, select(0.0, xat(rm + q0), up), a01);
      a02 = fma(g, select(0.0, xat(rm + qp), up && right), a02);
      a10 = fma(g, select(0.0, xat(r0 + qm), left), a10);
      a11 = fma(g, xat(r0 + q0), a11);
      a12 = fma(g, select(0.0, xat(r0 + qp), right), a12);
      a20 = fma(g, select(0.0, xat(rp + qm), down && left), a20);
      a21 = fma(g, select(0.0, xat(rp + q0), down), a21);
      a22 = fma(g, select(0.0, xat(rp + qp), down && right), a22);
    }
  }
  let nw = p.cout * p.cin * 9u;
  let row = t * nw + z * 9u;
  y[row] = a00; y[row + 1u] = a01; y[row + 2u] = a02;
  y[row + 3u] = a10; y[row + 4u] = a11; y[row + 5u] = a12;
  y[row + 6u] = a20; y[row + 7u] = a21; y[row + 8u] = a22;
  if (c == 0u) { y_b[t * p.cout + o] = ab; }
}

// Few channels (CIN, COUT ≤ 4, override constants; TiTok's 3→3 layer): conv3x3_small, forward and
// (TRANSPOSED) dx. The generic entries above load every weight for every output element: 9·cin
// weight loads and 9·cin input loads per output, and on CPU executors every storage access is a
// per-lane loop, so those loads are the cost. Here one invocation walks a run of p.per pixels of
// one image row and writes all COUT outputs of each: the 9 taps' weights are loaded once into
// registers (a mat4x4 per tap, column c = input channel c's weights for every output channel), the
// 3×3 window of input pixels (vec4 over channels) slides along the row, so each step loads one
// new column of 3 pixels (3·CIN loads) for 9·CIN·COUT FMAs. Item t = gid.x + gid.y · stride =
// (b · H + h) · runs + seg, runs = ceil(W / per); p.n items.
//   forward       y[.., o] = bias[o] + Σ taps and channels, in the order of conv3x3 (ky, kx, c);
//                 binding 1 is x [B, H, W, CIN], 2 the weight [COUT, CIN, 3, 3], 3 the bias.
//   TRANSPOSED    dx: binding 1 is dy [B, H, W, CIN] (CIN = the forward's cout), 2 the forward's
//                 weight [CIN, COUT, 3, 3] read flipped (window row wy uses tap 2 − wy), bias
//                 unread; in the order of conv3x3_dx (ky, kx, o), so both paths give the same sums.
// Outside the image the window holds zeros (adding 0·w leaves a sum unchanged).
override CIN: u32 = 3u;
override COUT: u32 = 3u;
override TRANSPOSED: bool = false;

// Weight of input channel c to output channel o at window position (wy, wx); 0 past the channels.
fn small_w(o: u32, c: u32, wy: u32, wx: u32) -> f32 {
  if (o >= COUT || c >= CIN) { return 0.0; }
  if (TRANSPOSED) { return wt[((c * COUT + o) * 3u + 2u - wy) * 3u + 2u - wx]; }
  return wt[((o * CIN + c) * 3u + wy) * 3u + wx];
}

fn small_tap(wy: u32, wx: u32) -> mat4x4f {
  return mat4x4f(
    vec4f(small_w(0u, 0u, wy, wx), small_w(1u, 0u, wy, wx), small_w(2u, 0u, wy, wx), small_w(3u, 0u, wy, wx)),
    vec4f(small_w(0u, 1u, wy, wx), small_w(1u, 1u, wy, wx), small_w(2u, 1u, wy, wx), small_w(3u, 1u, wy, wx)),
    vec4f(small_w(0u, 2u, wy, wx), small_w(1u, 2u, wy, wx), small_w(2u, 2u, wy, wx), small_w(3u, 2u, wy, wx)),
    vec4f(small_w(0u, 3u, wy, wx), small_w(1u, 3u, wy, wx), small_w(2u, 3u, wy, wx), small_w(3u, 3u, wy, wx)),
  );
}

// Pixel (row r, column q) of image b over its CIN channels; zeros where `inside` is false (the
// load itself is clamped into the image).
fn small_px(b: u32, r: i32, q: i32, inside: bool) -> vec4f {
  let rr = u32(clamp(r, 0, i32(p.h) - 1));
  let qq = u32(clamp(q, 0, i32(p.w) - 1));
  let base = ((b * p.h + rr) * p.w + qq) * CIN;
  var v = vec4f(x[base], 0.0, 0.0, 0.0);
  if (CIN > 1u) { v.y = x[base + 1u]; }
  if (CIN > 2u) { v.z = x[base + 2u]; }
  if (CIN > 3u) { v.w = x[base + 3u]; }
  return select(vec4f(0.0), v, inside);
}

// acc + Σ_c v[c] · m[c], channel by channel.
fn small_acc(acc: vec4f, m: mat4x4f, v: vec4f) -> vec4f {
  var a = fma(vec4f(v.x), m[0], acc);
  if (CIN > 1u) { a = fma(vec4f(v.y), m[1], a); }
  if (CIN > 2u) { a = fma(vec4f(v.z), m[2], a); }
  if (CIN > 3u) { a = fma(vec4f(v.w), m[3], a); }
  return a;
}

@compute @workgroup_size(FLAT_WG)
fn conv3x3_small(@builtin(global_invocation_id) gid: vec3u) {
  let t = gid.x + gid.y * p.stride;
  if (t >= p.n) { return; }
  let runs = (p.w + p.per - 1u) / p.per;
  let bh = t / runs;
  let w0 = (t - bh * runs) * p.per;
  let w1 = min(p.w, w0 + p.per);
  let b = bh / p.h;
  let h = i32(bh - b * p.h);
  let up = h > 0;
  let down = h + 1 < i32(p.h);
  let m00 = small_tap(0u, 0u); let m01 = small_tap(0u, 1u); let m02 = small_tap(0u, 2u);
  let m10 = small_tap(1u, 0u); let m11 = small_tap(1u, 1u); let m12 = small_tap(1u, 2u);
  let m20 = small_tap(2u, 0u); let m21 = small_tap(2u, 1u); let m22 = small_tap(2u, 2u);
  var b4 = vec4f(0.0);
  if (!TRANSPOSED) {
    b4.x = bias[0];
    if (COUT > 1u) { b4.y = bias[1]; }
    if (COUT > 2u) { b4.z = bias[2]; }
    if (COUT > 3u) { b4.w = bias[3]; }
  }
  // Window columns left (w − 1), centre (w), right (w + 1); rows 0 (h − 1), 1 (h), 2 (h + 1).
  let q0 = i32(w0);
  let left = w0 > 0u;
  var l0 = small_px(b, h - 1, q0 - 1, up && left);
  var l1 = small_px(b, h, q0 - 1, left);
  var l2 = small_px(b, h + 1, q0 - 1, down && left);
  var c0 = small_px(b, h - 1, q0, up);
  var c1 = small_px(b, h, q0, true);
  var c2 = small_px(b, h + 1, q0, down);
  for (var w = w0; w < w1; w++) {
    let q = i32(w) + 1;
    let right = w + 1u < p.w;
    let r0 = small_px(b, h - 1, q, up && right);
    let r1 = small_px(b, h, q, right);
    let r2 = small_px(b, h + 1, q, down && right);
    var acc = b4;
    if (TRANSPOSED) {
      acc = small_acc(acc, m22, r2); acc = small_acc(acc, m21, c2); acc = small_acc(acc, m20, l2);
      acc = small_acc(acc, m12, r1); acc = small_acc(acc, m11, c1); acc = small_acc(acc, m10, l1);
      acc = small_acc(acc, m02, r0); acc = small_acc(acc, m01, c0); acc = small_acc(acc, m00, l0);
    } else {
      acc = small_acc(acc, m00, l0); acc = small_acc(acc, m01, c0); acc = small_acc(acc, m02, r0);
      acc = small_acc(acc, m10, l1); acc = small_acc(acc, m11, c1); acc = small_acc(acc, m12, r1);
      acc = small_acc(acc, m20, l2); acc = small_acc(acc, m21, c2); acc = small_acc(acc, m22, r2);
    }
    let o = ((b * p.h + u32(h)) * p.w + w) * COUT;
    y[o] = acc.x;
    if (COUT > 1u) { y[o + 1u] = acc.y; }
    if (COUT > 2u) { y[o + 2u] = acc.z; }
    if (COUT > 3u) { y[o + 3u] = acc.w; }
    l0 = c0; l1 = c1; l2 = c2;
    c0 = r0; c1 = r1; c2 = r2;
  }
}
