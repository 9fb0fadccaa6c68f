/**
 * `tok1d bench --suite train`: milliseconds per training step and images/s for the tiny and small
 * presets, or any model configuration (TiTok ones too, optionally with nested dropout): forward,
 * backward, gradient norm and AdamW in one recorded step, the loss read back once per step; and the
 * share of step time per kernel family from one profiled step.
 */
import type { Engine } from '../gpu/engine.js';
import { ELEMENTWISE } from '../gpu/uniforms.js';
import type { AnyModelConfig } from '../model/config.js';
import { TokenizerModel } from '../model/model.js';
import { TiTokModel } from '../model/titok.js';
import { isTiTok } from '../model/titok-config.js';
import { measuresByDefault, tuneModel } from '../model/tune.js';
import { Trainer } from '../train/trainer.js';
import { randomF32, rng } from '../check/util.js';
import { median } from '../util/stats.js';
import { describeConfig, familyBudget, formatFamily, measureCeilings, profileMethod, trainOps, type FamilyRow, type ModelBenchReport } from './model.js';

export const TRAIN_BUDGET_METHOD =
  'ideal time per op = max(FLOPs / FMA ceiling, bytes / copy ceiling) over the ops of a step (src/bench/model.ts trainOps: ' +
  'forward FLOPs as costs.ts counts them, a linear layer\'s backward 2× its forward, attention\'s 2.5×; bytes read + written once)';

export interface TrainBenchResult {
  /** The preset's name, or the configuration's (a file). */
  preset: string;
  batch: number;
  config: AnyModelConfig;
  /** TiTok: the probability of decoding an image from a prefix of its tokens (0: none). */
  nestedDropout: number;
  msPerStep: number;
  msMin: number;
  msMax: number;
  stepsPerSec: number;
  imagesPerSec: number;
  /** FLOPs of one step (forward as costs.ts counts them, backward by convention: see trainOps). */
  flopsPerStep: number;
  /** End-to-end GFLOP/s: flopsPerStep / median step time. */
  gflops: number;
  /** Sum of the ideal times of the step's ops at the measured ceilings, and idealMs / msPerStep. */
  idealMs: number;
  efficiency: number;
  /**
   * Where a step's wall time goes (medians over the timed steps): recording it on the host, the
   * submit (on llvmpipe the GPU work runs inside it), and waiting for the loss read-back; plus the
   * step's dispatch count and the launch cost of one dispatch measured with a trivial kernel.
   */
  phases: { recordMs: number; submitMs: number; readbackMs: number; dispatches: number; launchUs: number };
  /** Kernel time per family (one profiled step) against the family's ideal time, largest first. */
  families: FamilyRow[];
  profileMethod: string;
}

/**
 * The launch cost of one dispatch: a trivial kernel (4 floats) recorded `n` times into one submit,
 * wall clock per dispatch, median of 5 rounds.
 */
async function launchCostUs(engine: Engine, n = 200): Promise<number> {
  const x = engine.upload(new Float32Array(4).fill(1), [4]);
  const outs = Array.from({ length: n }, () => engine.empty([4]));
  const rounds: number[] = [];
  try {
    for (let r = 0; r < 6; r++) {
      const t0 = performance.now();
      for (const o of outs) engine.dispatch('elementwise', 'add4', [x, x, o], ELEMENTWISE.withZeros({ n: 1, stride: 1 }), [1, 1, 1]);
      await engine.readF32(outs[n - 1]!);
      if (r > 0) rounds.push(((performance.now() - t0) * 1000) / n);
    }
  } finally {
    engine.release(x, ...outs);
  }
  return median(rounds);
}

export interface TrainBenchOptions {
  /** The models to time, each under a name for the report (a preset's, or a configuration file's). */
  models: { name: string; config: AnyModelConfig }[];
  batch: number;
  runs: number;
  /** TiTok models: nested dropout's probability (as `tok1d train --nested-dropout`); default 0. */
  nestedDropout?: number;
  log: (s: string) => void;
}

