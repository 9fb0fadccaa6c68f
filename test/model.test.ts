import { expect } from 'chai';
import { quantize } from '../src/autograd/functions.js';
import { Tape } from '../src/autograd/tape.js';
import { PRESETS, paramSpecs, type ModelConfig } from '../src/model/config.js';
import { TokenizerModel } from '../src/model/model.js';
import { Trainer } from '../src/train/trainer.js';
import type { Tensor } from '../src/tensor.js';
import { describeBackends, expectClose, freshRng, randomF32, RUN_SEED } from './helpers.js';
import { finiteDifferenceGrads, forwardModel, randomParams } from './reference/model.js';

const tiny = PRESETS.tiny!;
/** The tiny preset with the l2-normalized (cosine) codebook. */
const tinyCosine: ModelConfig = { ...tiny, cosine: true };
const B = 2;

interface Problem {
  config: ModelConfig;
  params: ReturnType<typeof randomParams>;
  images: Float32Array;
  ref: ReturnType<typeof forwardModel>;
}

/** One problem per configuration and run, shared by both backends: parameters, images, the float64 forward. */
const problems = new Map<ModelConfig, Problem>();
function getProblem(config: ModelConfig = tiny): Problem {
  let p = problems.get(config);
  if (!p) {
    // std 0.1 (not 0.02) so attention scores are far from uniform and the softmax backward matters.
    const params = randomParams(config, RUN_SEED, 0.1);
    const images = randomF32(B * config.imageSize * config.imageSize * 3, freshRng());
    p = { config, params, images, ref: forwardModel(config, params, images, B) };
    problems.set(config, p);
  }
  return p;
}

function gpuModel(e: Parameters<typeof TokenizerModel.random>[0], params: Map<string, Float64Array>, config: ModelConfig = tiny): TokenizerModel {
  const m = new Map<string, Tensor>();
  for (const s of paramSpecs(config)) m.set(s.name, e.upload(Float32Array.from(params.get(s.name)!), s.shape));
  return new TokenizerModel(e, config, m);
}

/** Forward on the GPU: tokens, reconstruction and losses against the float64 reference. */
async function checkForward(e: Parameters<typeof TokenizerModel.random>[0], config: ModelConfig): Promise<void> {
  const { params, images, ref } = getProblem(config);
  const model = gpuModel(e, params, config);
  const ti = e.upload(images, [B, config.imageSize, config.imageSize, 3]);
  const r = model.forward({ engine: e, tape: null }, ti);
  expect(Array.from(await e.readU32(r.indices))).to.deep.equal(Array.from(ref.indices));
  expectClose(await e.readF32(r.reconstruction), ref.reconstruction, 1e-4, 'reconstruction');
  expectClose(await e.readF32(r.recon), [ref.recon], 1e-5, 'reconstruction loss');
  expectClose(await e.readF32(r.codebookLoss), [ref.codebook], 1e-5, 'codebook loss');
  expectClose(await e.readF32(r.commitmentLoss), [ref.commitment], 1e-5, 'commitment loss');
  e.release(ti, r.reconstruction, r.indices, r.recon, r.codebookLoss, r.commitmentLoss, ...model.params.values());
}

/** Trains `steps` steps: the buffer pool's statistics after the first equal those after the last. */
async function checkPoolStable(e: Parameters<typeof TokenizerModel.random>[0], config: ModelConfig, steps: number): Promise<void> {
  const model = TokenizerModel.random(e, config, 7);
  const ti = e.upload(randomF32(B * config.imageSize * config.imageSize * 3, freshRng()), [B, config.imageSize, config.imageSize, 3]);
  const trainer = new Trainer(model, { lr: 1e-3, warmup: 5, totalSteps: steps, clip: 1 });
  const step = async () => {
    const l = trainer.step(ti);
    await e.readF32(l.recon);
    trainer.releaseLosses(l);
  };
  await step();
  const after1 = e.pool.stats();
  for (let i = 1; i < steps; i++) await step();
  expect(e.pool.stats()).to.deep.equal(after1);
  trainer.optimizer.dispose();
  e.release(ti, ...model.params.values());
}

/**
 * Gradient of the total loss w.r.t. every parameter tensor on the GPU against central differences of
 * the float64 model's frozen straight-through surrogate (test/reference/model.ts).
 */
