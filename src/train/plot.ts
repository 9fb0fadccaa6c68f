/** The training loss chart: a Vega-Lite line chart (log-scale y) rendered to PNG by src/util/chart.ts. */
import { chartPng, type ChartSpec } from '../util/chart.js';

export interface Series {
  label: string;
  points: { x: number; y: number }[];
}

/** Line chart of the series over steps, log-scale y; points that cannot be drawn on it (≤ 0, not finite) are left out. */
export function lossPlotSpec(series: readonly Series[], yTitle: string): ChartSpec {
  return {
    width: 640,
    height: 320,
    background: 'white',
    data: { values: series.flatMap((s) => s.points.filter((p) => p.y > 0 && Number.isFinite(p.y)).map((p) => ({ step: p.x, value: p.y, series: s.label }))) },
    mark: { type: 'line', point: { size: 12 }, strokeWidth: 1.5 },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step' },
      y: { field: 'value', type: 'quantitative', scale: { type: 'log' }, title: yTitle },
      color: { field: 'series', type: 'nominal', title: null, sort: series.map((s) => s.label) },
    },
  };
}

/** The chart as PNG bytes. */
export function plotLossCurves(series: readonly Series[], yTitle: string): Promise<Uint8Array> {
  return chartPng(lossPlotSpec(series, yTitle));
}
