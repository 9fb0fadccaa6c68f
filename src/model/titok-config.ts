/**
 * TiTok ("An Image is Worth 32 Tokens"): K learned latent tokens read the image patches in a ViT
 * encoder and are the only thing quantized; the decoder rebuilds the image from a grid of mask
 * tokens plus those K tokens. This module holds the configuration as the reference implementation
 * writes it (config.json next to model.safetensors), the published presets, and every parameter
 * under the reference's state_dict name with the layout change tok1d's kernels want.
 */

/**
 * The reference's ViT sizes (`vit_enc_model_size` / `vit_dec_model_size`): small, base, large.
 * `tiny` and `mini` are tok1d's own (the reference code has no such sizes and cannot load a config
 * that names them): models small enough for gradient tests and for training on CPUs.
 */
export const TITOK_SIZES = {
  small: { width: 512, depth: 8, heads: 8 },
  base: { width: 768, depth: 12, heads: 12 },
  large: { width: 1024, depth: 24, heads: 16 },
  tiny: { width: 64, depth: 2, heads: 4 },
  mini: { width: 128, depth: 4, heads: 4 },
} as const;

export type TiTokSize = keyof typeof TITOK_SIZES;

/** A TiTok tokenizer (`is_legacy: false`: it predicts pixels directly). */
export interface TiTokConfig {
  family: 'titok';
  /** Square RGB input, imageSize × imageSize (`crop_size`); the model sees [0, 1]. */
  imageSize: number;
  encoderPatch: number;
  decoderPatch: number;
  encoderSize: TiTokSize;
  decoderSize: TiTokSize;
  /** K, the latent tokens per image (`num_latent_tokens`). */
  tokens: number;
  /** Channels of a latent token (`token_size`; a VAE's encoder gives twice as many: mean, log-variance). */
  tokenSize: number;
  /** 'vq': token ids from a codebook; 'vae': continuous latents (the decoder reads the posterior mean). */
  quantizeMode: 'vq' | 'vae';
  /** Codes in the codebook (VQ; 0 for VAE). */
  codebookSize: number;
  /** Nearest code between l2-normalized vectors (`use_l2_norm`). */
  useL2Norm: boolean;
  /** β of the commitment loss (`commitment_cost`). */
  commitmentCost: number;
}

/** Settings of the published TiTok tokenizers that predict pixels (ImageNet 256×256). */
export const TITOK_PRESETS: Record<string, TiTokConfig> = {
  'titok-bl64-vq': vq('base', 'large', 64),
  'titok-bl128-vq': vq('base', 'large', 128),
  'titok-sl256-vq': vq('small', 'large', 256),
  'titok-bl64-vae': vae('base', 'large', 64),
  'titok-bl128-vae': vae('base', 'large', 128),
  'titok-ll32-vae': vae('large', 'large', 32),
};

function vq(enc: TiTokSize, dec: TiTokSize, tokens: number): TiTokConfig {
  return { family: 'titok', imageSize: 256, encoderPatch: 16, decoderPatch: 16, encoderSize: enc, decoderSize: dec, tokens, tokenSize: 64, quantizeMode: 'vq', codebookSize: 8192, useL2Norm: false, commitmentCost: 0.25 };
}

function vae(enc: TiTokSize, dec: TiTokSize, tokens: number): TiTokConfig {
  return { ...vq(enc, dec, tokens), tokenSize: 16, quantizeMode: 'vae', codebookSize: 0 };
}

export function isTiTok(c: object): c is TiTokConfig {
  return (c as { family?: unknown }).family === 'titok';
}

/** Patch-grid side of the encoder or decoder. */
export function titokGrid(c: TiTokConfig, part: 'encoder' | 'decoder'): number {
  return c.imageSize / (part === 'encoder' ? c.encoderPatch : c.decoderPatch);
}

/** Bits of one image's tokens: K · log2(codebook) for VQ; for a VAE, K · tokenSize f16 values as stored. */
export function titokBits(c: TiTokConfig, tokens = c.tokens): number {
  return c.quantizeMode === 'vq' ? tokens * Math.log2(c.codebookSize) : tokens * c.tokenSize * 16;
}

/** A configuration the reference cannot run as tok1d does, or a malformed config.json. */
export class TiTokConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TiTokConfigError';
  }
}

