import * as F from '../autograd/functions.js';
import type { Ctx } from '../autograd/functions.js';
import type { Engine } from '../gpu/engine.js';
import { patchify } from '../ops/elementwise.js';
import type { Tensor } from '../tensor.js';
import { adoptParams, preLnBlock, randomParams, releaseUntaped } from './blocks.js';
import { paramSpecs, tokensPerImage, type ModelConfig } from './config.js';

export interface ForwardResult {
  /** [B, H, W, 3] in [-1, 1] (not clamped). */
  reconstruction: Tensor;
  /** [B·T] u32 token ids. */
  indices: Tensor;
  recon: Tensor;
  codebookLoss: Tensor;
  commitmentLoss: Tensor;
  /** The encoder output [B·T, codeDim] before quantization: owned by the tape when recording, null in inference. */
  z: Tensor | null;
}

/**
 * The tokenizer network on the engine's kernels: encoder (patch embedding, position embeddings,
 * pre-norm transformer blocks, final LayerNorm, optional projection to the code dimension), vector
 * quantizer, and the mirrored decoder. Every method takes a Ctx: with a tape it records for
 * training, without one it runs inference and the caller owns what it returns.
 */
export class TokenizerModel {
  readonly tokens: number;

  constructor(
    readonly engine: Engine,
    readonly config: ModelConfig,
    /** Parameters by name (paramSpecs order), all marked constant (in-place writers touch them). */
    readonly params: Map<string, Tensor>,
  ) {
    this.tokens = tokensPerImage(config);
    adoptParams(params, paramSpecs(config));
  }

  /** Reproducible initialization: truncated normal (std 0.02) weights, ones/zeros for norms and biases. */
  static random(engine: Engine, config: ModelConfig, seed: number): TokenizerModel {
    const specs = paramSpecs(config).map((s) => ({ ...s, init: s.init === 'normal' ? { std: 0.02 } : s.init }));
    return new TokenizerModel(engine, config, randomParams(engine, specs, seed));
  }

  p(name: string): Tensor {
    const t = this.params.get(name);
    if (!t) throw new Error(`no parameter ${name}`);
    return t;
  }

  private block(ctx: Ctx, prefix: string, x: Tensor, batch: number): Tensor {
    const c = this.config;
    const w = (name: string): [Tensor, Tensor] => [this.p(`${prefix}.${name}.${name.startsWith('ln') ? 'g' : 'w'}`), this.p(`${prefix}.${name}.b`)];
    const params = { ln1: w('ln1'), qkv: w('attn.qkv'), proj: w('attn.proj'), ln2: w('ln2'), fc1: w('mlp.fc1'), fc2: w('mlp.fc2') };
    return preLnBlock(ctx, params, x, { batch, seq: this.tokens, heads: c.heads, eps: c.eps });
  }

  /** images [B, H, W, 3] → z [B·T, codeDim] (pre-quantization encoder output). */
  encode(ctx: Ctx, images: Tensor): Tensor {
    const c = this.config;
    const B = images.shape[0]!;
    const patches = patchify(ctx.engine, images, c.patch);
    const emb = F.linear(ctx, patches, this.p('enc.patch.w'), this.p('enc.patch.b'));
    // The patch embedding's weight gradient reads the patches: on a tape they live until then.
    if (ctx.tape) ctx.tape.adopt(patches);
    else ctx.engine.release(patches);
    let x = F.addRows(ctx, emb, this.p('enc.pos'));
    releaseUntaped(ctx, emb);
    for (let i = 0; i < c.encoderDepth; i++) {
      const nx = this.block(ctx, `enc.blocks.${i}`, x, B);
      releaseUntaped(ctx, x);
      x = nx;
    }
    let z = F.layerNorm(ctx, x, this.p('enc.ln.g'), this.p('enc.ln.b'), c.eps);
    releaseUntaped(ctx, x);
    if (c.codeDim !== c.width) {
      const zp = F.linear(ctx, z, this.p('enc.proj.w'), this.p('enc.proj.b'));
      releaseUntaped(ctx, z);
      z = zp;
    }
    return z;
  }

  /** Code vectors [B·T, codeDim] → images [B, H, W, 3]. */
  decode(ctx: Ctx, codes: Tensor, batch: number): Tensor {
    const c = this.config;
    const e = F.linear(ctx, codes, this.p('dec.embed.w'), this.p('dec.embed.b'));
    let x = F.addRows(ctx, e, this.p('dec.pos'));
    releaseUntaped(ctx, e);
    for (let i = 0; i < c.decoderDepth; i++) {
      const nx = this.block(ctx, `dec.blocks.${i}`, x, batch);
      releaseUntaped(ctx, x);
      x = nx;
    }
    const h = F.layerNorm(ctx, x, this.p('dec.ln.g'), this.p('dec.ln.b'), c.eps);
    releaseUntaped(ctx, x);
    const out = F.linear(ctx, h, this.p('dec.out.w'), this.p('dec.out.b'));
    releaseUntaped(ctx, h);
    const img = F.unpatchify(ctx, out, { batch, height: c.imageSize, width: c.imageSize, patch: c.patch });
    releaseUntaped(ctx, out);
    return img;
  }

  /** Full pass with losses (training and reconstruction). */
  forward(ctx: Ctx, images: Tensor): ForwardResult {
    const B = images.shape[0]!;
    const z = this.encode(ctx, images);
    const q = F.quantize(ctx, z, this.p('vq.codebook'), { cosine: this.config.cosine });
    const reconstruction = this.decode(ctx, q.zq, B);
    const recon = F.mseLoss(ctx, reconstruction, images);
    if (!ctx.tape) ctx.engine.release(z, q.zq);
    return { reconstruction, indices: q.indices, recon, codebookLoss: q.codebookLoss, commitmentLoss: q.commitmentLoss, z: ctx.tape ? z : null };
  }

  /** The losses to back-propagate, with their weights (recon + codebook + β·commitment). */
  lossTerms(r: ForwardResult): { loss: Tensor; weight: number }[] {
    return [
      { loss: r.recon, weight: 1 },
      { loss: r.codebookLoss, weight: 1 },
      { loss: r.commitmentLoss, weight: this.config.beta },
    ];
  }
}
