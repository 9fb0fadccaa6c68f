/**
 * Starting a training run from a checkpoint's weights (`tok1d train --init-from`) instead of random
 * ones.
 *
 * - Same family (patch tokens → patch tokens, TiTok → TiTok): every parameter whose name and shape
 *   agree is copied (fine-tuning, or a new codebook or token count around trained transformers).
 * - Patch tokens → TiTok: the two families share their pre-LN transformer block (blocks.ts), so
 *   the patch model's encoder and decoder blocks become TiTok's encoder and decoder blocks (as many
 *   as both have, where widths and heads agree), with its patch embedding, positions of the patch
 *   grid, final LayerNorms and pixel head where their shapes agree. The patch model sees and
 *   predicts pixels in [-1, 1], TiTok in [0, 1] (x01 = (x + 1) / 2), so the patch embedding becomes
 *   W' = 2W, b' = b − Σ_rows W, the pixel head W' = W / 2, b' = b / 2 + ½, and TiTok's 3×3 output
 *   convolution starts as the identity. TiTok's own parts (latent tokens, class tokens, mask token,
 *   quantizer and its projections) start random.
 */
import { anyParamSpecs, type AnyModelConfig, type ModelConfig } from '../model/config.js';
import { isTiTok, TITOK_SIZES, titokGrid, type TiTokConfig } from '../model/titok-config.js';
import { numel } from '../tensor.js';

/** A write into a parameter: data from element `offset` on (the rest keeps its random values). */
export interface InitWrite {
  name: string;
  data: Float32Array;
  offset: number;
}

export interface WarmStart {
  writes: InitWrite[];
  /** Parameters of the target that start (wholly or partly) random. */
  fresh: string[];
}

export class WarmStartError extends Error {}

type Source = { config: AnyModelConfig; params: ReadonlyMap<string, Float32Array> };

/** TiTok block tensor names → the patch model's, for one pre-LN block. */
const BLOCK_NAMES: [string, string][] = [
  ['ln_1.weight', 'ln1.g'], ['ln_1.bias', 'ln1.b'],
  ['attn.in_proj_weight', 'attn.qkv.w'], ['attn.in_proj_bias', 'attn.qkv.b'],
  ['attn.out_proj.weight', 'attn.proj.w'], ['attn.out_proj.bias', 'attn.proj.b'],
  ['ln_2.weight', 'ln2.g'], ['ln_2.bias', 'ln2.b'],
  ['mlp.c_fc.weight', 'mlp.fc1.w'], ['mlp.c_fc.bias', 'mlp.fc1.b'],
  ['mlp.c_proj.weight', 'mlp.fc2.w'], ['mlp.c_proj.bias', 'mlp.fc2.b'],
];

/** The writes that start `target`'s parameters from `source`'s; throws WarmStartError when none apply. */
export function warmStart(target: AnyModelConfig, source: Source): WarmStart {
  const specs = anyParamSpecs(target);
  const shapes = new Map(specs.map((p) => [p.name, p.shape]));
  const srcShapes = new Map(anyParamSpecs(source.config).map((p) => [p.name, p.shape]));
  const writes: InitWrite[] = [];
  const whole = new Set<string>();
  const add = (name: string, data: Float32Array, offset = 0) => {
    const n = numel(shapes.get(name)!);
    if (offset + data.length > n) throw new Error(`warmStart: ${name} takes ${n} values, not ${offset + data.length}`);
    writes.push({ name, data, offset });
    if (offset === 0 && data.length === n) whole.add(name);
  };
  const src = (name: string) => {
    const t = source.params.get(name);
    if (!t) throw new WarmStartError(`the checkpoint lacks ${name}`);
    return t;
  };
  const sameShape = (a: string, b: string) => {
    const x = shapes.get(a);
    const y = srcShapes.get(b);
    return !!x && !!y && x.length === y.length && x.every((d, i) => d === y[i]);
  };

  if (isTiTok(target) === isTiTok(source.config)) {
    for (const p of specs) if (sameShape(p.name, p.name)) add(p.name, Float32Array.from(src(p.name)));
  } else if (isTiTok(target)) {
    patchToTiTok(target, source.config as ModelConfig, src, sameShape, add);
  } else {
    throw new WarmStartError('a patch-token model cannot start from a TiTok checkpoint');
  }
  if (!writes.length) throw new WarmStartError('the checkpoint has no parameter of this model\'s names and shapes');
  return { writes, fresh: specs.map((p) => p.name).filter((n) => !whole.has(n)) };
}

function patchToTiTok(
  t: TiTokConfig,
  s: ModelConfig,
  src: (name: string) => Float32Array,
  sameShape: (a: string, b: string) => boolean,
  add: (name: string, data: Float32Array, offset?: number) => void,
): void {
  for (const [side, from] of [['encoder', 'enc'], ['decoder', 'dec']] as const) {
    const dims = TITOK_SIZES[side === 'encoder' ? t.encoderSize : t.decoderSize];
    const depth = side === 'encoder' ? s.encoderDepth : s.decoderDepth;
    if (dims.width !== s.width) continue;
    if (dims.heads === s.heads && s.mlpRatio === 4) {
      for (let i = 0; i < Math.min(depth, dims.depth); i++) {
        for (const [a, b] of BLOCK_NAMES) add(`${side}.transformer.${i}.${a}`, Float32Array.from(src(`${from}.blocks.${i}.${b}`)));
      }
    }
    add(`${side}.ln_post.weight`, Float32Array.from(src(`${from}.ln.g`)));
    add(`${side}.ln_post.bias`, Float32Array.from(src(`${from}.ln.b`)));
    // The patch grid's positions: TiTok's row 0 is its class token's.
    if (titokGrid(t, side) === s.imageSize / s.patch) add(`${side}.positional_embedding`, Float32Array.from(src(`${from}.pos`)), s.width);
  }
  if (t.encoderPatch === s.patch && sameShape('encoder.patch_embed.weight', 'enc.patch.w')) {
    const w = src('enc.patch.w');
    const b = Float32Array.from(src('enc.patch.b'));
    const W = s.width;
    for (let i = 0; i < w.length; i++) b[i % W] -= w[i]!;
    add('encoder.patch_embed.weight', w.map((v) => 2 * v));
    add('encoder.patch_embed.bias', b);
  }
  if (t.decoderPatch === s.patch && sameShape('decoder.ffn.0.weight', 'dec.out.w')) {
    add('decoder.ffn.0.weight', src('dec.out.w').map((v) => v / 2));
    add('decoder.ffn.0.bias', src('dec.out.b').map((v) => v / 2 + 0.5));
    // conv_out [cout 3, cin 3, 3, 3]: the identity at the centre tap.
    const conv = new Float32Array(81);
    for (let c = 0; c < 3; c++) conv[((c * 3 + c) * 3 + 1) * 3 + 1] = 1;
    add('decoder.conv_out.weight', conv);
    add('decoder.conv_out.bias', new Float32Array(3));
  }
}
