/**
 * The TiTok network on the engine's kernels, as the reference implementation computes it for
 * `is_legacy: false` models (modeling/modules/blocks.py: TiTokEncoder, TiTokDecoder):
 *
 *   encoder  pixels [0, 1] → patch embedding (the stride-P convolution as patchify + matmul)
 *            → [class + pos₀, patches + pos₁…, latent tokens + latent pos] → ln_pre → blocks
 *            → the K latent rows → ln_post → 1×1 convolution to token_size (VAE: 2·token_size)
 *   decoder  K' ≤ K latents → decoder_embed → [class + pos₀, mask token + pos₁…, latents + latent
 *            pos[:K']] → ln_pre → blocks → the grid rows → ln_post → 1×1 convolution to P²·3
 *            → pixel shuffle (unpatchify: columns (p1, p2, c) are exactly its patch order)
 *            → 3×3 convolution → pixels [0, 1] (unclamped)
 *
 * Blocks are nn.MultiheadAttention pre-LN blocks: x + attn(ln_1(x)), x + mlp(ln_2(x)) with exact
 * GELU; in_proj's packed [q | k | v] columns are the fused qkv layout attention() reads. Weights are
 * kept in tok1d's layout (titokToEngineLayout). Every method takes a Ctx like TokenizerModel's; the
 * caller owns what an inference call returns.
 */
import * as F from '../autograd/functions.js';
import type { Ctx } from '../autograd/functions.js';
import type { Engine } from '../gpu/engine.js';
import { affine, patchify } from '../ops/elementwise.js';
import { rowsFrom } from '../ops/sequence.js';
import { view, type Tensor } from '../tensor.js';
import type { ForwardResult } from './model.js';
import { adoptParams, preLnBlock, randomParams, releaseUntaped } from './blocks.js';
import { TITOK_SIZES, titokGrid, titokParamSpecs, type TiTokConfig } from './titok-config.js';

const EPS = 1e-5;

export class TiTokModel {
  constructor(
    readonly engine: Engine,
    readonly config: TiTokConfig,
    /** Parameters by reference name, in tok1d's layout, all marked constant. */
    readonly params: Map<string, Tensor>,
  ) {
    adoptParams(params, titokParamSpecs(config));
  }

  /** Reproducible random weights (truncated normal, ones and zeros per TiTokParamSpec.init). */
  static random(engine: Engine, config: TiTokConfig, seed: number): TiTokModel {
    return new TiTokModel(engine, config, randomParams(engine, titokParamSpecs(config), seed));
  }


  p(name: string): Tensor {
    const t = this.params.get(name);
    if (!t) throw new Error(`no parameter ${name}`);
    return t;
  }

  /** Channels of the encoder output: token_size, or 2·token_size (mean, log-variance) for a VAE. */
  get latentChannels(): number {
    return this.config.quantizeMode === 'vae' ? 2 * this.config.tokenSize : this.config.tokenSize;
  }

  private block(ctx: Ctx, prefix: string, x: Tensor, batch: number, seq: number, heads: number, keys?: Tensor): Tensor {
    const w = (name: string, weight = `${name}.weight`, bias = `${name}.bias`): [Tensor, Tensor] => [this.p(`${prefix}.${weight}`), this.p(`${prefix}.${bias}`)];
    const params = { ln1: w('ln_1'), qkv: w('attn', 'attn.in_proj_weight', 'attn.in_proj_bias'), proj: w('attn.out_proj'), ln2: w('ln_2'), fc1: w('mlp.c_fc'), fc2: w('mlp.c_proj') };
    return preLnBlock(ctx, params, x, { batch, seq, heads, eps: EPS, keys });
  }

  /**
   * ln_pre, the transformer over x [batch·seq, W], then the segment [offset, offset + rows) of each
   * image through ln_post → [batch·rows, W]. `keys`: attention's keys per sequence (see attention()).
   */
  private transformer(ctx: Ctx, part: 'encoder' | 'decoder', x: Tensor, batch: number, offset: number, rows: number, keys?: Tensor): Tensor {
    const { depth, heads } = TITOK_SIZES[part === 'encoder' ? this.config.encoderSize : this.config.decoderSize];
    const seq = x.shape[0]! / batch;
    let h = F.layerNorm(ctx, x, this.p(`${part}.ln_pre.weight`), this.p(`${part}.ln_pre.bias`), EPS);
    for (let i = 0; i < depth; i++) {
      const nh = this.block(ctx, `${part}.transformer.${i}`, h, batch, seq, heads, keys);
      releaseUntaped(ctx, h);
      h = nh;
    }
    const kept = F.rowsFrom(ctx, h, batch, offset, rows);
    releaseUntaped(ctx, h);
    const y = F.layerNorm(ctx, kept, this.p(`${part}.ln_post.weight`), this.p(`${part}.ln_post.bias`), EPS);
    releaseUntaped(ctx, kept);
    return y;
  }

