/** Matmul plans: the variant and tile of a call, their names, shape classes, and the fixed rule and tuned choice that pick one. */
import { pow2 } from '../../gpu/autotune.js';
import { Engine } from '../../gpu/engine.js';
import { LOOP_BUDGET, MAX_GROUPS } from '../../gpu/limits.js';
import { Tensor, numel, shapeStr } from '../../tensor.js';
import { holdsTexture } from './textures.js';

export type Activation = 'none' | 'gelu' | 'gelu_tanh';
export type MatmulVariant = 'storage' | 'texture';

export interface MatmulOptions {
  /** A is stored [.., K, M] (use Aᵀ). */
  transA?: boolean;
  /** B is stored [.., N, K] (use Bᵀ). */
  transB?: boolean;
  /** [N], added to every row before the activation. */
  bias?: Tensor;
  act?: Activation;
  /** C = act(alpha·A·B + bias) + beta·C. */
  alpha?: number;
  /** With `out`, accumulate: C = … + beta·C. */
  beta?: number;
  /** Write into this tensor instead of a new one. */
  out?: Tensor;
  /** Force a variant (default: the tuned plan for this device and shape class, else the rule). */
  variant?: MatmulVariant;
  /** Force the storage variant's tile: rows and vec4 columns per invocation, workgroup shape. */
  tile?: StorageTile;
  /** Force a whole plan (or its name, as the tuner stores it); overrides variant and tile. */
  plan?: MatmulPlan | string;
  /**
   * Receives act's input (alpha·A·B + bias, shape of C) while C gets act of it: what the
   * activation's backward needs, kept without a pass of its own. Needs act.
   */
  preact?: Tensor;
  /**
   * The gradient through act instead of act: C = (alpha·A·B + bias) · act'(actGradOf), elementwise,
   * with actGradOf the activation's saved input (shape of C). Needs act; act itself is not applied.
   */
  actGradOf?: Tensor;
  /**
   * [N]: also receives B's column sums over K (a bias gradient next to a weight gradient), in the
   * same pass. Only where fusesColumnSums() says so; matmul throws otherwise.
   */
  colSums?: Tensor;
}

export interface StorageTile {
  tm: number;
  tn4: number;
  wgx: number;
  wgy: number;
}

/**
 * One way to run a matmul: the variant, its tile or workgroup, and a K split. The tuner stores
 * plans by name: "texture" (16×16 tile), "texture.n32" (16×32), "texture.m32" (32×32),
 * "texture.n32.split4", "texture.wg16", "storage", "storage.t4x4", "storage.split16", …
 */
export interface MatmulPlan {
  variant: MatmulVariant;
  /** texture: invocations per workgroup along N (default: textureWorkgroup's rule). */
  wg?: number;
  /** texture: columns of C per invocation, 16 (default) or 32 (main_wide, main_tall). */
  cols?: 16 | 32;
  /** texture: rows of C per invocation, 16 (default) or 32 (main_tall: 32×32, needs cols 32). */
  rows?: 16 | 32;
  /**
   * texture, A·B with neither operand transposed: the 16×16 tile reads B as stored, [K, N] rows
   * (main_kn), so B's texture is a copy of it rather than a transposing pack (training repacks
   * every weight every step).
   */
  kn?: boolean;
  /** storage: rows and vec4 columns of C per invocation (default: matmulTile's rule). */
  tm?: number;
  tn4?: number;
  /**
   * K in this many chunks summed by a second, deterministic pass (matmul_splitk.wgsl): more
   * parallel work for skinny outputs with a long K. 1 or absent: one pass.
   */
  splits?: number;
}

export const ACT_CODE: Record<Activation, number> = { none: 0, gelu: 1, gelu_tanh: 2 };

export interface Dims {
  batch: number;
  M: number;
  N: number;
  K: number;
  batchA: number;
  batchB: number;
  /** Aᵀ·B: the texture variant runs it as main_tn, from both operands' storage (no texture limits). */
  tn?: boolean;
  /** A·B, neither transposed: B is stored [K, N] (what main_kn reads). */
  nn?: boolean;
}

