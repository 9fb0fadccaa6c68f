import { expect } from 'chai';
import { benchModel, familyBudget, fastestCeilings, formatModel, modelOps } from '../src/bench/model.js';
import { PRESETS } from '../src/model/config.js';
import { modelCosts } from '../src/model/costs.js';
import { describeBackends } from './helpers.js';

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

describeBackends('model bench', (get) => {
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
