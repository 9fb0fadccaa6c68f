import { Tensor, numel, type DType } from '../tensor.js';
import { QUICK_COMPILE_FLOPS, Tuner, type TuneStore } from './autotune.js';
import { KernelSources } from './kernels.js';
import { checkDeviceLimits, flatWorkgroupSize, MAX_GROUPS, tensorLimitError } from './limits.js';
import { UNIFORM_SLOT_BYTES, type KernelParams } from './params.js';
import { BufferPool } from './pool.js';
import { bindingBytes, choosePacked, packedSource, packingPlan, StoragePacker, type PackedVariant, type PackingPlan } from './storage-packing.js';
import { ELEMENTWISE } from './uniforms.js';

/** Facts about the device an engine runs on. */
export interface DeviceInfo {
  /** e.g. "opengl", "vulkan", "metal", "d3d12", "browser", "app" (a caller's device). */
  backend: string;
  featureLevel: 'core' | 'compatibility';
  /** Human-readable adapter name, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
  adapter: string;
  vendor: string;
  architecture: string;
  description: string;
  /** True for CPU executors (llvmpipe, SwiftShader, lavapipe, WARP). */
  software: boolean;
}

export interface EngineOptions {
  /** Fill every buffer an op allocates with NaN before the op writes it (tests). */
  poison?: boolean;
  /** Called on device errors; default collects them and throws at the next read-back. */
  onError?: (message: string) => void;
  /** Where kernel choices (autotune) persist; default in memory. */
  tuneStore?: TuneStore;
}

export type Binding = Tensor | GPUBuffer | GPUTextureView | GPUSampler | GPUBufferBinding;

const UNIFORM_SLOT = UNIFORM_SLOT_BYTES;
const UNIFORM_SLOTS = 512;
/** Most uniform arenas one submit uses (dispatches per submit: UNIFORM_SLOTS × MAX_ARENAS). */
const MAX_ARENAS = 32;
/** Evicted buffer bytes (Engine.evict) past which the engine submits, so they are destroyed. */
const EVICT_FLUSH_BYTES = 64 * 1024 * 1024;
export { MAX_GROUPS };

/** A kernel entry point with its override constants: one pipeline. */
export interface PipelineRef {
  kernel: string;
  entry: string;
  overrides?: Record<string, number>;
  /**
   * On a device with fewer storage buffers per shader stage than the entry point binds: the binding
   * numbers of the read-only inputs merged into one buffer (src/gpu/storage-packing.ts).
   */
  packed?: readonly number[];
}

/**
 * An engine bound to one GPUDevice: pipeline cache, buffer pool, and one command encoder that
 * collects many dispatches per submit. Shapes travel as uniforms; pipelines are keyed by kernel,
 * entry point and override constants only.
 */
