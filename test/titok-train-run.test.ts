import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors } from '../src/io/safetensors.js';
import { titokFromReference, titokParamSpecs, type TiTokConfig } from '../src/model/titok-config.js';
import { settingsFrom } from '../src/cli/train.js';
import { checkSettings, readRunState, runTraining, type RunSettings } from '../src/train/run.js';
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
    // The decoder reads continuous latents for the first 3 steps: the resume crosses the switch.
    vqWarmup: 3,
  };
}

/** metrics.jsonl without the timings. */
function metricLines(dir: string): string[] {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.stringify({ ...(JSON.parse(l) as object), ms: 0 }));
}

describe('tok1d train settings for TiTok presets', () => {
  it('--preset NAME with --config fields over it and --nested-dropout', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tok1d-titok-cfg-'));
    try {
      const cfg = join(dir, 'model.json');
      writeFileSync(cfg, JSON.stringify({ imageSize: 16, encoderPatch: 4, decoderPatch: 4, encoderSize: 'tiny', decoderSize: 'tiny', tokens: 8, tokenSize: 8, codebookSize: 32, useL2Norm: true }));
      const s = settingsFrom({ _: FEW, val: join(ROOT, 'examples/images/val'), preset: 'titok-bl64-vq', config: cfg, 'nested-dropout': '0.5' });
      expect(s.model).to.deep.equal(MODEL);
      expect(s.nestedDropout).to.equal(0.5);
      expect(() => checkSettings(s)).to.not.throw();
      const plain = settingsFrom({ _: FEW, preset: 'titok-bl64-vq' });
      expect(plain.model).to.deep.include({ family: 'titok', imageSize: 256, tokens: 64, codebookSize: 8192 });
      expect(plain.nestedDropout).to.equal(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a TiTok VAE and nested dropout without a TiTok model; takes nested dropout with L1', () => {
    const base = { ...settings(), nestedDropout: 0 };
    expect(() => checkSettings({ ...base, model: { ...MODEL, quantizeMode: 'vae', codebookSize: 0 } })).to.throw(/VQ models only/);
    expect(() => checkSettings({ ...base, preset: 'tiny', model: settingsFrom({ _: FEW, preset: 'tiny' }).model, nestedDropout: 0.5 })).to.throw(/needs a latent-token/);
    expect(() => checkSettings({ ...base, nestedDropout: 0.5, weights: { mse: 1, l1: 0.1, codebook: 1 } })).to.not.throw();
    expect(() => checkSettings({ ...base, nestedDropout: 1.5 })).to.throw(/\[0, 1\]/);
  });
});

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
      // The single-file checkpoint holds the same tensors, with config.json in its metadata.
      const single = decodeSafetensors(readFileSync(join(whole, 'model.safetensors')));
      const folder = decodeSafetensors(readFileSync(join(whole, 'model', 'model.safetensors')));
      expect(titokFromReference(JSON.parse(single.metadata.titok_config!))).to.deep.equal(MODEL);
      for (const [k, t] of folder.tensors) expect(Array.from(single.tensors.get(k)!.data), k).to.deep.equal(Array.from(t.data));
    } finally {
      rmSync(whole, { recursive: true, force: true });
      rmSync(split, { recursive: true, force: true });
    }
  });
});