async function checkGradients(e: Parameters<typeof TokenizerModel.random>[0], config: ModelConfig): Promise<void> {
  const { params, images, ref } = getProblem(config);
  const model = gpuModel(e, params, config);
  const tape = new Tape(e);
  tape.watch(...model.params.values());
  const ti = e.upload(images, [B, config.imageSize, config.imageSize, 3]);
  const r = model.forward({ engine: e, tape }, ti);
  const grads = tape.backward(model.lossTerms(r));
  // 4 sampled elements per tensor (codebook: 8, in rows some token chose), central differences of the
  // frozen straight-through surrogate in float64.
  const r0 = freshRng();
  const used = Array.from(new Set(ref.indices));
  const sample: { name: string; index: number }[] = [];
  for (const s of paramSpecs(config)) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    for (let k = 0; k < (s.name === 'vq.codebook' ? 8 : 4); k++) {
      const index = s.name === 'vq.codebook' ? used[Math.floor(r0() * used.length)]! * config.codeDim + Math.floor(r0() * config.codeDim) : Math.floor(r0() * n);
      sample.push({ name: s.name, index });
    }
  }
  const fd = finiteDifferenceGrads(config, params, images, B, sample, 1e-5);
  // Tolerance: |gpu − fd| ≤ 2e-3·max(|fd| over the whole sample) + 2e-3·|fd|: f32 forward and backward
  // against float64 differences (whose own error is ~1e-9). Attention key biases have a true gradient of 0.
  // The codebook's gradient is far smaller than the largest ones (it is 2(e − z)/n, n = N·C) and has no
  // zero entries by cancellation: it is held to its own scale, so an error in it cannot hide.
  let scaleAll = 0;
  for (const v of fd.values()) for (const x of v) scaleAll = Math.max(scaleAll, Math.abs(x));
  const scaleOf = (name: string) => (name === 'vq.codebook' ? Math.max(...fd.get(name)!.map(Math.abs)) : scaleAll);
  const failures: string[] = [];
  for (const s of paramSpecs(config)) {
    const t = model.p(s.name);
    const g = grads.get(t);
    expect(g, `no gradient for ${s.name}`).to.not.equal(undefined);
    const gv = await e.readF32(g!);
    const picks = sample.filter((p) => p.name === s.name);
    const want = fd.get(s.name)!;
    const scale = scaleOf(s.name);
    picks.forEach((p, i) => {
      const diff = Math.abs(gv[p.index]! - want[i]!);
      if (!(diff <= 2e-3 * scale + 2e-3 * Math.abs(want[i]!))) failures.push(`${s.name}[${p.index}]: gpu ${gv[p.index]} fd ${want[i]}`);
    });
  }
  expect(failures, failures.join('\n')).to.deep.equal([]);
  for (const g of grads.values()) e.release(g);
  e.release(ti, ...model.params.values());
}

describeBackends('tokenizer model (tiny)', (get) => {
  it('forward: tokens, reconstruction and losses equal the float64 reference', async () => {
    await checkForward(get(), tiny);
  });

  it('gradient of the total loss w.r.t. every parameter tensor matches finite differences of the float64 model', async () => {
    await checkGradients(get(), tiny);
  });

  it("GPU memory does not grow across training steps (pool after step 1 = after step 50)", async () => {
    await checkPoolStable(get(), tiny, 50);
  });
});

describeBackends('tokenizer model (tiny, l2-normalized codebook)', (get) => {
  it('GPU memory does not grow across training steps (pool after step 1 = after step 10)', async () => {
    await checkPoolStable(get(), tinyCosine, 10);
  });

  it('forward: tokens (cosine search), reconstruction from normalized codes and losses on normalized vectors equal the float64 reference', async () => {
    await checkForward(get(), tinyCosine);
  });

  it('gradients through both normalizations match finite differences of the float64 model', async () => {
    await checkGradients(get(), tinyCosine);
  });

  it('the decoder input is the normalized code and the losses are on unit vectors (mean ≤ 4 / codeDim)', async () => {
    const e = get();
    const { params, images, ref } = getProblem(tinyCosine);
    const model = gpuModel(e, params, tinyCosine);
    const ti = e.upload(images, [B, tinyCosine.imageSize, tinyCosine.imageSize, 3]);
    const z = model.encode({ engine: e, tape: null }, ti);
    const q = quantize({ engine: e, tape: null }, z, model.p('vq.codebook'), { cosine: true });
    const zq = await e.readF32(q.zq);
    const C = tinyCosine.codeDim;
    const codebook = params.get('vq.codebook')!;
    const idx = await e.readU32(q.indices);
    expect(Array.from(idx)).to.deep.equal(Array.from(ref.indices));
    for (let r = 0; r < idx.length; r++) {
      // Row r of zq is code idx[r] over its norm (float64 from the parameters).
      let n2 = 0;
      for (let j = 0; j < C; j++) n2 += codebook[idx[r]! * C + j]! ** 2;
      const want = Array.from({ length: C }, (_, j) => codebook[idx[r]! * C + j]! / Math.sqrt(n2));
      expectClose(zq.subarray(r * C, (r + 1) * C), want, 1e-6, `zq row ${r}`);
    }
    const loss = (await e.readF32(q.codebookLoss))[0]!;
    expect(loss).to.be.within(0, 4 / C + 1e-6);
    e.release(ti, z, q.zq, q.indices, q.codebookLoss, q.commitmentLoss, ...model.params.values());
  });
});
