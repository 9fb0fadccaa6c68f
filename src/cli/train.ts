/** `tok1d train`: option handling, signals and progress around train/run.ts. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { BackendName } from '../gpu/node.js';
import { CheckpointError, validateConfig } from '../model/checkpoint.js';
import type { AnyModelConfig } from '../model/config.js';
import { checkTiTok, isTiTok, TiTokConfigError, type TiTokConfig } from '../model/titok-config.js';
import { SafetensorsError } from '../io/safetensors.js';
import { cleanStaleTemps, readRunState, RunError, runTraining, splitFiles, type RunSettings, type TrainMetrics } from '../train/run.js';
import { openEngine } from './engine.js';
import { cliAnyPreset, EXIT, UsageError, UserError } from './errors.js';
import { collectImages } from './inputs.js';
import { formatDuration } from './progress.js';
import { TRAIN_DEFAULTS } from './train-options.js';

type Values = Record<string, string | boolean | string[] | undefined>;

const D = TRAIN_DEFAULTS;

function num(v: Values, key: string, dflt: number, integer = false): number {
  const raw = v[key];
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (raw === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) throw new UsageError(`--${key} must be ${integer ? 'an integer' : 'a number'}, not '${String(raw)}'`);
  return n;
}

function modelConfig(v: Values): { preset: string | null; model: AnyModelConfig } {
  return modelConfigFrom((v.preset as string | undefined) ?? D.preset, v.config as string | undefined);
}

/**
 * A model configuration from a preset and, over it, the fields of a JSON file (--config): what
 * `tok1d train` and `tok1d bench --suite train` take. preset is null where a file changed it.
 */
