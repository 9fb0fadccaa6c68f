import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Engine } from '../gpu/engine.js';
import { GpuTimer } from '../gpu/timing.js';
import { FAMILIES, firstLine, importOptional } from '../cli/families.js';
import { describeEngine } from '../cli/engine.js';
import type { BenchCase, BenchInstance } from './case.js';
import { openTfjsPeer, type MatmulPeer } from './peers.js';
import { median, medianInterval, quantile } from '../util/stats.js';
import { copyProbe, fmaProbe } from './probes.js';

/**
 * The kernel bench harness. For every case of every family (src/bench/cases/<family>.ts): setup,
 * check() against the float64 reference (a failing case is reported and not timed), a warm-up,
 * warm-up runs until three in a row agree within 5% (at most 10), then `runs` timed runs. Each
 * run records `reps` runs of the case into one submit, reps chosen so a run lasts at least
 * `minRunMs`, and is timed with GPU timestamps where the device has 'timestamp-query', else with
 * the wall clock around submit + onSubmittedWorkDone (no read-back inside either). A case reports
 * the median, min, max, 90th percentile and a 95% confidence interval of the median from order
 * statistics (src/util/stats.ts).
 * Two probes measured in the same run (kernels/probe.wgsl) give the FMA and copy ceilings that
 * "% of ceiling" refers to (each probe's fastest run).
 */

export interface BenchOptions {
  /** Family names or case kernel names to run; all when absent. */
  kernels?: readonly string[];
  /** Timed runs per case. */
  runs: number;
  /** Only the smallest shape of each kernel variant. */
  quick: boolean;
  /** Also time peer implementations (tfjs-backend-webgpu for matmul). */
  peers: boolean;
  /** Least duration of one timed run; default 50 ms. */
  minRunMs?: number;
  /** Seed for the cases' random inputs; default from the clock. */
  seed?: number;
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void;
}

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

interface LoadedCase {
  family: string;
  c: BenchCase;
}

/** Case modules: the known families in order, then any other cases/*.js alphabetically. */
function caseFamilies(): string[] {
  const dir = fileURLToPath(new URL('./cases/', import.meta.url));
  let files: string[] = [];
  try {
    files = readdirSync(dir)
      .filter((f) => f.endsWith('.js'))
      .map((f) => f.slice(0, -3));
  } catch {
    /* no cases built yet */
  }
  const extra = files.filter((f) => !(FAMILIES as readonly string[]).includes(f)).sort();
  return [...FAMILIES, ...extra];
}

async function loadCases(
  wanted: readonly string[] | undefined,
  unavailable: BenchReport['unavailable'],
): Promise<LoadedCase[]> {
  const families = caseFamilies();
  const out: LoadedCase[] = [];
  const kernels = new Set<string>();
  for (const family of families) {
    const familyWanted = !wanted || wanted.includes(family);
    const loaded = await importOptional<{ cases?: BenchCase[] }>(new URL(`./cases/${family}.js`, import.meta.url));
    if (!('module' in loaded)) {
      if (familyWanted) unavailable.push({ family, reason: 'missing' in loaded ? loaded.missing : loaded.error });
      continue;
    }
    const cases = loaded.module.cases;
    if (!Array.isArray(cases)) {
      if (familyWanted) unavailable.push({ family, reason: 'module exports no `cases` array' });
      continue;
    }
    for (const c of cases) {
      kernels.add(c.kernel);
      if (familyWanted || wanted!.includes(c.kernel)) out.push({ family, c });
    }
  }
  const unknown = (wanted ?? []).filter((w) => !families.includes(w) && !kernels.has(w));
  if (unknown.length) throw new UnknownKernelError(unknown, families);
  return out;
}

export class UnknownKernelError extends Error {
  override name = 'UnknownKernelError';
  constructor(
    readonly names: string[],
    readonly families: string[],
  ) {
    super(`no bench case matches ${names.map((n) => `'${n}'`).join(', ')}; families: ${families.join(', ')}`);
  }
}

/** Work of a case, for picking the smallest shape in --quick. */
function work(c: BenchCase): number {
  return c.flops > 0 ? c.flops : c.bytes;
}

