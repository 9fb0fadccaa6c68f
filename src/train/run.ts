/**
 * A training run in a folder: data, the step loop, codebook health, validation, metrics, atomic
 * checkpoints with everything needed to continue exactly (weights, AdamW moments and step, EMA
 * weights, code usage; the data order and every random draw are pure functions of seed and step).
 *
 * Folder layout:
 *   config.json          the run's settings (also stored inside state.safetensors)
 *   state.safetensors    resume state, rewritten atomically at each checkpoint
 *   model.safetensors    the inference checkpoint (EMA weights when EMA is on)
 *   metrics.jsonl        one line per step ({"kind":"train",...}) and per validation ({"kind":"val",...})
 *   train.log            the log lines printed during the run
 *   val/step-NNNNNN.png  validation inputs | reconstructions
 *   loss.png             loss curves (train MSE, validation MSE), written at the end
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Engine } from '../gpu/engine.js';
import { encodePng, fromModelOutput, psnr, sideBySide, type RgbImage } from '../io/image.js';
import { decodeSafetensors, encodeSafetensors, SafetensorsError, type NamedTensor } from '../io/safetensors.js';
import { canonicalConfigJson, CheckpointError, loadAnyCheckpoint, saveCheckpoint, validateConfig, writeFileAtomic, type CheckpointDType } from '../model/checkpoint.js';
import { paramSpecs, tokensPerImage, type AnyModelConfig } from '../model/config.js';
import { TokenizerModel } from '../model/model.js';
import { serializeTiTok, serializeTiTokFile } from '../model/titok-checkpoint.js';
import { checkTiTok, isTiTok, titokParamSpecs, TiTokConfigError } from '../model/titok-config.js';
import { loadTiTokDir } from '../model/titok-files.js';
import { TiTokModel } from '../model/titok.js';
import { measuresByDefault, tuneModel } from '../model/tune.js';
import type { Tensor } from '../tensor.js';
import { CodeUsage } from './codes.js';
import { Dataset, splitFiles, type SkippedFile } from './data.js';
import { Ema } from './optim.js';
import { plotLossCurves } from './plot.js';
import { lrAt, type LrSchedule } from './schedule.js';
import { Trainer, type TrainableModel } from './trainer.js';
import { warmStart, WarmStartError, type WarmStart } from './warm-start.js';

/** Everything that defines a run (stored with its state; a resumed run uses the stored one). */
export interface RunSettings {
  /** Training images (files, already expanded from folders). */
  trainFiles: string[];
  /** Validation images. */
  valFiles: string[];
  preset: string | null;
  /** A patch-token model, or a TiTok VQ model (also written as the reference's folder model/). */
  model: AnyModelConfig;
  steps: number;
  batch: number;
  lr: number;
  minLr: number;
  warmup: number;
  weightDecay: number;
  clip: number;
  /** EMA decay of the weights (0: off). */
  ema: number;
  weights: { mse: number; l1: number; codebook: number };
  seed: number;
  cacheMb: number;
  minScale: number;
  flip: boolean;
  reseed: boolean;
  /** A code unused for this many steps is dead. */
  deadAfter: number;
  /** Steps between dead-code re-seedings. */
  reseedEvery: number;
  logEvery: number;
  valEvery: number;
  ckptEvery: number;
  exportDtype: CheckpointDType;
  /**
   * Nested dropout (TiTok models; 0 off): the probability that an image of a step is decoded from
   * only its first k tokens, k uniform in 1..K (coarse-to-fine tokens). Absent in older runs: 0.
   */
  nestedDropout?: number;
  /** Quantizer warm-up steps (TiTok models; see TrainerOptions.quantizerWarmup). Absent in older runs: 0. */
  vqWarmup?: number;
  /** A checkpoint (file, or TiTok folder) whose weights start the run (warm-start.ts); absent: random. */
  initFrom?: string;
}

/** What the loop needs to know of either model family. */
interface Family {
  specs: { name: string; shape: number[] }[];
  codebook: string;
  codeDim: number;
  tokens: number;
  beta: number;
}