export function dims(a: Tensor, b: Tensor, o: MatmulOptions): Dims {
  if (a.shape.length < 2 || b.shape.length < 2) throw new Error(`matmul: operands need rank ≥ 2, got ${shapeStr(a.shape)} and ${shapeStr(b.shape)}`);
  const ar = a.shape.length;
  const br = b.shape.length;
  const [M, Ka] = o.transA ? [a.shape[ar - 1]!, a.shape[ar - 2]!] : [a.shape[ar - 2]!, a.shape[ar - 1]!];
  const [Kb, N] = o.transB ? [b.shape[br - 1]!, b.shape[br - 2]!] : [b.shape[br - 2]!, b.shape[br - 1]!];
  if (Ka !== Kb) throw new Error(`matmul: inner dimensions differ: ${shapeStr(a.shape)}${o.transA ? 'ᵀ' : ''} · ${shapeStr(b.shape)}${o.transB ? 'ᵀ' : ''}`);
  const batchA = numel(a.shape.slice(0, -2));
  const batchB = numel(b.shape.slice(0, -2));
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) throw new Error(`matmul: batch sizes ${batchA} and ${batchB} differ`);
  return { batch: Math.max(batchA, batchB), M, N, K: Ka, batchA, batchB, tn: !!o.transA && !o.transB, nn: !o.transA && !o.transB };
}

/**
 * A batched A over a shared B (a weight applied to every batch item) is one matmul over all rows:
 * [batch, M, K] · [K, N] = [batch·M, K] · [K, N], same memory layout in and out.
 */
export function fold(d: Dims, transA: boolean): Dims {
  if (d.batchB !== 1 || d.batchA === 1 || transA) return d;
  return { batch: 1, M: d.batchA * d.M, N: d.N, K: d.K, batchA: 1, batchB: 1, nn: d.nn };
}

export function planName(p: MatmulPlan): string {
  const parts: string[] = [p.variant];
  if (p.variant === 'texture' && p.rows === 32) parts.push('m32');
  else if (p.variant === 'texture' && p.cols === 32) parts.push('n32');
  else if (p.variant === 'texture' && p.kn) parts.push('kn');
  if (p.variant === 'texture' && p.wg) parts.push(`wg${p.wg}`);
  if (p.variant === 'storage' && (p.tm || p.tn4)) parts.push(`t${p.tm ?? 8}x${p.tn4 ?? 4}`);
  if (p.splits && p.splits > 1) parts.push(`split${p.splits}`);
  return parts.join('.');
}

/** The plan a name stands for, or null when the name is not one (a cache from another version). */
export function parsePlan(name: string): MatmulPlan | null {
  const [variant, ...rest] = name.split('.');
  if (variant !== 'texture' && variant !== 'storage') return null;
  const p: MatmulPlan = { variant };
  for (const part of rest) {
    let m: RegExpExecArray | null;
    if (variant === 'texture' && (m = /^wg(8|16|32|64)$/.exec(part))) p.wg = Number(m[1]);
    else if (variant === 'texture' && part === 'n32') p.cols = 32;
    else if (variant === 'texture' && part === 'm32') {
      p.rows = 32;
      p.cols = 32;
    } else if (variant === 'texture' && part === 'kn') p.kn = true;
    else if (variant === 'storage' && (m = /^t([1-9]|1[0-6])x([1-4])$/.exec(part))) {
      p.tm = Number(m[1]);
      p.tn4 = Number(m[2]);
    } else if ((m = /^split([2-9]|[1-5][0-9]|6[0-4])$/.exec(part))) p.splits = Number(m[1]);
    else return null;
  }
  if (p.kn && p.cols) return null;
  return p;
}

/** The family a plan belongs to for start-up parity checks ("texture", "storage.split", …). */
export function planFamily(p: MatmulPlan, tn = false): string {
  const tile = p.variant === 'texture' ? (p.rows === 32 ? '.m32' : p.cols === 32 ? '.n32' : p.kn ? '.kn' : '') : '';
  // Aᵀ·B on the texture variant runs other entry points (main_tn*): a family of its own.
  return `${p.variant}${tile}${tn && p.variant === 'texture' ? '.tn' : ''}${p.splits && p.splits > 1 ? '.split' : ''}`;
}

/** Elements of the split-K partial buffer: splits per output element. */
/**
 * Most reduction steps one main_tn invocation takes (K is split beyond): half the loop budget, the
 * bound the other texture entries have from the widest texture (ceil(K/4) ≤ 16384).
 */
const TN_MAX_STEPS = LOOP_BUDGET / 2;

/** Whether a call runs main_tn: Aᵀ·B on the texture variant reads both operands as stored (rows over K), no transposes. */
export function runsTn(plan: MatmulPlan, o: MatmulOptions): boolean {
  return plan.variant === 'texture' && !!o.transA && !o.transB;
}

/**
 * Split-K of a plan for these dims: each of `splits` chunks of the reduction writes raw partial
 * sums and a second pass adds them. main_tn steps over K itself (one row per step), so a long K is
 * split to keep each chunk at most TN_MAX_STEPS; the others step over vec4s of K.
 */
