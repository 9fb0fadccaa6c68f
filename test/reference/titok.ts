/**
 * Float64 CPU reference of a TiTok VQ model with its training losses (independent of the engine:
 * the reference's modules written over the float64 op references), for the forward values and,
 * by finite differences, the gradients of TiTokModel.forward. Parameters are keyed by the
 * reference's names in tok1d's layout (titokParamSpecs' `shape`).
 *
 *   x01 = (images + 1)/2; patches = patchify(x01) · patch_embed.weight + bias
 *   encoder sequence [class + pos₀ | patches + pos₁… | latent_tokens + latent pos] → ln_pre → blocks
 *   → the K latent rows → ln_post → conv_out → z [B·K, C]
 *   quantizer: (l2-normalized when use_l2_norm) nearest code, zq = z + sg(e − z), the codebook
 *   loss mean((sg(z) − e)²) and the commitment loss mean((z − sg(e))²)
 *   decoder, image b from its first k_b tokens: [class + pos₀ | mask + pos₁… | zq·decoder_embed +
 *   latent pos[:k_b]] → ln_pre → blocks → grid rows → ln_post → ffn.0 → pixel shuffle → conv_out
 *   recon = mean over all pixels of (2·img − 1 − images)²; total = recon + codebook + β·commitment
 *
 * Gradients use the frozen surrogate of test/reference/model.ts (indices, z0 and e0 held at the
 * base point), whose derivative is the straight-through gradient.
 */
import { finiteDifferences, mseRef, patchifyRef, unpatchifyRef } from '../../src/check/elementwise.js';
import { layernormRef } from '../../src/check/layernorm.js';
import { matmulRef } from '../../src/check/matmul.js';
import { l2normalizeRef } from '../../src/check/normalize.js';
import type { ModelConfig } from '../../src/model/config.js';
import { TITOK_SIZES, titokGrid, titokParamSpecs, type TiTokConfig } from '../../src/model/titok-config.js';
import { blockRef, nearestCodes, type Params } from './model.js';
import { conv3x3Ref, rowsFromRef, rowsIntoRef } from './sequence.js';

const EPS = 1e-5;

export interface TiTokFrozen {
  indices: Uint32Array;
  z0: Float64Array;
  e0: Float64Array;
}

export interface TiTokForwardRef {
  total: number;
  recon: number;
  codebook: number;
  commitment: number;
  z: Float64Array;
  indices: Uint32Array;
  frozen: TiTokFrozen;
}

function get(p: Params, name: string): Float64Array {
  const v = p.get(name);
  if (!v) throw new Error(`TiTok reference: parameter ${name} missing`);
  return v;
}

function linear(p: Params, name: string, x: ArrayLike<number>, rows: number, inDim: number, outDim: number): Float64Array {
  return matmulRef(x, get(p, `${name}.weight`), { M: rows, N: outDim, K: inDim, bias: get(p, `${name}.bias`) });
}

function ln(p: Params, name: string, x: ArrayLike<number>, rows: number, W: number): Float64Array {
  return layernormRef(x, get(p, `${name}.weight`), get(p, `${name}.bias`), rows, W, EPS).y;
}

/** ln_pre, the blocks (through blockRef, under its names), the rows [offset, offset + rows), ln_post. */
function transformer(c: TiTokConfig, p: Params, part: 'encoder' | 'decoder', x: Float64Array, B: number, seq: number, offset: number, rows: number): Float64Array {
  const { width: W, depth, heads } = TITOK_SIZES[part === 'encoder' ? c.encoderSize : c.decoderSize];
  const mc = { width: W, heads, mlpRatio: 4, eps: EPS } as ModelConfig;
  let h = ln(p, `${part}.ln_pre`, x, B * seq, W);
  for (let i = 0; i < depth; i++) {
    const b = `${part}.transformer.${i}`;
    // The same arrays under blockRef's names (perturbations made through either name show).
    const alias: Params = new Map([
      ['blk.ln1.g', get(p, `${b}.ln_1.weight`)],
      ['blk.ln1.b', get(p, `${b}.ln_1.bias`)],
      ['blk.attn.qkv.w', get(p, `${b}.attn.in_proj_weight`)],
      ['blk.attn.qkv.b', get(p, `${b}.attn.in_proj_bias`)],
      ['blk.attn.proj.w', get(p, `${b}.attn.out_proj.weight`)],
      ['blk.attn.proj.b', get(p, `${b}.attn.out_proj.bias`)],
      ['blk.ln2.g', get(p, `${b}.ln_2.weight`)],
      ['blk.ln2.b', get(p, `${b}.ln_2.bias`)],
      ['blk.mlp.fc1.w', get(p, `${b}.mlp.c_fc.weight`)],
      ['blk.mlp.fc1.b', get(p, `${b}.mlp.c_fc.bias`)],
      ['blk.mlp.fc2.w', get(p, `${b}.mlp.c_proj.weight`)],
      ['blk.mlp.fc2.b', get(p, `${b}.mlp.c_proj.bias`)],
    ]);
    h = blockRef(mc, alias, 'blk', h, B, seq);
  }
  return ln(p, `${part}.ln_post`, rowsFromRef(h, [B, seq, W], offset, rows), B * rows, W);
}

