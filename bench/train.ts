/**
 * `tok1d bench --suite train`: milliseconds per training step and images/s for the tiny and small
 * presets (forward, backward, gradient norm and AdamW in one recorded step, the loss read back once
 * per step), and the share of step time per kernel family from one profiled step.
 */
import type { Engine } from '../src/gpu/engine.js';
import { presetConfig, type ModelConfig } from '../src/model/config.js';
import { TokenizerModel } from '../src/model/model.js';
import { measuresByDefault, tuneModel } from '../src/model/tune.js';
import { Trainer } from '../src/train/trainer.js';
import { randomF32, rng } from '../test/reference/util.js';

export interface TrainBenchResult {
  preset: string;
  batch: number;
  config: ModelConfig;
  msPerStep: number;
  msMin: number;
  msMax: number;
  stepsPerSec: number;
  imagesPerSec: number;
  /** Share of one profiled step's kernel time per family (kernel file name), largest first. */
  families: { family: string; ms: number; share: number; dispatches: number }[];
  profileMethod: string;
}

export async function benchTrain(engine: Engine, o: { presets: string[]; batch: number; runs: number; log: (s: string) => void }): Promise<TrainBenchResult[]> {
  const out: TrainBenchResult[] = [];
  for (const preset of o.presets) {
    const config = presetConfig(preset);
    o.log(`train ${preset}: batch ${o.batch}`);
    // The kernel choices a training run uses (tok1d train does the same).
    await tuneModel(engine, config, o.batch, { training: true, measure: measuresByDefault(engine) });
    const model = TokenizerModel.random(engine, config, 1);
    const trainer = new Trainer(model, { lr: 1e-3, warmup: 10, totalSteps: 1000, clip: 1 });
    const S = config.imageSize;
    const images = engine.upload(randomF32(o.batch * S * S * 3, rng(7)), [o.batch, S, S, 3]);
    const step = async () => {
      const l = trainer.step(images);
      await engine.readF32(l.recon);
      trainer.releaseLosses(l);
    };
    await step();
    await step();
    const times: number[] = [];
    for (let i = 0; i < o.runs; i++) {
      const t0 = performance.now();
      await step();
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const ms = times[Math.floor(times.length / 2)]!;
    engine.profile = new Map();
    await step();
    const prof = engine.profile;
    engine.profile = null;
    const byFamily = new Map<string, { ms: number; dispatches: number }>();
    for (const [k, v] of prof) {
      const fam = k.split(':')[0]!;
      const cur = byFamily.get(fam) ?? { ms: 0, dispatches: 0 };
      cur.ms += v.ms;
      cur.dispatches += v.count;
      byFamily.set(fam, cur);
    }
    const total = [...byFamily.values()].reduce((a, b) => a + b.ms, 0);
    const families = [...byFamily.entries()]
      .map(([family, v]) => ({ family, ms: v.ms, share: v.ms / total, dispatches: v.dispatches }))
      .sort((a, b) => b.ms - a.ms);
    out.push({
      preset,
      batch: o.batch,
      config,
      msPerStep: ms,
      msMin: times[0]!,
      msMax: times[times.length - 1]!,
      stepsPerSec: 1000 / ms,
      imagesPerSec: (o.batch * 1000) / ms,
      families,
      profileMethod: engine.info.software && engine.info.backend === 'opengl' ? 'wall clock per dispatch (llvmpipe runs work inside submit)' : 'wall clock per submit (submission cost only on this executor)',
    });
    engine.release(images, ...model.params.values());
    trainer.optimizer.dispose();
  }
  return out;
}

export function formatTrain(results: TrainBenchResult[], adapter: string, runs: number): string {
  const lines = [`adapter   ${adapter}`, `timing    wall clock per step (forward + backward + AdamW, loss read back), median of ${runs}`, ''];
  for (const r of results) {
    const c = r.config;
    lines.push(
      `${r.preset}: ${c.imageSize}×${c.imageSize}, patch ${c.patch}, width ${c.width}, depth ${c.encoderDepth}+${c.decoderDepth}, ${c.codebookSize} codes; batch ${r.batch}: ` +
        `${r.msPerStep.toFixed(1)} ms/step (min ${r.msMin.toFixed(1)}, max ${r.msMax.toFixed(1)}), ${r.stepsPerSec.toFixed(2)} steps/s, ${r.imagesPerSec.toFixed(1)} images/s`,
    );
    lines.push(`  kernel time by family (one profiled step; ${r.profileMethod}):`);
    for (const f of r.families) lines.push(`    ${f.family.padEnd(18)} ${(100 * f.share).toFixed(1).padStart(5)}%  ${f.ms.toFixed(1).padStart(8)} ms  ${String(f.dispatches).padStart(5)} dispatches`);
  }
  return lines.join('\n');
}
