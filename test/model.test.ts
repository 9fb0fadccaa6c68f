import { expect } from 'chai';
import { Tape } from '../src/autograd/tape.js';
import { PRESETS, paramSpecs } from '../src/model/config.js';
import { TokenizerModel } from '../src/model/model.js';
import { Trainer } from '../src/train/trainer.js';
import type { Tensor } from '../src/tensor.js';
import { describeBackends, expectClose, freshRng, randomF32, RUN_SEED } from './helpers.js';
import { finiteDifferenceGrads, forwardModel, randomParams } from './reference/model.js';

const tiny = PRESETS.tiny!;
const B = 2;

/** One tiny problem per run, shared by both backends: parameters, images, the float64 forward. */
let problem: { params: ReturnType<typeof randomParams>; images: Float32Array; ref: ReturnType<typeof forwardModel> } | undefined;
function getProblem() {
  if (!problem) {
    // std 0.1 (not 0.02) so attention scores are far from uniform and the softmax backward matters.
    const params = randomParams(tiny, RUN_SEED, 0.1);
    const images = randomF32(B * tiny.imageSize * tiny.imageSize * 3, freshRng());
    problem = { params, images, ref: forwardModel(tiny, params, images, B) };
  }
  return problem;
}

function gpuModel(e: Parameters<typeof TokenizerModel.random>[0], params: Map<string, Float64Array>): TokenizerModel {
  const m = new Map<string, Tensor>();
  for (const s of paramSpecs(tiny)) m.set(s.name, e.upload(Float32Array.from(params.get(s.name)!), s.shape));
  return new TokenizerModel(e, tiny, m);
}

describeBackends('tokenizer model (tiny)', (get) => {
  it('forward: tokens, reconstruction and losses equal the float64 reference', async () => {
    const e = get();
    const { params, images, ref } = getProblem();
    const model = gpuModel(e, params);
    const ti = e.upload(images, [B, tiny.imageSize, tiny.imageSize, 3]);
    const r = model.forward({ engine: e, tape: null }, ti);
    expect(Array.from(await e.readU32(r.indices))).to.deep.equal(Array.from(ref.indices));
    expectClose(await e.readF32(r.reconstruction), ref.reconstruction, 1e-4, 'reconstruction');
    expectClose(await e.readF32(r.recon), [ref.recon], 1e-5, 'reconstruction loss');
    expectClose(await e.readF32(r.codebookLoss), [ref.codebook], 1e-5, 'codebook loss');
    e.release(ti, r.reconstruction, r.indices, r.recon, r.codebookLoss, r.commitmentLoss, ...model.params.values());
  });

  it('gradient of the total loss w.r.t. every parameter tensor matches finite differences of the float64 model', async function () {
    const e = get();
    const { params, images, ref } = getProblem();
    const model = gpuModel(e, params);
    const tape = new Tape(e);
    tape.watch(...model.params.values());
    const ti = e.upload(images, [B, tiny.imageSize, tiny.imageSize, 3]);
    const r = model.forward({ engine: e, tape }, ti);
    const grads = tape.backward(model.lossTerms(r));
    // 4 sampled elements per tensor (codebook: rows some token chose), central differences of the
    // frozen straight-through surrogate in float64.
    const r0 = freshRng();
    const used = Array.from(new Set(ref.indices));
    const sample: { name: string; index: number }[] = [];
    for (const s of paramSpecs(tiny)) {
      const n = s.shape.reduce((a, b) => a * b, 1);
      for (let k = 0; k < 4; k++) {
        const index = s.name === 'vq.codebook' ? used[Math.floor(r0() * used.length)]! * tiny.codeDim + Math.floor(r0() * tiny.codeDim) : Math.floor(r0() * n);
        sample.push({ name: s.name, index });
      }
    }
    const fd = finiteDifferenceGrads(tiny, params, images, B, sample, 1e-5);
    // Tolerance: |gpu − fd| ≤ 2e-3·max(|fd| over the whole sample) + 2e-3·|fd|: f32 forward and backward
    // against float64 differences (whose own error is ~1e-9). Attention key biases have a true gradient of 0.
    let scaleAll = 0;
    for (const v of fd.values()) for (const x of v) scaleAll = Math.max(scaleAll, Math.abs(x));
    const failures: string[] = [];
    for (const s of paramSpecs(tiny)) {
      const t = model.p(s.name);
      const g = grads.get(t);
      expect(g, `no gradient for ${s.name}`).to.not.equal(undefined);
      const gv = await e.readF32(g!);
      const picks = sample.filter((p) => p.name === s.name);
      const want = fd.get(s.name)!;
      picks.forEach((p, i) => {
        const diff = Math.abs(gv[p.index]! - want[i]!);
        if (!(diff <= 2e-3 * scaleAll + 2e-3 * Math.abs(want[i]!))) failures.push(`${s.name}[${p.index}]: gpu ${gv[p.index]} fd ${want[i]}`);
      });
    }
    expect(failures, failures.join('\n')).to.deep.equal([]);
    for (const g of grads.values()) e.release(g);
    e.release(ti, ...model.params.values());
  });

  it("GPU memory does not grow across training steps (pool after step 1 = after step 50)", async () => {
    const e = get();
    const model = TokenizerModel.random(e, tiny, 7);
    const ti = e.upload(randomF32(B * tiny.imageSize * tiny.imageSize * 3, freshRng()), [B, tiny.imageSize, tiny.imageSize, 3]);
    const trainer = new Trainer(model, { lr: 1e-3, warmup: 5, totalSteps: 50, clip: 1 });
    const step = async () => {
      const l = trainer.step(ti);
      await e.readF32(l.recon);
      trainer.releaseLosses(l);
    };
    await step();
    const after1 = e.pool.stats();
    for (let i = 1; i < 50; i++) await step();
    expect(e.pool.stats()).to.deep.equal(after1);
    trainer.optimizer.dispose();
    e.release(ti, ...model.params.values());
  });
});