function field(obj: Record<string, unknown>, path: string, what: string): unknown {
  let v: unknown = obj;
  for (const k of path.split('.')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

/**
 * The configuration from the reference's config.json (already parsed). Legacy models (which decode
 * to MaskGIT-VQGAN codes and need that VQGAN's pixel decoder) and decoder-finetuning
 * configurations are refused with a message saying so.
 */
export function titokFromReference(json: unknown, what = 'config.json'): TiTokConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new TiTokConfigError(`${what}: not a JSON object`);
  const o = json as Record<string, unknown>;
  const vqm = field(o, 'model.vq_model', what);
  if (typeof vqm !== 'object' || vqm === null) throw new TiTokConfigError(`${what}: no model.vq_model section (not a TiTok config)`);
  const get = (k: string) => (vqm as Record<string, unknown>)[k];
  const int = (k: string, v: unknown = get(k)): number => {
    if (!(typeof v === 'number' && Number.isInteger(v) && v > 0)) throw new TiTokConfigError(`${what}: model.vq_model.${k} must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  };
  const size = (k: string): TiTokSize => {
    const v = get(k);
    if (typeof v !== 'string' || !(v in TITOK_SIZES)) throw new TiTokConfigError(`${what}: model.vq_model.${k} must be one of ${Object.keys(TITOK_SIZES).join(', ')}, got ${JSON.stringify(v)}`);
    return v as TiTokSize;
  };
  if (get('is_legacy') !== false)
    throw new TiTokConfigError(
      `${what}: a legacy TiTok model (is_legacy: ${JSON.stringify(get('is_legacy') ?? true)}; L-32, B-64, S-128) decodes to MaskGIT-VQGAN codes and needs that VQGAN's convolutional pixel decoder, which tok1d does not have; only is_legacy: false models run`,
    );
  if (get('finetune_decoder') === true) throw new TiTokConfigError(`${what}: finetune_decoder: true models decode through the MaskGIT-VQGAN pixel decoder, which tok1d does not have`);
  const mode = get('quantize_mode') ?? 'vq';
  if (mode !== 'vq' && mode !== 'vae') throw new TiTokConfigError(`${what}: model.vq_model.quantize_mode ${JSON.stringify(mode)} is not vq or vae`);
  const imageSize = int('crop_size', field(o, 'dataset.preprocessing.crop_size', what));
  const c: TiTokConfig = {
    family: 'titok',
    imageSize,
    encoderPatch: int('vit_enc_patch_size'),
    decoderPatch: int('vit_dec_patch_size'),
    encoderSize: size('vit_enc_model_size'),
    decoderSize: size('vit_dec_model_size'),
    tokens: int('num_latent_tokens'),
    tokenSize: int('token_size'),
    quantizeMode: mode,
    codebookSize: mode === 'vq' ? int('codebook_size') : 0,
    useL2Norm: mode === 'vq' && get('use_l2_norm') === true,
    commitmentCost: typeof get('commitment_cost') === 'number' ? (get('commitment_cost') as number) : 0.25,
  };
  checkTiTok(c, what);
  return c;
}

/** Throws TiTokConfigError when the sizes do not fit together. */
export function checkTiTok(c: TiTokConfig, what = 'TiTok config'): void {
  for (const [k, p] of [
    ['vit_enc_patch_size', c.encoderPatch],
    ['vit_dec_patch_size', c.decoderPatch],
  ] as const)
    if (c.imageSize % p !== 0) throw new TiTokConfigError(`${what}: crop_size ${c.imageSize} is not a multiple of ${k} ${p}`);
  if (c.quantizeMode === 'vq' && c.codebookSize > 2 ** 32) throw new TiTokConfigError(`${what}: codebook_size ${c.codebookSize} is too large`);
}

/** The configuration as the reference writes config.json (what load reads back). */
export function titokToReference(c: TiTokConfig): Record<string, unknown> {
  const vqm: Record<string, unknown> = {
    quantize_mode: c.quantizeMode,
    token_size: c.tokenSize,
    vit_enc_model_size: c.encoderSize,
    vit_dec_model_size: c.decoderSize,
    vit_enc_patch_size: c.encoderPatch,
    vit_dec_patch_size: c.decoderPatch,
    num_latent_tokens: c.tokens,
    finetune_decoder: false,
    is_legacy: false,
  };
  if (c.quantizeMode === 'vq') Object.assign(vqm, { codebook_size: c.codebookSize, use_l2_norm: c.useL2Norm, commitment_cost: c.commitmentCost });
  return { model: { vq_model: vqm }, dataset: { preprocessing: { crop_size: c.imageSize } } };
}

/**
 * How a stored tensor becomes the tensor tok1d keeps: 'linear' [out, in] → [in, out] (x·W);
 * 'conv1x1' [out, in, 1, 1] → [in, out]; 'patch' the patch convolution [W, 3, P, P] → [P·P·3, W]
 * with rows in tok1d's patch order (y, x, channel); 'none' the same values.
 */
export type TiTokTransform = 'linear' | 'conv1x1' | 'patch' | 'none';

export interface TiTokParamSpec {
  /** The reference's state_dict name. */
  name: string;
  /** Shape as stored in the reference's checkpoint. */
  stored: number[];
  /** Shape tok1d keeps. */
  shape: number[];
  transform: TiTokTransform;
  /** Random initialization: truncated normal with this std, or ones / zeros. */
  init: { std: number } | 'ones' | 'zeros';
}

/** Every parameter of a TiTok model in the reference's state_dict order of modules. */
export function titokParamSpecs(c: TiTokConfig): TiTokParamSpec[] {
  const specs: TiTokParamSpec[] = [];
  const W0 = 0.02;
  const add = (name: string, stored: number[], shape: number[], transform: TiTokTransform, init: TiTokParamSpec['init']) => specs.push({ name, stored, shape, transform, init });
  const linear = (name: string, i: number, o: number) => {
    add(`${name}.weight`, [o, i], [i, o], 'linear', { std: W0 });
    add(`${name}.bias`, [o], [o], 'none', 'zeros');
  };
  const norm = (name: string, w: number) => {
    add(`${name}.weight`, [w], [w], 'none', 'ones');
    add(`${name}.bias`, [w], [w], 'none', 'zeros');
  };
  const part = (prefix: 'encoder' | 'decoder') => {
    const { width: W, depth } = TITOK_SIZES[prefix === 'encoder' ? c.encoderSize : c.decoderSize];
    const G = titokGrid(c, prefix);
    const P = prefix === 'encoder' ? c.encoderPatch : c.decoderPatch;
    const std = W ** -0.5;
    if (prefix === 'encoder') {
      add('encoder.patch_embed.weight', [W, 3, P, P], [P * P * 3, W], 'patch', { std: W0 });
      add('encoder.patch_embed.bias', [W], [W], 'none', 'zeros');
    } else {
      linear('decoder.decoder_embed', c.tokenSize, W);
      add('decoder.mask_token', [1, 1, W], [1, W], 'none', { std });
    }
    add(`${prefix}.class_embedding`, [1, W], [1, W], 'none', { std });
    add(`${prefix}.positional_embedding`, [G * G + 1, W], [G * G + 1, W], 'none', { std });
    add(`${prefix}.latent_token_positional_embedding`, [c.tokens, W], [c.tokens, W], 'none', { std });
    norm(`${prefix}.ln_pre`, W);
    for (let i = 0; i < depth; i++) {
      const b = `${prefix}.transformer.${i}`;
      norm(`${b}.ln_1`, W);
      add(`${b}.attn.in_proj_weight`, [3 * W, W], [W, 3 * W], 'linear', { std: W0 });
      add(`${b}.attn.in_proj_bias`, [3 * W], [3 * W], 'none', 'zeros');
      linear(`${b}.attn.out_proj`, W, W);
      norm(`${b}.ln_2`, W);
      linear(`${b}.mlp.c_fc`, W, 4 * W);
      linear(`${b}.mlp.c_proj`, 4 * W, W);
    }
    norm(`${prefix}.ln_post`, W);
    if (prefix === 'encoder') {
      const out = c.quantizeMode === 'vae' ? 2 * c.tokenSize : c.tokenSize;
      add('encoder.conv_out.weight', [out, W, 1, 1], [W, out], 'conv1x1', { std: W0 });
      add('encoder.conv_out.bias', [out], [out], 'none', 'zeros');
    } else {
      add('decoder.ffn.0.weight', [P * P * 3, W, 1, 1], [W, P * P * 3], 'conv1x1', { std: W0 });
      add('decoder.ffn.0.bias', [P * P * 3], [P * P * 3], 'none', 'zeros');
      add('decoder.conv_out.weight', [3, 3, 3, 3], [3, 3, 3, 3], 'none', { std: W0 });
      add('decoder.conv_out.bias', [3], [3], 'none', 'zeros');
    }
  };
  part('encoder');
  add('latent_tokens', [c.tokens, TITOK_SIZES[c.encoderSize].width], [c.tokens, TITOK_SIZES[c.encoderSize].width], 'none', { std: TITOK_SIZES[c.encoderSize].width ** -0.5 });
  if (c.quantizeMode === 'vq') add('quantize.embedding.weight', [c.codebookSize, c.tokenSize], [c.codebookSize, c.tokenSize], 'none', { std: W0 });
  part('decoder');
  return specs;
}

/** Stored values → tok1d's layout (a new array; 'none' returns the input). */
export function titokToEngineLayout(s: TiTokParamSpec, data: Float32Array): Float32Array {
  return relayout(s, data, true);
}

/** tok1d's layout → stored values (the inverse of titokToEngineLayout). */
export function titokToStoredLayout(s: TiTokParamSpec, data: Float32Array): Float32Array {
  return relayout(s, data, false);
}

function relayout(s: TiTokParamSpec, data: Float32Array, toEngine: boolean): Float32Array {
  if (s.transform === 'none') return data;
  if (s.transform === 'linear' || s.transform === 'conv1x1') {
    const [o, i] = s.stored as [number, number];
    return toEngine ? transpose(data, o, i) : transpose(data, i, o);
  }
  // The patch convolution [W, C, P, P] ↔ rows (y·P + x)·C + c of [P·P·C, W].
  const [W, C, P] = s.stored as [number, number, number];
  const out = new Float32Array(data.length);
  for (let w = 0; w < W; w++)
    for (let c = 0; c < C; c++)
      for (let y = 0; y < P; y++)
        for (let x = 0; x < P; x++) {
          const stored = ((w * C + c) * P + y) * P + x;
          const engine = ((y * P + x) * C + c) * W + w;
          if (toEngine) out[engine] = data[stored]!;
          else out[stored] = data[engine]!;
        }
  return out;
}

/** [rows, cols] → [cols, rows], in cache-sized blocks. */
function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  const B = 32;
  for (let r0 = 0; r0 < rows; r0 += B)
    for (let c0 = 0; c0 < cols; c0 += B) {
      const r1 = Math.min(rows, r0 + B);
      const c1 = Math.min(cols, c0 + B);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out[c * rows + r] = a[r * cols + c]!;
    }
  return out;
}

/** Parameters and FLOPs per image (2 per multiply-add) of encode, quantize and decode with k tokens. */
export function titokCosts(c: TiTokConfig, k = c.tokens): { params: { encoder: number; quantizer: number; decoder: number; total: number }; flops: { encode: number; quantize: number; decode: number } } {
  const params = { encoder: 0, quantizer: 0, decoder: 0, total: 0 };
  for (const s of titokParamSpecs(c)) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    if (s.name.startsWith('decoder.')) params.decoder += n;
    else if (s.name.startsWith('quantize.')) params.quantizer += n;
    else params.encoder += n;
    params.total += n;
  }
  const block = (T: number, W: number) => 2 * T * W * 3 * W + 4 * T * T * W + 2 * T * W * W + 2 * 2 * T * W * 4 * W;
  const e = TITOK_SIZES[c.encoderSize];
  const d = TITOK_SIZES[c.decoderSize];
  const Ge = titokGrid(c, 'encoder');
  const Gd = titokGrid(c, 'decoder');
  const zc = c.quantizeMode === 'vae' ? 2 * c.tokenSize : c.tokenSize;
  const Te = 1 + Ge * Ge + c.tokens;
  const Td = 1 + Gd * Gd + k;
  const encode = 2 * Ge * Ge * 3 * c.encoderPatch ** 2 * e.width + e.depth * block(Te, e.width) + 2 * c.tokens * e.width * zc;
  const quantize = c.quantizeMode === 'vq' ? 2 * c.tokens * c.codebookSize * c.tokenSize : 0;
  const decode = 2 * k * c.tokenSize * d.width + d.depth * block(Td, d.width) + 2 * Gd * Gd * d.width * 3 * c.decoderPatch ** 2 + 2 * c.imageSize ** 2 * 27 * 3;
  return { params, flops: { encode, quantize, decode } };
}