  /**
   * images [B, S, S, 3] in [0, 1] → the encoder output [B·K, C] (C = token_size; for a VAE
   * 2·token_size per row: mean then log-variance), row b·K + k for image b's latent token k.
   */
  encode(ctx: Ctx, images: Tensor): Tensor {
    const c = this.config;
    const e = this.engine;
    const B = images.shape[0]!;
    const G = titokGrid(c, 'encoder');
    const W = TITOK_SIZES[c.encoderSize].width;
    const K = c.tokens;
    const seq = 1 + G * G + K;
    const patches = patchify(e, images, c.encoderPatch);
    const emb = F.linear(ctx, patches, this.p('encoder.patch_embed.weight'), this.p('encoder.patch_embed.bias'));
    // The patch embedding's weight gradient reads the patches: on a tape they live until then.
    if (ctx.tape) ctx.tape.adopt(patches);
    else e.release(patches);
    const pos = this.p('encoder.positional_embedding');
    const x = F.assembleRows(ctx, B, seq, W, [
      { src: this.p('encoder.class_embedding'), pos, offset: 0, rows: 1, source: 'repeat' },
      { src: emb, pos, offset: 1, rows: G * G, source: 'perImage', posOffset: 1 },
      { src: this.p('latent_tokens'), pos: this.p('encoder.latent_token_positional_embedding'), offset: 1 + G * G, rows: K, source: 'shared' },
    ]);
    releaseUntaped(ctx, emb);
    const latent = this.transformer(ctx, 'encoder', x, B, 1 + G * G, K);
    releaseUntaped(ctx, x);
    const z = F.linear(ctx, latent, this.p('encoder.conv_out.weight'), this.p('encoder.conv_out.bias'));
    releaseUntaped(ctx, latent);
    return z;
  }

  /** A VAE's posterior mean [B·K, 1, token_size] from its encoder output [B·K, 2·token_size]. */
  posteriorMean(z: Tensor): Tensor {
    const C = this.config.tokenSize;
    return rowsFrom(this.engine, view(z, [z.size / (2 * C), 2, C]), 0, 1);
  }

