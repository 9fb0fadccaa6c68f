/**
 * Reuses storage buffers by size class. Classes are powers of two and their 1.5× midpoints
 * (at most 33% slack), from 256 bytes up. Every pooled buffer can be a storage binding and a copy
 * source or destination.
 */
export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  private sizeOf = new Map<GPUBuffer, number>();
  private inUse = new Set<GPUBuffer>();
  /** Bytes of all buffers the pool created and still holds (free or in use). */
  bytesAllocated = 0;
  buffersCreated = 0;

  constructor(private readonly device: GPUDevice) {}

  static sizeClass(bytes: number): number {
    if (bytes <= 256) return 256;
    const p = 2 ** Math.ceil(Math.log2(bytes));
    const mid = (p / 4) * 3;
    return bytes <= mid ? mid : p;
  }

  acquire(bytes: number): GPUBuffer {
    const cls = BufferPool.sizeClass(bytes);
    const list = this.free.get(cls);
    let buf = list?.pop();
    if (!buf) {
      buf = this.device.createBuffer({
        label: `pool ${cls}`,
        size: cls,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      });
      this.sizeOf.set(buf, cls);
      this.bytesAllocated += cls;
      this.buffersCreated++;
    }
    this.inUse.add(buf);
    return buf;
  }

  release(buf: GPUBuffer): void {
    if (!this.inUse.delete(buf)) return; // not ours, or already released
    const cls = this.sizeOf.get(buf)!;
    let list = this.free.get(cls);
    if (!list) this.free.set(cls, (list = []));
    list.push(buf);
  }

  /**
   * Takes an in-use buffer out of the pool for good: no longer counted, never handed out again.
   * The caller destroys it (once the work that uses it is submitted).
   */
  forget(buf: GPUBuffer): void {
    if (!this.inUse.delete(buf)) throw new Error('BufferPool.forget: not a buffer in use');
    this.bytesAllocated -= this.sizeOf.get(buf)!;
    this.sizeOf.delete(buf);
  }

  /** Snapshot for leak checks: equal snapshots mean no growth. */
  stats(): { bytesAllocated: number; buffers: number; inUse: number } {
    return { bytesAllocated: this.bytesAllocated, buffers: this.sizeOf.size, inUse: this.inUse.size };
  }

  /** Destroys free buffers (keeps the ones in use). */
  trim(): void {
    for (const list of this.free.values()) {
      for (const b of list) {
        this.bytesAllocated -= this.sizeOf.get(b)!;
        this.sizeOf.delete(b);
        b.destroy();
      }
    }
    this.free.clear();
  }

  destroy(): void {
    this.trim();
    for (const b of this.inUse) b.destroy();
    this.inUse.clear();
    this.sizeOf.clear();
    this.bytesAllocated = 0;
  }
}

/**
 * Reuses 2D textures of one format and usage by size: acquire() hands out a free one of that size
 * or creates it, release() takes it back. destroy() destroys every texture the pool made, free or
 * not.
 */
export class TexturePool {
  private readonly free = new Map<string, GPUTexture[]>();
  private readonly all = new Set<GPUTexture>();

  constructor(
    private readonly device: GPUDevice,
    private readonly descriptor: { label: string; format: GPUTextureFormat; usage: GPUTextureUsageFlags },
  ) {}

  acquire(width: number, height: number): GPUTexture {
    const hit = this.free.get(`${width}x${height}`)?.pop();
    if (hit) return hit;
    const texture = this.device.createTexture({ ...this.descriptor, size: [width, height] });
    this.all.add(texture);
    return texture;
  }

  release(texture: GPUTexture): void {
    const key = `${texture.width}x${texture.height}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(texture);
  }

  destroy(): void {
    for (const t of this.all) t.destroy();
    this.all.clear();
    this.free.clear();
  }
}
