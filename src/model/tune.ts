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
import { tokensPerImage, type AnyModelConfig } from './config.js';
import { isTiTok, TITOK_SIZES, titokGrid } from './titok-config.js';

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
export function modelMatmuls(c: AnyModelConfig, batch: number, o: { training?: boolean } = {}): ModelMatmul[] {
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
  const linear = (what: string, rows: number, inF: number, outF: number, o: { act?: 'gelu'; residual?: boolean; gradAct?: 'gelu' } = {}) => {
    push(what, { M: rows, N: outF, K: inF, bias: true, act: o.act, accumulate: o.residual, constB: !training });
    if (training) {
      push(`${what} dX`, { M: rows, N: inF, K: outF, transB: true, act: o.gradAct, constB: false });
      push(`${what} dW`, { M: inF, N: outF, K: rows, transA: true, constB: false, colSums: true });
    }
  };
  const blocks = (prefix: string, rows: number, D: number, H: number) => {
    linear(`${prefix}attn.qkv`, rows, D, 3 * D);
    linear(`${prefix}attn.proj`, rows, D, D, { residual: true });
    linear(`${prefix}mlp.fc1`, rows, D, H, { act: 'gelu' });
    linear(`${prefix}mlp.fc2`, rows, H, D, { residual: true, gradAct: 'gelu' });
  };
  if (isTiTok(c)) {
    // The encoder's and decoder's sequences: class token, patch or mask rows, latent tokens.
    const e = TITOK_SIZES[c.encoderSize];
    const d = TITOK_SIZES[c.decoderSize];
    const Ge = titokGrid(c, 'encoder');
    const Gd = titokGrid(c, 'decoder');
    linear('encoder.patch_embed', batch * Ge * Ge, 3 * c.encoderPatch ** 2, e.width);
    blocks('encoder.', batch * (1 + Ge * Ge + c.tokens), e.width, 4 * e.width);
    linear('encoder.conv_out', batch * c.tokens, e.width, c.quantizeMode === 'vae' ? 2 * c.tokenSize : c.tokenSize);
    linear('decoder.decoder_embed', batch * c.tokens, c.tokenSize, d.width);
    blocks('decoder.', batch * (1 + Gd * Gd + c.tokens), d.width, 4 * d.width);
    linear('decoder.ffn', batch * Gd * Gd, d.width, 3 * c.decoderPatch ** 2);
    return out;
  }
  const rows = batch * tokensPerImage(c);
  const D = c.width;
  const PP3 = c.patch * c.patch * 3;
  linear('enc.patch', rows, PP3, D);
  blocks('', rows, D, D * c.mlpRatio);
  if (c.codeDim !== D) linear('enc.proj', rows, D, c.codeDim);
  linear('dec.embed', rows, c.codeDim, D);
  linear('dec.out', rows, D, PP3);
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
export async function tuneModel(engine: Engine, config: AnyModelConfig, batch: number, o: TuneModelOptions = {}): Promise<TunedModelMatmul[]> {
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
export async function tuneModelReductions(engine: Engine, config: AnyModelConfig, o: TuneModelOptions = {}): Promise<TunedReductions> {
  const widths = isTiTok(config) ? [...new Set([TITOK_SIZES[config.encoderSize].width, TITOK_SIZES[config.decoderSize].width])] : [config.width];
  let last: TunedReductions | undefined;
  for (const w of widths) last = await tuneReductions(engine, w, { measure: o.measure !== false, force: o.force, log: o.log });
  return last!;
}

/** The stored entries of a model's classes (no measuring): what `tok1d bench --tune` prints. */
export function modelChoices(engine: Engine, config: AnyModelConfig, batch: number, o: { training?: boolean } = {}): { what: string; shape: MatmulShape; shapeClass: string; entry: TuneEntry | undefined }[] {
  return modelMatmuls(config, batch, o).map((m) => {
    const cls = shapeClass(m.shape);
    return { ...m, shapeClass: cls, entry: engine.tuner.entry('matmul', cls) };
  });
}