export function splitK(plan: MatmulPlan, d: Dims, tn: boolean): { splits: number; kChunk4: number } {
  const steps = tn ? d.K : Math.ceil(d.K / 4);
  const want = Math.max(1, Math.ceil(steps / TN_MAX_STEPS), Math.min(plan.splits ?? 1, steps));
  const kChunk4 = Math.ceil(steps / want);
  return { splits: Math.ceil(steps / kChunk4), kChunk4 };
}

/** Whether matmul(engine, a, b, o) can also write B's column sums (options.colSums) in its pass. */
export function fusesColumnSums(engine: Engine, a: Tensor, b: Tensor, o: MatmulOptions = {}): boolean {
  const d = fold(dims(a, b, o), !!o.transA);
  const plan = choosePlan(engine, d, o);
  return d.batch === 1 && runsTn(plan, o) && splitK(plan, d, true).splits === 1;
}

export function partialElements(d: Dims, splits: number): number {
  return splits * d.batch * d.M * d.N;
}

/** Largest split-K partial buffer (bytes): within the binding limit and modest in memory. */
export function maxPartialBytes(engine: Engine): number {
  return Math.min(engine.limits.maxStorageBufferBindingSize, 64 * 1024 * 1024);
}

/** Whether a plan can run this shape on this device (and was not switched off at start-up). */
export function planFits(engine: Engine, d: Dims, p: MatmulPlan): boolean {
  if (p.kn && !knFits(engine, d)) return false;
  if (p.variant === 'texture' && !p.kn && !texturesFit(engine, d)) return false;
  if (p.splits && p.splits > 1) {
    if (p.splits > Math.ceil(d.K / 4)) return false;
    if (partialElements(d, p.splits) * 4 > maxPartialBytes(engine)) return false;
    if (d.batch * p.splits > MAX_GROUPS) return false;
  }
  return !engine.tuner.disabled.has(`matmul:${planFamily(p, !!d.tn)}`);
}

/** Whether the texture variant can hold these operands on this device (both K-major; Aᵀ·B always: main_tn reads storage). */
export function texturesFit(engine: Engine, d: Dims): boolean {
  if (d.tn) return true;
  const max = engine.limits.maxTextureDimension2D;
  return Math.ceil(d.K / 4) <= max && d.M * d.batchA <= max && d.N * d.batchB <= max;
}

/** Whether main_kn can run this shape: A·B as stored, B's [K, N] rows within the texture limits. */
export function knFits(engine: Engine, d: Dims): boolean {
  const max = engine.limits.maxTextureDimension2D;
  return !!d.nn && Math.ceil(d.N / 4) <= max && d.K * d.batchB <= max;
}

/**
 * The variant for this device: on CPU executors the 16×16 texture tile (measured 4× faster than the
 * storage variant on llvmpipe and 7× on SwiftShader) for matmuls of engine.quickCompileFlops FLOPs
 * or more, the storage variant below that and on GPUs.
 */
export function defaultMatmulVariant(engine: Engine, d?: Dims): MatmulVariant {
  const wantTexture = engine.info.software && (!d || 2 * d.M * d.N * d.K * d.batch >= engine.quickCompileFlops);
  return wantTexture && (!d || texturesFit(engine, d)) ? 'texture' : 'storage';
}

/**
 * Storage variant tile: 8×16 outputs per invocation (or the given rows × vec4 columns); fewer rows
 * per workgroup for skinny M.
 */
export function matmulTile(d: { M: number; N: number }, want: { tm?: number; tn4?: number } = {}): StorageTile {
  const tm = Math.min(want.tm ?? 8, Math.max(1, d.M));
  const tn4 = want.tn4 ?? 4;
  const rowsOfInv = Math.ceil(d.M / tm);
  const wgy = rowsOfInv >= 8 ? 8 : rowsOfInv >= 4 ? 4 : rowsOfInv >= 2 ? 2 : 1;
  const wgx = Math.max(1, Math.min(64 / wgy, 16));
  return { tm, tn4, wgx, wgy };
}

/**
 * Texture variant workgroup width: the widest that still gives at least 8 workgroups, and no
 * wider than the row of column tiles (idle invocations of a half-empty workgroup measured up to
 * 2× the time on narrow outputs).
 */
