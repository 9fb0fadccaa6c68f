/** Timing matmul plans per device and shape class, and the start-up parity checks of the fast paths. */
import { type TuneCandidate, type TuneEntry, tuneInput } from '../../gpu/autotune.js';
import { Engine } from '../../gpu/engine.js';
import { f16ToF32, f32ToF16 } from '../../io/safetensors.js';
import { relL2 } from '../../util/stats.js';
import { columnSum } from '../elementwise.js';
import { matmul } from './dispatch.js';
import { type Activation, type Dims, type MatmulOptions, type MatmulPlan, defaultPlan, fold, fusesColumnSums, parsePlan, planFamily, planFits, planName, shapeClassOf } from './plan.js';
import { HALF_FAMILY } from './textures.js';

/** A matmul to tune: the shape and options of a real call (operand data is random). */
export interface MatmulShape {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  batchA?: number;
  batchB?: number;
  bias?: boolean;
  act?: Activation;
  /** B is a weight whose packed form is reused between calls (inference); default true. */
  constB?: boolean;
  /** C += the product (a residual added in the epilogue). */
  accumulate?: boolean;
  /**
   * The call also wants B's column sums (a bias gradient next to a weight gradient): plans that
   * cannot fuse them (fusesColumnSums) are timed with the separate column-sum pass they then need.
   */
  colSums?: boolean;
}

function shapeDims(s: MatmulShape): Dims {
  const batchA = s.batchA ?? 1;
  const batchB = s.batchB ?? 1;
  return fold({ batch: Math.max(batchA, batchB), M: s.M, N: s.N, K: s.K, batchA, batchB, tn: !!s.transA && !s.transB, nn: !s.transA && !s.transB }, !!s.transA);
}

/** The shape class of a MatmulShape (as matmul() computes it for such a call). */
export function shapeClass(s: MatmulShape): string {
  return shapeClassOf(shapeDims(s), { transA: s.transA, transB: s.transB, act: s.act, bias: !!s.bias, accumulate: !!s.accumulate });
}

export function describeShape(s: MatmulShape): string {
  const batch = (s.batchA ?? 1) > 1 || (s.batchB ?? 1) > 1 ? ` batch ${s.batchA ?? 1}/${s.batchB ?? 1}` : '';
  return `${s.transA ? 'Aᵀ' : 'A'}·${s.transB ? 'Bᵀ' : 'B'} ${s.M}×${s.N}×${s.K}${batch}${s.bias ? ' +bias' : ''}${s.act && s.act !== 'none' ? ` ${s.act}` : ''}${s.accumulate ? ' +C' : ''}${s.colSums ? ' +Σcols' : ''}`;
}

/**
 * The plans worth timing for a shape on this device, the rule's plan first: the texture tile
 * (16×16, 16×32 and, for M > 16, 32×32 outputs per invocation), the storage tile (8×16 outputs
 * per invocation; on GPUs also 4×16 and 8×8), and split-K for skinny outputs (M·N·batch ≤ 2^18)
 * with a long K (≥ 256 per chunk). On CPU executors the storage variant measured about 3× slower
 * than the texture variant on the model's shapes, so only its rule tile and one split are timed
 * there (the first round drops them quickly). The texture tiles of an Aᵀ·B call run as main_tn,
 * main_tn_wide and main_tn_tall.
 */
export function matmulCandidates(engine: Engine, d: Dims): MatmulPlan[] {
  const list: MatmulPlan[] = [];
  const add = (p: MatmulPlan) => {
    if (planFits(engine, d, p) && !list.some((q) => planName(q) === planName(p))) list.push(p);
  };
  const gpu = !engine.info.software;
  add(defaultPlan(engine, d));
  add({ variant: 'texture' });
  add({ variant: 'texture', kn: true });
  // Aᵀ·B runs main_tn / main_tn_wide / main_tn_tall for these tiles.
  if (d.N > 16) add({ variant: 'texture', cols: 32 });
  if (d.N > 16 && d.M > 16) add({ variant: 'texture', rows: 32, cols: 32 });
  add({ variant: 'storage' });
  if (gpu && d.M > 4) add({ variant: 'storage', tm: 4, tn4: 4 });
  if (gpu) add({ variant: 'storage', tm: 8, tn4: 2 });
  if (d.batch * d.M * d.N <= 1 << 18) {
    for (const s of [2, 4]) if (d.K / s >= 256) add({ variant: 'texture', splits: s });
    if (d.N > 16 && d.K / 4 >= 256) add({ variant: 'texture', cols: 32, splits: 4 });
    for (const s of gpu ? [4, 16] : [4]) if (d.K / s >= 256) add({ variant: 'storage', splits: s });
  }
  return list;
}

