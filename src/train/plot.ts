/**
 * A loss-curve chart as an RGB image: log-scale y axis with decade grid lines and labels, step axis,
 * one polyline per series, a legend. Text uses a built-in 3×5 pixel font (drawn at 2× scale).
 */
import type { RgbImage } from '../io/image.js';

export interface Series {
  label: string;
  color: [number, number, number];
  points: { x: number; y: number }[];
}

const GLYPHS: Record<string, string> = {
  '0': '111101101101111', '1': '010110010010111', '2': '111001111100111', '3': '111001111001111',
  '4': '101101111001001', '5': '111100111001111', '6': '111100111101111', '7': '111001010010010',
  '8': '111101111101111', '9': '111101111001111', '.': '000000000000010', '-': '000000111000000',
  e: '000111101110011', ' ': '000000000000000', a: '000011101101011', c: '000011100100011',
  d: '001011101101011', i: '010000010010010', l: '010010010010010', n: '000110101101101',
  o: '000010101101010', p: '000110101110100', r: '000011100100100', s: '000011110011110',
  t: '010111010010011', v: '000101101101010', m: '000111111101101', '(': '010100100100010',
  ')': '010001001001010', '/': '001001010100100', ',': '000000000010100', ':': '000010000010000',
  g: '000011101011110', h: '100110101101101', u: '000101101101011', f: '011100110100100',
  x: '000101010101101', y: '000101011001110', b: '100110101101110', k: '100101110101101',
  w: '000101101111111', E: '111100110100111', M: '101111101101101', S: '011100010001110',
};

class Canvas {
  readonly rgb: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.rgb = new Uint8Array(width * height * 3).fill(255);
  }

  set(x: number, y: number, c: readonly number[]): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    this.rgb.set(c, (y * this.width + x) * 3);
  }

  line(x0: number, y0: number, x1: number, y1: number, c: readonly number[], thick = 1): void {
    const n = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
    for (let i = 0; i <= n; i++) {
      const x = x0 + ((x1 - x0) * i) / n;
      const y = y0 + ((y1 - y0) * i) / n;
      for (let d = 0; d < thick; d++) this.set(x, y + d, c);
    }
  }

  text(s: string, x: number, y: number, c: readonly number[], scale = 2): void {
    for (const ch of s) {
      const g = GLYPHS[ch] ?? GLYPHS[ch.toLowerCase()] ?? GLYPHS[' ']!;
      for (let r = 0; r < 5; r++)
        for (let q = 0; q < 3; q++)
          if (g[r * 3 + q] === '1') for (let a = 0; a < scale; a++) for (let b = 0; b < scale; b++) this.set(x + q * scale + a, y + r * scale + b, c);
      x += 4 * scale;
    }
  }
}

function textWidth(s: string, scale = 2): number {
  return s.length * 4 * scale;
}

function label(v: number): string {
  if (v >= 0.01 && v < 1000) return String(Number(v.toPrecision(3)));
  return v.toExponential(0).replace('+', '');
}

/** Renders the series (y > 0) on a log scale. */
export function plotLossCurves(series: readonly Series[], title: string, width = 800, height = 450): RgbImage {
  const cv = new Canvas(width, height);
  const left = 80;
  const right = width - 20;
  const top = 40;
  const bottom = height - 50;
  const pts = series.flatMap((s) => s.points.filter((p) => p.y > 0 && Number.isFinite(p.y)));
  const grey = [200, 200, 200];
  const black = [0, 0, 0];
  cv.text(title, left, 12, black);
  if (pts.length) {
    const xmin = Math.min(...pts.map((p) => p.x));
    const xmax = Math.max(xmin + 1, ...pts.map((p) => p.x));
    let lo = Math.floor(Math.log10(Math.min(...pts.map((p) => p.y))));
    let hi = Math.ceil(Math.log10(Math.max(...pts.map((p) => p.y))));
    if (hi === lo) hi = lo + 1;
    const X = (x: number) => left + ((x - xmin) / (xmax - xmin)) * (right - left);
    const Y = (y: number) => bottom - ((Math.log10(y) - lo) / (hi - lo)) * (bottom - top);
    // Grid: decades (labelled) and 2×, 5× lines.
    for (let d = lo; d <= hi; d++) {
      for (const m of [1, 2, 5]) {
        const v = m * 10 ** d;
        if (Math.log10(v) > hi + 1e-9) continue;
        cv.line(left, Y(v), right, Y(v), m === 1 ? [170, 170, 170] : [225, 225, 225]);
        if (m === 1 || hi - lo <= 2) cv.text(label(v), left - 8 - textWidth(label(v)), Y(v) - 5, black);
      }
    }
    // Step ticks: about six round numbers.
    const raw = (xmax - xmin) / 6;
    const mag = 10 ** Math.floor(Math.log10(raw));
    const stepTick = [1, 2, 5, 10].map((m) => m * mag).find((t) => t >= raw)!;
    for (let t = Math.ceil(xmin / stepTick) * stepTick; t <= xmax; t += stepTick) {
      cv.line(X(t), top, X(t), bottom, grey);
      cv.text(String(t), X(t) - textWidth(String(t)) / 2, bottom + 8, black);
    }
    cv.text('step', (left + right) / 2 - textWidth('step') / 2, bottom + 28, black);
    for (const s of series) {
      const p = s.points.filter((q) => q.y > 0 && Number.isFinite(q.y));
      for (let i = 1; i < p.length; i++) cv.line(X(p[i - 1]!.x), Y(p[i - 1]!.y), X(p[i]!.x), Y(p[i]!.y), s.color, 2);
      if (p.length === 1) cv.line(X(p[0]!.x) - 2, Y(p[0]!.y), X(p[0]!.x) + 2, Y(p[0]!.y), s.color, 2);
    }
  }
  // Axes and legend.
  cv.line(left, top, left, bottom, black);
  cv.line(left, bottom, right, bottom, black);
  let ly = top + 6;
  for (const s of series) {
    const lx = right - 16 - textWidth(s.label) - 24;
    cv.line(lx, ly + 4, lx + 18, ly + 4, s.color, 3);
    cv.text(s.label, lx + 24, ly, black);
    ly += 16;
  }
  return { width, height, rgb: cv.rgb };
}
