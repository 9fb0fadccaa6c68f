import type { BenchReport, BenchResult } from './measure.js';

/**
 * `tok1d bench compare`: matches the cases of two bench reports (kernel, variant, shape) and
 * states per case the time ratio new / base with an interval: from the 95% intervals of the two
 * medians, [newLo / baseHi, newHi / baseLo] (from min and max for reports without intervals,
 * which is wider). Those intervals hold the noise within one run only; the speed of a shared or
 * throttling device also drifts between runs. Both reports measured the FMA and copy ceilings, so
 * the interval is widened by their larger change between the two runs (a factor d ≥ 1: [lo / d,
 * hi · d]). A case is slower only when the whole interval lies above 1 + minChange, faster only
 * when it lies below 1 − minChange; otherwise the difference is within the noise. Slower cases
 * and cases that passed in the base but fail now are regressions.
 */

/** A compared case: slower or faster beyond the noise, the same within it, wrong now, or in one report only. */
export type Verdict = 'slower' | 'faster' | 'same' | 'wrong' | 'missing' | 'new' | 'untimed';

/** One case of a comparison: both medians, their ratio with its interval, the verdict. */
export interface CompareRow {
  kernel: string;
  variant: string;
  shape: string;
  baseMs: number | null;
  newMs: number | null;
  /** newMs / baseMs. */
  ratio: number | null;
  /** Interval of the ratio. */
  lo: number | null;
  hi: number | null;
  verdict: Verdict;
  /** Why a case is wrong, missing or untimed. */
  note?: string;
}

/** compareReports' result: per-case rows, the regression count and caveats. */
export interface Comparison {
  rows: CompareRow[];
  /** Slower beyond the noise, or wrong now where the base was right. */
  regressions: number;
  minChange: number;
  /** Caveats: different adapters or timing methods. */
  notes: string[];
  /** Device-speed drift between the runs (ratio of the ceilings, ≥ 1); 1 when a report has none. */
  drift: number;
}

/** The larger change of the FMA and copy ceilings between two reports, as a factor ≥ 1. */
export function ceilingDrift(base: BenchReport, next: BenchReport): number {
  const a = base.ceilings;
  const b = next.ceilings;
  if (!a || !b) return 1;
  let d = 1;
  for (const [x, y] of [
    [a.fmaGflops, b.fmaGflops],
    [a.copyGBs, b.copyGBs],
  ] as const) {
    if (x > 0 && y > 0) d = Math.max(d, x / y, y / x);
  }
  return d;
}

function shapeText(r: BenchResult): string {
  const vars = (r as { vars?: Record<string, number> }).vars;
  return vars ? Object.entries(vars).map(([k, v]) => `${k}=${v}`).join(',') : r.shape.join(',');
}

const keyOf = (r: BenchResult) => `${r.kernel}\u0000${r.variant}\u0000${shapeText(r)}`;

/** The 95% interval of the median, or [min, max] for a result recorded without one. */
function interval(r: BenchResult): [number, number] {
  return r.msCI ?? [r.msMin ?? r.ms!, r.msMax ?? r.ms!];
}

/** Checks that `x` looks like a bench report's JSON; the message names what is missing. */
export function asReport(x: unknown, what: string): BenchReport {
  const o = x as Partial<BenchReport> | null;
  if (!o || typeof o !== 'object' || !Array.isArray(o.results)) throw new Error(`${what} is not a bench report (no "results" list)`);
  for (const [i, r] of o.results.entries()) {
    if (!r || typeof r.kernel !== 'string' || typeof r.variant !== 'string' || !Array.isArray(r.shape) || typeof r.check !== 'string') throw new Error(`${what}: results[${i}] is not a bench result (kernel, variant, shape, check)`);
  }
  return o as BenchReport;
}