export function modelConfigFrom(presetName: string, configPath?: string): { preset: string | null; model: AnyModelConfig } {
  const base = cliAnyPreset(presetName);
  if (configPath === undefined) return { preset: presetName, model: { ...base } };
  let obj: unknown;
  try {
    obj = JSON.parse(readFileSync(configPath, 'utf8'));
  } catch (e) {
    throw new UserError(`${configPath}: ${(e as Error).message}`);
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new UserError(`${configPath}: not a JSON object`);
  try {
    if (isTiTok(base)) {
      // TiTokConfig's fields over the preset's (e.g. a smaller image, size or codebook).
      const model = { ...base, ...(obj as object), family: 'titok' } as TiTokConfig;
      checkTiTok(model, configPath);
      return { preset: null, model };
    }
    return { preset: null, model: validateConfig({ ...base, ...(obj as object) }, configPath) };
  } catch (e) {
    throw new UserError((e as Error).message);
  }
}

/** Settings from the command line (a new run). */
export function settingsFrom(v: Values): RunSettings {
  const inputs = v._ as string[];
  if (!inputs.length) throw new UsageError('give the training images (files or folders)');
  // The model first: a mistake in it is a usage error, reported before any file is read.
  const { preset, model } = modelConfig(v);
  const files = collectImages(inputs);
  const seed = num(v, 'seed', D.seed, true);
  let trainFiles: string[];
  let valFiles: string[];
  if (v.val !== undefined) {
    valFiles = collectImages([v.val as string]).map((f) => resolve(f));
    const held = new Set(valFiles);
    trainFiles = files.map((f) => resolve(f)).filter((f) => !held.has(f));
  } else {
    const split = splitFiles(files.map((f) => resolve(f)), seed);
    trainFiles = split.train;
    valFiles = split.val;
  }
  if (!trainFiles.length) throw new UsageError('no training images left (all inputs are validation images)');
  const dtype = (v['export-dtype'] as string | undefined) ?? 'f32';
  if (dtype !== 'f32' && dtype !== 'f16') throw new UsageError(`--export-dtype must be f32 or f16, not '${dtype}'`);
  return {
    trainFiles,
    valFiles,
    preset,
    model,
    steps: num(v, 'steps', D.steps, true),
    batch: num(v, 'batch', D.batch, true),
    lr: num(v, 'lr', D.lr),
    minLr: num(v, 'min-lr', Math.min(D.minLr, num(v, 'lr', D.lr))),
    warmup: num(v, 'warmup', Math.min(D.warmup, Math.floor(num(v, 'steps', D.steps, true) / 10)), true),
    weightDecay: num(v, 'weight-decay', D.weightDecay),
    clip: num(v, 'clip', D.clip),
    ema: num(v, 'ema', D.ema),
    weights: { mse: num(v, 'mse-weight', D.mseWeight), l1: num(v, 'l1-weight', D.l1Weight), codebook: num(v, 'codebook-weight', D.codebookWeight) },
    seed,
    cacheMb: num(v, 'cache-mb', D.cacheMb, true),
    minScale: num(v, 'min-scale', D.minScale),
    flip: v['no-flip'] !== true,
    reseed: v['no-reseed'] !== true,
    deadAfter: num(v, 'dead-after', D.deadAfter, true),
    reseedEvery: num(v, 'reseed-every', D.reseedEvery, true),
    logEvery: num(v, 'log-every', D.logEvery, true),
    valEvery: num(v, 'val-every', D.valEvery, true),
    ckptEvery: num(v, 'ckpt-every', D.ckptEvery, true),
    exportDtype: dtype,
    nestedDropout: num(v, 'nested-dropout', 0),
    vqWarmup: num(v, 'vq-warmup', 0, true),
    ...(v['init-from'] ? { initFrom: resolve(v['init-from'] as string) } : {}),
  };
}

/** A one-line progress display on a terminal. */
function progressLine(m: TrainMetrics, s: RunSettings, rate: number): string {
  const eta = rate > 0 ? (s.steps - m.step) / rate : NaN;
  return `step ${m.step}/${s.steps}  loss ${m.loss.toPrecision(3)} (mse ${m.mse.toPrecision(3)} cb ${m.codebook.toPrecision(2)})  codes ${m.codesUsed} ppl ${m.perplexity.toFixed(0)} dead ${m.deadCodes}  ${rate.toFixed(2)} steps/s  ETA ${formatDuration(eta)}`;
}

export async function train(v: Values, backend: BackendName | undefined): Promise<number> {
  let dir: string;
  let settings: RunSettings;
  const resume = v.resume !== undefined;
  if (resume) {
    const given = Object.keys(v).filter((k) => !['resume', '_', 'backend', 'steps'].includes(k) && v[k] !== undefined);
    if (given.length || (v._ as string[]).length) throw new UsageError(`--resume takes the run's own settings (and --steps to lengthen or shorten its schedule); drop ${given.length ? '--' + given.join(', --') : 'the inputs'}`);
    dir = v.resume as string;
    let reached: number;
    try {
      ({ settings, step: reached } = readRunState(dir));
    } catch (e) {
      if (e instanceof RunError || e instanceof SafetensorsError) throw new UserError(e.message);
      throw e;
    }
    if (v.steps !== undefined) {
      // A new length of the schedule: the warm-up and cosine are recomputed over it.
      const steps = num(v, 'steps', settings.steps, true);
      if (steps <= reached) throw new UsageError(`--steps ${steps}: the run has already made ${reached} steps; give more`);
      settings = { ...settings, steps };
    }
    const removed = cleanStaleTemps(dir);
    if (removed) process.stderr.write(`removed ${removed} temporary file(s) of an interrupted checkpoint write\n`);
  } else {
    if (v.out === undefined || v.out === '') throw new UsageError('give the run folder with -o DIR');
    dir = v.out as string;
    if (existsSync(dir) && readdirSync(dir).length) {
      throw new UserError(`${dir} is not empty: choose a new run folder, or continue this run with 'tok1d train --resume ${dir}'`);
    }
    settings = settingsFrom(v);
  }

  const engine = await openEngine(backend, false);
  let stop: NodeJS.Signals | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stop) return;
    stop = sig;
    process.stderr.write(`\n${sig}: stopping after this step and saving a checkpoint\n`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const tty = process.stderr.isTTY === true;
  let t0 = performance.now();
  let n0 = -1;
  let lastDraw = 0;
  try {
    const res = await runTraining(
      engine,
      dir,
      settings,
      {
        log: (line) => process.stderr.write(`${tty ? '\r\x1b[K' : ''}${line}\n`),
        shouldStop: () => stop !== null,
        progress: (m, s) => {
          if (n0 < 0) {
            n0 = m.step;
            t0 = performance.now();
          }
          if (!tty) return;
          const now = performance.now();
          if (now - lastDraw < 200) return;
          lastDraw = now;
          const rate = m.step > n0 ? ((m.step - n0) * 1000) / (now - t0) : 0;
          process.stderr.write(`\r\x1b[K${progressLine(m, s, rate)}`);
        },
      },
      resume,
    );
    if (res.lastVal) process.stdout.write(`validation PSNR ${res.lastVal.psnr.toFixed(2)} dB at step ${res.lastVal.step}, codes used ${(100 * res.lastVal.codeUsage).toFixed(1)}%\n`);
    // Stopped by a signal: the shell's convention, 128 + signal number.
    if (res.stopped) return stop === 'SIGINT' ? 130 : 143;
    return res.skipped.length ? EXIT.failure : EXIT.ok;
  } catch (e) {
    if (e instanceof RunError || e instanceof CheckpointError) throw new UserError(e.message);
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    engine.dispose();
  }
}
