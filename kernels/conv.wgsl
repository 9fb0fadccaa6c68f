// 3×3 convolution, stride 1, zero padding 1 (output the size of the input), over NHWC images with
// few channels: TiTok's last layer, a 3→3 convolution over the decoded pixels.
//
//   y[b, h, w, o] = bias[o] + Σ_{ky, kx < 3} Σ_{i < cin} x[b, h + ky − 1, w + kx − 1, i] · wt[o, i, ky, kx]
//
// with x outside the image read as 0. The weight keeps PyTorch's Conv2d layout [cout, cin, 3, 3].
// Sums run in the order ky, kx, i (f32, the bias added first); results agree with a float64
// reference to f32 rounding.
//
// Layout: one invocation per output element, item i = gid.x + gid.y · stride = ((b · H + h) · W + w)
// · cout + o: 9 · cin loads of x (neighbouring invocations share them through the cache) and of the
// weight, 9 · cin FMAs. Memory-bound at these channel counts (cin = cout = 3: 27 FMAs per 4 bytes
// written). Bindings: 1 x, 2 weight, 3 bias, 4 y (written).
//
// Backward (deterministic: every sum in a fixed order, no atomics):
//   conv3x3_dx         dx[b, h, w, i] = Σ_{ky, kx} Σ_o dy[b, h − ky + 1, w − kx + 1, o] · wt[o, i, ky, kx]
//                      (the output pixels whose window read (h, w)); one invocation per element of
//                      dx, 9 · cout FMAs. Bindings: 1 dy, 2 weight, 4 dx (written).
//   conv3x3_dw_partial the weight and bias gradients are sums over every pixel,
//                        dwt[o, i, ky, kx] = Σ_{b, h, w} dy[b, h, w, o] · x[b, h + ky − 1, w + kx − 1, i]
//                        dbias[o] = Σ_{b, h, w} dy[b, h, w, o]
//                      in two passes: workgroup (chunk, k) sums gradient element k0 + k over its
//                      chunk of FLAT_WG · per pixels (invocation t takes pixels (chunk · per +
//                      j) · FLAT_WG + t, then the workgroup tree of reduce.wgsl) into partial[chunk, k];
//                      the column sum of elementwise.wgsl then adds the chunks in order. Elements
//                      k0 + k < cout · cin · 9 are weights (PyTorch order), the next cout biases.
//                      Bindings: 1 x, 3 dy, 4 partial (written).
//!include flat

struct Params {
  n: u32,       // items: batch · H · W · cout
  stride: u32,  // items per row of the dispatch grid (groupsX · FLAT_WG)
  h: u32,       // image height
  w: u32,       // image width
  cin: u32,
  cout: u32,
  k0: u32,      // conv3x3_dw_partial: first gradient element of the dispatch
  nk: u32,      // conv3x3_dw_partial: gradient elements (partial's row length)
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
//!include reduce

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

@compute @workgroup_size(FLAT_WG)
fn conv3x3_dw_partial(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  let chunk = wid.x;
  let k = p.k0 + wid.y;
  let nw = p.cout * p.cin * 9u;
  let is_bias = k >= nw;
  var o = k - nw;
  var c = 0u;
  var ky = 0u;
  var kx = 0u;
  if (!is_bias) {
    o = k / (p.cin * 9u);
    let rem = k - o * p.cin * 9u;
    c = rem / 9u;
    ky = (rem - c * 9u) / 3u;
    kx = rem - c * 9u - ky * 3u;
  }
  var acc = 0.0;
  // No break or continue: every invocation reaches the workgroup sum.
  for (var j = 0u; j < p.per; j++) {
    let pix = (chunk * p.per + j) * FLAT_WG + t;
    if (pix < p.pixels) {
      let g = dy_w[pix * p.cout + o];
      if (is_bias) {
        acc += g;
      } else {
        let at = pixel(pix);
        let yy = i32(at.row) + i32(ky) - 1;
        let xx = i32(at.col) + i32(kx) - 1;
        if (yy >= 0 && yy < i32(p.h) && xx >= 0 && xx < i32(p.w)) {
          acc = fma(g, x[pixel_at(at.b, yy, xx) * p.cin + c], acc);
        }
      }
    }
  }
  let s = wg_sum(t, acc);
  if (t == 0u) { y[chunk * p.nk + wid.y] = s; }
}
