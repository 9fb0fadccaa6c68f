import type { Engine } from '../gpu/engine.js';
import type { GpuTimer } from '../gpu/timing.js';
import { median, medianInterval, quantile } from '../util/stats.js';
import type { BenchCase } from './case.js';
import type { describeEngine } from './adapter.js';
import { copyProbe, fmaProbe } from './probes.js';

/**
 * How the bench times a case, and what it reports (shared by the kernel suite, the kernel-file
 * bench and the browser page; nothing here needs Node): a warm-up until three runs in a row
 * agree within 5% (at most 10), then `runs` timed runs. Each run records `reps` runs of the case
 * into one submit, reps chosen so a run lasts at least `minRunMs`, and is timed with GPU
 * timestamps where the device has 'timestamp-query', else with the wall clock around submit +
 * onSubmittedWorkDone (no read-back inside either). A case reports the median, min, max, 90th
 * percentile and a 95% confidence interval of the median from order statistics.
 */

export interface PeerResult {
  name: string;
  ms?: number;
  gflops?: number;
  /** Peer time / our time: above 1 means ours is faster. */
  ratio?: number;
  /** Why the peer could not be timed. */
  error?: string;
}

export interface BenchResult {
  kernel: string;
  variant: string;
  shape: number[];
  /** Median, min and max milliseconds of one run of the case; null when not timed. */
  ms: number | null;
  msMin: number | null;
  msMax: number | null;
  /** 90th percentile of the timed runs. */
  msP90?: number;
  /** 95% confidence interval of the median (order statistics); absent with under 6 runs. */
  msCI?: [number, number];
  /** Warm-up runs before the timed ones. */
  warmup?: number;
  gflops: number | null;
  gbps: number | null;
  /** GFLOP/s against the FMA ceiling when the case counts FLOPs, else GB/s against the copy ceiling. */
  pctOfCeiling: number | null;
  /** "ok", or why the case failed its check or could not run. */
  check: string;
  /** The case does not apply to this device (check says why); not a failure. */
  skipped?: true;
  /** Case runs recorded into each timed submit. */
  reps?: number;
  runs?: number;
  peer?: PeerResult;
  /** The fastest correct variant of its shape (kernel bench sweeps). */
  best?: boolean;
  /** A caveat on the result, e.g. a win within the noise. */
  flag?: string;
}

export interface BenchReport {
  adapter: ReturnType<typeof describeEngine>;
  timing: 'timestamp' | 'wallclock';
  /** Null when not measured (a kernel bench run without them). */
  ceilings: { fmaGflops: number; copyGBs: number } | null;
  results: BenchResult[];
  /** Requested families whose case module is missing or failed to load. */
  unavailable: { family: string; reason: string }[];
}

/** Dispatches one timed submit may hold: the engine flushes by itself at 512 uniform slots. */
const MAX_DISPATCHES_PER_SUBMIT = 480;
const MAX_REPS = 4096;
/** Warm-up ends when the last WARM_SETTLE runs agree within WARM_SPREAD of their median, or after MAX_WARM runs. */
const WARM_SETTLE = 3;
const WARM_SPREAD = 0.05;
const MAX_WARM = 10;

export interface Measured {
  ms: number;
  msMin: number;
  msMax: number;
  msP90: number;
  msCI: [number, number] | null;
  /** Every timed run, ms per run of the case, in order. */
  samples: number[];
  warmup: number;
  reps: number;
  /** Pool buffers still in use after the timed runs that were not before (a leak in run()). */
  leaked: number;
  /** run() submitted work itself (it must only record): wall-clock times undercount then. */
  selfSubmitted: boolean;
}