export class Engine {
  readonly limits: GPUSupportedLimits;
  readonly features: ReadonlySet<string>;
  /**
   * Invocations per workgroup of the flat entry points and workgroup reductions (FLAT_WG of
   * kernels/flat.wgsl): 256 where the device's limits allow it (src/gpu/limits.ts). The engine sets
   * it on every pipeline of a kernel that includes flat.wgsl; ops size their grids by it.
   */
  readonly flatWG: number;
  readonly pool: BufferPool;
  /** Per-device kernel choices (src/gpu/autotune.ts): ops consult it, tuning fills it. */
  readonly tuner: Tuner;
  /**
   * Where nothing is tuned, dispatches of fewer FLOPs than this run the kernels that compile
   * quickly on CPU executors rather than the fastest ones (QUICK_COMPILE_FLOPS; 0 always picks the
   * fastest). Tokenizer.warmup({ kernels: 'fast' }) lowers it once the fast ones are compiled.
   */
  quickCompileFlops = QUICK_COMPILE_FLOPS;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly pending = new Map<string, Promise<GPUComputePipeline>>();
  /** While tracePipelines runs: the pipelines asked for and the resources created. */
  private trace: { pipelines: Map<string, PipelineRef>; resources: string[] } | null = null;
  private readonly warmed = new Set<string>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  /**
   * Uniform arenas: each holds UNIFORM_SLOTS per-dispatch parameter blocks; a submit uses as many as
   * it needs (written once, at flush), so a whole training step fits one submit.
   */
  private readonly arenas: { buffer: GPUBuffer; data: ArrayBuffer }[] = [];
  private uniformUsed = 0;
  private afterSubmit: (() => void)[] = [];
  private errors: string[] = [];
  private disposed = false;
  /**
   * Profiling mode (bench): when set, every dispatch is submitted on its own and the wall time of
   * its submit is added under "kernel:entry". Accurate on executors that run the work inside
   * submit (llvmpipe); elsewhere it measures submission only.
   */
  profile: Map<string, { ms: number; count: number }> | null = null;
  /**
   * How kernels that include reduce.wgsl reduce over a workgroup: 'tree' (the plain path), or
   * 'subgroups' (reduce_subgroups.wgsl), which src/ops/reductions.ts sets once the device has the
   * feature, the variant agreed with the tree at start-up, and it was chosen for the device.
   */
  reductions: 'tree' | 'subgroups' = 'tree';
  /**
   * Counts for tests and the bench: dispatches and submits since creation; pipelines compiled, of
   * them the variants with packed storage inputs, and the inputs copied for those (only on a device
   * with fewer storage buffers per shader stage than an entry point binds).
   */
  readonly counters = { dispatches: 0, submits: 0, pipelinesCompiled: 0, packedPipelines: 0, packedCopies: 0 };
  /** Per-dispatch buffers of storage packing; plans by "source:entry" (null: the entry point fits). */
  private readonly packer: StoragePacker;
  private readonly plans = new Map<string, PackingPlan | null>();
  private readonly variants = new Map<string, PackedVariant>();
  /** Objects the ops keep between calls (see resource()), by key, in creation order. */
  private readonly resources = new Map<string, { value: unknown; destroy: () => void; owner?: number }>();
  /** Keys of the resources derived from each tensor (by tensor id): release() frees them. */
  private readonly derived = new Map<number, Set<string>>();

  constructor(
    readonly device: GPUDevice,
    readonly info: DeviceInfo,
    readonly kernels: KernelSources,
    readonly options: EngineOptions = {},
    /** Called by dispose(): the acquirer's clean-up (destroys a device the engine owns). */
    private readonly onDispose: () => void = () => {},
  ) {
    this.limits = device.limits;
    // A device below what the kernels need is refused here, not by a validation error mid-encode.
    checkDeviceLimits(this.limits);
    this.flatWG = flatWorkgroupSize(this.limits);
    this.features = device.features as ReadonlySet<string>;
    this.pool = new BufferPool(device);
    this.packer = new StoragePacker(device, this.limits.maxStorageBufferBindingSize);
    this.tuner = new Tuner(this, options.tuneStore);
    device.addEventListener('uncapturederror', this.onUncaptured);
  }

  private readonly onUncaptured = (ev: Event): void => {
    const msg = (ev as GPUUncapturedErrorEvent).error.message;
    if (this.options.onError) this.options.onError(msg);
    else this.errors.push(msg);
  };

  // ---------------------------------------------------------------- pipelines

  /**
   * The source a kernel compiles from under the engine's variants: with `reductions` at
   * 'subgroups', kernels that include reduce.wgsl are built as "KERNEL+subgroups" (kernels.ts).
   */
  kernelSource(kernel: string): string {
    if (this.reductions === 'subgroups' && this.kernels.includes(kernel).has('reduce')) return `${kernel}+subgroups`;
    return kernel;
  }

  private key(kernel: string, entry: string, overrides: Record<string, number>, packed?: readonly number[]): string {
    const o = Object.keys(overrides)
      .sort()
      .map((k) => `${k}=${overrides[k]}`)
      .join(',');
    return `${this.kernelSource(kernel)}:${entry}:${o}${packed ? `:packed=${packed.join(',')}` : ''}`;
  }

  private descriptor(kernel: string, entry: string, overrides: Record<string, number>, packed?: readonly number[]): GPUComputePipelineDescriptor {
    const source = this.kernelSource(kernel);
    const code = packed ? this.packedVariant(kernel, entry, packed).code : this.kernels.get(source);
    const module = this.device.createShaderModule({ label: packed ? `${source}:${entry}:packed=${packed.join(',')}` : source, code });
    const constants = this.kernels.includes(kernel).has('flat') ? { ...overrides, FLAT_WG: this.flatWG } : overrides;
    return {
      label: `${kernel}:${entry}`,
      layout: 'auto',
      compute: { module, entryPoint: entry, constants },
    };
  }

