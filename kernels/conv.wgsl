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

struct Params {
  n: u32,       // items: batch · H · W · cout
  stride: u32,  // items per row of the dispatch grid (groupsX · 256)
  h: u32,       // image height
  w: u32,       // image width
  cin: u32,
  cout: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn conv3x3(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let pix = i / p.cout;
  let o = i - pix * p.cout;
  let bh = pix / p.w;
  let col = pix - bh * p.w;
  let b = bh / p.h;
  let row = bh - b * p.h;
  var acc = bias[o];
  for (var ky = 0u; ky < 3u; ky++) {
    let yy = i32(row) + i32(ky) - 1;
    if (yy < 0 || yy >= i32(p.h)) { continue; }
    for (var kx = 0u; kx < 3u; kx++) {
      let xx = i32(col) + i32(kx) - 1;
      if (xx < 0 || xx >= i32(p.w)) { continue; }
      let base = ((b * p.h + u32(yy)) * p.w + u32(xx)) * p.cin;
      for (var c = 0u; c < p.cin; c++) {
        acc = fma(x[base + c], wt[((o * p.cin + c) * 3u + ky) * 3u + kx], acc);
      }
    }
  }
  y[i] = acc;
}
