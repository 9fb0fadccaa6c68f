/**
 * The page `tok1d reconstruct --compare` writes beside its PNGs (DIR/index.html): each input as the
 * model sees it and its reconstruction, enlarged with pixelated scaling so single pixels stay
 * visible, the image's token ids as a grid (equal ids share a colour), its PSNR and bits. One
 * self-contained file: the images are embedded as PNG data URIs.
 */
import { encodePng, type RgbImage } from '../io/image.js';

export interface DemoEntry {
  /** The input file, as given on the command line. */
  file: string;
  /** The model's view of the input (resized and cropped) and the reconstruction, same size. */
  input: RgbImage;
  output: RgbImage;
  psnr: number;
  /** The image's token ids, when the model has discrete tokens. */
  tokens?: ArrayLike<number>;
}

export interface DemoInfo {
  /** Images reconstructed (entries holds the first DEMO_PAGE_MAX of them) and their mean PSNR. */
  images: number;
  meanPsnr: number;
  tokensPerImage: number;
  bitsPerImage: number;
  codebookSize: number;
}

/** At most this many images are shown (the PNGs are written for all): callers keep no more. */
export const DEMO_PAGE_MAX = 200;

/** Displayed size: at least 256 CSS pixels, an integer multiple of the image size. */
export function demoScale(size: number): number {
  return Math.max(1, Math.ceil(256 / size));
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function dataUri(img: RgbImage): string {
  return `data:image/png;base64,${Buffer.from(encodePng(img)).toString('base64')}`;
}

/** A colour per token id: hues a golden angle apart, so neighbouring ids look different. */
function tokenColour(id: number): string {
  return `hsl(${Math.round((id * 137.508) % 360)} 70% 82%)`;
}

/** The ids in sequence order, 16 to a row. */
function tokenGrid(tokens: ArrayLike<number>): string {
  const n = tokens.length;
  const rows: string[] = [];
  for (let r = 0; r * 16 < n; r++) {
    const cells: string[] = [];
    for (let c = r * 16; c < Math.min(n, (r + 1) * 16); c++) cells.push(`<td style="background:${tokenColour(tokens[c]!)}">${tokens[c]}</td>`);
    rows.push(`<tr>${cells.join('')}</tr>`);
  }
  return `<table class="tokens" title="token ids in sequence order, 16 to a row">${rows.join('')}</table>`;
}

/** The HTML of the page. */
export function demoPageHtml(entries: readonly DemoEntry[], info: DemoInfo): string {
  const shown = entries.slice(0, DEMO_PAGE_MAX);
  const bitsPer = Math.log2(info.codebookSize);
  const sections = shown.map((e, i) => {
    const k = demoScale(e.input.width);
    const [w, h] = [e.input.width * k, e.input.height * k];
    const img = (cls: string, im: RgbImage, alt: string) =>
      `<figure><img class="${cls}" src="${dataUri(im)}" width="${w}" height="${h}" alt="${alt}"><figcaption>${alt} (${im.width}×${im.height}, shown ${k}×)</figcaption></figure>`;
    return `<section class="entry" id="image-${i}">
<h2>${escapeHtml(e.file)}</h2>
<div class="row">
${img('input', e.input, 'input')}
${img('reconstruction', e.output, 'reconstruction')}
<div class="meta"><p><span class="psnr">${e.psnr.toFixed(2)}</span> dB PSNR</p><p><span class="bits">${info.bitsPerImage.toFixed(0)}</span> bits: ${info.tokensPerImage} tokens × ${bitsPer.toFixed(bitsPer % 1 ? 2 : 0)} bits</p>${e.tokens ? tokenGrid(e.tokens) : ''}</div>
</div>
</section>`;
  });
  const more = info.images > shown.length ? `<p class="more">The first ${shown.length} of ${info.images} images are shown; every reconstruction is in this folder as a PNG.</p>` : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>tok1d: inputs and reconstructions</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
h1 { font-size: 1.4em; } h2 { font-size: 1em; font-weight: 600; margin: 0 0 .5em; word-break: break-all; }
.entry { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 1em; margin: 0 0 1em; }
.row { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
figure { margin: 0; } figcaption { color: #666; font-size: .9em; }
img { image-rendering: pixelated; display: block; border: 1px solid #ccc; }
.meta p { margin: 0 0 .4em; } .psnr, .bits { font-weight: 600; }
table.tokens { border-collapse: collapse; font: 11px ui-monospace, monospace; }
table.tokens td { border: 1px solid #fff; padding: 2px 4px; text-align: right; }
</style>
</head>
<body>
<h1>tok1d: inputs and reconstructions</h1>
<p class="summary">${info.images} images; ${info.tokensPerImage} tokens of ${bitsPer.toFixed(bitsPer % 1 ? 2 : 0)} bits (${info.bitsPerImage.toFixed(0)} bits) per image; mean PSNR <span class="mean-psnr">${info.meanPsnr.toFixed(2)}</span> dB.</p>
${more}
${sections.join('\n')}
</body>
</html>
`;
}
