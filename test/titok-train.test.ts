import { expect } from 'chai';
import { Tape } from '../src/autograd/tape.js';
import { titokParamSpecs, type TiTokConfig } from '../src/model/titok-config.js';
import { TiTokModel } from '../src/model/titok.js';
import { TokenizerModel } from '../src/model/model.js';
import { presetConfig } from '../src/model/config.js';
import * as ops from '../src/ops/index.js';
import type { Tensor } from '../src/tensor.js';
import { decayFor } from '../src/train/optim.js';
import { nestedTokenCounts, Trainer } from '../src/train/trainer.js';
import { describeBackends, freshRng, randomF32, randomNormal, relL2, RUN_SEED } from './helpers.js';
import { titokDecodeRef, titokEncodeRef, titokFiniteDifferences, titokForwardRef, titokParams } from './reference/titok.js';

/** A TiTok VQ model small enough for finite differences: 8×8 images, 4×4 patches, 3 tokens, the tiny size. */
function tinyConfig(useL2Norm: boolean): TiTokConfig {
  return { family: 'titok', imageSize: 8, encoderPatch: 4, decoderPatch: 4, encoderSize: 'tiny', decoderSize: 'tiny', tokens: 3, tokenSize: 4, quantizeMode: 'vq', codebookSize: 16, useL2Norm, commitmentCost: 0.25 };
}

// Every gradient path: embeddings and token rows, attention and MLP weights, LayerNorms, the
// 1×1 convolutions, the codebook, the decoder's pixel convolution.
const SAMPLED = [
  'encoder.patch_embed.weight',
  'encoder.patch_embed.bias',
  'encoder.class_embedding',
  'encoder.positional_embedding',
  'latent_tokens',
  'encoder.latent_token_positional_embedding',
  'encoder.ln_pre.weight',
  'encoder.transformer.0.attn.in_proj_weight',
  'encoder.transformer.1.mlp.c_fc.weight',
  'encoder.ln_post.bias',
  'encoder.conv_out.weight',
  'quantize.embedding.weight',
  'decoder.decoder_embed.weight',
  'decoder.class_embedding',
  'decoder.mask_token',
  'decoder.positional_embedding',
  'decoder.latent_token_positional_embedding',
  'decoder.transformer.0.attn.out_proj.weight',
  'decoder.transformer.1.mlp.c_proj.weight',
  'decoder.ln_post.weight',
  'decoder.ffn.0.weight',
  'decoder.conv_out.weight',
  'decoder.conv_out.bias',
];