export async function benchTrain(engine: Engine, o: TrainBenchOptions): Promise<{ ceilings: ModelBenchReport['ceilings']; results: TrainBenchResult[] }> {
  const out: TrainBenchResult[] = [];
  o.log('ceilings: FMA and copy probes');
  const ceilings = await measureCeilings(engine, 5);
  const launchUs = await launchCostUs(engine);
  for (const { name: preset, config } of o.models) {
    const titok = isTiTok(config);
    // The Trainer refuses nested dropout for a model without latent tokens.
    const nestedDropout = o.nestedDropout ?? 0;
    o.log(`train ${preset}: batch ${o.batch}${nestedDropout ? `, nested dropout ${nestedDropout}` : ''}`);
    // The kernels and choices a training run uses (tok1d train does the same).
    engine.quickCompileFlops = 0;
    await tuneModel(engine, config, o.batch, { training: true, measure: measuresByDefault(engine) });
    const model = titok ? TiTokModel.random(engine, config, 1) : TokenizerModel.random(engine, config, 1);
    const trainer = new Trainer(model, { lr: 1e-3, warmup: 10, totalSteps: 1000, clip: 1, nestedDropout: nestedDropout ? { prob: nestedDropout, seed: 1 } : undefined });
    const S = config.imageSize;
    const images = engine.upload(randomF32(o.batch * S * S * 3, rng(7)), [o.batch, S, S, 3]);
    const phase = { record: [] as number[], submit: [] as number[], readback: [] as number[] };
    const step = async () => {
      const t0 = performance.now();
      const l = trainer.step(images);
      const t1 = performance.now();
      engine.flush();
      const t2 = performance.now();
      await engine.readF32(l.recon);
      phase.record.push(t1 - t0);
      phase.submit.push(t2 - t1);
      phase.readback.push(performance.now() - t2);
      trainer.releaseLosses(l);
    };
    await step();
    await step();
    for (const k of Object.values(phase)) k.length = 0;
    const times: number[] = [];
    for (let i = 0; i < o.runs; i++) {
      const t0 = performance.now();
      await step();
      times.push(performance.now() - t0);
    }
    const ms = median(times);
    const before = engine.counters.dispatches;
    engine.profile = new Map();
    await step();
    const prof = engine.profile;
    engine.profile = null;
    const ops = trainOps(config, o.batch);
    const { families, idealMs } = familyBudget(prof, ops, ceilings);
    const flopsPerStep = ops.reduce((a, op) => a + op.flops, 0);
    out.push({
      preset,
      batch: o.batch,
      config,
      nestedDropout,
      msPerStep: ms,
      msMin: Math.min(...times),
      msMax: Math.max(...times),
      stepsPerSec: 1000 / ms,
      imagesPerSec: (o.batch * 1000) / ms,
      flopsPerStep,
      gflops: flopsPerStep / (ms * 1e6),
      idealMs,
      efficiency: idealMs / ms,
      phases: { recordMs: median(phase.record), submitMs: median(phase.submit), readbackMs: median(phase.readback), dispatches: engine.counters.dispatches - before, launchUs },
      families,
      profileMethod: profileMethod(engine),
    });
    engine.release(images, ...model.params.values());
    trainer.optimizer.dispose();
  }
  return { ceilings, results: out };
}

export function formatTrain(report: { ceilings: ModelBenchReport['ceilings']; results: TrainBenchResult[] }, adapter: string, runs: number): string {
  const c = report.ceilings;
  const lines = [
    `adapter   ${adapter}`,
    `timing    wall clock per step (forward + backward + AdamW, loss read back), median of ${runs}`,
    `ceilings  FMA ${c.fmaGflops.toFixed(1)} GFLOP/s, copy ${c.copyGBs.toFixed(2)} GB/s (${c.timing}; fastest probe runs)`,
    `budget    ${TRAIN_BUDGET_METHOD}`,
    '',
  ];
  for (const r of report.results) {
    const p = r.phases;
    const nd = r.nestedDropout ? `, nested dropout ${r.nestedDropout}` : '';
    lines.push(
      `${r.preset} (${describeConfig(r.config)}); batch ${r.batch}${nd}: ` +
        `${r.msPerStep.toFixed(1)} ms/step (min ${r.msMin.toFixed(1)}, max ${r.msMax.toFixed(1)}), ${r.stepsPerSec.toFixed(2)} steps/s, ${r.imagesPerSec.toFixed(1)} images/s`,
      `  ${(r.flopsPerStep / 1e9).toFixed(3)} GFLOP per step, ${r.gflops.toFixed(1)} GFLOP/s end to end; ideal ${r.idealMs.toFixed(1)} ms at the ceilings (${(100 * r.efficiency).toFixed(1)}% of ideal)`,
      `  time per step: recording ${p.recordMs.toFixed(1)} ms (host), submit ${p.submitMs.toFixed(1)} ms, loss read-back ${p.readbackMs.toFixed(1)} ms; ` +
        `${p.dispatches} dispatches × ${p.launchUs.toFixed(0)} µs launch cost (trivial kernel) ≈ ${((p.dispatches * p.launchUs) / 1000).toFixed(1)} ms of it`,
      `  kernel time by family (one profiled step; ${r.profileMethod}) against the family's ideal time:`,
    );
    for (const f of r.families) lines.push(formatFamily(f));
  }
  return lines.join('\n');
}