  /**
   * The pipeline for a kernel entry point with the given override constants (compiled once); with
   * `packed`, its variant that reads those storage inputs from one packed buffer.
   */
  pipeline(kernel: string, entry: string, overrides: Record<string, number> = {}, packed?: readonly number[]): GPUComputePipeline {
    const key = this.key(kernel, entry, overrides, packed);
    let p = this.pipelines.get(key);
    if (!p) {
      p = this.device.createComputePipeline(this.descriptor(kernel, entry, overrides, packed));
      this.pipelines.set(key, p);
      this.counters.pipelinesCompiled++;
      if (packed) this.counters.packedPipelines++;
    }
    return p;
  }

  /**
   * The storage inputs a dispatch of the entry point merges into one buffer, given its bind group
   * entries; undefined where the entry point binds no more storage buffers than the device allows.
   * Throws (naming kernel and entry point) where merging cannot bring it within the limit.
   */
  private packedBindings(kernel: string, entry: string, entries: readonly GPUBindGroupEntry[]): number[] | undefined {
    const source = this.kernelSource(kernel);
    const at = `${source}:${entry}`;
    let plan = this.plans.get(at);
    if (plan === undefined) {
      plan = packingPlan(this.kernels.get(source), kernel, entry, this.limits.maxStorageBuffersPerShaderStage);
      this.plans.set(at, plan);
    }
    if (!plan) return undefined;
    return choosePacked(plan, (n) => {
      const r = entries.find((e) => e.binding === n)?.resource as GPUBufferBinding | undefined;
      return r && 'buffer' in r ? bindingBytes(r) : 0;
    });
  }

  private packedVariant(kernel: string, entry: string, packed: readonly number[]): PackedVariant {
    const source = this.kernelSource(kernel);
    const at = `${source}:${entry}:${packed.join(',')}`;
    let v = this.variants.get(at);
    if (!v) this.variants.set(at, (v = packedSource(this.kernels.get(source), kernel, entry, packed)));
    return v;
  }

  /** Compiles pipelines in parallel ahead of use (each at most once per engine). */
  async precompile(list: readonly PipelineRef[]): Promise<void> {
    await Promise.all(
      list.map(({ kernel, entry, overrides = {}, packed }) => {
        const key = this.key(kernel, entry, overrides, packed);
        if (this.pipelines.has(key)) return undefined;
        let pr = this.pending.get(key);
        if (!pr) {
          pr = this.device.createComputePipelineAsync(this.descriptor(kernel, entry, overrides, packed)).then((p) => {
            this.pipelines.set(key, p);
            this.pending.delete(key);
            this.counters.pipelinesCompiled++;
            if (packed) this.counters.packedPipelines++;
            return p;
          });
          this.pending.set(key, pr);
        }
        return pr;
      }),
    );
  }

  /**
   * The pipelines `fn`'s work would compile, found without running it: while it runs, dispatches
   * are recorded but not encoded, reads return zeros, and the resources the ops create are freed
   * at the end (so no cache keeps contents that were never computed). Only pipelines not yet
   * compiled are listed; precompile() then compiles them in parallel. Nothing else may use the
   * engine meanwhile.
   */
  async tracePipelines(fn: () => Promise<unknown>): Promise<PipelineRef[]> {
    if (this.trace) throw new Error('tracePipelines: already tracing');
    const trace = (this.trace = { pipelines: new Map<string, PipelineRef>(), resources: [] as string[] });
    try {
      await fn();
      return [...trace.pipelines.values()];
    } finally {
      this.trace = null;
      // Copies recorded meanwhile may target the resources: submitted first, then destroyed.
      this.flush();
      for (const key of trace.resources) this.freeResource(key);
    }
  }

  /** Number of distinct pipelines that have been dispatched at least once. */
  get warmedCount(): number {
    return this.warmed.size;
  }

  // ---------------------------------------------------------------- buffers and tensors

  /** A tensor from the pool; contents undefined (NaN-filled when the engine poisons). */
  empty(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    const bytes = Math.max(4, numel(shape) * 4);
    const t = new Tensor(this.pool.acquire(bytes), shape, dtype);
    if (this.options.poison) this.fill(t, Number.NaN);
    return t;
  }