describeBackends('TiTok training', (get) => {
  for (const [useL2Norm, tokens] of [
    [false, undefined],
    [true, undefined],
    [false, [1, 3]],
    [true, [2, 2]],
  ] as const) {
    it(`forward losses and the whole model's gradients against a float64 model (${useL2Norm ? 'l2-normalized' : 'plain'} codes, ${tokens ? `tokens ${tokens.join(', ')}` : 'all tokens'})`, async () => {
      const e = get();
      const c = tinyConfig(useL2Norm);
      const r = freshRng();
      const B = 2;
      // Values exactly representable in f32 (the GPU model gets the same numbers); LayerNorm
      // gains near 1, small biases, codes at the scale of the encoder output.
      const params = titokParams(c, (name, n) => {
        if (name.includes('ln_') && name.endsWith('.weight')) return Float64Array.from(randomNormal(n, r, 0.1), (v) => Math.fround(1 + v));
        if (name.endsWith('bias')) return Float64Array.from(randomNormal(n, r, 0.02));
        const std = name === 'quantize.embedding.weight' ? (useL2Norm ? 1 : 1.5) : 0.2;
        return Float64Array.from(randomNormal(n, r, std));
      });
      const images = randomF32(B * 8 * 8 * 3, r);
      const ref = titokForwardRef(c, params, images, B, tokens);

      const gpu = new Map<string, Tensor>();
      for (const s of titokParamSpecs(c)) gpu.set(s.name, e.upload(Float32Array.from(params.get(s.name)!), s.shape));
      const model = new TiTokModel(e, c, gpu);
      const tape = new Tape(e);
      tape.watch(...gpu.values());
      const img = e.upload(images, [B, 8, 8, 3]);
      const out = model.forward({ engine: e, tape }, img, { tokens });
      const keep = [out.recon, out.codebookLoss, out.commitmentLoss, out.indices];
      const grads = tape.backward(model.lossTerms(out), keep);
      expect(Array.from(await e.readU32(out.indices)), 'token ids').to.deep.equal(Array.from(ref.indices));
      for (const [what, t, want] of [
        ['recon', out.recon, ref.recon],
        ['codebook', out.codebookLoss, ref.codebook],
        ['commitment', out.commitmentLoss, ref.commitment],
      ] as const) {
        const got = (await e.readF32(t))[0]!;
        expect(Math.abs(got - want), `${what}: ${got} vs ${want}`).to.be.at.most(2e-5 * (1 + Math.abs(want)));
      }

      const sample = SAMPLED.flatMap((name) => {
        const n = params.get(name)!.length;
        return Array.from({ length: 3 }, () => ({ name, index: Math.floor(r() * n) }));
      });
      const fd = titokFiniteDifferences(c, params, images, B, sample, tokens);
      const analytic: number[] = [];
      for (const { name, index } of sample) {
        const g = grads.get(gpu.get(name)!);
        expect(g, `a gradient for ${name}`).to.not.equal(undefined);
        analytic.push((await e.readF32(g!))[index]!);
      }
      const err = relL2(analytic, fd);
      const worst = sample.map((s, i) => ({ ...s, got: analytic[i]!, fd: fd[i]! })).sort((a, b) => Math.abs(b.got - b.fd) - Math.abs(a.got - a.fd))[0]!;
      expect(err, `relative L2 ${err.toExponential(2)} over ${sample.length} entries; worst ${worst.name}[${worst.index}] ${worst.got} vs ${worst.fd} (seed ${RUN_SEED})`).to.be.at.most(2e-3);
      for (const g of grads.values()) e.release(g);
      e.release(img, ...keep, ...gpu.values());
    });
  }

  it('inference (no tape) encodes and prefix-decodes as the float64 model', async () => {
    const e = get();
    const c = tinyConfig(false);
    const r = freshRng();
    const params = titokParams(c, (name, n) => Float64Array.from(randomNormal(n, r, name.endsWith('bias') ? 0.02 : 0.2), (v) => (name.includes('ln_') && name.endsWith('.weight') ? Math.fround(1 + v) : v)));
    const gpu = new Map<string, Tensor>();
    for (const s of titokParamSpecs(c)) gpu.set(s.name, e.upload(Float32Array.from(params.get(s.name)!), s.shape));
    const model = new TiTokModel(e, c, gpu);
    const B = 2;
    const x01 = randomF32(B * 8 * 8 * 3, r, 0, 1);
    const img = e.upload(x01, [B, 8, 8, 3]);
    const ctx = { engine: e, tape: null };
    const z = model.encode(ctx, img);
    const zRef = titokEncodeRef(c, params, x01, B);
    expect(relL2(await e.readF32(z), zRef), 'encoder output').to.be.at.most(1e-5);
    // The first 2 of 3 tokens of each image, decoded together.
    const lat = Float32Array.from({ length: B * 2 * 4 }, () => r() * 2 - 1);
    const t = e.upload(lat, [B * 2, 4]);
    const y = model.decode(ctx, t, B);
    const got = await e.readF32(y);
    for (let b = 0; b < B; b++) {
      const want = titokDecodeRef(c, params, lat.subarray(b * 8, b * 8 + 8), 2);
      expect(relL2(got.subarray(b * 192, (b + 1) * 192), want), `image ${b}`).to.be.at.most(1e-5);
    }
    // All 3 tokens given, image 0 decoded from its first 1 and image 1 from its first 3, in one pass.
    const all = Float32Array.from({ length: B * 3 * 4 }, () => r() * 2 - 1);
    const ta = e.upload(all, [B * 3, 4]);
    const ya = model.decode(ctx, ta, B, [1, 3]);
    const gotA = await e.readF32(ya);
    for (const [b, k] of [[0, 1], [1, 3]] as const) {
      const want = titokDecodeRef(c, params, all.subarray(b * 12, b * 12 + 4 * k), k);
      expect(relL2(gotA.subarray(b * 192, (b + 1) * 192), want), `image ${b} from ${k} of 3 tokens`).to.be.at.most(1e-5);
    }
    expect(() => model.decode(ctx, ta, B, [0, 3])).to.throw(/token counts \[0, 3\]/);
    e.release(z, t, y, ta, ya, img, ...gpu.values());
  });

  it('a reduced TiTok learns: the loss falls on a tiny batch in a few steps, with nested dropout', async function () {
    const e = get();
    const c: TiTokConfig = { ...tinyConfig(true), imageSize: 16, tokens: 8, tokenSize: 8, codebookSize: 64 };
    const model = TiTokModel.random(e, c, 3);
    const trainer = new Trainer(model, { lr: 2e-3, warmup: 3, totalSteps: 24, clip: 1, nestedDropout: { prob: 0.5, seed: 11 } });
    const r = freshRng();
    // Four smooth images (low-frequency patterns in [-1, 1]).
    const B = 4;
    const px = new Float32Array(B * 16 * 16 * 3);
    for (let b = 0; b < B; b++) {
      const [fx, fy, ph] = [1 + 2 * r(), 1 + 2 * r(), 6 * r()];
      for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) for (let ch = 0; ch < 3; ch++) px[((b * 16 + y) * 16 + x) * 3 + ch] = 0.8 * Math.sin((fx * x + fy * y) / 5 + ph + 2 * ch);
    }
    const images = e.upload(px, [B, 16, 16, 3]);
    const losses: number[] = [];
    // Buffers held between steps (parameters, AdamW moments, inputs): the same after every step,
    // whichever token counts the step drew (nothing leaks from the masked decode).
    const held: number[] = [];
    for (let s = 0; s < 24; s++) {
      const l = trainer.step(images);
      losses.push((await e.readF32(l.recon))[0]!);
      trainer.releaseLosses(l);
      held.push(e.pool.stats().inUse);
    }
    expect(new Set(held.slice(1)).size, `buffers in use after each step: ${held.join(' ')}`).to.equal(1);
    const first = losses.slice(0, 3).reduce((a, b) => a + b) / 3;
    const last = losses.slice(-3).reduce((a, b) => a + b) / 3;
    console.log(`      reconstruction MSE ${first.toFixed(4)} → ${last.toFixed(5)} (${(first / last).toFixed(1)}×)`);
    expect(losses.every(Number.isFinite), 'finite losses').to.equal(true);
    expect(last, `reconstruction MSE ${first.toFixed(4)} → ${last.toFixed(4)} over 24 steps`).to.be.below(0.5 * first);
    e.release(images);
    for (const t of model.params.values()) e.release(t);
  });

  it('quantizer warm-up: the decoder reads the l2-normalized latents, not their codes; the trainer switches after N steps', async () => {
    const e = get();
    const c: TiTokConfig = { ...tinyConfig(true), imageSize: 16, tokens: 8, tokenSize: 8, codebookSize: 64 };
    const r = freshRng();
    // Weights of std 0.2 (not the initialization's 0.02), so that the decoder's output depends on its latents.
    const params = titokParams(c, (name, n) => Float64Array.from(randomNormal(n, r, name.endsWith('bias') ? 0.02 : 0.2), (v) => (name.includes('ln_') && name.endsWith('.weight') ? Math.fround(1 + v) : v)));
    const model = new TiTokModel(e, c, new Map(titokParamSpecs(c).map((s) => [s.name, e.upload(Float32Array.from(params.get(s.name)!), s.shape)])));
    const B = 2;
    const images = e.upload(randomF32(B * 16 * 16 * 3, r, -1, 1), [B, 16, 16, 3]);
    const ctx = { engine: e, tape: null };
    const x01 = ops.affine(e, images, 0.5, 0.5);
    const z = model.encode(ctx, x01);
    const zHost = await e.readF32(z);
    const dim = c.tokenSize;
    const zn = Float32Array.from(zHost, (v, i) => {
      const row = zHost.subarray(i - (i % dim), i - (i % dim) + dim);
      return v / Math.max(Math.hypot(...row), 1e-12);
    });
    const znT = e.upload(zn, [B * c.tokens, dim]);
    const dec = model.decode(ctx, znT, B);
    const want = await e.readF32(dec);
    const cont = model.forward(ctx, images, { continuous: true });
    const quant = model.forward(ctx, images);
    const got = Float32Array.from(await e.readF32(cont.reconstruction), (v) => (v + 1) / 2);
    expect(relL2(got, want), 'continuous forward = decode(l2normalize(z))').to.be.at.most(1e-4);
    expect(relL2(await e.readF32(quant.reconstruction), await e.readF32(cont.reconstruction)), 'the codes decode to something else').to.be.above(1e-3);
    expect(Array.from(await e.readU32(cont.indices)), 'the same codes are searched').to.deep.equal(Array.from(await e.readU32(quant.indices)));
    // The trainer: continuous for the first 2 steps only (a changed codebook alone moves nothing before).
    const trainer = new Trainer(model, { lr: 1e-3, warmup: 1, totalSteps: 4, quantizerWarmup: 2 });
    const seen: boolean[] = [];
    const forward = model.forward.bind(model);
    model.forward = (cx, im, o = {}) => (seen.push(o.continuous === true), forward(cx, im, o));
    for (let s = 0; s < 4; s++) trainer.releaseLosses(trainer.step(images));
    expect(seen).to.deep.equal([true, true, false, false]);
    expect(() => new Trainer(TokenizerModel.random(e, presetConfig('tiny'), 1), { lr: 1e-3, warmup: 1, totalSteps: 4, quantizerWarmup: 2 })).to.throw(/latent-token/);
    for (const res of [cont, quant]) e.release(res.reconstruction, res.indices, res.recon, res.codebookLoss, res.commitmentLoss);
    e.release(images, x01, z, znT, dec);
    for (const t of model.params.values()) e.release(t);
  });

  it('nested dropout draws its token counts from (seed, step, image) only', () => {
    const a = nestedTokenCounts({ prob: 0.5, seed: 7 }, 12, 64, 32);
    expect(nestedTokenCounts({ prob: 0.5, seed: 7 }, 12, 64, 32)).to.deep.equal(a);
    expect(a.every((k) => Number.isInteger(k) && k >= 1 && k <= 32)).to.equal(true);
    // About half the images keep every token; the rest spread over 1..K.
    const full = a.filter((k) => k === 32).length;
    expect(full).to.be.within(16, 48);
    expect(new Set(a).size).to.be.above(10);
    expect(nestedTokenCounts({ prob: 0, seed: 7 }, 12, 8, 32)).to.deep.equal(new Array(8).fill(32));
    expect(nestedTokenCounts({ prob: 0.5, seed: 7 }, 13, 64, 32)).to.not.deep.equal(a);
  });

  it('TiTok parameters without weight decay: the codebook and the learned token rows', () => {
    for (const n of ['quantize.embedding.weight', 'encoder.class_embedding', 'decoder.mask_token', 'latent_tokens', 'encoder.latent_token_positional_embedding', 'decoder.ln_post.weight', 'decoder.ffn.0.bias'])
      expect(decayFor(n), n).to.equal(false);
    for (const n of ['encoder.patch_embed.weight', 'decoder.transformer.0.attn.in_proj_weight', 'decoder.conv_out.weight']) expect(decayFor(n), n).to.equal(true);
  });
});
