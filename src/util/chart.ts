/**
 * Charts from Vega-Lite specifications, rendered without a browser or canvas: Vega draws SVG text,
 * sharp (libvips) rasterizes it for PNG files. Node only; both libraries load on first use.
 */

/** A Vega-Lite specification (the JSON object Vega-Lite documents). */
export type ChartSpec = Record<string, unknown>;

/** The chart as SVG text. */
export async function chartSvg(spec: ChartSpec): Promise<string> {
  const [vega, vl] = await Promise.all([import('vega'), import('vega-lite')]);
  const compiled = vl.compile(spec as unknown as Parameters<typeof vl.compile>[0]).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The chart as PNG bytes (the SVG rasterized at `density` dpi). */
export async function chartPng(spec: ChartSpec, density = 144): Promise<Uint8Array> {
  const svg = await chartSvg(spec);
  const sharp = (await import('sharp')).default;
  return sharp(Buffer.from(svg), { density }).png().toBuffer();
}
