import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Engine } from '../gpu/engine.js';
import { GpuTimer } from '../gpu/timing.js';
import { FAMILIES, firstLine, importOptional } from '../cli/families.js';
import { describeEngine } from './adapter.js';
import type { BenchCase, BenchInstance } from './case.js';
import { openTfjsPeer, type MatmulPeer } from './peers.js';
import { adapterLine, measure, noiseText, probeCeilings, timedResult, type BenchReport, type BenchResult, type PeerResult } from './measure.js';

export { adapterLine, measure, noiseText, probeCeilings, timedResult, type BenchReport, type BenchResult, type Measured, type PeerResult } from './measure.js';

/**
 * The kernel bench harness. For every case of every family (src/bench/cases/<family>.ts): setup,
 * check() against the float64 reference (a failing case is reported and not timed), then timed
 * as measure.ts describes. Two probes measured in the same run (kernels/probe.wgsl) give the FMA and copy ceilings that
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
