import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchModel, familyBudget, fastestCeilings, formatModel, modelOps, titokOps, trainOps } from '../src/bench/model.js';
import { benchTrain, formatTrain } from '../src/bench/train.js';
import { PRESETS } from '../src/model/config.js';
import { modelCosts } from '../src/model/costs.js';
import { titokCosts, titokParamSpecs, type TiTokConfig } from '../src/model/titok-config.js';
import { tok1d } from './cli-run.js';
import { describeBackends } from './helpers.js';

/** A TiTok model small enough to train in a test: 16×16 images, 4×4 patches, 8 tokens, the tiny size. */
const TITOK: TiTokConfig = { family: 'titok', imageSize: 16, encoderPatch: 4, decoderPatch: 4, encoderSize: 'tiny', decoderSize: 'tiny', tokens: 8, tokenSize: 8, quantizeMode: 'vq', codebookSize: 64, useL2Norm: true, commitmentCost: 0.25 };

// Structure only: the runs are few and tiny, no speed is asserted.

describe('model bench: ceilings', () => {
  it('takes the fastest FMA and copy figures among the probes', () => {
    const c = fastestCeilings([
      { fmaGflops: 50, copyGBs: 4.5, timing: 'wallclock' },
      { fmaGflops: 110, copyGBs: 3.9, timing: 'wallclock' },
      { fmaGflops: 70, copyGBs: 4.1, timing: 'wallclock' },
    ]);
    expect(c).to.deep.equal({ fmaGflops: 110, copyGBs: 4.5, timing: 'wallclock' });
    expect(() => fastestCeilings([])).to.throw(/no probes/);
  });

  it('gives each op the larger of its FLOP and byte time', () => {
    const ops = [
      { family: 'matmul', what: 'a', flops: 2e9, bytes: 1e6 },
      { family: 'layernorm', what: 'b', flops: 1e6, bytes: 4e8 },
    ];
    const profile = new Map([['matmul_tex:main', { ms: 100, count: 2 }]]);
    const { families, idealMs, profiledMs } = familyBudget(profile, ops, { fmaGflops: 100, copyGBs: 4, timing: 'wallclock' });
    expect(idealMs).to.be.closeTo(20 + 100, 1e-9);
    expect(profiledMs).to.equal(100);
    expect(families.find((f) => f.family === 'matmul')!.idealMs).to.be.closeTo(20, 1e-9);
    expect(families.find((f) => f.family === 'layernorm')!.idealMs).to.be.closeTo(100, 1e-9);
  });
});