function family(c: AnyModelConfig): Family {
  if (isTiTok(c)) return { specs: titokParamSpecs(c), codebook: 'quantize.embedding.weight', codeDim: c.tokenSize, tokens: c.tokens, beta: c.commitmentCost };
  return { specs: paramSpecs(c), codebook: 'vq.codebook', codeDim: c.codeDim, tokens: tokensPerImage(c), beta: c.beta };
}

/** The model's configuration checked (and, for patch-token models, normalized) as a checkpoint's would be. */
function checkModel(c: AnyModelConfig): AnyModelConfig {
  if (!isTiTok(c)) return validateConfig(c);
  try {
    checkTiTok(c);
  } catch (e) {
    throw new RunError((e as TiTokConfigError).message);
  }
  if (c.quantizeMode !== 'vq') throw new RunError('training is available for TiTok VQ models only (quantize_mode vq)');
  return c;
}

export interface RunHooks {
  /** A log line (also appended to train.log). */
  log(line: string): void;
  /** Called after every step with its metrics (progress display). */
  progress?(m: TrainMetrics, settings: RunSettings): void;
  /** Polled after each step: true stops the run after a checkpoint. */
  shouldStop?(): boolean;
}

export interface TrainMetrics {
  kind: 'train';
  step: number;
  lr: number;
  loss: number;
  mse: number;
  l1?: number;
  codebook: number;
  commitment: number;
  gradNorm: number | null;
  codesUsed: number;
  perplexity: number;
  deadCodes: number;
  reseeded: number;
  ms: number;
}

export interface ValMetrics {
  kind: 'val';
  step: number;
  mse: number;
  psnr: number;
  codeUsage: number;
  images: number;
}

export interface RunResult {
  step: number;
  stopped: boolean;
  lastVal: ValMetrics | null;
  skipped: SkippedFile[];
}

const STATE_KEY = 'tok1d_train';
const STATE_VERSION = 1;

export class RunError extends Error {
  override name = 'RunError';
}

/** Default split of a list of files into training and validation (see data.splitFiles). */
export { splitFiles };

/** Validates settings; throws RunError naming the first bad value. */
export function checkSettings(s: RunSettings): void {
  const ints: [string, number, number][] = [
    ['steps', s.steps, 1], ['batch', s.batch, 1], ['warmup', s.warmup, 0], ['deadAfter', s.deadAfter, 1], ['reseedEvery', s.reseedEvery, 1],
    ['logEvery', s.logEvery, 1], ['valEvery', s.valEvery, 1], ['ckptEvery', s.ckptEvery, 1], ['cacheMb', s.cacheMb, 0],
  ];
  for (const [k, v, min] of ints) if (!Number.isInteger(v) || v < min) throw new RunError(`${k} must be an integer ≥ ${min}, got ${v}`);
  if (s.warmup > s.steps) throw new RunError(`the warm-up of ${s.warmup} steps is longer than the run's ${s.steps} steps`);
  if (!(s.lr > 0 && Number.isFinite(s.lr))) throw new RunError(`lr must be positive, got ${s.lr}`);
  if (!(s.minLr >= 0 && s.minLr <= s.lr)) throw new RunError(`min-lr must lie in [0, lr], got ${s.minLr}`);
  if (!(s.weightDecay >= 0)) throw new RunError(`weight decay must be ≥ 0, got ${s.weightDecay}`);
  if (!(s.clip >= 0)) throw new RunError(`clip must be ≥ 0, got ${s.clip}`);
  if (!(s.ema === 0 || (s.ema > 0 && s.ema < 1))) throw new RunError(`ema must be 0 (off) or in (0, 1), got ${s.ema}`);
  if (!(s.minScale > 0 && s.minScale <= 1)) throw new RunError(`min-scale must lie in (0, 1], got ${s.minScale}`);
  for (const [k, v] of Object.entries(s.weights)) if (!(v >= 0 && Number.isFinite(v))) throw new RunError(`${k} weight must be ≥ 0, got ${v}`);
  if (!(s.weights.mse > 0 || s.weights.l1 > 0)) throw new RunError('one of the MSE and L1 weights must be positive');
  if (!Number.isInteger(s.seed) || s.seed < 0 || s.seed > 0xffffffff) throw new RunError(`seed must be an integer in [0, 2^32), got ${s.seed}`);
  if (!s.trainFiles.length) throw new RunError('no training images');
  const nd = s.nestedDropout ?? 0;
  if (!(nd >= 0 && nd <= 1)) throw new RunError(`nested dropout must lie in [0, 1], got ${nd}`);
  if (nd > 0 && !isTiTok(s.model)) throw new RunError('nested dropout needs a latent-token (TiTok) model');
  const vw = s.vqWarmup ?? 0;
  if (!(Number.isInteger(vw) && vw >= 0)) throw new RunError(`the quantizer warm-up must be a whole number of steps, got ${vw}`);
  if (vw > 0 && !isTiTok(s.model)) throw new RunError('the quantizer warm-up needs a latent-token (TiTok) model');
  if (isTiTok(s.model)) checkModel(s.model);
  else validateConfig(JSON.parse(canonicalConfigJson(s.model)));
}