/** Times `run` as described above; `record` is one run's recording. */
export async function measure(
  engine: Engine,
  timer: GpuTimer | null,
  record: () => void,
  runs: number,
  minRunMs: number,
): Promise<Measured> {
  let selfSubmitted = false;
  const timeReps = async (reps: number): Promise<number> => {
    let ms: number;
    if (timer) {
      timer.start();
      for (let i = 0; i < reps; i++) record();
      timer.stop();
      ms = await timer.elapsedMs();
    } else {
      const s0 = engine.counters.submits;
      for (let i = 0; i < reps; i++) record();
      if (engine.counters.submits !== s0) selfSubmitted = true;
      const t0 = performance.now();
      engine.flush();
      await engine.device.queue.onSubmittedWorkDone();
      ms = performance.now() - t0;
    }
    await engine.sync(); // throws the device errors of this run, if any
    return ms;
  };
  // Warm-up: compiles pipelines, and counts the dispatches of one run.
  const d0 = engine.counters.dispatches;
  record();
  await engine.sync();
  const perRun = Math.max(1, engine.counters.dispatches - d0);
  const maxReps = Math.max(1, Math.min(MAX_REPS, Math.floor(MAX_DISPATCHES_PER_SUBMIT / perRun)));
  const inUse0 = engine.pool.stats().inUse;
  // Calibrate reps twice: the first estimate includes a whole submit's fixed cost.
  let reps = 1;
  for (let i = 0; i < 2; i++) {
    const t = await timeReps(reps);
    if (t >= minRunMs) break;
    reps = Math.max(1, Math.min(maxReps, Math.ceil((reps * minRunMs * 1.1) / Math.max(t, 1e-3))));
    if (reps === maxReps) break;
  }
  const warm: number[] = [];
  while (warm.length < MAX_WARM) {
    warm.push(await timeReps(reps));
    const last = warm.slice(-WARM_SETTLE);
    if (last.length === WARM_SETTLE && Math.max(...last) - Math.min(...last) <= WARM_SPREAD * median(last)) break;
  }
  const per: number[] = [];
  for (let i = 0; i < runs; i++) per.push((await timeReps(reps)) / reps);
  return {
    ms: median(per),
    msMin: Math.min(...per),
    msMax: Math.max(...per),
    msP90: quantile(per, 0.9),
    msCI: medianInterval(per),
    samples: per,
    warmup: warm.length,
    reps,
    leaked: engine.pool.stats().inUse - inUse0,
    selfSubmitted,
  };
}

/** The result of a case that passed its check and was timed. */
export function timedResult(c: Pick<BenchCase, 'kernel' | 'variant' | 'shape' | 'flops' | 'bytes'>, m: Measured, ceilings: BenchReport['ceilings'] | null): BenchResult {
  const gflops = c.flops > 0 ? c.flops / (m.ms * 1e6) : 0;
  const gbps = c.bytes / (m.ms * 1e6);
  let pct: number | null = null;
  if (ceilings) pct = c.flops > 0 ? (100 * gflops) / ceilings.fmaGflops : (100 * gbps) / ceilings.copyGBs;
  return {
    kernel: c.kernel,
    variant: c.variant,
    shape: [...c.shape],
    ms: m.ms,
    msMin: m.msMin,
    msMax: m.msMax,
    msP90: m.msP90,
    ...(m.msCI ? { msCI: m.msCI } : {}),
    warmup: m.warmup,
    gflops,
    gbps,
    pctOfCeiling: pct,
    check: 'ok',
    reps: m.reps,
    runs: m.samples.length,
  };
}

/**
 * The FMA and copy ceilings on this device, measured now with the two probes (each probe's
 * fastest run: other load on a shared machine only slows runs down, so the median would
 * understate what the device can do).
 */
export async function probeCeilings(
  engine: Engine,
  timer: GpuTimer | null,
  opts: { runs: number; minRunMs?: number; log?: (line: string) => void },
  seed: number,
): Promise<NonNullable<BenchReport['ceilings']>> {
  opts.log?.(`ceilings: timing the FMA and copy probes (${timer ? 'timestamp' : 'wallclock'})`);
  const out: number[] = [];
  for (const c of [fmaProbe(engine), copyProbe(engine)]) {
    const inst = await c.setup(engine, seed);
    try {
      inst.run();
      const bad = await inst.check();
      if (bad) throw new Error(`ceiling probe failed: ${bad}`);
      const m = await measure(engine, timer, () => inst.run(), opts.runs, opts.minRunMs ?? 50);
      out.push((c.flops > 0 ? c.flops : c.bytes) / (m.msMin * 1e6));
    } finally {
      inst.dispose();
    }
  }
  const ceilings = { fmaGflops: out[0]!, copyGBs: out[1]! };
  opts.log?.(`ceilings: FMA ${ceilings.fmaGflops.toFixed(1)} GFLOP/s, copy ${ceilings.copyGBs.toFixed(2)} GB/s`);
  return ceilings;
}

/** "± 3.1%": half the width of the median's 95% interval, relative to the median. */
export function noiseText(r: Pick<BenchResult, 'ms' | 'msCI'>): string {
  if (r.ms === null || !r.msCI) return '-';
  return `±${((50 * (r.msCI[1] - r.msCI[0])) / r.ms).toFixed(1)}%`;
}

/** The report's adapter line; a software adapter (a CPU executor) says so. */
export function adapterLine(a: BenchReport['adapter']): string {
  return `${a.adapter} — ${a.backend} (${a.featureLevel}, ${a.software ? 'SOFTWARE adapter: a CPU executor, not GPU figures' : 'hardware'})`;
}