  /**
   * Latents [B·k, token_size] (quantized codes or VAE means; k ≤ K, the first k tokens of each
   * image) → images [B, S, S, 3] in [0, 1] (unclamped).
   *
   * `counts` (all K tokens given): image b is decoded from its first counts[b] tokens only, in the
   * same pass as the others: the decoder's attention leaves each image's later latent rows out of
   * every key range, so its pixels are those of decoding the first counts[b] tokens alone (the
   * later rows are computed and ignored).
   */
  decode(ctx: Ctx, latents: Tensor, batch: number, counts?: readonly number[]): Tensor {
    const c = this.config;
    const e = this.engine;
    const k = latents.size / (batch * c.tokenSize);
    if (!(Number.isInteger(k) && k >= 1 && k <= c.tokens)) throw new Error(`TiTok decode: ${latents.size} latent values for ${batch} images are not 1..${c.tokens} tokens of ${c.tokenSize}`);
    if (counts && (counts.length !== batch || counts.some((n) => !(Number.isInteger(n) && n >= 1 && n <= k)))) {
      throw new Error(`TiTok decode: token counts [${counts.join(', ')}] are not ${batch} integers in 1..${k}`);
    }
    const G = titokGrid(c, 'decoder');
    const P = c.decoderPatch;
    const W = TITOK_SIZES[c.decoderSize].width;
    const seq = 1 + G * G + k;
    // A recorded op must see the tensor the tape tracks, not a view of it.
    const rows = latents.shape.length === 2 && latents.shape[1] === c.tokenSize ? latents : view(latents, [batch * k, c.tokenSize]);
    if (rows !== latents && ctx.tape?.requiresGrad(latents)) throw new Error('TiTok decode: latents on a tape must be [B·k, token_size]');
    const emb = F.linear(ctx, rows, this.p('decoder.decoder_embed.weight'), this.p('decoder.decoder_embed.bias'));
    const pos = this.p('decoder.positional_embedding');
    const x = F.assembleRows(ctx, batch, seq, W, [
      { src: this.p('decoder.class_embedding'), pos, offset: 0, rows: 1, source: 'repeat' },
      { src: this.p('decoder.mask_token'), pos, offset: 1, rows: G * G, source: 'repeat', posOffset: 1 },
      { src: emb, pos: this.p('decoder.latent_token_positional_embedding'), offset: 1 + G * G, rows: k, source: 'perImage' },
    ]);
    releaseUntaped(ctx, emb);
    // Keys per image: the class token, the mask tokens and its first counts[b] latents.
    const keys = counts && counts.some((n) => n < k) ? e.upload(Uint32Array.from(counts, (n) => 1 + G * G + n), [batch], 'u32') : undefined;
    const grid = this.transformer(ctx, 'decoder', x, batch, 1, G * G, keys);
    releaseUntaped(ctx, x);
    // Every attention backward of the decoder reads the counts: on a tape they live until then.
    if (keys && ctx.tape) ctx.tape.adopt(keys);
    else if (keys) e.release(keys);
    const patches = F.linear(ctx, grid, this.p('decoder.ffn.0.weight'), this.p('decoder.ffn.0.bias'));
    releaseUntaped(ctx, grid);
    const shuffled = F.unpatchify(ctx, patches, { batch, height: c.imageSize, width: c.imageSize, patch: P });
    releaseUntaped(ctx, patches);
    const img = F.conv3x3(ctx, shuffled, this.p('decoder.conv_out.weight'), this.p('decoder.conv_out.bias'));
    releaseUntaped(ctx, shuffled);
    return img;
  }

  /**
   * Full pass with losses, as TokenizerModel.forward: images [B, S, S, 3] in tok1d's [-1, 1] (the
   * model sees (x + 1)/2), the vector quantizer with the straight-through estimator (l2-normalized
   * codes when use_l2_norm), the reconstruction mapped back to [-1, 1] and its MSE to the images.
   *
   * `tokens` (nested dropout, coarse-to-fine training): image b is decoded from its first
   * tokens[b] tokens only, all images in one decoder pass (decode's counts).
   *
   * `continuous` (quantizer warm-up): the decoder reads the encoder's latents themselves
   * (l2-normalized when use_l2_norm) instead of their codes; the codes are still searched, so ids,
   * code usage and the codebook loss are as usual.
   */
  forward(ctx: Ctx, images: Tensor, o: { tokens?: readonly number[]; continuous?: boolean } = {}): ForwardResult {
    const c = this.config;
    const e = this.engine;
    if (c.quantizeMode !== 'vq') throw new Error('TiTokModel.forward: training is available for VQ models (quantize_mode vq) only');
    const B = images.shape[0]!;
    const x01 = affine(e, images, 0.5, 0.5);
    const z = this.encode(ctx, x01);
    e.release(x01);
    const q = F.quantize(ctx, z, this.p('quantize.embedding.weight'), { cosine: c.useL2Norm });
    const latents = !o.continuous ? q.zq : c.useL2Norm ? F.l2normalize(ctx, z) : z;
    // Nested dropout: one decoder pass, each image over its own first tokens (decode's counts).
    const rec = this.decode(ctx, latents, B, o.tokens);
    const reconstruction = F.affine(ctx, rec, 2, -1);
    releaseUntaped(ctx, rec);
    const recon = F.mseLoss(ctx, reconstruction, images);
    if (!ctx.tape) e.release(z, q.zq, latents === z || latents === q.zq ? null : latents);
    return { reconstruction, indices: q.indices, recon, codebookLoss: q.codebookLoss, commitmentLoss: q.commitmentLoss, z: ctx.tape ? z : null };
  }

  /** The losses to back-propagate, with their weights (reconstruction + codebook + β·commitment). */
  lossTerms(r: ForwardResult): { loss: Tensor; weight: number }[] {
    return [{ loss: r.recon, weight: 1 }, { loss: r.codebookLoss, weight: 1 }, { loss: r.commitmentLoss, weight: this.config.commitmentCost }];
  }
}
