import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors } from '../src/io/safetensors.js';
import { titokFromReference, titokParamSpecs, type TiTokConfig } from '../src/model/titok-config.js';
import { readRunState, runTraining, type RunSettings } from '../src/train/run.js';
import { describeBackends } from './helpers.js';
import { ROOT } from './cli-run.js';

const FEW = ['astronaut.png', 'brick.png', 'motorcycle_left.png'].map((f) => join(ROOT, 'examples/images', f));
const VAL = [join(ROOT, 'examples/images/val/chelsea.png')];

const MODEL: TiTokConfig = { family: 'titok', imageSize: 16, encoderPatch: 4, decoderPatch: 4, encoderSize: 'tiny', decoderSize: 'tiny', tokens: 8, tokenSize: 8, quantizeMode: 'vq', codebookSize: 32, useL2Norm: true, commitmentCost: 0.25 };

function settings(): RunSettings {
  return {
    trainFiles: FEW,
    valFiles: VAL,
    preset: null,
    model: { ...MODEL },
    steps: 8,
    batch: 4,
    lr: 2e-3,
    minLr: 1e-5,
    warmup: 2,
    weightDecay: 0.01,
    clip: 1,
    ema: 0,
    weights: { mse: 1, l1: 0, codebook: 1 },
    seed: 5,
    cacheMb: 64,
    minScale: 0.5,
    flip: true,
    // Dead codes after 2 steps, re-seeded every 3: the TiTok codebook is rewritten mid-run.
    reseed: true,
    deadAfter: 2,
    reseedEvery: 3,
    logEvery: 1000,
    valEvery: 4,
    ckptEvery: 1000,
    exportDtype: 'f32',
    nestedDropout: 0.5,
  };
}

/** metrics.jsonl without the timings. */
function metricLines(dir: string): string[] {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.stringify({ ...(JSON.parse(l) as object), ms: 0 }));
}

describeBackends('tok1d train with a TiTok model', (get) => {
  it('stops, resumes and ends bit-identical to an uninterrupted run (nested dropout, re-seeding); model/ is a TiTok checkpoint folder', async () => {
    const e = get();
    const whole = mkdtempSync(join(tmpdir(), 'tok1d-titok-run-'));
    const split = mkdtempSync(join(tmpdir(), 'tok1d-titok-run-'));
    try {
      const a = await runTraining(e, whole, settings(), { log: () => undefined });
      expect(a.step).to.equal(8);
      let steps = 0;
      const b = await runTraining(e, split, settings(), { log: () => undefined, progress: () => void steps++, shouldStop: () => steps >= 3 });
      expect(b.stopped).to.equal(true);
      expect(b.step).to.equal(3);
      const c = await runTraining(e, split, readRunState(split).settings, { log: () => undefined }, true);
      expect(c.step).to.equal(8);
      const sa = decodeSafetensors(readFileSync(join(whole, 'state.safetensors'))).tensors;
      const sb = decodeSafetensors(readFileSync(join(split, 'state.safetensors'))).tensors;
      expect([...sb.keys()].sort()).to.deep.equal([...sa.keys()].sort());
      for (const [k, t] of sa) {
        const u = sb.get(k)!;
        expect(Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), `${k} bit-identical`).to.equal(true);
      }
      expect(metricLines(split)).to.deep.equal(metricLines(whole));
      const reseeded = metricLines(whole).some((l) => ((JSON.parse(l) as { reseeded?: number }).reseeded ?? 0) > 0);
      expect(reseeded, 'some dead codes were re-seeded').to.equal(true);
      // The inference checkpoint: the reference's config.json and tensor names.
      const cfg = titokFromReference(JSON.parse(readFileSync(join(whole, 'model', 'config.json'), 'utf8')));
      expect(cfg).to.deep.equal(MODEL);
      const names = [...decodeSafetensors(readFileSync(join(whole, 'model', 'model.safetensors'))).tensors.keys()].sort();
      expect(names).to.deep.equal(titokParamSpecs(MODEL).map((s) => s.name).sort());
    } finally {
      rmSync(whole, { recursive: true, force: true });
      rmSync(split, { recursive: true, force: true });
    }
  });
});
