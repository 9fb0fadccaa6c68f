/**
 * 3×3 convolution, stride 1, zero padding 1, over NHWC images with few channels
 * (kernels/conv.wgsl): TiTok's last decoder layer. The weight keeps PyTorch's Conv2d layout.
 */
import type { Engine } from '../gpu/engine.js';
import { CONV } from '../gpu/uniforms.js';
import { shapeStr, Tensor } from '../tensor.js';
import { checkBindable, columnSumRows, linearLaunch } from './elementwise.js';

/** Most input channels (9·cin loop trips per invocation stay far below llvmpipe's 65535). */
const MAX_CIN = 1024;
/** Pixels of one image row per conv3x3_small invocation (its weight loads are shared by them). */
const SMALL_RUN = 32;

/** Whether conv3x3_small serves these channel counts (up to 4 in and out: weights in registers, a sliding window). */
function fewChannels(cin: number, cout: number): boolean {
  return cin <= 4 && cout <= 4;
}

/**
 * conv3x3_small over input [B, H, W, cin] (dims as given) into out [B, H, W, cout]: the forward
 * (bias given) or, without bias, dx from dy (the forward's weight read flipped; cin is then the
 * forward's cout).
 */
function convSmall(engine: Engine, input: Tensor, weight: Tensor, bias: Tensor | null, out: Tensor, [B, H, W]: readonly number[], cin: number, cout: number): void {
  const items = B * H * Math.ceil(W / SMALL_RUN);
  const { groups, stride } = linearLaunch(engine, items);
  const params = CONV.withZeros({ n: items, stride, h: H, w: W, cin, cout, per: SMALL_RUN });
  const overrides = { CIN: cin, COUT: cout, TRANSPOSED: bias ? 0 : 1 };
  engine.dispatch('conv', 'conv3x3_small', [input, weight, bias ?? engine.placeholder(0), out], params, groups, overrides);
}

/** y [B, H, W, cout] = conv3x3(x [B, H, W, cin]; weight [cout, cin, 3, 3], bias [cout]). */
export function conv3x3(engine: Engine, x: Tensor, weight: Tensor, bias: Tensor): Tensor {
  if (x.shape.length !== 4 || x.dtype !== 'f32') throw new Error(`conv3x3: expected f32 images [B, H, W, C], got ${x.dtype} ${shapeStr(x.shape)}`);
  const [B, H, W, cin] = x.shape as [number, number, number, number];
  const cout = weight.shape[0]!;
  if (weight.shape.length !== 4 || weight.shape[1] !== cin || weight.shape[2] !== 3 || weight.shape[3] !== 3)
    throw new Error(`conv3x3: weight ${shapeStr(weight.shape)} is not [cout, ${cin}, 3, 3]`);
  if (bias.size !== cout) throw new Error(`conv3x3: bias ${shapeStr(bias.shape)} is not [${cout}]`);
  if (cin > MAX_CIN) throw new Error(`conv3x3: ${cin} input channels exceed ${MAX_CIN}`);
  const y = engine.empty([B, H, W, cout]);
  checkBindable(engine, 'conv3x3', x, y);
  if (fewChannels(cin, cout)) {
    convSmall(engine, x, weight, bias, y, x.shape, cin, cout);
    return y;
  }
  const items = B * H * W * cout;
  const { groups, stride } = linearLaunch(engine, items);
  engine.dispatch('conv', 'conv3x3', [x, weight, bias, y], CONV.withZeros({ n: items, stride, h: H, w: W, cin, cout }), groups);
  return y;
}

/** Pixels one invocation of conv3x3_dw_partial sums (its partial sums are one row to add up). */
const DW_PER = 64;
/** Most (output, input) channel pairs per conv3x3_dw_partial dispatch (grid z). */
const DW_PAIRS = 65535;

export interface Conv3x3Grads {
  dx?: Tensor;
  dWeight?: Tensor;
  dBias?: Tensor;
}

/**
 * conv3x3's backward from dy [B, H, W, cout]: dx (the transposed convolution), dWeight
 * [cout, cin, 3, 3] and dBias [cout] (sums over every pixel: each invocation's own sums over its
 * pixels, then those rows in order by columnSumRows: deterministic). Only the gradients asked for
 * are returned.
 */
export function conv3x3Backward(engine: Engine, dy: Tensor, x: Tensor, weight: Tensor, need: { x?: boolean; weight?: boolean; bias?: boolean } = { x: true, weight: true, bias: true }): Conv3x3Grads {
  const [B, H, W, cin] = x.shape as [number, number, number, number];
  const cout = weight.shape[0]!;
  if (dy.size !== B * H * W * cout) throw new Error(`conv3x3Backward: dy ${shapeStr(dy.shape)} is not [${B}, ${H}, ${W}, ${cout}]`);
  checkBindable(engine, 'conv3x3Backward', dy, x);
  const out: Conv3x3Grads = {};
  if (need.x) {
    out.dx = engine.empty(x.shape);
    if (fewChannels(cin, cout)) convSmall(engine, dy, weight, null, out.dx, x.shape, cout, cin);
    else {
      const items = B * H * W * cin;
      const { groups, stride } = linearLaunch(engine, items);
      engine.dispatch('conv', 'conv3x3_dx', [dy, weight, null, out.dx], CONV.withZeros({ n: items, stride, h: H, w: W, cin, cout }), groups);
    }
  }
  if (need.weight || need.bias) {
    // Row t of the partials: lane t's sums over pixels t, t + lanes, ...; the rows added in order.
    const pixels = B * H * W;
    const lanes = Math.ceil(pixels / DW_PER);
    const nw = cout * cin * 9;
    const partial = engine.empty([lanes, nw]);
    const partialB = engine.empty([lanes, cout]);
    const { groups, stride } = linearLaunch(engine, lanes);
    for (let k0 = 0; k0 < cout * cin; k0 += DW_PAIRS) {
      const pairs = Math.min(DW_PAIRS, cout * cin - k0);
      const params = CONV.with({ n: lanes, stride, h: H, w: W, cin, cout, k0, per: Math.ceil(pixels / lanes), pixels });
      engine.dispatch('conv', 'conv3x3_dw_partial', [x, null, dy, partial, partialB], params, [groups[0], groups[1], pairs]);
    }
    if (need.weight) out.dWeight = new Tensor(columnSumRows(engine, partial, lanes, nw).buffer, [cout, cin, 3, 3]);
    if (need.bias) out.dBias = columnSumRows(engine, partialB, lanes, cout);
    engine.release(partial, partialB);
  }
  return out;
}
