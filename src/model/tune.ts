/**
 * Kernel selection for a model ahead of its first batch: the matmul shapes one encode/decode batch
 * (and, for training, one step's backward) runs, each tuned once per device and shape class
 * (src/gpu/autotune.ts, src/ops/matmul.ts). Stored choices are reused without measuring, so after
 * the first run on a device this costs a file read.
 */
import type { TuneEntry } from '../gpu/autotune.js';
import type { Engine } from '../gpu/engine.js';
import { shapeClass, tuneMatmul, type MatmulShape, type TunedMatmul } from '../ops/matmul.js';
import { tuneReductions, type TunedReductions } from '../ops/reductions.js';
import { tokensPerImage, type ModelConfig } from './config.js';

/** One of the model's matmuls: what it is for, and its shape. */
export interface ModelMatmul {
  what: string;
  shape: MatmulShape;
}

/**
 * The matmuls of one batch of `batch` images, one per shape class (the first layer named for a
 * class stands for the rest). Linear layers are x [rows, in] · W [in, out] + b with rows = batch ·
 * tokens; with `training`, also their gradients dX = dY · Wᵀ and dW = Xᵀ · dY, and every weight
 * counts as changing between calls (repacked each step).
 */
export function modelMatmuls(c: ModelConfig, batch: number, o: { training?: boolean } = {}): ModelMatmul[] {
  const rows = batch * tokensPerImage(c);
  const D = c.width;
  const H = D * c.mlpRatio;
  const PP3 = c.patch * c.patch * 3;
  const training = !!o.training;
  const out: ModelMatmul[] = [];
  const seen = new Set<string>();
  const push = (what: string, shape: MatmulShape) => {
    const cls = shapeClass(shape);
    if (seen.has(cls)) return;
    seen.add(cls);
    out.push({ what, shape });
  };
  // As autograd/functions.ts runs them: the projections add the residual in their epilogue
  // (accumulate), fc1 applies GELU in its epilogue, and fc2's dX applies GELU's derivative in its
  // (timed here with GELU itself: the same epilogue but for the derivative's formula).
  const linear = (what: string, inF: number, outF: number, o: { act?: 'gelu'; residual?: boolean; gradAct?: 'gelu' } = {}) => {
    push(what, { M: rows, N: outF, K: inF, bias: true, act: o.act, accumulate: o.residual, constB: !training });
    if (training) {
      push(`${what} dX`, { M: rows, N: inF, K: outF, transB: true, act: o.gradAct, constB: false });
      push(`${what} dW`, { M: inF, N: outF, K: rows, transA: true, constB: false, colSums: true });
    }
  };
  linear('enc.patch', PP3, D);
  linear('attn.qkv', D, 3 * D);
  linear('attn.proj', D, D, { residual: true });
  linear('mlp.fc1', D, H, { act: 'gelu' });
  linear('mlp.fc2', H, D, { residual: true, gradAct: 'gelu' });
  if (c.codeDim !== D) linear('enc.proj', D, c.codeDim);
  linear('dec.embed', c.codeDim, D);
  linear('dec.out', D, PP3);
  return out;
}

export interface TuneModelOptions {
  /** Also the backward matmuls of a training step. */
  training?: boolean;
  /** Measure again even where a choice is stored (`tok1d bench --tune`). */
  force?: boolean;
  /**
   * false: only read the stored choices, measure nothing (classes without one use the fixed rule).
   * Default true: measure the classes the store lacks.
   */
  measure?: boolean;
  log?: (line: string) => void;
}

export interface TunedModelMatmul extends TunedMatmul {
  what: string;
}

/**
 * Whether tuning measures the classes the store lacks by default: on hardware adapters, where it
 * takes seconds, and not on CPU executors, where compiling and timing every candidate takes 80-105 s
 * per preset (`tok1d bench --tune` does that ahead of time).
 */
export function measuresByDefault(engine: Engine): boolean {
  return !engine.info.software;
}

/**
 * Makes sure every matmul shape class of the model at this batch size has a choice on the
 * engine's device: reads the engine's tune store, measures the classes it lacks (or all, with
 * force), and saves the store. Afterwards matmul() picks the tuned plans synchronously.
 * Call once after loading a model (Tokenizer) or setting up training, before the first batch.
 * Measuring costs seconds per class on a CPU executor (more the first time, while llvmpipe
 * compiles each candidate); a stored choice costs nothing. Returns every class with its entry
 * (`measured` false where the stored one was reused; empty with measure: false).
 */
export async function tuneModel(engine: Engine, config: ModelConfig, batch: number, o: TuneModelOptions = {}): Promise<TunedModelMatmul[]> {
  if (o.measure === false) {
    await engine.tuner.load();
    await tuneModelReductions(engine, config, o);
    return [];
  }
  const results: TunedModelMatmul[] = [];
  try {
    for (const m of modelMatmuls(config, batch, o)) {
      const r = await tuneMatmul(engine, m.shape, { force: o.force, log: o.log });
      results.push({ ...r, what: m.what });
    }
    await tuneModelReductions(engine, config, o);
  } finally {
    await engine.tuner.save();
  }
  return results;
}

/**
 * The workgroup-reduction variant for the model's rows (its width): the stored choice, or with
 * measuring allowed, timed now (src/ops/reductions.ts; only on devices with 'subgroups').
 */
export function tuneModelReductions(engine: Engine, config: ModelConfig, o: TuneModelOptions = {}): Promise<TunedReductions> {
  return tuneReductions(engine, config.width, { measure: o.measure !== false, force: o.force, log: o.log });
}

/** The stored entries of a model's classes (no measuring): what `tok1d bench --tune` prints. */
export function modelChoices(engine: Engine, config: ModelConfig, batch: number, o: { training?: boolean } = {}): { what: string; shape: MatmulShape; shapeClass: string; entry: TuneEntry | undefined }[] {
  return modelMatmuls(config, batch, o).map((m) => {
    const cls = shapeClass(m.shape);
    return { ...m, shapeClass: cls, entry: engine.tuner.entry('matmul', cls) };
  });
}
