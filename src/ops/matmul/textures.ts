/**
 * Matmul operands in textures (the texture variant on CPU executors): constant weights' packed
 * textures, cached as engine resources and kept in rgba16float when their values are exactly f16;
 * pooled textures for activations; the pack kernel that fills them. An evictable weight
 * (Tensor.evictable) gives up its buffer once its texture holds every value, and gets it back
 * unpacked from the texture (pack.wgsl's from_texture) only if something reads the buffer again.
 */
import { Engine } from '../../gpu/engine.js';
import { type ValuesOf } from '../../gpu/params.js';
import { TexturePool } from '../../gpu/pool.js';
import { PACK, PACK_JOB } from '../../gpu/uniforms.js';
import { Tensor } from '../../tensor.js';
import { linearLaunch } from '../elementwise.js';
import { type MatmulVariant } from './plan.js';

export interface Operand {
  resource: GPUBuffer | GPUTextureView | Tensor;
  done: () => void;
  /** Set when the operand is a texture in the panel layout (matmul_tex.wgsl's BPANEL). */
  panel?: PanelLayout;
}

/** Logical columns per panel of the panel layout (matmul_tex.wgsl's PANEL, pack.wgsl's Job.panel). */
export const PANEL_COLS = 32;

/**
 * Geometry of a matrix in the panel layout (see matmul_tex.wgsl): 2^shift column groups per
 * texel row, tileRows texel rows per panel, batchRows texel rows per batch.
 */
export interface PanelLayout {
  shift: number;
  tileRows: number;
  batchRows: number;
}

/** One matrix to pack (pack.wgsl's Job): logical [rows, cols], rowsOut rows per batch, src stored transposed when trans; in the panel layout when panel is set. */
interface PackJob {
  src: Tensor;
  rows: number;
  cols: number;
  rowsOut: number;
  trans: boolean;
  batches: number;
  panel?: PanelLayout;
}

/**
 * The panel layout of a logical [rows, cols] matrix (rows: the matmul's N, cols: its K) in
 * `batches` batches, or null when its texture would exceed the device's 2D size limit. Rows are
 * padded to whole panels. 2^shift groups per texel row: 8 where K allows (fewer for a short K, so
 * the texture is not mostly padding), more when the height would pass the limit.
 */
export function panelLayout(engine: Engine, rows: number, cols: number, batches: number): PanelLayout | null {
  const max = engine.limits.maxTextureDimension2D;
  const cols4 = Math.ceil(cols / 4);
  const panels = Math.ceil(rows / PANEL_COLS) * batches;
  for (let shift = Math.min(3, Math.ceil(Math.log2(cols4))); PANEL_COLS << shift <= max; shift++) {
    const tileRows = Math.ceil(cols4 / 2 ** shift);
    if (panels * tileRows <= max) return { shift, tileRows, batchRows: (panels / batches) * tileRows };
  }
  return null;
}

/** The texture size a job fills: [cols4, rowsOut·batches] texels, or the panel layout's. */
function textureSize(j: Omit<PackJob, 'src'>): [number, number] {
  if (!j.panel) return [Math.ceil(j.cols / 4), j.rowsOut * j.batches];
  return [PANEL_COLS << j.panel.shift, j.panel.batchRows * j.batches];
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
  return !j.panel && !j.trans && j.rowsOut === j.rows && (j.cols * 4) % 256 === 0;
}

/** pack.wgsl's Job of a matrix whose items start at `start` (to_textures4). */
function packJob(j: PackJob, start = 0): ValuesOf<typeof PACK_JOB> {
  const panel = j.panel ? { panel: PANEL_COLS, shift: j.panel.shift, tileRows: j.panel.tileRows } : { panel: 0, shift: 0, tileRows: 0 };
  return { rows: j.rows, cols: j.cols, rowsOut: j.rowsOut, cols4: Math.ceil(j.cols / 4), trans: j.trans ? 1 : 0, srcBatch: j.rows * j.cols, batches: j.batches, start, ...panel, unused: 0 };
}

/** An absent job of to_textures4: it starts past every item (u32 max), so none falls in it. */
const NO_JOB: ValuesOf<typeof PACK_JOB> = { rows: 0, cols: 0, rowsOut: 0, cols4: 1, trans: 0, srcBatch: 0, batches: 0, start: -1 >>> 0, panel: 0, shift: 0, tileRows: 0, unused: 0 };