/** Largest relative L2 distance between a candidate and the plain path that still counts as agreement. */
export const PARITY_TOL = 1e-4;

export interface TuneMatmulOptions {
  /** Measure again even when the class has a stored choice. */
  force?: boolean;
  rounds?: number;
  log?: (line: string) => void;
}

export interface TunedMatmul {
  shape: MatmulShape;
  shapeClass: string;
  entry: TuneEntry;
  /** The plan the fixed rule gives (what runs without tuning). */
  rule: string;
  /** False when the stored choice was reused without measuring. */
  measured: boolean;
}

/**
 * Times every candidate plan on this shape (random operands; B constant unless constB is false)
 * and records the fastest one that agrees with the rule's plan (relative L2 ≤ PARITY_TOL on the
 * same inputs) under the shape's class. Runs the start-up parity checks of the families involved
 * first (of the stored choice only, when it is reused). The caller saves the tuner
 * (engine.tuner.save()) when done.
 */
export async function tuneMatmul(engine: Engine, s: MatmulShape, o: TuneMatmulOptions = {}): Promise<TunedMatmul> {
  const tuner = engine.tuner;
  await tuner.load();
  const cls = shapeClass(s);
  const d = shapeDims(s);
  const rule = planName(defaultPlan(engine, d));
  const stored = tuner.entry('matmul', cls);
  if (stored && !o.force) {
    const p = parsePlan(stored.choice);
    if (p) await checkMatmulFastPaths(engine, [p], !!d.tn);
    return { shape: s, shapeClass: cls, entry: stored, rule, measured: false };
  }
  await checkMatmulFastPaths(engine, matmulCandidates(engine, d), !!d.tn);
  const batchA = s.batchA ?? 1;
  const batchB = s.batchB ?? 1;
  const aShape = s.transA ? [s.K, s.M] : [s.M, s.K];
  const bShape = s.transB ? [s.N, s.K] : [s.K, s.N];
  const a = engine.upload(tuneInput(batchA * s.M * s.K, 1), batchA > 1 ? [batchA, ...aShape] : aShape);
  const b = engine.upload(tuneInput(batchB * s.K * s.N, 2), batchB > 1 ? [batchB, ...bShape] : bShape);
  b.constant = s.constB ?? true;
  const bias = s.bias ? engine.upload(tuneInput(s.N, 3), [s.N]) : undefined;
  const out = engine.empty([d.batch * d.M, s.N]);
  const opts: MatmulOptions = { transA: s.transA, transB: s.transB, bias, act: s.act, out, beta: s.accumulate ? 1 : undefined };
  // Accumulating runs add to out: it starts from zeros before the reference run and each check.
  const start = s.accumulate ? 0 : Number.NaN;
  const sums = s.colSums ? engine.empty([s.N]) : undefined;
  try {
    const plans = matmulCandidates(engine, d);
    const run = (plan: MatmulPlan) => {
      const fused = !!sums && fusesColumnSums(engine, a, b, { ...opts, plan });
      matmul(engine, a, b, { ...opts, plan, colSums: fused ? sums : undefined });
      if (sums && !fused) engine.release(columnSum(engine, b));
    };
    const candidates: TuneCandidate[] = plans.map((plan) => ({ name: planName(plan), run: () => run(plan) }));
    engine.fill(out, start);
    candidates[0]!.run();
    const plain = await engine.readF32(out);
    o.log?.(`matmul ${describeShape(s)} [${cls}]: ${candidates.length} candidates`);
    const entry = await tuner.tune('matmul', cls, candidates, {
      rounds: o.rounds,
      shape: describeShape(s),
      log: o.log,
      verify: async (c) => {
        engine.fill(out, start);
        c.run();
        const err = relL2(await engine.readF32(out), plain);
        return err <= PARITY_TOL ? null : `disagrees with ${candidates[0]!.name}: relative L2 ${err.toExponential(2)}`;
      },
    });
    return { shape: s, shapeClass: cls, entry, rule, measured: true };
  } finally {
    engine.release(a, b, bias, out, sums);
  }
}

