import { expect } from 'chai';
import { PRESETS } from '../src/model/config.js';
import { TokenizerModel } from '../src/model/model.js';
import { Trainer } from '../src/train/trainer.js';
import { describeBackends, freshRng } from './helpers.js';

const tiny = PRESETS.tiny!;

/** Four fixed 32×32 images with structure (smooth gradients and blobs), values in [-1, 1]. */
function images(n: number): Float32Array {
  const r = freshRng();
  const S = tiny.imageSize;
  const out = new Float32Array(n * S * S * 3);
  for (let b = 0; b < n; b++) {
    const f = [1 + 3 * r(), 1 + 3 * r(), 1 + 3 * r()];
    const ph = [6.3 * r(), 6.3 * r(), 6.3 * r()];
    for (let y = 0; y < S; y++)
      for (let x = 0; x < S; x++)
        for (let c = 0; c < 3; c++) out[((b * S + y) * S + x) * 3 + c] = 0.8 * Math.sin((f[c]! * (x + 0.7 * y)) / S * Math.PI + ph[c]!);
  }
  return out;
}

describeBackends('training (tiny)', (get, backend) => {
  it('overfits 4 fixed images: reconstruction MSE falls ≥ 10× within 300 AdamW steps', async function () {
    if (backend !== 'opengl') this.skip(); // the 2-minute budget is llvmpipe's; gradients are checked on both in model.test
    const e = get();
    const model = TokenizerModel.random(e, tiny, 1234);
    const trainer = new Trainer(model, { lr: 3e-3, warmup: 20, totalSteps: 300, clip: 1, weightDecay: 0 });
    const x = e.upload(images(4), [4, tiny.imageSize, tiny.imageSize, 3]);
    let first = NaN;
    let last = NaN;
    for (let s = 1; s <= 300; s++) {
      const l = trainer.step(x);
      if (s === 1 || s % 50 === 0) {
        const v = (await e.readF32(l.recon))[0]!;
        if (s === 1) first = v;
        last = v;
      }
      trainer.releaseLosses(l);
    }
    console.log(`      reconstruction MSE ${first.toFixed(4)} → ${last.toFixed(5)} (${(first / last).toFixed(1)}×)`);
    expect(first / last).to.be.at.least(10);
    e.release(x, ...model.params.values());
  });
});
