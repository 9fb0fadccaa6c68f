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
  constructor(
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: DType = 'f32',
    /** Buffers the engine pool owns go back to it on release. */
    readonly pooled = true,
  ) {}
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

/** The same buffer seen with another shape of equal size (not pooled: releasing it is a no-op). */
export function view(t: Tensor, shape: readonly number[]): Tensor {
  if (numel(shape) !== t.size) throw new Error(`view: ${shapeStr(t.shape)} cannot be seen as ${shapeStr(shape)}`);
  const v = new Tensor(t.buffer, shape, t.dtype, false);
  v.version = t.version;
  return v;
}