export function statePath(dir: string): string {
  return join(dir, 'state.safetensors');
}

/** Reads the settings and step stored in a run folder's state (for --resume). */
export function readRunState(dir: string): { settings: RunSettings; step: number; tensors: Map<string, NamedTensor> } {
  const path = statePath(dir);
  if (!existsSync(path)) throw new RunError(`${dir}: no training state (${path}) to resume from`);
  const { metadata, tensors } = decodeSafetensors(readFileSync(path));
  const raw = metadata[STATE_KEY];
  if (!raw) throw new RunError(`${path}: not a tok1d training state`);
  const st = JSON.parse(raw) as { version: number; step: number; settings: RunSettings };
  if (st.version !== STATE_VERSION) throw new RunError(`${path}: training state version ${st.version} (this build reads ${STATE_VERSION})`);
  st.settings.model = checkModel(st.settings.model);
  return { settings: st.settings, step: st.step, tensors };
}

/**
 * Runs (or, with resume, continues) training in `dir` until settings.steps or a stop request.
 * A stop request ends the step in progress, writes a checkpoint and returns stopped: true.
 */
export async function runTraining(engine: Engine, dir: string, settings: RunSettings, hooks: RunHooks, resume = false): Promise<RunResult> {
  checkSettings(settings);
  // A new run's starting weights, checked before anything is written.
  const init = !resume && settings.initFrom ? await initWrites(settings.model, settings.initFrom) : null;
  mkdirSync(join(dir, 'val'), { recursive: true });
  const s = settings;
  const logPath = join(dir, 'train.log');
  const writeConfig = () => writeFileSync(join(dir, 'config.json'), JSON.stringify(s, null, 2) + '\n');
  const schedule = (total = s.steps): LrSchedule => ({ base: s.lr, warmup: s.warmup, total, minLr: s.minLr });
  const log = (line: string) => {
    hooks.log(line);
    appendFileSync(logPath, line + '\n');
  };

  const train = await Dataset.open(s.trainFiles, { size: s.model.imageSize, seed: s.seed, cacheMb: s.cacheMb, minScale: s.minScale, flip: s.flip });
  const val = await Dataset.open(s.valFiles, { size: s.model.imageSize, seed: s.seed, cacheMb: s.cacheMb, minScale: 1, flip: false });
  const skipped = [...train.skipped, ...val.skipped];
  for (const k of skipped) log(`skipped ${k.file}: ${k.reason}`);
  if (!train.length) throw new RunError('none of the training images could be read');

  const fam = family(s.model);
  let start = 0;
  let model: TrainableModel;
  let stored: Map<string, NamedTensor> | null = null;
  let storedSteps = s.steps;
  if (resume) {
    const st = readRunState(dir);
    start = st.step;
    stored = st.tensors;
    storedSteps = st.settings.steps;
    // The number of steps is the one setting a resume may change (tok1d train --resume DIR --steps N).
    const keys = new Set([...Object.keys(st.settings), ...Object.keys(s)]);
    const was = st.settings as unknown as Record<string, unknown>;
    const now = s as unknown as Record<string, unknown>;
    for (const k of keys) {
      if (k !== 'steps' && JSON.stringify(was[k]) !== JSON.stringify(now[k])) throw new RunError(`a resumed run may change only its number of steps, not ${k}`);
    }
    const params = new Map<string, Tensor>();
    for (const p of fam.specs) {
      const t = stored.get(`param/${p.name}`);
      if (!t || t.data.length !== p.shape.reduce((a, b) => a * b, 1)) throw new RunError(`training state lacks parameter ${p.name}`);
      params.set(p.name, engine.upload(t.data, p.shape));
    }
    model = isTiTok(s.model) ? new TiTokModel(engine, s.model, params) : new TokenizerModel(engine, s.model, params);
  } else {
    model = isTiTok(s.model) ? TiTokModel.random(engine, s.model, s.seed) : TokenizerModel.random(engine, s.model, s.seed);
    if (init) {
      for (const w of init.writes) engine.write(model.p(w.name), w.data, 4 * w.offset);
      const all = fam.specs.length;
      log(`initialized from ${s.initFrom}: ${all - init.fresh.length} of ${all} parameters; random or partly random: ${init.fresh.slice(0, 6).join(', ')}${init.fresh.length > 6 ? `, … (${init.fresh.length})` : ''}`);
    }
    writeConfig();
    rmSync(join(dir, 'metrics.jsonl'), { force: true });
  }
  // Thousands of steps repay the fast kernels' compile, however small the model (engine.quickCompileFlops).
  engine.quickCompileFlops = 0;
  // Kernel choices for this run's shapes: the stored ones (tok1d bench --tune --suite train), and on
  // hardware adapters the missing ones timed first.
  await tuneModel(engine, s.model, s.batch, { training: true, measure: measuresByDefault(engine) });
  const trainer = new Trainer(model, {
    lr: s.lr,
    minLr: s.minLr,
    warmup: s.warmup,
    totalSteps: s.steps,
    weightDecay: s.weightDecay,
    clip: s.clip,
    weights: s.weights,
    ...(s.nestedDropout ? { nestedDropout: { prob: s.nestedDropout, seed: s.seed } } : {}),
    ...(s.vqWarmup ? { quantizerWarmup: s.vqWarmup } : {}),
  });
  const named = fam.specs.map((p) => ({ name: p.name, tensor: model.p(p.name) }));
  const ema = s.ema > 0 ? new Ema(engine, named, s.ema) : null;
  const codes = new CodeUsage(s.model.codebookSize, s.deadAfter, start);
  if (stored) {
    const m: Record<string, Float32Array> = {};
    const v: Record<string, Float32Array> = {};
    const e: Record<string, Float32Array> = {};
    for (const p of named) {
      m[p.name] = stored.get(`adam.m/${p.name}`)?.data ?? new Float32Array(0);
      v[p.name] = stored.get(`adam.v/${p.name}`)?.data ?? new Float32Array(0);
      if (ema) {
        const t = stored.get(`ema/${p.name}`);
        if (!t) throw new RunError(`training state lacks EMA weights for ${p.name}`);
        e[p.name] = t.data;
      }
    }
    trainer.optimizer.loadState({ step: start, m, v });
    if (ema) ema.loadState(e);
    const lu = stored.get('codes/last_used');
    if (!lu || lu.data.length !== codes.codes) throw new RunError('training state lacks code usage');
    codes.lastUsed.set(lu.data);
    truncateMetrics(join(dir, 'metrics.jsonl'), start);
    if (storedSteps !== s.steps) {
      const lr = (total: number) => lrAt(start + 1, schedule(total)).toExponential(2);
      log(`schedule changed from ${storedSteps} to ${s.steps} steps: learning rate at step ${start + 1} ${lr(storedSteps)} → ${lr(s.steps)}`);
      writeConfig();
    }
    log(`resumed at step ${start} of ${s.steps}`);
  }

  const S = s.model.imageSize;
  const images = engine.empty([s.batch, S, S, 3]);
  const metricsPath = join(dir, 'metrics.jsonl');
  let pending: string[] = [];
  const flushMetrics = () => {
    if (pending.length) appendFileSync(metricsPath, pending.join(''));
    pending = [];
  };
  let lastVal: ValMetrics | null = null;
  let stopped = false;

  const checkpoint = async (step: number) => {
    flushMetrics();
    const tensors = new Map<string, NamedTensor>();
    const specs = fam.specs;
    const weights = (await engine.readMany(specs.map((p) => model.p(p.name)))) as Float32Array[];
    specs.forEach((p, i) => tensors.set(`param/${p.name}`, { shape: p.shape, data: weights[i]! }));
    const opt = await trainer.optimizer.state();
    for (const p of specs) {
      tensors.set(`adam.m/${p.name}`, { shape: p.shape, data: opt.m[p.name]! });
      tensors.set(`adam.v/${p.name}`, { shape: p.shape, data: opt.v[p.name]! });
    }
    const emaState = ema ? await ema.state() : null;
    if (emaState) for (const p of specs) tensors.set(`ema/${p.name}`, { shape: p.shape, data: emaState[p.name]! });
    tensors.set('codes/last_used', { shape: [codes.codes], data: Float32Array.from(codes.lastUsed) });
    const meta = { [STATE_KEY]: JSON.stringify({ version: STATE_VERSION, step, settings: s }) };
    await writeFileAtomic(statePath(dir), encodeSafetensors(tensors, meta));
    const exported = new Map<string, Float32Array>();
    for (const p of specs) exported.set(p.name, emaState ? emaState[p.name]! : tensors.get(`param/${p.name}`)!.data);
    const metadata = { step: String(step), weights: ema ? `ema ${s.ema}` : 'live' };
    if (isTiTok(s.model)) {
      // One file (--checkpoint RUN/model.safetensors) and the reference's folder (config.json,
      // model.safetensors) that the reference code loads: --checkpoint RUN/model.
      const dtype = s.exportDtype === 'f16' ? 'F16' : 'F32';
      await writeFileAtomic(join(dir, 'model.safetensors'), serializeTiTokFile(s.model, exported, dtype, metadata));
      const files = serializeTiTok(s.model, exported, dtype);
      mkdirSync(join(dir, 'model'), { recursive: true });
      await writeFileAtomic(join(dir, 'model', 'model.safetensors'), files.weights);
      await writeFileAtomic(join(dir, 'model', 'config.json'), new TextEncoder().encode(files.config));
    } else await saveCheckpoint(join(dir, 'model.safetensors'), s.model, exported, { dtype: s.exportDtype, metadata });
  };

  // Validation inputs are fixed: resampled once.
  const valInputs = val.length ? await val.centreCrops() : new Float32Array(0);
  const validate = async (step: number): Promise<ValMetrics | null> => {
    if (!val.length) return null;
    if (ema) ema.swapIn();
    try {
      const inputs = valInputs;
      let se = 0;
      let psnrSum = 0;
      const ids: number[] = [];
      const rows: RgbImage[] = [];
      for (let b0 = 0; b0 < val.length; b0 += s.batch) {
        const n = Math.min(s.batch, val.length - b0);
        const x = engine.upload(inputs.subarray(b0 * S * S * 3, (b0 + n) * S * S * 3), [n, S, S, 3]);
        const r = model.forward({ engine, tape: null }, x);
        const [out, idsBatch, recon] = (await engine.readMany([r.reconstruction, r.indices, r.recon])) as [Float32Array, Uint32Array, Float32Array];
        ids.push(...idsBatch);
        se += recon[0]! * n;
        engine.release(x, r.reconstruction, r.indices, r.recon, r.codebookLoss, r.commitmentLoss);
        for (let i = 0; i < n; i++) {
          const a = fromModelOutput(inputs.subarray((b0 + i) * S * S * 3, (b0 + i + 1) * S * S * 3), S);
          const b = fromModelOutput(out.subarray(i * S * S * 3, (i + 1) * S * S * 3), S);
          psnrSum += Math.min(psnr(a.rgb, b.rgb), 100);
          if (rows.length < 8) rows.push(sideBySide(upscale(a), upscale(b)));
        }
      }
      const m: ValMetrics = { kind: 'val', step, mse: se / val.length, psnr: psnrSum / val.length, codeUsage: CodeUsage.coverage(Uint32Array.from(ids), s.model.codebookSize), images: val.length };
      writeFileSync(join(dir, 'val', `step-${String(step).padStart(6, '0')}.png`), encodePng(stack(rows)));
      return m;
    } finally {
      if (ema) ema.swapOut();
    }
  };

  log(`training ${s.preset ?? 'custom'} model (${fam.tokens} tokens, ${s.model.codebookSize} codes) on ${train.length} images, validating on ${val.length}; ${s.steps} steps of ${s.batch}`);
  let step = start;
  for (; step < s.steps; step++) {
    if (hooks.shouldStop?.()) {
      stopped = true;
      break;
    }
    const t0 = performance.now();
    engine.write(images, await train.batch(step, s.batch));
    const reseedNow = s.reseed && (step + 1) % s.reseedEvery === 0;
    const l = trainer.step(images, { keepZ: reseedNow });
    if (ema) ema.update();
    // One submit and one read-back per step: the token ids, the losses and (when re-seeding) z and the codebook.
    const scalars = [l.recon, l.codebook, l.commitment, l.l1, l.gradNorm];
    const wanted = [l.indices, ...scalars.filter((t): t is Tensor => t !== null), ...(reseedNow && l.z ? [l.z, model.p(fam.codebook)] : [])];
    const got = await engine.readMany(wanted);
    const ids = got[0] as Uint32Array;
    let k = 1;
    const [mse, cb, cm, l1, gn] = scalars.map((t) => (t ? (got[k++] as Float32Array)[0]! : null));
    const usage = codes.update(step + 1, ids);
    let reseeded = 0;
    if (reseedNow && l.z) {
      const z = got[k] as Float32Array;
      const cbw = got[k + 1] as Float32Array;
      reseeded = codes.reseed(step + 1, cbw, z, fam.codeDim, s.seed).length;
      if (reseeded) engine.write(model.p(fam.codebook), cbw);
    }
    trainer.releaseLosses(l);
    const w = s.weights;
    const m: TrainMetrics = {
      kind: 'train',
      step: step + 1,
      lr: lrAt(step + 1, schedule()),
      loss: w.mse * mse! + w.l1 * (l1 ?? 0) + w.codebook * cb! + fam.beta * cm!,
      mse: mse!,
      ...(l1 !== null ? { l1 } : {}),
      codebook: cb!,
      commitment: cm!,
      gradNorm: gn,
      codesUsed: usage.used,
      perplexity: usage.perplexity,
      deadCodes: usage.dead,
      reseeded,
      ms: performance.now() - t0,
    };
    if (!Number.isFinite(m.loss)) {
      flushMetrics();
      throw new RunError(`loss became ${m.loss} at step ${m.step}; lower --lr or raise --warmup (the last checkpoint is intact)`);
    }
    pending.push(JSON.stringify(m) + '\n');
    hooks.progress?.(m, s);
    if (m.step % s.logEvery === 0 || m.step === s.steps) {
      flushMetrics();
      log(`step ${m.step}/${s.steps} loss ${m.loss.toPrecision(4)} mse ${m.mse.toPrecision(4)}${m.l1 !== undefined ? ` l1 ${m.l1.toPrecision(4)}` : ''} codebook ${m.codebook.toPrecision(3)} codes ${m.codesUsed}/${s.batch * fam.tokens} ppl ${m.perplexity.toFixed(1)} dead ${m.deadCodes}${reseeded ? ` reseeded ${reseeded}` : ''} lr ${m.lr.toExponential(2)} ${m.ms.toFixed(0)} ms`);
    }
    if (m.step % s.valEvery === 0 || m.step === s.steps) {
      const v = await validate(m.step);
      if (v) {
        lastVal = v;
        pending.push(JSON.stringify(v) + '\n');
        log(`val step ${v.step}: mse ${v.mse.toPrecision(4)} psnr ${v.psnr.toFixed(2)} dB, codes used ${(100 * v.codeUsage).toFixed(1)}% on ${v.images} images`);
      }
    }
    if (m.step % s.ckptEvery === 0 && m.step !== s.steps) await checkpoint(m.step);
  }
  await checkpoint(step);
  log(stopped ? `stopped at step ${step}; checkpoint written (continue with: tok1d train --resume ${dir})` : `finished ${step} steps; checkpoint ${join(dir, 'model.safetensors')}`);
  if (!stopped) await writeLossPlot(dir);
  engine.release(images);
  ema?.dispose();
  trainer.optimizer.dispose();
  engine.release(...model.params.values());
  await engine.sync();
  return { step, stopped, lastVal, skipped };
}

