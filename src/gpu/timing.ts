import type { Engine } from './engine.js';

/**
 * GPU timestamps around work recorded on an engine, through compute-pass `timestampWrites`
 * (needs the device feature 'timestamp-query'; command-encoder `writeTimestamp` is not part of
 * WebGPU). `start()` and `stop()` each record an empty compute pass: the first writes its
 * beginning-of-pass timestamp, the second its end-of-pass timestamp, so the pair brackets every
 * dispatch the engine records in between, whatever passes those land in.
 *
 *   const timer = new GpuTimer(engine);
 *   timer.start(); op(engine, x); timer.stop();
 *   const ms = await timer.elapsedMs(); // flushes and reads the two timestamps back
 *
 * Implementations may quantize timestamps (Dawn rounds to 100 µs unless told otherwise): time
 * work that lasts well over a millisecond.
 */
export class GpuTimer {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuffer: GPUBuffer;
  private readonly readBuffer: GPUBuffer;
  private started = false;
  private stopped = false;

  /** True when the engine's device can write timestamps. */
  static supported(engine: Engine): boolean {
    return engine.features.has('timestamp-query');
  }

  constructor(private readonly engine: Engine) {
    if (!GpuTimer.supported(engine)) throw new Error("GpuTimer needs the device feature 'timestamp-query'");
    const device = engine.device;
    this.querySet = device.createQuerySet({ label: 'tok1d timer', type: 'timestamp', count: 2 });
    this.resolveBuffer = device.createBuffer({
      label: 'tok1d timer resolve',
      size: 16,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    this.readBuffer = device.createBuffer({ label: 'tok1d timer read', size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }

  /** Records the start timestamp (before anything recorded after this call). */
  start(): void {
    this.engine.recordCommands((enc) => {
      enc.beginComputePass({ label: 'tok1d timer start', timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 0 } }).end();
    });
    this.started = true;
    this.stopped = false;
  }

  /** Records the stop timestamp (after everything recorded before this call). */
  stop(): void {
    if (!this.started) throw new Error('GpuTimer.stop() without start()');
    this.engine.recordCommands((enc) => {
      enc.beginComputePass({ label: 'tok1d timer stop', timestampWrites: { querySet: this.querySet, endOfPassWriteIndex: 1 } }).end();
    });
    this.stopped = true;
  }

  /** Flushes the engine, waits for the GPU and returns the milliseconds between start and stop. */
  async elapsedMs(): Promise<number> {
    if (!this.stopped) throw new Error('GpuTimer.elapsedMs() before stop()');
    this.engine.recordCommands((enc) => {
      enc.resolveQuerySet(this.querySet, 0, 2, this.resolveBuffer, 0);
      enc.copyBufferToBuffer(this.resolveBuffer, 0, this.readBuffer, 0, 16);
    });
    this.engine.flush();
    await this.readBuffer.mapAsync(GPUMapMode.READ);
    const t = new BigUint64Array(this.readBuffer.getMappedRange().slice(0));
    this.readBuffer.unmap();
    this.started = this.stopped = false;
    return Number(t[1]! - t[0]!) / 1e6;
  }

  dispose(): void {
    this.querySet.destroy();
    this.resolveBuffer.destroy();
    this.readBuffer.destroy();
  }
}
