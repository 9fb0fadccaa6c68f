import { chartPng, chartSvg } from '../util/chart.js';
import type { BenchReport } from './measure.js';

/**
 * The roofline of a bench report, drawn with Vega-Lite (rendered to SVG by Vega, headless; PNG
 * through sharp): the roof is min(FMA ceiling, arithmetic intensity × copy ceiling), both
 * ceilings measured in the same run, and every timed case that counts FLOPs is a point at its
 * arithmetic intensity (FLOPs / bytes it must move) and achieved GFLOP/s. Memory-only cases
 * (no FLOPs) have no place on it and are counted in the caption.
 */

export interface RooflinePoint {
  kernel: string;
  variant: string;
  shape: string;
  /** FLOPs per byte. */
  intensity: number;
  gflops: number;
}

/** The points of a report: timed, correct cases with both FLOPs and bytes. */
export function rooflinePoints(report: BenchReport): { points: RooflinePoint[]; left: number } {
  const points: RooflinePoint[] = [];
  let left = 0;
  for (const r of report.results) {
    if (r.ms === null || r.check !== 'ok') continue;
    if (!r.gflops || !r.gbps) {
      left++;
      continue;
    }
    const vars = (r as { vars?: Record<string, number> }).vars;
    points.push({
      kernel: r.kernel,
      variant: r.variant,
      shape: vars ? Object.entries(vars).map(([k, v]) => `${k}=${v}`).join(',') : r.shape.join('×'),
      intensity: r.gflops / r.gbps,
      gflops: r.gflops,
    });
  }
  return { points, left };
}

/** The title: what ran on which adapter, a software adapter said as such. */
export function rooflineTitle(report: BenchReport): string {
  const a = report.adapter as { adapter?: string; backend?: string; software?: boolean };
  const what = (report as { spec?: { name: string } }).spec?.name ?? 'tok1d kernels';
  return `${what} on ${a.adapter} — ${a.backend}${a.software ? ' (SOFTWARE adapter: CPU executor)' : ''}`;
}

/** The Vega-Lite specification of the report's roofline. Throws when the report has no ceilings or no point. */
export function rooflineSpec(report: BenchReport): Record<string, unknown> {
  const c = report.ceilings;
  if (!c) throw new Error('the report has no measured ceilings (run the bench with them) to draw the roof');
  const { points, left } = rooflinePoints(report);
  if (!points.length) throw new Error('no timed case that counts FLOPs and bytes to place on the roofline');
  const ridge = c.fmaGflops / c.copyGBs;
  const xs = points.map((p) => p.intensity);
  const lo = Math.min(ridge, ...xs) / 4;
  const hi = Math.max(ridge, ...xs) * 4;
  const roof = [lo, ridge, hi].map((ai) => ({ intensity: ai, gflops: Math.min(c.fmaGflops, ai * c.copyGBs) }));
  const yLo = Math.min(roof[0]!.gflops, ...points.map((p) => p.gflops)) / 2;
  const x = { field: 'intensity', type: 'quantitative', scale: { type: 'log', domain: [lo, hi] }, title: 'arithmetic intensity (FLOP / byte)' };
  const y = { field: 'gflops', type: 'quantitative', scale: { type: 'log', domain: [yLo, c.fmaGflops * 2] }, title: 'GFLOP/s' };
  const timing = report.timing === 'timestamp' ? 'GPU timestamps' : 'wall clock';
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 640,
    height: 400,
    background: 'white',
    title: {
      text: rooflineTitle(report),
      subtitle: [`roof: FMA ${c.fmaGflops.toFixed(1)} GFLOP/s, copy ${c.copyGBs.toFixed(2)} GB/s, measured in the same run`, `points: median of each case (${timing})${left ? `; ${left} memory-only case(s) not shown` : ''}`],
      fontSize: 13,
      subtitleFontSize: 10,
      anchor: 'start',
    },
    layer: [
      { data: { values: roof }, mark: { type: 'line', color: '#444', strokeWidth: 2 }, encoding: { x, y } },
      {
        data: { values: points },
        mark: { type: 'point', filled: true, size: 60, opacity: 0.85 },
        encoding: { x, y, color: { field: 'kernel', type: 'nominal', title: 'kernel' }, shape: { field: 'kernel', type: 'nominal', title: 'kernel' } },
      },
    ],
  };
}

/** The roofline as SVG text (Vega renders it without a browser or canvas). */
export function rooflineSvg(report: BenchReport): Promise<string> {
  return chartSvg(rooflineSpec(report));
}

/** Writes the roofline to `path`: SVG, or PNG (the SVG rasterized by sharp) when the name ends in .png. */
export async function writeRoofline(report: BenchReport, path: string, write: (path: string, data: string | Uint8Array) => void): Promise<void> {
  write(path, /\.png$/i.test(path) ? await chartPng(rooflineSpec(report)) : await chartSvg(rooflineSpec(report)));
}
