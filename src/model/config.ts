import { TITOK_PRESETS, isTiTok, titokParamSpecs, type TiTokConfig } from './titok-config.js';

/** Model configuration (TiTok-style 1D tokenizer where each patch becomes one token). */
export interface ModelConfig {
  /** Square input images: imageSize × imageSize RGB in [-1, 1], NHWC. */
  imageSize: number;
  /** Patch side; tokens per image = (imageSize / patch)². */
  patch: number;
  /** Transformer width. */
  width: number;
  heads: number;
  encoderDepth: number;
  decoderDepth: number;
  mlpRatio: number;
  /** Number of codes. */
  codebookSize: number;
  /** Code dimension; linear projections in/out when it differs from the width. */
  codeDim: number;
  /** l2-normalized (cosine) codebook search. */
  cosine: boolean;
  /** Commitment weight β. */
  beta: number;
  /** LayerNorm epsilon. */
  eps: number;
}

export const PRESETS: Record<string, ModelConfig> = {
  /** The reference configuration: 256×256, patch 64 → 16 tokens, width 1024, 12+12 layers, 8192 codes. */
  seed: { imageSize: 256, patch: 64, width: 1024, heads: 16, encoderDepth: 12, decoderDepth: 12, mlpRatio: 4, codebookSize: 8192, codeDim: 1024, cosine: false, beta: 0.25, eps: 1e-5 },
  /** Tests: 32×32, 8×8 patches → 16 tokens, width 64, 4 heads, 2+2 layers, 64 codes. */
  tiny: { imageSize: 32, patch: 8, width: 64, heads: 4, encoderDepth: 2, decoderDepth: 2, mlpRatio: 4, codebookSize: 64, codeDim: 64, cosine: false, beta: 0.25, eps: 1e-5 },
  /** CPU-bound training and demos: 64×64, 8×8 patches → 64 tokens, width 128, 4+4 layers, 1024 codes. */
  small: { imageSize: 64, patch: 8, width: 128, heads: 4, encoderDepth: 4, decoderDepth: 4, mlpRatio: 4, codebookSize: 1024, codeDim: 32, cosine: false, beta: 0.25, eps: 1e-5 },
};

/** Either model family: tok1d's patch-token models or TiTok's latent-token models. */
export type AnyModelConfig = ModelConfig | TiTokConfig;

/** A preset name that is not one of PRESETS (or, where allowed, TITOK_PRESETS); the message lists the known names. */
export class UnknownPresetError extends Error {
  constructor(
    readonly preset: string,
    titok = false,
  ) {
    super(`unknown preset "${preset}" (known: ${[...Object.keys(PRESETS), ...(titok ? Object.keys(TITOK_PRESETS) : [])].join(', ')})`);
    this.name = 'UnknownPresetError';
  }
}

/** PRESETS[name], or an UnknownPresetError. */
export function presetConfig(name: string): ModelConfig {
  const config = PRESETS[name];
  if (!config) throw new UnknownPresetError(name);
  return config;
}

/** A preset of either family (PRESETS, then TITOK_PRESETS), or an UnknownPresetError listing both. */
export function anyPresetConfig(name: string): AnyModelConfig {
  const config = PRESETS[name] ?? TITOK_PRESETS[name];
  if (!config) throw new UnknownPresetError(name, true);
  return config;
}

/** The parameters (name, shape) of a model of either family, in order: paramSpecs or titokParamSpecs. */
export function anyParamSpecs(c: AnyModelConfig): { name: string; shape: number[] }[] {
  return isTiTok(c) ? titokParamSpecs(c) : paramSpecs(c);
}

/** Tokens per image: one per patch, or TiTok's K latent tokens. */
export function tokensPerImage(c: AnyModelConfig): number {
  return isTiTok(c) ? c.tokens : (c.imageSize / c.patch) ** 2;
}

export interface ParamSpec {
  name: string;
  shape: number[];
  /** Initialization: truncated normal (std 0.02) for weights, embeddings and the codebook; ones/zeros for norms and biases. */
  init: 'normal' | 'ones' | 'zeros';
}

/**
 * Every parameter, in a fixed order, with its shape. Linear weights are stored [in, out]
 * (y = x·W + b). Names follow the module tree: enc.patch, enc.pos, enc.blocks.i.{ln1, attn.qkv,
 * attn.proj, ln2, mlp.fc1, mlp.fc2}, enc.ln, enc.proj (codeDim ≠ width), vq.codebook, dec.embed,
 * dec.pos, dec.blocks.i.*, dec.ln, dec.out.
 */
export function paramSpecs(c: ModelConfig): ParamSpec[] {
  const D = c.width;
  const T = tokensPerImage(c);
  const PP3 = c.patch * c.patch * 3;
  const H = D * c.mlpRatio;
  const specs: ParamSpec[] = [];
  const linear = (name: string, i: number, o: number) => {
    specs.push({ name: `${name}.w`, shape: [i, o], init: 'normal' });
    specs.push({ name: `${name}.b`, shape: [o], init: 'zeros' });
  };
  const norm = (name: string) => {
    specs.push({ name: `${name}.g`, shape: [D], init: 'ones' });
    specs.push({ name: `${name}.b`, shape: [D], init: 'zeros' });
  };
  const blocks = (prefix: string, depth: number) => {
    for (let i = 0; i < depth; i++) {
      const p = `${prefix}.blocks.${i}`;
      norm(`${p}.ln1`);
      linear(`${p}.attn.qkv`, D, 3 * D);
      linear(`${p}.attn.proj`, D, D);
      norm(`${p}.ln2`);
      linear(`${p}.mlp.fc1`, D, H);
      linear(`${p}.mlp.fc2`, H, D);
    }
  };
  linear('enc.patch', PP3, D);
  specs.push({ name: 'enc.pos', shape: [T, D], init: 'normal' });
  blocks('enc', c.encoderDepth);
  norm('enc.ln');
  if (c.codeDim !== D) linear('enc.proj', D, c.codeDim);
  specs.push({ name: 'vq.codebook', shape: [c.codebookSize, c.codeDim], init: 'normal' });
  linear('dec.embed', c.codeDim, D);
  specs.push({ name: 'dec.pos', shape: [T, D], init: 'normal' });
  blocks('dec', c.decoderDepth);
  norm('dec.ln');
  linear('dec.out', D, PP3);
  return specs;
}