describe('train bench: options', () => {
  it('--config and --nested-dropout: usage errors where they do not apply, a bad file named', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tok1d-bench-config-'));
    try {
      const cfg = join(dir, 'model.json');
      writeFileSync(cfg, JSON.stringify({ imageSize: 16, encoderPatch: 4, decoderPatch: 4, encoderSize: 'tiny', decoderSize: 'tiny', tokens: 8, codebookSize: 64 }));
      const bad = join(dir, 'bad.json');
      writeFileSync(bad, '{ not json');
      for (const [args, code, message] of [
        [['bench', '--config', cfg], 2, /go with --suite train/],
        [['bench', '--suite', 'model', '--nested-dropout', '0.5'], 2, /go with --suite train/],
        [['bench', '--suite', 'train', '--preset', 'tiny', '--nested-dropout', '0.5'], 2, /needs latent-token \(TiTok\) models; tiny is not one/],
        [['bench', '--suite', 'train', '--preset', 'titok-bl64-vq', '--nested-dropout', 'half'], 2, /--nested-dropout must be a number from 0 to 1, not 'half'/],
        [['bench', '--suite', 'train', '--preset', 'tiny,small', '--config', cfg], 2, /one --preset/],
        [['bench', '--suite', 'train', '--preset', 'titok-bl64-vq', '--config', bad], 3, /bad\.json/],
      ] as const) {
        const r = await tok1d([...args]);
        expect(r.code, args.join(' ')).to.equal(code);
        expect(r.stderr, args.join(' ')).to.match(message);
        expect(r.stderr, args.join(' ')).to.not.match(/\n\s+at /);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('train bench: the op list of a TiTok step', () => {
  it('forward FLOPs as titokCosts counts them, each backward after its op, AdamW over every parameter', () => {
    const B = 3;
    const ops = trainOps(TITOK, B);
    const fwd = ops.filter((o) => !o.backward);
    const c = titokCosts(TITOK).flops;
    expect(fwd.reduce((a, o) => a + o.flops, 0)).to.equal(B * (c.encode + c.quantize + c.decode));
    expect(fwd).to.deep.equal([...titokOps(TITOK, B, 'encode'), ...titokOps(TITOK, B, 'decode')]);
    // A linear layer's backward is twice its forward; attention's 2.5 times.
    const back = ops.filter((o) => o.backward);
    const sum = (f: string, list: typeof ops) => list.filter((o) => o.family === f).reduce((a, o) => a + o.flops, 0);
    expect(sum('matmul', back)).to.equal(2 * sum('matmul', fwd));
    expect(sum('attention', back)).to.equal(2.5 * sum('attention', fwd));
    const params = titokParamSpecs(TITOK).reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
    expect(ops.at(-1)).to.deep.include({ family: 'adamw', bytes: 32 * params });
  });
});

describeBackends('model bench', (get) => {
  it('train suite: a TiTok configuration with nested dropout, through the library and the CLI', async function () {
    this.timeout(600_000);
    const report = await benchTrain(get(), { models: [{ name: 'tiny TiTok', config: TITOK }], batch: 8, runs: 2, nestedDropout: 0.5, log: () => {} });
    const r = report.results[0]!;
    expect(r.nestedDropout).to.equal(0.5);
    expect(r.flopsPerStep).to.equal(trainOps(TITOK, 8).reduce((a, o) => a + o.flops, 0));
    expect(r.families.map((f) => f.family)).to.include.members(['matmul', 'attention', 'conv']);
    expect(r.msMin).to.be.greaterThan(0);
    expect(formatTrain(report, 'adapter', 2)).to.include('tiny TiTok (TiTok 16×16, 8 tokens, width 64/64, depth 2+2, 64×8 codes); batch 8, nested dropout 0.5:');
  });


  it('probes the ceilings around every timed batch and uses the fastest probe of each phase', async function () {
    this.timeout(300_000);
    const runs = 1;
    const report = await benchModel(get(), { presets: ['tiny'], batches: [2], runs, tune: false, log: () => {} });
    expect(report.results).to.have.length(1);
    const r = report.results[0]!;
    const costs = modelCosts(PRESETS.tiny!).flops;
    for (const p of [r.encode, r.decode]) {
      expect(p.fmaProbes).to.have.length(runs + 1);
      for (const g of p.fmaProbes) expect(g).to.be.greaterThan(0);
      expect(p.ceilings.fmaGflops).to.equal(Math.max(...p.fmaProbes));
      // The phase's ideal time is the op list's at the phase's own ceilings.
      const ops = modelOps(PRESETS.tiny!, 2, p.phase);
      const ideal = ops.reduce((a, o) => a + Math.max(o.flops / (p.ceilings.fmaGflops * 1e6), o.bytes / (p.ceilings.copyGBs * 1e6)), 0);
      expect(p.idealMs).to.be.closeTo(ideal, 1e-9 * ideal);
      expect(p.efficiency).to.be.closeTo(p.idealMs / p.ms, 1e-12);
      expect(p.ms).to.be.within(p.msMin, p.msMax);
    }
    expect(r.encode.flopsPerImage).to.equal(costs.encode + costs.quantize);
    expect(r.decode.flopsPerImage).to.equal(costs.decode);
    const text = formatModel(report);
    expect(text).to.match(/GFLOP\/s\s+FMA\s+ideal ms/);
    expect(text).to.include(`FMA probes around the timed batches: ${r.encode.fmaProbes.map((g) => g.toFixed(1)).join(', ')} GFLOP/s`);
  });
});
