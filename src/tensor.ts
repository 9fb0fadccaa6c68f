/** Element types a tensor may hold. All are 4 bytes wide. */
export type DType = 'f32' | 'u32' | 'i32';

let nextId = 1;

/**
 * A GPU buffer with a shape. The buffer may be larger than the tensor (buffers come from a pool
 * of size classes); `byteLength` is what the tensor covers. `version` counts writes made through
 * ops that declare them, so caches derived from the contents (packed textures, norms) can tell
 * when they are stale.
 */
export class Tensor {
  readonly id = nextId++;
  version = 0;
  /**
   * Set for tensors whose contents change only through writes that call touch() (weights):
   * ops may then cache data derived from them (e.g. packed textures), checked against `version`.
   */
  constant = false;
  /**
   * Every value is exactly a float16 (weights loaded from an f16 checkpoint): ops may keep a derived
   * copy in half precision (matmul's rgba16float weight textures) without changing any result.
   * touch() clears it.
   */
  f16Exact = false;
  /** Set by Engine.release: the buffer is back in the pool (caches keyed on the tensor drop it). */
  released = false;
  /**
   * Inference weights: once a derived copy holds all its values (matmul's packed texture on CPU
   * executors), the buffer may be dropped, so the weight is not held twice; reading `buffer` again
   * rebuilds it from that copy (and clears this flag, so it stays). Off by default: where the
   * buffer is the master copy (training), nothing is ever dropped.
   */
  evictable = false;
  private buf: GPUBuffer | null;
  /** While evicted: records the unpacking of the values into a new buffer of this layout. */
  private unpack: (() => GPUBuffer) | null = null;
  constructor(
    buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: DType = 'f32',
    /** Buffers the engine pool owns go back to it on release. */
    readonly pooled = true,
  ) {
    this.buf = buffer;
  }
  /**
   * The tensor's storage buffer. On an evicted tensor it is rebuilt first: a new buffer, filled by
   * work recorded now (so before the dispatch or copy that asked for it), kept from then on.
   * Callers that record commands resolve it before opening the encoder's callback.
   */
  get buffer(): GPUBuffer {
    if (!this.buf) {
      if (this.released || !this.unpack) throw new Error(`tensor ${this.id} was released`);
      this.buf = this.unpack();
      this.unpack = null;
      this.evictable = false;
    }
    return this.buf;
  }
  /** The buffer while the tensor holds one; null while evicted (for code that must not rebuild it). */
  get residentBuffer(): GPUBuffer | null {
    return this.buf;
  }
  /** Whether the buffer was dropped (evict()) and not rebuilt since. */
  get evicted(): boolean {
    return this.buf === null;
  }
  /**
   * Drops the buffer of an evictable tensor (Engine.evict): `unpack` records the values' unpacking
   * into a new buffer and returns it. Returns the dropped buffer, for the caller to dispose of.
   */
  evict(unpack: () => GPUBuffer): GPUBuffer {
    if (!this.evictable || !this.buf) throw new Error(`tensor ${this.id} is not evictable`);
    const dropped = this.buf;
    this.buf = null;
    this.unpack = unpack;
    return dropped;
  }
  /** An evicted tensor's values in a new buffer, the tensor left evicted (read-back); null while it holds its buffer. */
  unpackCopy(): GPUBuffer | null {
    if (this.buf || this.released || !this.unpack) return null;
    return this.unpack();
  }
  get size(): number {
    return numel(this.shape);
  }
  get byteLength(): number {
    return this.size * 4;
  }
  /** Marks the contents as changed (invalidates caches keyed on this tensor). */
  touch(): void {
    this.version++;
    this.f16Exact = false;
  }
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/**
 * The same buffer seen with another shape of equal size (not pooled: releasing it is a no-op). A
 * view of an evicted tensor rebuilds its buffer (the view shares the buffer, not the eviction).
 */
export function view(t: Tensor, shape: readonly number[]): Tensor {
  if (numel(shape) !== t.size) throw new Error(`view: ${shapeStr(t.shape)} cannot be seen as ${shapeStr(shape)}`);
  const v = new Tensor(t.buffer, shape, t.dtype, false);
  v.version = t.version;
  return v;
}
