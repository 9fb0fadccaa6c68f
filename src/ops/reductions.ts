/**
 * The workgroup-reduction variant of a device: kernels that include reduce.wgsl (layernorm,
 * softmax and l2normalize in their workgroup layouts, the mse/l1 sums, the gradient norm) reduce
 * either with the plain tree (reduce.wgsl) or with subgroup operations (reduce_subgroups.wgsl)
 * where the device has 'subgroups'. The subgroup variant is checked against the tree at start-up
 * (checkSubgroupReductions: every reduction kind on odd shapes; it is switched off on the engine
 * when it disagrees or fails) and then chosen by timing on the model's shapes, stored per device
 * and row width like the matmul plans (tuneReductions, from tuneModel).
 */
import { pow2, tuneInput, type TuneCandidate, type TuneEntry } from '../gpu/autotune.js';
import { relL2 } from '../util/stats.js';
import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../tensor.js';
import { l1, mse } from './elementwise.js';
import { layernorm, layernormBackward } from './layernorm.js';
import { l2normalize, l2normalizeBackward } from './normalize.js';
import { softmax, softmaxBackward } from './softmax.js';
import { gradNorm } from '../train/optim.js';

export type ReductionVariant = Engine['reductions'];

/** The tuner's kernel name for the choice. */
export const REDUCE_KERNEL = 'reduce';
/** The family name in engine.tuner.checked / disabled. */
const SUBGROUP_FAMILY = 'reduce:subgroups';
/**
 * Largest relative L2 distance from the tree that still counts as agreement: only the order of
 * f32 additions differs (a few ulps on these sizes), while a wrong slot or a lost subgroup moves
 * the result by far more than this.
 */
export const REDUCE_PARITY_TOL = 1e-5;

/** Whether the device can run the subgroup variant at all (it may still be switched off). */
export function hasSubgroups(engine: Engine): boolean {
  return engine.features.has('subgroups');
}

/** Why the subgroup variant is off on this engine, or null when it passed (or was never checked). */
export function subgroupReductionsDisabled(engine: Engine): string | null {
  return engine.tuner.disabled.get(SUBGROUP_FAMILY) ?? null;
}

/** Runs fn with the engine's reductions set to `variant`, restoring the previous setting after. */
export function withReductions<T>(engine: Engine, variant: ReductionVariant, fn: () => T): T {
  const before = engine.reductions;
  engine.reductions = variant;
  try {
    return fn();
  } finally {
    engine.reductions = before;
  }
}

/** tuneInput(n, seed) (with an offset: ×4 + offset) uploaded as `shape`, added to `keep` for release. */
function uploadInput(engine: Engine, keep: Tensor[], n: number, seed: number, shape: number[], offset = 0): Tensor {
  const data = tuneInput(n, seed);
  if (offset) for (let i = 0; i < n; i++) data[i] = data[i]! * 4 + offset;
  const t = engine.upload(data, shape);
  keep.push(t);
  return t;
}

/**
 * Every reduction kind in workgroup layouts on one set of inputs: sums (one and two per kernel),
 * maxima, partial then final sums. Rows of 1000 (several elements per invocation) and 37 (fewer
 * than the workgroup), values with an offset so that a lost or doubled term shows.
 */
function probe(engine: Engine): Tensor[] {
  const out: Tensor[] = [];
  const keep = (...ts: Tensor[]) => out.push(...ts);
  const tmp: Tensor[] = [];
  const up = (n: number, seed: number, shape: number[], offset = 0) => uploadInput(engine, tmp, n, seed, shape, offset);
  try {
    for (const [rows, D] of [[5, 1000], [3, 37]] as const) {
      const x = up(rows * D, 21 + D, [rows, D], 3);
      const dy = up(rows * D, 22 + D, [rows, D]);
      const g = up(D, 23 + D, [D], 1);
      const b = up(D, 24 + D, [D]);
      const ln = layernorm(engine, x, g, b, 1e-5, { layout: 'workgroup' });
      const lb = layernormBackward(engine, dy, x, g, ln.mean, ln.rstd, { layout: 'workgroup' });
      keep(ln.y, ln.mean, ln.rstd, lb.dx, lb.dgamma, lb.dbeta);
      const sm = softmax(engine, x, { layout: 'workgroup' });
      keep(sm, softmaxBackward(engine, dy, sm, { layout: 'workgroup' }));
      const nz = l2normalize(engine, x, { layout: 'workgroup' });
      keep(nz.y, nz.norm, l2normalizeBackward(engine, dy, nz.y, nz.norm, { layout: 'workgroup' }));
      keep(mse(engine, x, dy), l1(engine, x, dy), gradNorm(engine, [x, dy, g], { layout: 'workgroup' }));
    }
    return out;
  } catch (e) {
    engine.release(...out);
    throw e;
  } finally {
    engine.release(...tmp);
  }
}

async function readAll(engine: Engine, ts: Tensor[]): Promise<Float32Array> {
  const parts: Float32Array[] = [];
  try {
    for (const t of ts) parts.push(await engine.readF32(t));
  } finally {
    engine.release(...ts);
  }
  const all = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  return all;
}