/** The writes that start `model` from a checkpoint of either family: a file, or a TiTok folder (config.json, model.safetensors). */
async function initWrites(model: AnyModelConfig, path: string): Promise<WarmStart> {
  try {
    return warmStart(model, existsSync(join(path, 'config.json')) ? await loadTiTokDir(path) : await loadAnyCheckpoint(path));
  } catch (e) {
    if (e instanceof WarmStartError) throw new RunError(`--init-from ${path}: ${e.message}`);
    if (e instanceof CheckpointError || e instanceof TiTokConfigError || e instanceof SafetensorsError) throw new RunError(`--init-from: ${e.message}`);
    throw e;
  }
}

/** Drops metric lines past `step` (written after the checkpoint a run resumes from). */
function truncateMetrics(path: string, step: number): void {
  if (!existsSync(path)) return;
  const keep = readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line && (JSON.parse(line) as { step: number }).step <= step);
  writeFileSync(path, keep.map((l) => l + '\n').join(''));
}

/** loss.png from metrics.jsonl: train MSE (mean over windows) and validation MSE. */
export async function writeLossPlot(dir: string): Promise<void> {
  const path = join(dir, 'metrics.jsonl');
  if (!existsSync(path)) return;
  const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as TrainMetrics | ValMetrics);
  const train = lines.filter((l): l is TrainMetrics => l.kind === 'train');
  const valm = lines.filter((l): l is ValMetrics => l.kind === 'val');
  const window = Math.max(1, Math.floor(train.length / 200));
  const pts: { x: number; y: number }[] = [];
  for (let i = 0; i < train.length; i += window) {
    const w = train.slice(i, i + window);
    pts.push({ x: w[w.length - 1]!.step, y: w.reduce((a, b) => a + b.mse, 0) / w.length });
  }
  const png = await plotLossCurves(
    [
      { label: 'train mse', points: pts },
      { label: 'val mse', points: valm.map((v) => ({ x: v.step, y: v.mse })) },
    ],
    'reconstruction mse (log scale)',
  );
  writeFileSync(join(dir, 'loss.png'), png);
}