/**
 * Start-up parity check, once per engine and plan family (the texture variant's 16×32 and 32×32
 * tiles, the storage variant, their split-K forms; the rule's family is the reference): a small
 * odd problem runs through a plan of the family and through the rule's plan; a family that
 * disagrees beyond PARITY_TOL, or fails, is switched off on this engine (matmul() and the tuner
 * never use it again) with the reason in engine.tuner.disabled. Checks the families of `plans`
 * (default: every family); tuneMatmul checks those it is about to time or reuse, so a process
 * compiles only the pipelines it uses. With tn the problem is Aᵀ·B, and the texture families are
 * those of main_tn* ("texture.m32.tn", …), switched off separately from their A·B kernels.
 */
export async function checkMatmulFastPaths(engine: Engine, plans?: readonly MatmulPlan[], tn = false): Promise<void> {
  const tuner = engine.tuner;
  const d: Dims = { batch: 1, M: 19, N: 45, K: 1031, batchA: 1, batchB: 1, tn, nn: !tn };
  const plain = defaultPlan(engine, d);
  const all: MatmulPlan[] = [
    { variant: 'texture' },
    { variant: 'texture', cols: 32 },
    { variant: 'texture', rows: 32, cols: 32 },
    { variant: 'texture', kn: true },
    { variant: 'storage' },
    { variant: 'texture', splits: 3 },
    { variant: 'storage', splits: 3 },
  ];
  const todo = new Map<string, MatmulPlan>();
  for (const p of plans ?? all) {
    const family = planFamily(p, tn);
    if (family === planFamily(plain, tn) || tuner.checked.has(`matmul:${family}`) || todo.has(family)) continue;
    const q = { ...p, splits: p.splits && p.splits > 1 ? 3 : undefined };
    if (planFits(engine, d, q)) todo.set(family, q);
  }
  if (!todo.size) return;
  // Aᵀ·B (tn): A stored [K, M].
  const a = engine.upload(tuneInput(d.M * d.K, 11), tn ? [d.K, d.M] : [d.M, d.K]);
  const b = engine.upload(tuneInput(d.K * d.N, 12), [d.K, d.N]);
  const bias = engine.upload(tuneInput(d.N, 13), [d.N]);
  try {
    const c0 = matmul(engine, a, b, { bias, plan: plain, transA: tn });
    const want = await engine.readF32(c0);
    engine.release(c0);
    for (const [family, p] of todo) {
      await tuner.checkOnce(`matmul:${family}`, async () => {
        const c = matmul(engine, a, b, { bias, plan: p, transA: tn });
        const err = relL2(await engine.readF32(c), want);
        engine.release(c);
        return err <= PARITY_TOL ? null : `disagrees with ${planName(plain)} on ${tn ? 'Aᵀ·B ' : ''}${d.M}×${d.N}×${d.K}: relative L2 ${err.toExponential(2)}`;
      });
    }
  } finally {
    engine.release(a, b, bias);
  }
}


/**
 * Start-up check of half-precision weight textures (once per engine; Tokenizer.load runs it when
 * the checkpoint has f16 weights past HALF_TEXTURE_MIN): an A·B with such a B through the
 * transposing (16×16) and the as-stored (kn) tiles, B in an rgba32float and in an rgba16float
 * texture; the products must agree (they are the same numbers: f16 → f32 is exact). On
 * disagreement or failure, f16-exact weights keep f32 textures on this engine.
 */
export async function checkHalfTextures(engine: Engine): Promise<void> {
  await engine.tuner.checkOnce(HALF_FAMILY, async () => {
    // B past HALF_TEXTURE_MIN, with K and N off multiples of 4 (padded texels).
    const d: Dims = { batch: 1, M: 5, N: 1021, K: 1031, batchA: 1, batchB: 1, nn: true };
    const a = engine.upload(tuneInput(d.M * d.K, 14), [d.M, d.K]);
    const values = Float32Array.from(tuneInput(d.K * d.N, 15), (x) => f16ToF32(f32ToF16(x)));
    const tensors = [a];
    try {
      for (const plan of [{ variant: 'texture' }, { variant: 'texture', kn: true }] as MatmulPlan[]) {
        if (!planFits(engine, d, plan)) continue;
        const got: Float32Array[] = [];
        for (const half of [false, true]) {
          const b = engine.upload(values, [d.K, d.N]);
          tensors.push(b);
          b.constant = true;
          b.f16Exact = half;
          const c = matmul(engine, a, b, { plan });
          got.push(await engine.readF32(c));
          engine.release(c);
        }
        const err = relL2(got[1]!, got[0]!);
        if (!(err <= PARITY_TOL)) return `rgba16float weights disagree with rgba32float (${planName(plan)}, ${d.M}×${d.N}×${d.K}): relative L2 ${err.toExponential(2)}`;
      }
      return null;
    } finally {
      engine.release(...tensors);
    }
  });
}