/**
 * Start-up parity check of the subgroup variant (once per engine): probe() through the tree and
 * through subgroups; the variant is switched off on this engine (tuner.disabled) when the results
 * differ by more than REDUCE_PARITY_TOL or it fails to compile or run. True when it may be used.
 */
export async function checkSubgroupReductions(engine: Engine): Promise<boolean> {
  if (!hasSubgroups(engine)) return false;
  return engine.tuner.checkOnce(SUBGROUP_FAMILY, async () => {
    const want = await readAll(engine, withReductions(engine, 'tree', () => probe(engine)));
    // The variant's compile and validation errors are caught here, not reported as the device's.
    engine.device.pushErrorScope('validation');
    let outs: Tensor[] = [];
    let scoped: GPUError | null = null;
    try {
      outs = withReductions(engine, 'subgroups', () => probe(engine));
      engine.flush();
    } finally {
      scoped = await engine.device.popErrorScope();
    }
    if (scoped) {
      engine.release(...outs);
      return `failed: ${scoped.message.trim().split('\n')[0]}`;
    }
    const err = relL2(await readAll(engine, outs), want);
    return err <= REDUCE_PARITY_TOL ? null : `disagrees with the tree: relative L2 ${err.toExponential(2)}`;
  });
}

/** The shape class of a choice: rows of this many columns (the model's width), rounded up to a power of two. */
export function reductionClass(width: number): string {
  return `D${pow2(width)}`;
}

export interface TuneReductionsOptions {
  /** Measure when the store has no choice for the class (else the tree stays). Default true. */
  measure?: boolean;
  /** Measure again even where a choice is stored (once per class and process). */
  force?: boolean;
  /** Rows per timed run (default 512). */
  rows?: number;
  rounds?: number;
  log?: (line: string) => void;
}

export interface TunedReductions {
  variant: ReductionVariant;
  shapeClass: string;
  /** The stored or measured entry (undefined: nothing stored and nothing measured). */
  entry?: TuneEntry;
  measured: boolean;
  /** Why subgroups are not in the running, if they are not. */
  why?: string;
}

/**
 * Sets engine.reductions for rows of `width` columns: the tree unless the device has subgroups,
 * the variant passed its parity check, and it is the stored choice for the class or, measured now,
 * the faster one (a layernorm forward and backward and a softmax forward and backward of
 * [rows, width] in workgroup layouts, each candidate timed as tuner.tune does). The caller saves
 * the tuner (tuneModel does).
 */
export async function tuneReductions(engine: Engine, width: number, o: TuneReductionsOptions = {}): Promise<TunedReductions> {
  const cls = reductionClass(width);
  await engine.tuner.load();
  if (!hasSubgroups(engine)) return done('tree', { why: "the device has no 'subgroups' feature" });
  const stored = engine.tuner.entry(REDUCE_KERNEL, cls);
  // A forced re-tune measures a class once per process (several batch sizes share the width).
  const force = o.force && !engine.tuner.measuredHere(REDUCE_KERNEL, cls);
  const measure = force || (!stored && o.measure !== false);
  if (!stored && !measure) return done('tree', {});
  if (!(await checkSubgroupReductions(engine))) return done('tree', { entry: stored, why: subgroupReductionsDisabled(engine) ?? undefined });
  if (stored && !force) return done(stored.choice === 'subgroups' ? 'subgroups' : 'tree', { entry: stored });

  const rows = o.rows ?? 512;
  const tmp: Tensor[] = [];
  const up = (n: number, seed: number, shape: number[]) => uploadInput(engine, tmp, n, seed, shape);
  const x = up(rows * width, 31, [rows, width]);
  const dy = up(rows * width, 32, [rows, width]);
  const g = up(width, 33, [width]);
  const b = up(width, 34, [width]);
  const run = () => {
    const ln = layernorm(engine, x, g, b, 1e-5, { layout: 'workgroup' });
    const lb = layernormBackward(engine, dy, x, g, ln.mean, ln.rstd, { layout: 'workgroup' });
    const sm = softmax(engine, x, { layout: 'workgroup' });
    const sb = softmaxBackward(engine, dy, sm, { layout: 'workgroup' });
    engine.release(ln.y, ln.mean, ln.rstd, lb.dx, lb.dgamma, lb.dbeta, sm, sb);
  };
  try {
    const candidates: TuneCandidate[] = (['tree', 'subgroups'] as const).map((v) => ({ name: v, run: () => withReductions(engine, v, run) }));
    const entry = await engine.tuner.tune(REDUCE_KERNEL, cls, candidates, { rounds: o.rounds, shape: `layernorm + softmax, forward and backward, ${rows}×${width}`, log: o.log });
    return done(entry.choice === 'subgroups' ? 'subgroups' : 'tree', { entry, measured: true });
  } finally {
    engine.release(...tmp);
  }

  function done(variant: ReductionVariant, r: Partial<TunedReductions>): TunedReductions {
    engine.reductions = variant;
    return { variant, shapeClass: cls, measured: false, ...r };
  }
}
