import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Engine } from '../gpu/engine.js';
import { GpuTimer } from '../gpu/timing.js';
import { FAMILIES, firstLine, importOptional } from '../cli/families.js';
import { describeEngine } from '../cli/engine.js';
import type { BenchCase, BenchInstance } from './case.js';
import { openTfjsPeer, type MatmulPeer } from './peers.js';
import { median } from '../util/stats.js';
import { copyProbe, fmaProbe } from './probes.js';

/**
 * The kernel bench harness. For every case of every family (src/bench/cases/<family>.ts): setup,
 * check() against the float64 reference (a failing case is reported and not timed), a warm-up,
 * then `runs` timed runs. Each timed run records `reps` runs of the case into one submit, reps
 * chosen so a timed run lasts at least `minRunMs`, and is timed with GPU timestamps where the
 * device has 'timestamp-query', else with the wall clock around submit + onSubmittedWorkDone.
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
}

export interface BenchReport {
  adapter: ReturnType<typeof describeEngine>;
  timing: 'timestamp' | 'wallclock';
  ceilings: { fmaGflops: number; copyGBs: number };
  results: BenchResult[];
  /** Requested families whose case module is missing or failed to load. */
  unavailable: { family: string; reason: string }[];
}

/** Dispatches one timed submit may hold: the engine flushes by itself at 512 uniform slots. */
const MAX_DISPATCHES_PER_SUBMIT = 480;
const MAX_REPS = 4096;

interface Measured {
  ms: number;
  msMin: number;
  msMax: number;
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
  const per: number[] = [];
  for (let i = 0; i < runs; i++) per.push((await timeReps(reps)) / reps);
  return {
    ms: median(per),
    msMin: Math.min(...per),
    msMax: Math.max(...per),
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

/** Sets up, checks and times one case; never throws. */
async function benchCase(
  engine: Engine,
  timer: GpuTimer | null,
  c: BenchCase,
  opts: BenchOptions,
  seed: number,
  ceilings: BenchReport['ceilings'] | null,
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
      gflops,
      gbps,
      pctOfCeiling: pct,
      check: 'ok',
      reps: m.reps,
      runs: opts.runs,
    };
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
    log(`ceilings: timing the FMA and copy probes (${timing})`);
    const fmaCase = fmaProbe(engine);
    const copyCase = copyProbe(engine);
    const fma = await benchCase(engine, timer, fmaCase, opts, seed, null);
    const copy = await benchCase(engine, timer, copyCase, opts, seed, null);
    if (fma.msMin === null || copy.msMin === null) throw new Error(`ceiling probe failed: ${fma.check === 'ok' ? copy.check : fma.check}`);
    // A ceiling is the most the device did: the fastest run (other load on a shared machine only
    // slows runs down, so the median would understate it).
    const ceilings = { fmaGflops: fmaCase.flops / (fma.msMin * 1e6), copyGBs: copyCase.bytes / (copy.msMin * 1e6) };
    log(`ceilings: FMA ${ceilings.fmaGflops.toFixed(1)} GFLOP/s, copy ${ceilings.copyGBs.toFixed(2)} GB/s`);

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

/** The report as a plain-text table. */
export function formatReport(report: BenchReport, runs: number): string {
  const a = report.adapter;
  const lines: string[] = [];
  lines.push(`adapter   ${a.adapter} — ${a.backend} (${a.featureLevel}, ${a.software ? 'software' : 'hardware'})`);
  lines.push(
    `timing    ${report.timing === 'timestamp' ? 'GPU timestamps (timestamp-query)' : 'wall clock, submit to onSubmittedWorkDone'}; ms per run of the case, median of ${runs} timed runs`,
  );
  lines.push(`ceilings  FMA ${fmt(report.ceilings.fmaGflops, 1)} GFLOP/s, copy ${fmt(report.ceilings.copyGBs, 2)} GB/s (bytes read + written); fastest probe runs`);
  lines.push('');
  const withPeer = report.results.some((r) => r.peer);
  // [title, right-aligned]; the last column (check) is left unpadded.
  const cols: [string, boolean][] = [
    ['kernel', false],
    ['variant', false],
    ['shape', false],
    ['ms', true],
    ['min', true],
    ['max', true],
    ['GFLOP/s', true],
    ['GB/s', true],
    ['%ceil', true],
    ['reps', true],
  ];
  if (withPeer) cols.push(['tfjs ms', true], ['tfjs GFLOP/s', true], ['vs tfjs', true]);
  cols.push(['check', false]);
  const rows: string[][] = [cols.map(([t]) => t)];
  for (const r of report.results) {
    const row = [
      r.kernel,
      r.variant,
      `[${r.shape.join(',')}]`,
      fmtMs(r.ms),
      fmtMs(r.msMin),
      fmtMs(r.msMax),
      r.gflops ? fmt(r.gflops, 2) : '-',
      fmt(r.gbps, 2),
      r.pctOfCeiling === null ? '-' : `${r.pctOfCeiling.toFixed(1)}%`,
      r.reps === undefined ? '-' : String(r.reps),
    ];
    if (withPeer) {
      const p = r.peer;
      row.push(fmtMs(p?.ms), fmt(p?.gflops, 2), p?.ratio !== undefined ? `${p.ratio.toFixed(2)}x` : p?.error ? 'n/a' : '-');
    }
    row.push(r.check);
    rows.push(row);
  }
  const widths = cols.map((_, j) => Math.max(...rows.map((row) => row[j]!.length)));
  for (const row of rows) {
    const cells = row.map((cell, j) => (j === cols.length - 1 ? cell : cols[j]![1] ? cell.padStart(widths[j]!) : cell.padEnd(widths[j]!)));
    lines.push(cells.join('  ').trimEnd());
  }
  const peerErrors = [...new Set(report.results.map((r) => r.peer?.error).filter((e): e is string => !!e))];
  for (const e of peerErrors) lines.push(`tfjs: ${e}`);
  if (withPeer) lines.push('vs tfjs = tfjs ms / tok1d ms (above 1: tok1d is faster); tfjs is timed by wall clock up to its data() read-back');
  for (const u of report.unavailable) lines.push(`${u.family}: ${u.reason}`);
  return lines.join('\n');
}
