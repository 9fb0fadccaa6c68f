/**
 * 3×3 convolution, stride 1, zero padding 1, over NHWC images with few channels
 * (kernels/conv.wgsl): TiTok's last decoder layer. The weight keeps PyTorch's Conv2d layout.
 */
import type { Engine } from '../gpu/engine.js';
import { shapeStr, type Tensor } from '../tensor.js';
import { checkBindable, linearLaunch } from './elementwise.js';

/** Most input channels (9·cin loop trips per invocation stay far below llvmpipe's 65535). */
const MAX_CIN = 1024;

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
  const items = B * H * W * cout;
  const { groups, stride } = linearLaunch(items);
  engine.dispatch('conv', 'conv3x3', [x, weight, bias, y], { u: [items, stride, H, W, cin, cout] }, groups);
  return y;
}