/** Texels a job writes. */
function jobTexels(j: Omit<PackJob, 'src'>): number {
  return Math.ceil(j.cols / 4) * j.rowsOut * j.batches;
}

/**
 * Whether to_block4 packs the job: its stored rows are whole vec4s (cols a multiple of 4, and rows
 * too when transposed, where the stored rows are the logical columns).
 */
function packsInBlocks(j: Omit<PackJob, 'src'>): boolean {
  return j.cols % 4 === 0 && (!j.trans || j.rows % 4 === 0);
}

/**
 * Fills textures from their jobs: copies where the layouts agree (copiesToTexture), whole-vec4 rows
 * by to_block4 one job a dispatch, the rest packed up to PACK_JOBS per dispatch.
 */
function fillTextures(engine: Engine, work: { job: PackJob; texture: GPUTexture }[]): void {
  const packs: { job: PackJob; texture: GPUTexture }[] = [];
  for (const w of work) {
    const { job: j, texture } = w;
    if (copiesToTexture(j)) {
      const buffer = j.src.buffer;
      engine.recordCommands((enc) => enc.copyBufferToTexture({ buffer, bytesPerRow: j.cols * 4, rowsPerImage: j.rows * j.batches }, { texture }, [j.cols / 4, j.rows * j.batches]));
    } else if (packsInBlocks(j)) {
      const items = Math.ceil(j.cols / 4) * Math.ceil(j.rowsOut / 4) * j.batches;
      const { groups, stride } = linearLaunch(engine, items);
      engine.dispatch('pack', 'to_block4', [j.src, null, null, null, texture.createView()], PACK.withZeros({ count: 1, total: items, stride, job: [packJob(j)] }), groups);
    } else packs.push(w);
  }
  for (let i = 0; i < packs.length; i += PACK_JOBS) {
    const group = packs.slice(i, i + PACK_JOBS);
    const srcs: Tensor[] = [];
    const dsts: GPUTextureView[] = [];
    const jobs: ValuesOf<typeof PACK_JOB>[] = [];
    let total = 0;
    for (let k = 0; k < 4; k++) {
      const w = group[k];
      srcs.push(w ? w.job.src : engine.placeholder(0));
      dsts.push(w ? w.texture.createView() : packPlaceholder(engine, k));
      jobs.push(w ? packJob(w.job, total) : NO_JOB);
      if (w) total += jobTexels(w.job);
    }
    const { groups, stride } = linearLaunch(engine, total);
    engine.dispatch('pack', 'to_textures4', [...srcs, ...dsts], PACK.with({ count: group.length, total, stride, unused: 0, job: jobs }), groups);
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
export const HALF_FAMILY = 'matmul:texture.f16';

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

/** Side of the square workgroups of pack.wgsl's to_buffer and to_texture_h (its SIDE override). */
const PACK_SIDE = 8;

/** Packs one matrix into an rgba16float texture (to_texture_h; values exactly float16). */
function packToHalfTexture(engine: Engine, j: PackJob, texture: GPUTexture): void {
  const ph = engine.placeholder(0);
  engine.dispatch('pack', 'to_texture_h', [j.src, ph, ph, ph, null, null, null, null, null, texture.createView()], PACK.withZeros({ count: 1, job: [packJob(j)] }), [Math.ceil(Math.ceil(j.cols / 4) / PACK_SIDE), Math.ceil((j.rowsOut * j.batches) / PACK_SIDE), 1], { SIDE: PACK_SIDE });
}

/** Packs one matrix into a storage buffer ([batches][rowsOut][ceil(cols/4)] vec4). */
function packToBuffer(engine: Engine, j: PackJob, target: Tensor): void {
  const cols4 = Math.ceil(j.cols / 4);
  // gather() names all four sources, so the shader binds them: placeholders past job 0.
  const ph = engine.placeholder(0);
  engine.dispatch('pack', 'to_buffer', [j.src, ph, ph, ph, null, null, null, null, target], PACK.withZeros({ count: 1, job: [packJob(j)] }), [Math.ceil(cols4 / PACK_SIDE), Math.ceil((j.rowsOut * j.batches) / PACK_SIDE), 1], { SIDE: PACK_SIDE });
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
  // A weight that stopped being f16-exact (written since) drops its half texture; an evicted one
  // gets its buffer back from it first.
  if (!half && t.evicted) void t.buffer;
  if (!half) engine.freeResource(`${prefix}h`);
  // Same key, same geometry: the texture is rewritten in place (work recorded before reads the old
  // contents, in order, as with pooled buffers).
  const entry = engine.resource<CachedTexture>(
    `${prefix}${half ? 'h' : 'f'}`,
    () => ({
      version: t.version,
      texture: engine.device.createTexture({
        label: 'matmul weight',
        size: textureSize(job),
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
    evictInto(engine, t, entry);
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
  evictInto(engine, t, entry);
  return texture;
}

/**
 * After an evictable weight's texture was filled: drops its buffer when the texture holds every
 * value (all batches of the whole matrix), keeping the way back (unpackTexture). The rebuild
 * holds the entry's texture, which lives until the tensor's release.
 */
function evictInto(engine: Engine, t: Tensor, entry: CachedTexture): void {
  const j = entry.job;
  if (!t.evictable || j.rows * j.cols * j.batches !== t.size) return;
  engine.evict(t, () => engine.untraced(() => unpackTexture(engine, { ...j, src: t }, entry.texture)));
}

/** A new pooled buffer holding j.src's values in its own layout, unpacked from the texture j was packed into. */
function unpackTexture(engine: Engine, j: PackJob, texture: GPUTexture): GPUBuffer {
  const buffer = engine.pool.acquire(Math.max(4, j.src.byteLength));
  const total = j.rows * j.cols * j.batches;
  const { groups, stride } = linearLaunch(engine, total);
  const bindings = [null, null, null, null, null, null, null, null, null, null, texture.createView(), buffer];
  engine.dispatch('pack', 'from_texture', bindings, PACK.withZeros({ count: 1, total, stride, job: [packJob(j)] }), groups);
  return buffer;
}

/** A constant tensor's texture key (after WEIGHT_TEXTURE, before the format): id, layout. */
function textureKey(t: Tensor, j: Omit<PackJob, 'src'>): string {
  return `${t.id}:${j.trans ? 1 : 0}:${j.panel ? `p${j.panel.shift}` : j.rowsOut}`;
}

/** A constant operand's texture job: in the panel layout when asked for and it fits, else the row layout. */
function constantJob(engine: Engine, job: Omit<PackJob, 'src' | 'panel'>, panel: boolean): Omit<PackJob, 'src'> {
  const layout = panel ? panelLayout(engine, job.rows, job.cols, job.batches) : null;
  return layout ? { ...job, rowsOut: Math.ceil(job.rows / PANEL_COLS) * PANEL_COLS, panel: layout } : job;
}

/**
 * Whether the engine holds a current packed texture of constant tensor t for this operand layout
 * (what a texture plan binds without reading t's buffer).
 */
export function holdsTexture(engine: Engine, t: Tensor, rows: number, cols: number, rowsOut: number, trans: boolean, batches: number, panel = false): boolean {
  const job = constantJob(engine, { rows, cols, rowsOut, trans, batches }, panel);
  const prefix = `${WEIGHT_TEXTURE}${textureKey(t, job)}:`;
  return (['f', 'h'] as const).some((format) => {
    const e = engine.peekResource<CachedTexture>(prefix + format);
    return !!e && e.version === t.version && e.job.rows === rows && e.job.cols === cols && e.job.batches === batches;
  });
}

/**
 * One operand in packed vec4 layout: [batches][rowsOut][ceil(cols/4)], logical [rows, cols]
 * (stored transposed when trans). Binds the tensor itself when it already has that layout. With
 * `panel`, a constant tensor's texture is in the panel layout where it fits (operand.panel says so).
 */
export function operand(engine: Engine, t: Tensor, rows: number, cols: number, rowsOut: number, trans: boolean, batches: number, variant: MatmulVariant, panel = false): Operand {
  const cols4 = Math.ceil(cols / 4);
  const job = { rows, cols, rowsOut, trans, batches };
  if (variant === 'storage') {
    if (!trans && cols % 4 === 0 && rowsOut === rows) return { resource: t, done: () => {} };
    const packed = engine.empty([batches * rowsOut * cols4 * 4]);
    packToBuffer(engine, { ...job, src: t }, packed);
    return { resource: packed, done: () => engine.release(packed) };
  }
  if (t.constant) {
    const cj = constantJob(engine, job, panel);
    return { resource: cachedTexture(engine, t, cj, textureKey(t, cj)).createView(), done: () => {}, ...(cj.panel ? { panel: cj.panel } : {}) };
  }
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