function quickSelection(list: LoadedCase[]): LoadedCase[] {
  const best = new Map<string, LoadedCase>();
  for (const l of list) {
    const key = `${l.family}/${l.c.kernel}/${l.c.variant}`;
    const prev = best.get(key);
    if (!prev || work(l.c) < work(prev.c)) best.set(key, l);
  }
  return list.filter((l) => best.get(`${l.family}/${l.c.kernel}/${l.c.variant}`) === l);
}

function errorText(e: unknown): string {
  return firstLine((e as Error)?.message ?? String(e));
}

function emptyResult(c: BenchCase, check: string): BenchResult {
  return {
    kernel: c.kernel,
    variant: c.variant,
    shape: [...c.shape],
    ms: null,
    msMin: null,
    msMax: null,
    gflops: null,
    gbps: null,
    pctOfCeiling: null,
    check,
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

/** Sets up, checks and times one case; never throws. */
async function benchCase(
  engine: Engine,
  timer: GpuTimer | null,
  c: BenchCase,
  opts: BenchOptions,
  seed: number,
  ceilings: BenchReport['ceilings'],
): Promise<BenchResult> {
  const minRunMs = opts.minRunMs ?? 50;
  let inst: BenchInstance | undefined;
  try {
    inst = await c.setup(engine, seed);
    const instance = inst;
    instance.run();
    const check = await instance.check();
    if (check !== null) return emptyResult(c, check);
    const m = await measure(engine, timer, () => instance.run(), opts.runs, minRunMs);
    if (m.selfSubmitted) opts.log?.(`  warning: ${c.kernel}/${c.variant}: run() submitted work while recording; its wall-clock time undercounts`);
    if (m.leaked > 0) opts.log?.(`  warning: ${c.kernel}/${c.variant} kept ${m.leaked} pool buffers after its runs (run() should release its outputs)`);
    return timedResult(c, m, ceilings);
  } catch (e) {
    await engine.sync().catch(() => undefined); // drain device errors before the next case
    return emptyResult(c, `error: ${errorText(e)}`);
  } finally {
    try {
      inst?.dispose();
    } catch {
      /* a failed case may hold nothing to release */
    }
  }
}

/**
 * The FMA and copy ceilings on this device, measured now with the two probes (each probe's
 * fastest run: other load on a shared machine only slows runs down, so the median would
 * understate what the device can do).
 */
export async function probeCeilings(
  engine: Engine,
  timer: GpuTimer | null,
  opts: Pick<BenchOptions, 'runs' | 'minRunMs' | 'log'>,
  seed: number,
): Promise<NonNullable<BenchReport['ceilings']>> {
  opts.log?.(`ceilings: timing the FMA and copy probes (${timer ? 'timestamp' : 'wallclock'})`);
  const fmaCase = fmaProbe(engine);
  const copyCase = copyProbe(engine);
  const o = { runs: opts.runs, quick: false, peers: false, minRunMs: opts.minRunMs };
  const fma = await benchCase(engine, timer, fmaCase, o, seed, null);
  const copy = await benchCase(engine, timer, copyCase, o, seed, null);
  if (fma.msMin === null || copy.msMin === null) throw new Error(`ceiling probe failed: ${fma.check === 'ok' ? copy.check : fma.check}`);
  const ceilings = { fmaGflops: fmaCase.flops / (fma.msMin * 1e6), copyGBs: copyCase.bytes / (copy.msMin * 1e6) };
  opts.log?.(`ceilings: FMA ${ceilings.fmaGflops.toFixed(1)} GFLOP/s, copy ${ceilings.copyGBs.toFixed(2)} GB/s`);
  return ceilings;
}

/** Runs the suite on `engine` and returns the report (the CLI prints and saves it). */
export async function runBench(engine: Engine, opts: BenchOptions): Promise<BenchReport> {
  const log = opts.log ?? (() => undefined);
  const seed = (opts.seed ?? Date.now()) >>> 0;
  const unavailable: BenchReport['unavailable'] = [];
  let list = await loadCases(opts.kernels, unavailable);
  if (opts.quick) list = quickSelection(list);
  for (const u of unavailable) log(`${u.family}: ${u.reason}`);

  const timer = GpuTimer.supported(engine) ? new GpuTimer(engine) : null;
  const timing = timer ? 'timestamp' : 'wallclock';
  const results: BenchResult[] = [];
  let peer: MatmulPeer | string | undefined;
  try {
    const ceilings = await probeCeilings(engine, timer, opts, seed);

    const peerCache = new Map<string, PeerResult>();
    for (let i = 0; i < list.length; i++) {
      const { family, c } = list[i]!;
      const label = `${c.kernel}/${c.variant} [${c.shape.join(',')}]`;
      log(`[${i + 1}/${list.length}] ${label}`);
      const skip = c.requires?.(engine) ?? null;
      if (skip) {
        log(`  skipped: ${skip}`);
        results.push({ ...emptyResult(c, `skipped: ${skip}`), skipped: true });
        continue;
      }
      const r = await benchCase(engine, timer, c, opts, seed + i, ceilings);
      if (opts.peers && r.ms !== null && (family === 'matmul' || c.kernel === 'matmul')) {
        if (peer === undefined) {
          log('  peer: starting tfjs-backend-webgpu on the same device');
          peer = await openTfjsPeer(engine);
          if (typeof peer === 'string') log(`  peer unavailable: ${peer}`);
        }
        r.peer = await peerFor(engine, peer, c, opts, peerCache, log);
        if (r.peer.ms !== undefined) r.peer.ratio = r.peer.ms / r.ms;
      }
      log(
        r.ms === null
          ? `  ${r.check}`
          : `  ${r.ms.toFixed(3)} ms, ${c.flops > 0 ? `${r.gflops!.toFixed(2)} GFLOP/s` : `${r.gbps!.toFixed(2)} GB/s`}, reps ${r.reps}`,
      );
      results.push(r);
    }
    return { adapter: describeEngine(engine), timing, ceilings, results, unavailable };
  } finally {
    if (peer && typeof peer !== 'string') peer.dispose();
    timer?.dispose();
  }
}

async function peerFor(
  engine: Engine,
  peer: MatmulPeer | string,
  c: BenchCase,
  opts: BenchOptions,
  cache: Map<string, PeerResult>,
  log: (line: string) => void,
): Promise<PeerResult> {
  if (typeof peer === 'string') return { name: 'tfjs-webgpu', error: peer };
  if (c.shape.length !== 3) return { name: peer.name, error: `shape [${c.shape.join(',')}] is not [M, N, K]` };
  const key = c.shape.join(',');
  const hit = cache.get(key);
  if (hit) return { ...hit };
  const [m, n, k] = c.shape as [number, number, number];
  let r: PeerResult;
  try {
    const t = await peer.timeMatmul(m, n, k, opts.runs, opts.minRunMs ?? 50);
    await engine.sync(); // device errors raised by the peer's commands
    r = { name: peer.name, ms: t.ms, gflops: (2 * m * n * k) / (t.ms * 1e6) };
    log(`  peer ${peer.name}: ${t.ms.toFixed(3)} ms, ${r.gflops!.toFixed(2)} GFLOP/s`);
  } catch (e) {
    await engine.sync().catch(() => undefined);
    r = { name: peer.name, error: errorText(e) };
    log(`  peer ${peer.name} failed: ${r.error}`);
  }
  cache.set(key, r);
  return { ...r };
}

// ---------------------------------------------------------------- report

function fmt(v: number | null | undefined, digits: number): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '-';
  return v.toFixed(digits);
}

function fmtMs(v: number | null | undefined): string {
  if (v === null || v === undefined) return '-';
  return v >= 100 ? v.toFixed(1) : v >= 1 ? v.toFixed(3) : v.toFixed(4);
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

/** The report as a plain-text table. */
export function formatReport(report: BenchReport, runs: number): string {
  const a = report.adapter;
  const lines: string[] = [];
  lines.push(`adapter   ${adapterLine(a)}`);
  lines.push(
    `timing    ${report.timing === 'timestamp' ? 'GPU timestamps (timestamp-query)' : 'wall clock, submit to onSubmittedWorkDone, no read-back'}; ms per run of the case, median of ${runs} timed runs after a warm-up until 3 runs agree within 5%; p90; noise = half the 95% interval of the median (order statistics) / median`,
  );
  if (report.ceilings) lines.push(`ceilings  FMA ${fmt(report.ceilings.fmaGflops, 1)} GFLOP/s, copy ${fmt(report.ceilings.copyGBs, 2)} GB/s (bytes read + written); fastest probe runs`);
  else lines.push('ceilings  not measured');
  lines.push('');
  const withPeer = report.results.some((r) => r.peer);
  const withBest = report.results.some((r) => r.best);
  // [title, right-aligned]; the last column (check) is left unpadded.
  const cols: [string, boolean][] = [
    ['kernel', false],
    ['variant', false],
    ['shape', false],
    ['ms', true],
    ['min', true],
    ['p90', true],
    ['max', true],
    ['noise', true],
    ['GFLOP/s', true],
    ['GB/s', true],
    ['%ceil', true],
    ['reps', true],
  ];
  if (withPeer) cols.push(['tfjs ms', true], ['tfjs GFLOP/s', true], ['vs tfjs', true]);
  if (withBest) cols.push(['best', false]);
  cols.push(['check', false]);
  const rows: string[][] = [cols.map(([t]) => t)];
  for (const r of report.results) {
    const vars = (r as { vars?: Record<string, number> }).vars;
    const row = [
      r.kernel,
      r.variant,
      vars ? Object.entries(vars).map(([k, v]) => `${k}=${v}`).join(',') : `[${r.shape.join(',')}]`,
      fmtMs(r.ms),
      fmtMs(r.msMin),
      fmtMs(r.msP90),
      fmtMs(r.msMax),
      noiseText(r),
      r.gflops ? fmt(r.gflops, 2) : '-',
      fmt(r.gbps, 2),
      r.pctOfCeiling === null ? '-' : `${r.pctOfCeiling.toFixed(1)}%`,
      r.reps === undefined ? '-' : String(r.reps),
    ];
    if (withPeer) {
      const p = r.peer;
      row.push(fmtMs(p?.ms), fmt(p?.gflops, 2), p?.ratio !== undefined ? `${p.ratio.toFixed(2)}x` : p?.error ? 'n/a' : '-');
    }
    if (withBest) row.push(r.best ? (r.flag ? '*?' : '*') : '');
    row.push(r.check);
    rows.push(row);
  }
  const widths = cols.map((_, j) => Math.max(...rows.map((row) => row[j]!.length)));
  for (const row of rows) {
    const cells = row.map((cell, j) => (j === cols.length - 1 ? cell : cols[j]![1] ? cell.padStart(widths[j]!) : cell.padEnd(widths[j]!)));
    lines.push(cells.join('  ').trimEnd());
  }
  if (withBest) lines.push('best: * fastest correct variant of its shape; *? fastest, but within the noise of the next (see below); wrong cases are never ranked');
  for (const r of report.results) if (r.flag) lines.push(`${r.kernel} ${r.variant} [${r.shape.join(',')}]: ${r.flag}`);
  const peerErrors = [...new Set(report.results.map((r) => r.peer?.error).filter((e): e is string => !!e))];
  for (const e of peerErrors) lines.push(`tfjs: ${e}`);
  if (withPeer) lines.push('vs tfjs = tfjs ms / tok1d ms (above 1: tok1d is faster); tfjs is timed by wall clock up to its data() read-back');
  for (const u of report.unavailable) lines.push(`${u.family}: ${u.reason}`);
  return lines.join('\n');
}

/** One CSV row per result (RFC 4180 quoting), the columns of the JSON's results. */
export function reportCsv(report: BenchReport): string {
  const head = ['kernel', 'variant', 'shape', 'ms', 'msMin', 'msP90', 'msMax', 'ciLo', 'ciHi', 'gflops', 'gbps', 'pctOfCeiling', 'reps', 'runs', 'best', 'check', 'flag', 'adapter', 'software', 'timing'];
  const q = (v: unknown): string => {
    if (v === null || v === undefined) return '';
    const t = String(v);
    return /[",\n]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
  };
  const rows = report.results.map((r) => {
    const vars = (r as { vars?: Record<string, number> }).vars;
    const shape = vars ? Object.entries(vars).map(([k, v]) => `${k}=${v}`).join(' ') : r.shape.join('x');
    return [r.kernel, r.variant, shape, r.ms, r.msMin, r.msP90, r.msMax, r.msCI?.[0], r.msCI?.[1], r.gflops, r.gbps, r.pctOfCeiling, r.reps, r.runs, r.best ? 1 : 0, r.check, r.flag, report.adapter.adapter, report.adapter.software ? 1 : 0, report.timing]
      .map(q)
      .join(',');
  });
  return `${[head.join(','), ...rows].join('\n')}\n`;
}