export function textureWorkgroup(d: Dims, cols = 16, rows = 16): number {
  const colTiles = Math.ceil(d.N / cols);
  const others = Math.ceil(d.M / rows) * d.batch;
  for (const wg of [64, 32, 16]) if (wg <= Math.max(8, colTiles) && Math.ceil(colTiles / wg) * others >= 8) return wg;
  return 8;
}

/** The plan the fixed rule gives (before any tuning): defaultMatmulVariant with its default tile. */
export function defaultPlan(engine: Engine, d: Dims): MatmulPlan {
  return { variant: defaultMatmulVariant(engine, d) };
}

/** What the shape class keeps of a call besides its dims. */
interface ClassFlags {
  transA?: boolean;
  transB?: boolean;
  bias: boolean;
  act?: Activation;
  accumulate: boolean;
}

function classFlags(o: MatmulOptions): ClassFlags {
  return { transA: o.transA, transB: o.transB, bias: !!o.bias, act: o.act, accumulate: o.beta !== undefined && o.beta !== 0 };
}

/**
 * The tuner's shape class: M, N, K and the batch rounded up to powers of two, the transposes,
 * which operand is broadcast over the batch, and the epilogue. Shapes of one class share a choice.
 * (Call with the folded dims: a batched A over a shared B counts as one matmul over all rows.)
 */
export function shapeClassOf(d: Dims, f: ClassFlags): string {
  const bcast = d.batch === 1 ? '' : d.batchA === 1 ? 'B' : d.batchB === 1 ? 'A' : 'AB';
  // Epilogue code: bit 0 bias, bits 1-2 activation, bit 3 accumulate.
  const epi = (f.bias ? 1 : 0) | (ACT_CODE[f.act ?? 'none'] << 1) | (f.accumulate ? 8 : 0);
  return `M${pow2(d.M)}.N${pow2(d.N)}.K${pow2(d.K)}.${f.transA ? 't' : 'n'}${f.transB ? 't' : 'n'}.b${pow2(d.batch)}${bcast}.e${epi}`;
}

/** The shape class of matmul(a, b, o), as the tuner keys it. */
export function matmulShapeClass(a: Tensor, b: Tensor, o: MatmulOptions = {}): string {
  return shapeClassOf(fold(dims(a, b, o), !!o.transA), classFlags(o));
}

/**
 * The plan matmul() will use: forced, else the tuned choice for the class, else the rule; for a B
 * whose buffer was dropped (an evicted weight), turned to one that reads the texture it has.
 */
export function choosePlan(engine: Engine, d: Dims, o: MatmulOptions, b?: Tensor): MatmulPlan {
  if (o.plan) {
    const p = typeof o.plan === 'string' ? parsePlan(o.plan) : o.plan;
    if (!p) throw new Error(`matmul: unknown plan '${String(o.plan)}'`);
    return p;
  }
  if (o.variant) return { variant: o.variant };
  const name = engine.tuner.choice('matmul', shapeClassOf(d, classFlags(o)));
  if (name) {
    const p = parsePlan(name);
    if (p && planFits(engine, d, p)) return keepTexture(engine, d, o, p, b);
  }
  return keepTexture(engine, d, o, defaultPlan(engine, d), b);
}

/**
 * For an evicted B (Tensor.evictable), a texture plan that binds the texture B already has when
 * `p` would read another layout (kn, or the other way round) or B's buffer (storage; Aᵀ·B's
 * main_tn), which would rebuild the buffer and keep it: the tile and workgroup stay where they
 * can. Otherwise `p` (the rebuild keeps any plan correct).
 */
function keepTexture(engine: Engine, d: Dims, o: MatmulOptions, p: MatmulPlan, b?: Tensor): MatmulPlan {
  if (!b?.evicted || (o.transA && !o.transB)) return p;
  // What dispatch binds: main's B in the panel layout (operand(..., panel)), kn's as stored.
  const main = holdsTexture(engine, b, d.N, d.K, d.N, !o.transB, d.batchB, true);
  const kn = !!d.nn && holdsTexture(engine, b, d.K, d.N, d.K, false, d.batchB);
  if (p.variant === 'texture' && (p.kn ? kn : main)) return p;
  const texture = p.variant === 'texture';
  const candidates: MatmulPlan[] = [];
  if (main) {
    if (texture && p.kn) candidates.push({ variant: 'texture', wg: p.wg, splits: p.splits });
    candidates.push({ variant: 'texture' });
  }
  if (kn) candidates.push({ variant: 'texture', kn: true, ...(texture && !p.rows && !p.cols ? { wg: p.wg, splits: p.splits } : {}) });
  return candidates.find((c) => planFits(engine, d, c)) ?? p;
}