  /**
   * Returns a tensor's buffer to the pool and frees the resources derived from it (resource() with
   * the tensor as owner). Work already recorded that uses them stays valid.
   */
  release(...ts: (Tensor | null | undefined)[]): void {
    for (const t of ts) {
      if (!t) continue;
      if (t.pooled) {
        // An evicted tensor has no buffer left in the pool (evict()); it is not rebuilt to be freed.
        const buffer = t.residentBuffer;
        if (buffer) this.pool.release(buffer);
        t.released = true;
      }
      const keys = this.derived.get(t.id);
      if (keys) for (const key of keys) this.freeResource(key);
    }
  }

  /**
   * Drops the buffer of an evictable tensor whose values a derived copy now holds (Tensor.evictable):
   * out of the pool's accounting at once, destroyed once the work recorded so far (which may still
   * read it, e.g. the copy's packing) is submitted. `unpack` records the rebuild of a buffer from
   * that copy, should the tensor's buffer be asked for again; the copy must stay valid until then
   * or until the tensor is released. A no-op while tracing (nothing recorded fills the copy) and
   * for tensors that are not evictable, not pooled, released or already evicted.
   */
  evict(t: Tensor, unpack: () => GPUBuffer): void {
    if (this.trace || !t.evictable || !t.pooled || t.released || t.evicted) return;
    const buffer = t.evict(unpack);
    this.dropPooled(buffer);
    // A model's first pass packs every weight: submitted every EVICT_FLUSH_BYTES, so at most that
    // much is held twice at a time rather than all weights until the pass's end.
    this.evictedPending += buffer.size;
    if (this.evictedPending >= EVICT_FLUSH_BYTES) this.flush();
  }

  /** Takes a buffer out of the pool for good and destroys it once the work recorded so far is submitted. */
  private dropPooled(buffer: GPUBuffer): void {
    this.pool.forget(buffer);
    this.deferDestroy(buffer);
  }

  /** Bytes of evicted buffers waiting for the next submit (evict()). */
  private evictedPending = 0;

  /**
   * Runs `fn` with its dispatches encoded even while tracing: work whose results later calls need
   * (an evicted tensor's rebuild), not just its pipelines.
   */
  untraced<T>(fn: () => T): T {
    const trace = this.trace;
    this.trace = null;
    try {
      return fn();
    } finally {
      this.trace = trace;
    }
  }

  // ---------------------------------------------------------------- resources

  /**
   * A GPU object (or a group of them) an op keeps between calls on this engine: made by `create` on
   * the first call with this key, the same value afterwards. dispose() destroys every one, so
   * nothing the ops made outlives the engine on a device that is not the engine's (an app's). With
   * an `owner`, the value is derived from that tensor (a packed copy of a weight) and release(owner)
   * frees it too.
   */
  resource<T>(key: string, create: () => T, destroy: (value: T) => void, owner?: Tensor): T {
    const had = this.resources.get(key);
    if (had) return had.value as T;
    if (this.disposed) throw new Error('engine is disposed');
    const value = create();
    this.resources.set(key, { value, destroy: () => destroy(value), owner: owner?.id });
    this.trace?.resources.push(key);
    if (owner) {
      let keys = this.derived.get(owner.id);
      if (!keys) this.derived.set(owner.id, (keys = new Set()));
      keys.add(key);
    }
    return value;
  }

  /** The resource under `key`, if there is one (it is not created). */
  peekResource<T>(key: string): T | undefined {
    return this.resources.get(key)?.value as T | undefined;
  }

  /** The resources whose keys start with `prefix`, in creation order (one may be freed while iterating). */
  *resourcesUnder<T>(prefix: string): IterableIterator<[string, T]> {
    for (const [key, r] of this.resources) if (key.startsWith(prefix)) yield [key, r.value as T];
  }

  /** Forgets the resource under `key` at once and destroys it once the work recorded so far is submitted. */
  freeResource(key: string): void {
    const r = this.resources.get(key);
    if (!r) return;
    this.resources.delete(key);
    if (r.owner !== undefined) {
      const keys = this.derived.get(r.owner);
      keys?.delete(key);
      if (keys?.size === 0) this.derived.delete(r.owner);
    }
    this.deferDestroy(r);
  }

  /** How many resources the engine holds (tests). */
  get resourceCount(): number {
    return this.resources.size;
  }