/** Nearest-neighbour upscale so small model images are visible (at least 128 px). */
function upscale(img: RgbImage): RgbImage {
  const f = Math.max(1, Math.floor(128 / img.width));
  if (f === 1) return img;
  const W = img.width * f;
  const H = img.height * f;
  const rgb = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) rgb.set(img.rgb.subarray(((Math.floor(y / f) * img.width + Math.floor(x / f)) * 3), (Math.floor(y / f) * img.width + Math.floor(x / f)) * 3 + 3), (y * W + x) * 3);
  return { width: W, height: H, rgb };
}

/** Rows stacked vertically with a 4-pixel white gap. */
function stack(rows: RgbImage[]): RgbImage {
  const width = Math.max(...rows.map((r) => r.width));
  const height = rows.reduce((a, r) => a + r.height, 0) + 4 * (rows.length - 1);
  const rgb = new Uint8Array(width * height * 3).fill(255);
  let y0 = 0;
  for (const r of rows) {
    for (let y = 0; y < r.height; y++) rgb.set(r.rgb.subarray(y * r.width * 3, (y + 1) * r.width * 3), ((y0 + y) * width) * 3);
    y0 += r.height + 4;
  }
  return { width, height, rgb };
}

/** Removes temporary files an interrupted checkpoint write left behind. */
export function cleanStaleTemps(dir: string): number {
  if (!existsSync(dir)) return 0;
  let n = 0;
  for (const f of readdirSync(dir)) {
    if (/^\..+\.tmp-\d+-[0-9a-f]+$/.test(f)) {
      rmSync(join(dir, f), { force: true });
      n++;
    }
  }
  return n;
}