/** images [B, S, S, 3] in [0, 1] → z [B·K, token_size]. */
export function titokEncodeRef(c: TiTokConfig, p: Params, images01: ArrayLike<number>, B: number): Float64Array {
  const G = titokGrid(c, 'encoder');
  const W = TITOK_SIZES[c.encoderSize].width;
  const K = c.tokens;
  const seq = 1 + G * G + K;
  const P = c.encoderPatch;
  const emb = linear(p, 'encoder.patch_embed', patchifyRef(images01, B, c.imageSize, c.imageSize, P), B * G * G, P * P * 3, W);
  const pos = get(p, 'encoder.positional_embedding');
  const shape: [number, number, number] = [B, seq, W];
  const x0 = rowsIntoRef(new Float64Array(B * seq * W), shape, get(p, 'encoder.class_embedding'), pos, { offset: 0, rows: 1, source: 'repeat' });
  const x1 = rowsIntoRef(x0, shape, emb, pos, { offset: 1, rows: G * G, source: 'perImage', posOffset: 1 });
  const x = rowsIntoRef(x1, shape, get(p, 'latent_tokens'), get(p, 'encoder.latent_token_positional_embedding'), { offset: 1 + G * G, rows: K, source: 'shared' });
  return linear(p, 'encoder.conv_out', transformer(c, p, 'encoder', x, B, seq, 1 + G * G, K), B * K, W, c.tokenSize);
}

/** One image's latents [k, token_size] → its pixels [1, S, S, 3] (the model's [0, 1] scale). */
export function titokDecodeRef(c: TiTokConfig, p: Params, latents: ArrayLike<number>, k: number): Float64Array {
  const G = titokGrid(c, 'decoder');
  const W = TITOK_SIZES[c.decoderSize].width;
  const seq = 1 + G * G + k;
  const P = c.decoderPatch;
  const emb = linear(p, 'decoder.decoder_embed', latents, k, c.tokenSize, W);
  const pos = get(p, 'decoder.positional_embedding');
  const shape: [number, number, number] = [1, seq, W];
  const x0 = rowsIntoRef(new Float64Array(seq * W), shape, get(p, 'decoder.class_embedding'), pos, { offset: 0, rows: 1, source: 'repeat' });
  const x1 = rowsIntoRef(x0, shape, get(p, 'decoder.mask_token'), pos, { offset: 1, rows: G * G, source: 'repeat', posOffset: 1 });
  const x = rowsIntoRef(x1, shape, emb, get(p, 'decoder.latent_token_positional_embedding'), { offset: 1 + G * G, rows: k, source: 'perImage' });
  const grid = linear(p, 'decoder.ffn.0', transformer(c, p, 'decoder', x, 1, seq, 1, G * G), G * G, W, P * P * 3);
  const S = c.imageSize;
  return conv3x3Ref(unpatchifyRef(grid, 1, S, S, P), [1, S, S, 3], get(p, 'decoder.conv_out.weight'), get(p, 'decoder.conv_out.bias'), 3);
}

/** The forward and losses for images [B, S, S, 3] in [-1, 1], image b decoded from its first tokens[b] tokens. */
export function titokForwardRef(c: TiTokConfig, p: Params, images: ArrayLike<number>, B: number, tokens?: readonly number[], frozen?: TiTokFrozen): TiTokForwardRef {
  const K = c.tokens;
  const C = c.tokenSize;
  const N = B * K;
  const z = titokEncodeRef(
    c,
    p,
    Array.from(images, (v) => 0.5 * v + 0.5),
    B,
  );
  const raw = get(p, 'quantize.embedding.weight');
  const Kc = c.codebookSize;
  const zz = c.useL2Norm ? l2normalizeRef(z, N, C).y : z;
  const codebook = c.useL2Norm ? l2normalizeRef(raw, Kc, C).y : raw;
  const indices = frozen ? frozen.indices : nearestCodes(zz, codebook, N, Kc, C);
  const e = new Float64Array(N * C);
  for (let n = 0; n < N; n++) for (let d = 0; d < C; d++) e[n * C + d] = codebook[indices[n]! * C + d]!;
  const z0 = frozen ? frozen.z0 : zz;
  const e0 = frozen ? frozen.e0 : e;
  const zq = new Float64Array(N * C);
  for (let i = 0; i < zq.length; i++) zq[i] = zz[i]! + (e0[i]! - z0[i]!);
  const px = c.imageSize * c.imageSize * 3;
  let recon = 0;
  for (let b = 0; b < B; b++) {
    const k = tokens?.[b] ?? K;
    const img = titokDecodeRef(c, p, zq.subarray(b * K * C, (b * K + k) * C), k);
    recon += mseRef(
      img.map((v) => 2 * v - 1),
      Array.from(images).slice(b * px, (b + 1) * px),
    );
  }
  recon /= B;
  const codebookLoss = mseRef(z0, e);
  const commitment = mseRef(zz, e0);
  return { total: recon + codebookLoss + c.commitmentCost * commitment, recon, codebook: codebookLoss, commitment, z, indices, frozen: frozen ?? { indices, z0: zz, e0: e } };
}

/** Central differences of `total` under the frozen surrogate for the sampled entries, per parameter name in sample order. */
export function titokFiniteDifferences(c: TiTokConfig, p: Params, images: ArrayLike<number>, B: number, sample: readonly { name: string; index: number }[], tokens?: readonly number[], h = 1e-5): number[] {
  const { frozen } = titokForwardRef(c, p, images, B, tokens);
  return sample.map(({ name, index }) => finiteDifferences(() => titokForwardRef(c, p, images, B, tokens, frozen).total, get(p, name), [index], h)[0]!);
}

/** Every parameter of the config (titokParamSpecs' engine shapes), drawn by `draw(name, n)`. */
export function titokParams(c: TiTokConfig, draw: (name: string, n: number) => Float64Array): Params {
  return new Map(titokParamSpecs(c).map((s) => [s.name, draw(s.name, s.shape.reduce((a, b) => a * b, 1))]));
}