  /** Uploads host data into a new tensor; the copy is recorded in order with pending work. */
  upload(data: Float32Array | Uint32Array | Int32Array, shape: readonly number[], dtype?: DType): Tensor {
    const n = numel(shape);
    if (data.length !== n) throw new Error(`upload: ${data.length} values for shape [${shape.join(', ')}]`);
    const tooLarge = tensorLimitError(this.limits, `a [${shape.join(', ')}] tensor`, n * 4);
    if (tooLarge) throw tooLarge;
    const dt: DType = dtype ?? (data instanceof Float32Array ? 'f32' : data instanceof Int32Array ? 'i32' : 'u32');
    const t = new Tensor(this.pool.acquire(Math.max(4, n * 4)), shape, dt);
    this.write(t, data);
    return t;
  }

  /** Writes host data into an existing tensor, ordered after all work recorded so far. */
  write(t: Tensor, data: ArrayBufferView, byteOffset = 0): void {
    const bytes = Math.ceil(data.byteLength / 4) * 4;
    if (bytes === 0) return;
    const staging = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC, mappedAtCreation: true });
    new Uint8Array(staging.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    staging.unmap();
    // Resolved before the copy is recorded: an evicted tensor's rebuild records a dispatch.
    const target = t.buffer;
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(staging, 0, target, byteOffset, bytes);
    this.afterSubmit.push(() => staging.destroy());
    t.touch();
  }

  /** Copies `src` into `dst` (whole tensor unless sizes given), recorded in order. */
  copy(src: Tensor, dst: Tensor, bytes = Math.min(src.byteLength, dst.byteLength), srcOffset = 0, dstOffset = 0): void {
    const from = src.buffer;
    const to = dst.buffer;
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(from, srcOffset, to, dstOffset, bytes);
    dst.touch();
  }

  private readonly placeholders: Tensor[] = [];

  /**
   * A zero vec4 (4 floats, the smallest vec4 array binding) for a binding a kernel declares but
   * this dispatch does not use (an absent bias, an epilogue's unused aux tensor). Distinct slots
   * are distinct buffers, since one dispatch may not bind a buffer both read-only and writable.
   */
  placeholder(slot = 0): Tensor {
    let t = this.placeholders[slot];
    if (!t) {
      t = this.upload(new Float32Array(4), [4]);
      t.constant = true;
      this.placeholders[slot] = t;
    }
    return t;
  }

  /** Fills a tensor with one value (bit pattern of f32, or u32 for integer tensors). */
  fill(t: Tensor, value: number): void {
    const n = t.size;
    const bits = t.dtype === 'f32' ? new Uint32Array(new Float32Array([value]).buffer)[0]! : value >>> 0;
    const groups = Math.ceil(n / this.flatWG);
    const gx = Math.min(groups, MAX_GROUPS);
    this.dispatch('elementwise', 'fill', [t], ELEMENTWISE.withZeros({ n, stride: gx * this.flatWG, bits }), [gx, Math.ceil(groups / gx), 1]);
  }

  /** Destroys a resource once the work recorded so far has been submitted. */
  deferDestroy(resource: { destroy(): void }): void {
    if (this.encoder) this.afterSubmit.push(() => resource.destroy());
    else resource.destroy();
  }

  /** Flushes pending work, then reads a tensor back to the host. */
  async read(t: Tensor): Promise<Float32Array | Uint32Array | Int32Array> {
    return (await this.readMany([t]))[0]!;
  }

  /**
   * Flushes pending work and reads several tensors back with one copy pass, one submit and one
   * map (a training step's losses and token ids, for instance). Results follow the input order.
   */
  async readMany(ts: readonly Tensor[]): Promise<(Float32Array | Uint32Array | Int32Array)[]> {
    if (this.trace) return ts.map((t) => (t.dtype === 'f32' ? new Float32Array(t.size) : t.dtype === 'i32' ? new Int32Array(t.size) : new Uint32Array(t.size)));
    const offsets: number[] = [];
    let total = 0;
    for (const t of ts) {
      offsets.push(total);
      total += Math.ceil(t.byteLength / 4) * 4;
    }
    // An evicted tensor is read from a temporary rebuild (destroyed after the copy) and stays evicted.
    const temps: GPUBuffer[] = [];
    const sources = ts.map((t) => {
      const copy = t.unpackCopy();
      if (copy) temps.push(copy);
      return copy ?? t.buffer;
    });
    const staging = this.device.createBuffer({ size: Math.max(4, total), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.endPass();
    const enc = this.commandEncoder();
    ts.forEach((t, i) => enc.copyBufferToBuffer(sources[i]!, 0, staging, offsets[i]!, t.byteLength));
    for (const b of temps) this.dropPooled(b);
    this.flush();
    await staging.mapAsync(GPUMapMode.READ);
    const all = staging.getMappedRange().slice(0);
    staging.unmap();
    staging.destroy();
    this.throwErrors();
    return ts.map((t, i) => {
      const part = all.slice(offsets[i]!, offsets[i]! + t.byteLength);
      return t.dtype === 'f32' ? new Float32Array(part) : t.dtype === 'i32' ? new Int32Array(part) : new Uint32Array(part);
    });
  }

  async readF32(t: Tensor): Promise<Float32Array> {
    const r = await this.read(t);
    if (!(r instanceof Float32Array)) throw new Error('readF32 on a non-f32 tensor');
    return r;
  }

  async readU32(t: Tensor): Promise<Uint32Array> {
    const r = await this.read(t);
    return r instanceof Uint32Array ? r : new Uint32Array(r.buffer);
  }

  private throwErrors(): void {
    if (this.errors.length) {
      const all = this.errors.splice(0);
      throw new Error(`WebGPU error: ${all.join('\n')}`);
    }
  }

  // ---------------------------------------------------------------- recording

  private commandEncoder(): GPUCommandEncoder {
    if (this.disposed) throw new Error('engine is disposed');
    if (!this.encoder) this.encoder = this.device.createCommandEncoder({ label: 'tok1d' });
    return this.encoder;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  /** The open encoder for callers that record their own commands (timestamps, texture copies). */
  recordCommands(fn: (encoder: GPUCommandEncoder) => void): void {
    this.endPass();
    this.inCommands = true;
    try {
      fn(this.commandEncoder());
    } finally {
      this.inCommands = false;
    }
  }

  /** While a recordCommands callback runs: a dispatch then would open a pass inside its commands. */
  private inCommands = false;

  /**
   * Records one dispatch. Params are the kernel's uniform struct by name (a schema's `with()`,
   * src/gpu/uniforms.ts). Bindings: that struct (when params are given) at @binding(0),
   * then the resources at @binding(1..n) in order; without params, resources start at 0.
   * A null entry skips its binding number (entry points of one file may use different bindings).
   */
  dispatch(
    kernel: string,
    entry: string,
    bindings: readonly (Binding | null)[],
    params: KernelParams | null,
    groups: readonly [number, number, number] | readonly number[],
    overrides: Record<string, number> = {},
  ): void {
    if (this.inCommands) throw new Error(`dispatch of ${kernel}:${entry} inside recordCommands (an evicted tensor's buffer asked for there? resolve it before)`);
    // Tensors' buffers first: an evicted one's rebuild records a dispatch of its own, before this one.
    const resources = resourceEntries(bindings, params ? 1 : 0);
    if (this.trace) {
      const packed = this.packedBindings(kernel, entry, resources);
      const key = this.key(kernel, entry, overrides, packed);
      if (!this.pipelines.has(key)) this.trace.pipelines.set(key, { kernel, entry, overrides, ...(packed ? { packed } : {}) });
      return;
    }
    const entries: GPUBindGroupEntry[] = [];
    if (params) {
      if (this.uniformUsed >= UNIFORM_SLOTS * MAX_ARENAS) this.flush();
      const index = this.uniformUsed++;
      const arena = this.arena(Math.floor(index / UNIFORM_SLOTS));
      const slot = index % UNIFORM_SLOTS;
      const dv = new DataView(arena.data, slot * UNIFORM_SLOT, UNIFORM_SLOT);
      new Uint8Array(arena.data, slot * UNIFORM_SLOT, UNIFORM_SLOT).fill(0);
      params.schema.pack(dv, params);
      entries.push({ binding: 0, resource: { buffer: arena.buffer, offset: slot * UNIFORM_SLOT, size: UNIFORM_SLOT } });
    }
    entries.push(...resources);
    const packed = this.packedBindings(kernel, entry, entries);
    const pipeline = this.pipeline(kernel, entry, overrides, packed);
    const bound = packed ? this.packInputs(kernel, entry, packed, entries) : entries;
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: bound });
    if (!this.pass) this.pass = this.commandEncoder().beginComputePass();
    this.pass.setPipeline(pipeline);
    this.pass.setBindGroup(0, bindGroup);
    const [x, y = 1, z = 1] = groups;
    if (x > 0 && y > 0 && z > 0) this.pass.dispatchWorkgroups(x, y, z);
    this.counters.dispatches++;
    this.warmed.add(this.key(kernel, entry, overrides, packed));
    if (this.profile) {
      const t0 = performance.now();
      this.flush();
      const name = `${kernel}:${entry}`;
      const cur = this.profile.get(name) ?? { ms: 0, count: 0 };
      cur.ms += performance.now() - t0;
      cur.count++;
      this.profile.set(name, cur);
    }
  }

  /** Records the copies of a dispatch's merged inputs (before its pass) and returns its entries. */
  private packInputs(kernel: string, entry: string, packed: readonly number[], entries: readonly GPUBindGroupEntry[]): GPUBindGroupEntry[] {
    this.endPass();
    this.counters.packedCopies += packed.length;
    return this.packer.pack(this.commandEncoder(), `${kernel}:${entry}`, this.packedVariant(kernel, entry, packed), entries);
  }

  private arena(i: number): { buffer: GPUBuffer; data: ArrayBuffer } {
    while (this.arenas.length <= i) {
      const buffer = this.device.createBuffer({ label: `tok1d uniforms ${this.arenas.length}`, size: UNIFORM_SLOT * UNIFORM_SLOTS, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      this.arenas.push({ buffer, data: new ArrayBuffer(UNIFORM_SLOT * UNIFORM_SLOTS) });
    }
    return this.arenas[i]!;
  }

  /** Submits everything recorded so far as one command buffer. */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    for (let a = 0; a * UNIFORM_SLOTS < this.uniformUsed; a++) {
      const used = Math.min(UNIFORM_SLOTS, this.uniformUsed - a * UNIFORM_SLOTS);
      this.device.queue.writeBuffer(this.arenas[a]!.buffer, 0, this.arenas[a]!.data, 0, used * UNIFORM_SLOT);
    }
    this.device.queue.submit([this.encoder.finish()]);
    this.packer.submitted();
    this.encoder = null;
    this.uniformUsed = 0;
    this.counters.submits++;
    this.evictedPending = 0;
    const after = this.afterSubmit.splice(0);
    for (const fn of after) fn();
  }

  /** Flushes and waits until the GPU has finished all submitted work. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.throwErrors();
  }

  /**
   * Destroys every buffer and texture the engine and its ops made (the pool, the uniform arenas,
   * the resources) and, for a device the engine acquired itself, the device. A caller's device
   * stays usable. Idempotent.
   */
  dispose(): void {
    if (this.disposed) return;
    try {
      this.flush();
    } catch {
      /* the device may already be lost */
    }
    this.disposed = true;
    this.device.removeEventListener('uncapturederror', this.onUncaptured);
    // Staging buffers of a submit that failed above.
    for (const fn of this.afterSubmit.splice(0)) fn();
    this.encoder = null;
    this.pass = null;
    for (const r of this.resources.values()) r.destroy();
    this.resources.clear();
    this.derived.clear();
    this.pool.destroy();
    this.packer.destroy();
    for (const a of this.arenas) a.buffer.destroy();
    this.arenas.length = 0;
    this.placeholders.length = 0;
    this.pipelines.clear();
    this.onDispose();
  }
}

/** Bind group entries for resources numbered from `first`; a null skips its number. */
function resourceEntries(bindings: readonly (Binding | null)[], first: number): GPUBindGroupEntry[] {
  const entries: GPUBindGroupEntry[] = [];
  bindings.forEach((r, i) => {
    if (r !== null) entries.push({ binding: first + i, resource: toResource(r) });
  });
  return entries;
}

function toResource(r: Binding): GPUBindingResource {
  // Rounded up to 16 bytes (within the buffer) so kernels may view any tensor as vec4s.
  if (r instanceof Tensor) return { buffer: r.buffer, offset: 0, size: Math.min(r.buffer.size, Math.ceil(Math.max(4, r.byteLength) / 16) * 16) };
  if (typeof GPUBuffer !== 'undefined' && r instanceof GPUBuffer) return { buffer: r };
  return r as GPUBindingResource;
}

/** Splits a 1D workgroup count over x and y so neither exceeds the per-dimension limit. */
export function grid(groups: number): [number, number, number] {
  if (groups <= MAX_GROUPS) return [Math.max(1, groups), 1, 1];
  const y = Math.ceil(groups / MAX_GROUPS);
  return [Math.ceil(groups / y), y, 1];
}
