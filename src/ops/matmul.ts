import { pow2, tuneInput, type TuneCandidate, type TuneEntry } from '../gpu/autotune.js';
import { Engine, grid } from '../gpu/engine.js';
import { LOOP_BUDGET, MAX_GROUPS } from '../gpu/limits.js';
import { TexturePool } from '../gpu/pool.js';
import { columnSum, linearLaunch } from './elementwise.js';
import { Tensor, numel, shapeStr } from '../tensor.js';
import { f16ToF32, f32ToF16 } from '../io/safetensors.js';
import { relL2 } from '../util/stats.js';

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

const ACT_CODE: Record<Activation, number> = { none: 0, gelu: 1, gelu_tanh: 2 };

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

function dims(a: Tensor, b: Tensor, o: MatmulOptions): Dims {
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
function fold(d: Dims, transA: boolean): Dims {
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
function planFamily(p: MatmulPlan, tn = false): string {
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
function runsTn(plan: MatmulPlan, o: MatmulOptions): boolean {
  return plan.variant === 'texture' && !!o.transA && !o.transB;
}

/**
 * Split-K of a plan for these dims: each of `splits` chunks of the reduction writes raw partial
 * sums and a second pass adds them. main_tn steps over K itself (one row per step), so a long K is
 * split to keep each chunk at most TN_MAX_STEPS; the others step over vec4s of K.
 */
function splitK(plan: MatmulPlan, d: Dims, tn: boolean): { splits: number; kChunk4: number } {
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

function partialElements(d: Dims, splits: number): number {
  return splits * d.batch * d.M * d.N;
}

/** Largest split-K partial buffer (bytes): within the binding limit and modest in memory. */
function maxPartialBytes(engine: Engine): number {
  return Math.min(engine.limits.maxStorageBufferBindingSize, 64 * 1024 * 1024);
}

/** Whether a plan can run this shape on this device (and was not switched off at start-up). */
function planFits(engine: Engine, d: Dims, p: MatmulPlan): boolean {
  if (p.kn && !knFits(engine, d)) return false;
  if (p.variant === 'texture' && !p.kn && !texturesFit(engine, d)) return false;
  if (p.splits && p.splits > 1) {
    if (p.splits > Math.ceil(d.K / 4)) return false;
    if (partialElements(d, p.splits) * 4 > maxPartialBytes(engine)) return false;
    if (d.batch * p.splits > MAX_GROUPS) return false;
  }
  return !engine.tuner.disabled.has(`matmul:${planFamily(p, !!d.tn)}`);
}

interface Operand {
  resource: GPUBuffer | GPUTextureView | Tensor;
  done: () => void;
}

/** One matrix to pack (pack.wgsl's Job): logical [rows, cols], rowsOut rows per batch, src stored transposed when trans. */
interface PackJob {
  src: Tensor;
  rows: number;
  cols: number;
  rowsOut: number;
  trans: boolean;
  batches: number;
}

/** A packed texture of a constant tensor: its contents at `version`, and how to refresh them. */
interface CachedTexture {
  version: number;
  texture: GPUTexture;
  tensor: WeakRef<Tensor>;
  job: Omit<PackJob, 'src'>;
  /** rgba16float (the tensor's values are all exactly float16), packed by to_texture_h. */
  half: boolean;
}

/**
 * Key prefix of the packed textures of constant tensors among the engine's resources: then tensor
 * id + layout + format. Each is derived from its tensor: releasing the tensor destroys it.
 */
const WEIGHT_TEXTURE = 'matmul weight ';

/** Jobs one to_textures4 dispatch runs (the WebGPU default of 4 storage textures per stage). */
const PACK_JOBS = 4;

/**
 * Whether a texture operand is the tensor's own bytes, texel for texel: row-major, not transposed,
 * no padding rows, and rows that copyBufferToTexture can take (bytesPerRow a multiple of 256, so
 * cols a multiple of 64). Then a copy replaces the pack dispatch (on llvmpipe a few µs instead of
 * ~0.3 ms for a weight of the small preset).
 */
function copiesToTexture(j: Omit<PackJob, 'src'>): boolean {
  return !j.trans && j.rowsOut === j.rows && (j.cols * 4) % 256 === 0;
}

function jobWords(j: PackJob, start = 0): number[] {
  return [j.rows, j.cols, j.rowsOut, Math.ceil(j.cols / 4), j.trans ? 1 : 0, j.rows * j.cols, j.batches, start];
}

/** Texels a job writes. */
function jobTexels(j: Omit<PackJob, 'src'>): number {
  return Math.ceil(j.cols / 4) * j.rowsOut * j.batches;
}

/** Fills textures from their jobs: copies where the layouts agree (copiesToTexture), the rest packed up to PACK_JOBS per dispatch. */
function fillTextures(engine: Engine, work: { job: PackJob; texture: GPUTexture }[]): void {
  const packs: { job: PackJob; texture: GPUTexture }[] = [];
  for (const w of work) {
    const { job: j, texture } = w;
    if (copiesToTexture(j)) {
      engine.recordCommands((enc) => enc.copyBufferToTexture({ buffer: j.src.buffer, bytesPerRow: j.cols * 4, rowsPerImage: j.rows * j.batches }, { texture }, [j.cols / 4, j.rows * j.batches]));
    } else packs.push(w);
  }
  for (let i = 0; i < packs.length; i += PACK_JOBS) {
    const group = packs.slice(i, i + PACK_JOBS);
    const srcs: Tensor[] = [];
    const dsts: GPUTextureView[] = [];
    const jobs: number[] = [];
    let total = 0;
    for (let k = 0; k < 4; k++) {
      const w = group[k];
      srcs.push(w ? w.job.src : engine.placeholder(0));
      dsts.push(w ? w.texture.createView() : packPlaceholder(engine, k));
      // Absent jobs start past every item (u32 max): none falls in them.
      jobs.push(...(w ? jobWords(w.job, total) : [0, 0, 0, 1, 0, 0, 0, -1 >>> 0]));
      if (w) total += jobTexels(w.job);
    }
    const { groups, stride } = linearLaunch(engine, total);
    engine.dispatch('pack', 'to_textures4', [...srcs, ...dsts], { u: [group.length, total, stride, 0, ...jobs] }, groups);
  }
}

/**
 * A 1×1 storage texture for an unused destination of a to_textures4 dispatch, one per slot: a
 * dispatch may not bind one texture as writable storage twice.
 */
function packPlaceholder(engine: Engine, slot: number): GPUTextureView {
  const texture = engine.resource(
    `matmul pack placeholder ${slot}`,
    () => engine.device.createTexture({ label: 'pack placeholder', size: [1, 1], format: 'rgba32float', usage: GPUTextureUsage.STORAGE_BINDING }),
    (t) => t.destroy(),
  );
  return texture.createView();
}

/** The start-up parity family of half-precision weight textures (see checkHalfTextures). */
const HALF_FAMILY = 'matmul:texture.f16';

/**
 * Smallest weight (elements) kept in an rgba16float texture when f16-exact: below it the f32
 * texture stays in cache and the half texture's conversion costs more than it saves
 * (measurements: docs/perf-log.md).
 */
export const HALF_TEXTURE_MIN = 1 << 20;

/** Whether a weight would get a half-precision texture (f16-exact and large enough; see HALF_TEXTURE_MIN). */
export function wantsHalfTexture(t: Tensor): boolean {
  return t.f16Exact && t.size >= HALF_TEXTURE_MIN;
}

/**
 * Whether constant f16-exact weights get rgba16float textures on this engine: only once the
 * start-up check ran and passed (checkHalfTextures, from Tokenizer.load); before it, f32 textures.
 */
function halfTexturesOn(engine: Engine): boolean {
  return engine.tuner.checked.has(HALF_FAMILY) && !engine.tuner.disabled.has(HALF_FAMILY);
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

/** Side of the square workgroups of pack.wgsl's to_buffer and to_texture_h (its SIDE override). */
const PACK_SIDE = 8;

/** Packs one matrix into an rgba16float texture (to_texture_h; values exactly float16). */
function packToHalfTexture(engine: Engine, j: PackJob, texture: GPUTexture): void {
  const ph = engine.placeholder(0);
  engine.dispatch('pack', 'to_texture_h', [j.src, ph, ph, ph, null, null, null, null, null, texture.createView()], { u: [1, 0, 0, 0, ...jobWords(j)] }, [Math.ceil(Math.ceil(j.cols / 4) / PACK_SIDE), Math.ceil((j.rowsOut * j.batches) / PACK_SIDE), 1], { SIDE: PACK_SIDE });
}

/** Packs one matrix into a storage buffer ([batches][rowsOut][ceil(cols/4)] vec4). */
function packToBuffer(engine: Engine, j: PackJob, target: Tensor): void {
  const cols4 = Math.ceil(j.cols / 4);
  // gather() names all four sources, so the shader binds them: placeholders past job 0.
  const ph = engine.placeholder(0);
  engine.dispatch('pack', 'to_buffer', [j.src, ph, ph, ph, null, null, null, null, target], { u: [1, 0, 0, 0, ...jobWords(j)] }, [Math.ceil(cols4 / PACK_SIDE), Math.ceil((j.rowsOut * j.batches) / PACK_SIDE), 1], { SIDE: PACK_SIDE });
}

/**
 * A constant tensor's packed texture, refreshed when its version moved. A refresh that needs the
 * pack kernel also refreshes up to PACK_JOBS − 1 other cached textures whose tensors changed (in
 * training every weight changes each step), in the same dispatch. The texture is an engine
 * resource derived from the tensor: engine.release(t) destroys it, engine.dispose() too; textures
 * of tensors garbage-collected without a release are dropped on the way.
 */
function cachedTexture(engine: Engine, t: Tensor, job: Omit<PackJob, 'src'>, baseKey: string): GPUTexture {
  // f16-exact weights: half the bytes, the same values (once checkHalfTextures passed).
  const half = wantsHalfTexture(t) && halfTexturesOn(engine);
  const prefix = `${WEIGHT_TEXTURE}${baseKey}:`;
  const hit = engine.peekResource<CachedTexture>(`${prefix}${half ? 'h' : 'f'}`);
  if (hit && hit.version === t.version) return hit.texture;
  // A weight that stopped being f16-exact (written since) drops its half texture.
  if (!half) engine.freeResource(`${prefix}h`);
  // Same key, same geometry: the texture is rewritten in place (work recorded before reads the old
  // contents, in order, as with pooled buffers).
  const entry = engine.resource<CachedTexture>(
    `${prefix}${half ? 'h' : 'f'}`,
    () => ({
      version: t.version,
      texture: engine.device.createTexture({
        label: 'matmul weight',
        size: [Math.ceil(job.cols / 4), job.rowsOut * job.batches],
        format: half ? 'rgba16float' : 'rgba32float',
        usage: GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST,
      }),
      tensor: new WeakRef(t),
      job,
      half,
    }),
    (e) => e.texture.destroy(),
    t,
  );
  entry.version = t.version;
  const texture = entry.texture;
  if (half) {
    packToHalfTexture(engine, { ...job, src: t }, texture);
    return texture;
  }
  const work = [{ job: { ...job, src: t }, texture }];
  if (!copiesToTexture(job)) {
    for (const [k, e] of engine.resourcesUnder<CachedTexture>(WEIGHT_TEXTURE)) {
      if (work.length === PACK_JOBS) break;
      if (e === entry || e.half || copiesToTexture(e.job)) continue;
      const other = e.tensor.deref();
      if (!other || other.released) {
        engine.freeResource(k);
        continue;
      }
      if (other.version === e.version) continue;
      e.version = other.version;
      work.push({ job: { ...e.job, src: other }, texture: e.texture });
    }
  }
  fillTextures(engine, work);
  return texture;
}

/**
 * One operand in packed vec4 layout: [batches][rowsOut][ceil(cols/4)], logical [rows, cols]
 * (stored transposed when trans). Binds the tensor itself when it already has that layout.
 */
function operand(engine: Engine, t: Tensor, rows: number, cols: number, rowsOut: number, trans: boolean, batches: number, variant: MatmulVariant): Operand {
  const cols4 = Math.ceil(cols / 4);
  const job = { rows, cols, rowsOut, trans, batches };
  if (variant === 'storage') {
    if (!trans && cols % 4 === 0 && rowsOut === rows) return { resource: t, done: () => {} };
    const packed = engine.empty([batches * rowsOut * cols4 * 4]);
    packToBuffer(engine, { ...job, src: t }, packed);
    return { resource: packed, done: () => engine.release(packed) };
  }
  if (t.constant) return { resource: cachedTexture(engine, t, job, `${t.id}:${trans ? 1 : 0}:${rowsOut}`).createView(), done: () => {} };
  // Activations: a pooled texture, back in the pool as soon as the matmul is recorded (later
  // dispatches that reuse it run after this one, as with pooled buffers).
  const pool = operandTextures(engine);
  const texture = pool.acquire(cols4, rowsOut * batches);
  fillTextures(engine, [{ job: { ...job, src: t }, texture }]);
  return { resource: texture.createView(), done: () => pool.release(texture) };
}

/** Operand textures of activations by size, per engine: creating one per call cost up to 10% of a small matmul. */
function operandTextures(engine: Engine): TexturePool {
  return engine.resource(
    'matmul operand textures',
    () =>
      new TexturePool(engine.device, {
        label: 'matmul operand',
        format: 'rgba32float',
        usage: GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST,
      }),
    (pool) => pool.destroy(),
  );
}

/** Whether the texture variant can hold these operands on this device (both K-major; Aᵀ·B always: main_tn reads storage). */
function texturesFit(engine: Engine, d: Dims): boolean {
  if (d.tn) return true;
  const max = engine.limits.maxTextureDimension2D;
  return Math.ceil(d.K / 4) <= max && d.M * d.batchA <= max && d.N * d.batchB <= max;
}

/** Whether main_kn can run this shape: A·B as stored, B's [K, N] rows within the texture limits. */
function knFits(engine: Engine, d: Dims): boolean {
  const max = engine.limits.maxTextureDimension2D;
  return !!d.nn && Math.ceil(d.N / 4) <= max && d.K * d.batchB <= max;
}

/**
 * The variant for this device: the 16×16 texture tile on CPU executors (measured 4× faster than the
 * storage variant on llvmpipe and 7× on SwiftShader), the storage variant on GPUs.
 */
export function defaultMatmulVariant(engine: Engine, d?: Dims): MatmulVariant {
  const wantTexture = engine.info.software;
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
function textureWorkgroup(d: Dims, cols = 16, rows = 16): number {
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
function shapeClassOf(d: Dims, f: ClassFlags): string {
  const bcast = d.batch === 1 ? '' : d.batchA === 1 ? 'B' : d.batchB === 1 ? 'A' : 'AB';
  // Epilogue code: bit 0 bias, bits 1-2 activation, bit 3 accumulate.
  const epi = (f.bias ? 1 : 0) | (ACT_CODE[f.act ?? 'none'] << 1) | (f.accumulate ? 8 : 0);
  return `M${pow2(d.M)}.N${pow2(d.N)}.K${pow2(d.K)}.${f.transA ? 't' : 'n'}${f.transB ? 't' : 'n'}.b${pow2(d.batch)}${bcast}.e${epi}`;
}

/** The shape class of matmul(a, b, o), as the tuner keys it. */
export function matmulShapeClass(a: Tensor, b: Tensor, o: MatmulOptions = {}): string {
  return shapeClassOf(fold(dims(a, b, o), !!o.transA), classFlags(o));
}

/** The plan matmul() will use: forced, else the tuned choice for the class, else the rule. */
function choosePlan(engine: Engine, d: Dims, o: MatmulOptions): MatmulPlan {
  if (o.plan) {
    const p = typeof o.plan === 'string' ? parsePlan(o.plan) : o.plan;
    if (!p) throw new Error(`matmul: unknown plan '${String(o.plan)}'`);
    return p;
  }
  if (o.variant) return { variant: o.variant };
  const name = engine.tuner.choice('matmul', shapeClassOf(d, classFlags(o)));
  if (name) {
    const p = parsePlan(name);
    if (p && planFits(engine, d, p)) return p;
  }
  return defaultPlan(engine, d);
}

/**
 * C = act(alpha · op(A) · op(B) + bias) (+ beta · C), batched over leading dimensions (a batch of 1
 * broadcasts). A: [.., M, K] or [.., K, M] (transA); B: [.., K, N] or [.., N, K] (transB).
 * Result: [batch.., M, N] (leading dims of the larger-batch operand). The kernel and its tile come
 * from the engine's tuner when this shape class was tuned on the device (src/gpu/autotune.ts),
 * else from the fixed rule (defaultMatmulVariant); `variant`, `tile` or `plan` force one.
 */
export function matmul(engine: Engine, a: Tensor, b: Tensor, o: MatmulOptions = {}): Tensor {
  const d0 = dims(a, b, o);
  const d = fold(d0, !!o.transA);
  const { batch, M, N, K } = d;
  const plan = choosePlan(engine, d, o);
  const variant = plan.variant;
  if (plan.kn && !knFits(engine, d)) throw new Error(`matmul: plan ${planName(plan)} needs A·B (neither transposed) within the texture limits`);
  if (variant === 'texture' && !plan.kn && !texturesFit(engine, d)) throw new Error(`matmul: shape too large for the texture variant on this device`);
  if (o.bias && o.bias.size !== N) throw new Error(`matmul: bias has ${o.bias.size} values, expected ${N}`);
  const lead = (d0.batchA >= d0.batchB ? a.shape.slice(0, -2) : b.shape.slice(0, -2));
  const outShape = [...lead, d0.M, N];
  if (o.out && o.out.size !== numel(outShape)) throw new Error(`matmul: out has shape ${shapeStr(o.out.shape)}, expected ${shapeStr(outShape)}`);
  const accumulate = o.beta !== undefined && o.beta !== 0;
  if (accumulate && !o.out) throw new Error('matmul: beta needs an out tensor to accumulate into');
  const out = o.out ?? engine.empty(outShape);

  const K4 = Math.ceil(K / 4);
  const bias = o.bias ?? engine.placeholder(0);
  const act = ACT_CODE[o.act ?? 'none'];
  // The epilogue's aux tensor (epilogue.wgsl): 1 keeps act's input, 2 applies act' instead of act.
  if (o.preact && o.actGradOf) throw new Error('matmul: preact and actGradOf exclude each other');
  const auxTensor = o.preact ?? o.actGradOf;
  if (auxTensor && act === 0) throw new Error(`matmul: ${o.preact ? 'preact' : 'actGradOf'} needs an activation (act)`);
  if (auxTensor && auxTensor.size !== out.size) throw new Error(`matmul: ${o.preact ? 'preact' : 'actGradOf'} has ${auxTensor.size} values, expected ${out.size}`);
  const aux = auxTensor ?? engine.placeholder(1);
  const auxMode = o.preact ? 1 : o.actGradOf ? 2 : 0;
  const f = [o.alpha ?? 1, o.beta ?? 0];
  const tn = runsTn(plan, o);
  const { splits, kChunk4 } = splitK(plan, d, tn);
  if (o.colSums && !(tn && splits === 1 && batch === 1)) throw new Error('matmul: colSums needs a one-pass Aᵀ·B on the texture variant (see fusesColumnSums)');
  if (o.colSums && o.colSums.size !== N) throw new Error(`matmul: colSums has ${o.colSums.size} values, expected ${N}`);
  if (splits > 1 && partialElements(d, splits) * 4 > maxPartialBytes(engine)) throw new Error('matmul: split-K partial sums exceed the binding limit');
  const partial = splits > 1 ? engine.empty([partialElements(d, splits)]) : null;
  const target = partial ?? out;
  // The one-pass kernels apply AUX themselves; with split-K the reduce pass does.
  const AUX = partial ? 0 : auxMode;
  let opA: Operand;
  let opB: Operand;
  if (variant === 'texture') {
    // The tile: 16×16, 16×32 (wide) or 32×32 (tall); kn plans run the 16×16 one.
    const rows = plan.rows ?? 16;
    const cols = rows === 32 ? 32 : (plan.cols ?? 16);
    const tile = rows === 32 ? '_tall' : cols === 32 ? '_wide' : '';
    // Per entry: steps over K (rows for main_tn, vec4s otherwise) and A's and B's batch strides.
    let entry: string;
    let steps = K4;
    let strideA: number;
    let strideB: number;
    if (tn) {
      // A stored [K, M] and B stored [K, N], each as vec4 rows ([K][ceil(M/4)]; packed only to pad).
      opA = operand(engine, a, K, M, K, false, d.batchA, 'storage');
      opB = operand(engine, b, K, N, K, false, d.batchB, 'storage');
      entry = `main_tn${tile}${o.colSums ? '_colsums' : ''}`;
      steps = K;
      strideA = K * Math.ceil(M / 4);
      strideB = K * Math.ceil(N / 4);
    } else if (plan.kn) {
      // A as [M, K] in storage (as main), B as stored: its [K, N] rows are the texture's rows.
      opA = operand(engine, a, M, K, M, false, d.batchA, 'storage');
      opB = operand(engine, b, K, N, K, false, d.batchB, 'texture');
      entry = 'main_kn';
      strideA = M;
      strideB = K;
    } else {
      // Both operands K-major: B as Bᵀ [N, K] in a texture; A as [M, K] in a texture for the wide
      // tiles, in storage for the 16×16 one (the tensor itself when row-major with K % 4 == 0).
      opA = operand(engine, a, M, K, M, !!o.transA, d.batchA, cols === 16 ? 'storage' : variant);
      opB = operand(engine, b, N, K, N, !o.transB, d.batchB, variant);
      entry = `main${tile}`;
      strideA = M;
      strideB = N;
    }
    const wg = plan.wg ?? textureWorkgroup(d, cols, rows);
    engine.dispatch(
      'matmul_tex',
      entry,
      [opA.resource, opB.resource, bias, target, o.colSums ?? null, aux],
      { u: [M, N, steps, d.batchA === 1 ? 0 : strideA, d.batchB === 1 ? 0 : strideB, o.bias ? 1 : 0, splits, kChunk4], f },
      [Math.ceil(Math.ceil(N / cols) / wg), Math.ceil(M / rows), batch * splits],
      { WG: wg, ACT: act, ACC: accumulate && splits === 1 ? 1 : 0, PARTIAL: splits > 1 ? 1 : 0, AUX, VEC4: N % 4 === 0 ? 1 : 0 },
    );
  } else {
    const Kp = K4 * 4;
    opA = operand(engine, a, M, K, M, !!o.transA, d.batchA, variant);
    opB = operand(engine, b, K, N, Kp, !!o.transB, d.batchB, variant);
    const t = o.tile ?? matmulTile(d, plan);
    const N4 = Math.ceil(N / 4);
    engine.dispatch(
      'matmul',
      'main',
      [opA.resource, opB.resource, bias, target, null, aux],
      { u: [M, N, K4, N4, d.batchA === 1 ? 0 : M, d.batchB === 1 ? 0 : Kp, o.bias ? 1 : 0, accumulate ? 1 : 0, splits, kChunk4], f },
      [Math.ceil(N4 / (t.tn4 * t.wgx)), Math.ceil(M / (t.tm * t.wgy)), batch * splits],
      { TM: t.tm, TN4: t.tn4, WGX: t.wgx, WGY: t.wgy, ACT: act, AUX },
    );
  }
  if (partial) {
    const total = batch * M * N;
    const g = grid(Math.ceil(total / engine.flatWG));
    engine.dispatch('matmul_splitk', 'reduce', [partial, bias, out, null, null, aux], { u: [M, N, total, g[0] * engine.flatWG, splits, o.bias ? 1 : 0, accumulate ? 1 : 0], f }, g, { ACT: act, AUX: auxMode });
    engine.release(partial);
  }
  opA.done();
  opB.done();
  out.touch();
  return out;
}

// ------------------------------------------------------------------ tuning

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

export interface MatmulGrads {
  dA?: Tensor;
  dB?: Tensor;
  /** With needBias: the gradient of a bias added to C (column sums of dC, not scaled by alpha). */
  dBias?: Tensor;
}

/**
 * Gradients of C = alpha · op(A) · op(B) (no activation). With needBias also the gradient of a bias
 * added to C, the column sums of dC: in dB's own pass where fusesColumnSums allows, else by columnSum.
 * dA = alpha · dC · op(B)ᵀ and dB = alpha · op(A)ᵀ · dC, each written in the operand's stored layout
 * through the transposed matmul forms, so no transpose kernel runs. A B broadcast over A's batch
 * (a weight shared by every batch item) gets the sum over the batch: A's batch is folded into M.
 */
export function matmulBackward(
  engine: Engine,
  dC: Tensor,
  a: Tensor,
  b: Tensor,
  o: { transA?: boolean; transB?: boolean; alpha?: number; needA?: boolean; needB?: boolean; needBias?: boolean } = {},
): MatmulGrads {
  const d = dims(a, b, o);
  const alpha = o.alpha ?? 1;
  const tA = !!o.transA;
  const tB = !!o.transB;
  const grads: MatmulGrads = {};
  if (o.needA ?? true) {
    // dOpA [M, K] = dC · op(B)ᵀ; stored transposed (Aᵀ) it is op(B) · dCᵀ.
    grads.dA = tA
      ? matmul(engine, b, dC, { transA: tB, transB: true, alpha })
      : matmul(engine, dC, b, { transB: !tB, alpha });
    if (grads.dA.size !== a.size) throw new Error('matmulBackward: dA shape mismatch');
  }
  if (o.needB ?? true) {
    let A = a;
    let G = dC;
    if (d.batchB === 1 && d.batchA > 1) {
      if (tA) throw new Error('matmulBackward: a broadcast B with a transposed, batched A is not supported');
      // Fold A's batch into M: the sum over the batch of op(A)ᵀ·dC is one matmul over all rows.
      A = view(a, [d.batchA * d.M, d.K]);
      G = view(dC, [d.batchA * d.M, d.N]);
    }
    // dOpB [K, N] = op(A)ᵀ · dC; stored transposed (Bᵀ) it is dCᵀ · op(A). As op(A)ᵀ · dC on the
    // texture variant it can sum dC's columns (the bias gradient) in the same pass.
    if (tB) grads.dB = matmul(engine, G, A, { transA: true, transB: tA, alpha });
    else {
      const opts: MatmulOptions = { transA: !tA, alpha };
      if (o.needBias && fusesColumnSums(engine, A, G, opts)) opts.colSums = grads.dBias = engine.empty([d.N]);
      grads.dB = matmul(engine, A, G, opts);
    }
    if (grads.dB.size !== b.size) throw new Error('matmulBackward: dB shape mismatch');
  }
  if (o.needBias && !grads.dBias) grads.dBias = columnSum(engine, dC);
  return grads;
}

/** The same buffer seen with another shape of equal size (not pooled: releasing it is a no-op). */
export function view(t: Tensor, shape: readonly number[]): Tensor {
  if (numel(shape) !== t.size) throw new Error(`view: ${shapeStr(t.shape)} cannot be seen as ${shapeStr(shape)}`);
  const v = new Tensor(t.buffer, shape, t.dtype, false);
  v.version = t.version;
  return v;
}