/** Matches two bench reports' cases and judges each against the noise (see the top of this file). */
export function compareReports(base: BenchReport, next: BenchReport, minChange = 0.05): Comparison {
  const notes: string[] = [];
  const ba = base.adapter as { adapter?: string; backend?: string } | undefined;
  const na = next.adapter as { adapter?: string; backend?: string } | undefined;
  if (ba?.adapter !== na?.adapter || ba?.backend !== na?.backend) notes.push(`different adapters (${ba?.adapter} — ${ba?.backend} vs ${na?.adapter} — ${na?.backend}): the ratios compare devices as well as code`);
  if (base.timing !== next.timing) notes.push(`different timing methods (${base.timing} vs ${next.timing})`);
  const drift = ceilingDrift(base, next);
  if (drift > 1.005) notes.push(`the device's measured ceilings differ by ${((drift - 1) * 100).toFixed(1)}% between the runs; intervals are widened by that factor`);
  if (!base.ceilings || !next.ceilings) notes.push('a report has no ceilings: run-to-run drift of the device is not accounted for');
  const nextBy = new Map(next.results.map((r) => [keyOf(r), r]));
  const seen = new Set<string>();
  const rows: CompareRow[] = [];
  let regressions = 0;
  for (const b of base.results) {
    const k = keyOf(b);
    seen.add(k);
    const n = nextBy.get(k);
    const row: CompareRow = { kernel: b.kernel, variant: b.variant, shape: shapeText(b), baseMs: b.ms, newMs: n?.ms ?? null, ratio: null, lo: null, hi: null, verdict: 'same' };
    if (!n) {
      row.verdict = 'missing';
      row.note = 'not in the new report';
    } else if (n.check !== 'ok' && !n.skipped) {
      row.verdict = 'wrong';
      row.note = n.check;
      if (b.check === 'ok') regressions++;
    } else if (b.ms === null || n.ms === null) {
      row.verdict = 'untimed';
      row.note = b.ms === null ? `base: ${b.check}` : `new: ${n.check}`;
    } else {
      const [bl, bh] = interval(b);
      const [nl, nh] = interval(n);
      row.ratio = n.ms / b.ms;
      row.lo = nl / bh / drift;
      row.hi = (nh / bl) * drift;
      if (row.lo > 1 + minChange) {
        row.verdict = 'slower';
        regressions++;
      } else if (row.hi < 1 - minChange) row.verdict = 'faster';
    }
    rows.push(row);
  }
  for (const n of next.results) {
    if (seen.has(keyOf(n))) continue;
    rows.push({ kernel: n.kernel, variant: n.variant, shape: shapeText(n), baseMs: null, newMs: n.ms, ratio: null, lo: null, hi: null, verdict: 'new', note: 'not in the base report' });
  }
  return { rows, regressions, minChange, notes, drift };
}

const ms = (v: number | null) => (v === null ? '-' : v >= 100 ? v.toFixed(1) : v >= 1 ? v.toFixed(3) : v.toFixed(4));

const VERDICT_TEXT: Record<Verdict, string> = {
  slower: 'SLOWER (beyond noise)',
  faster: 'faster (beyond noise)',
  same: 'same within noise',
  wrong: 'WRONG',
  missing: 'missing',
  new: 'new',
  untimed: 'not timed',
};

/** The comparison as a plain-text table with its verdict line. */
export function formatComparison(c: Comparison): string {
  const head = ['kernel', 'variant', 'shape', 'base ms', 'new ms', 'new/base', '95% interval', 'verdict'];
  const table: string[][] = [head];
  for (const r of c.rows) {
    table.push([
      r.kernel,
      r.variant,
      r.shape,
      ms(r.baseMs),
      ms(r.newMs),
      r.ratio === null ? '-' : `${r.ratio.toFixed(3)}x`,
      r.lo === null ? '-' : `[${r.lo.toFixed(3)}, ${r.hi!.toFixed(3)}]`,
      `${VERDICT_TEXT[r.verdict]}${r.note ? `: ${r.note}` : ''}`,
    ]);
  }
  const widths = head.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  const lines = table.map((row) => row.map((v, i) => (i === row.length - 1 ? v : i >= 3 ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ').trimEnd());
  lines.push('');
  lines.push(`interval: [new low / base high, new high / base low] from each median's 95% interval (min and max where a report has none), widened by the ceilings' drift; a change counts beyond ±${(c.minChange * 100).toFixed(0)}% only when the whole interval lies past it`);
  for (const n of c.notes) lines.push(`note: ${n}`);
  lines.push(c.regressions ? `${c.regressions} regression(s)` : 'no regression beyond noise');
  return lines.join('\n');
}
