/**
 * Pixel conversions between 8-bit RGB images and the model, with no Node imports (the browser
 * bundle shares them): antialiased resize + centre crop (toModelInput), training crops
 * (cropToModelInput; cropFromLevels from halvings of the image), back to 8 bits (fromModelOutput),
 * side-by-side views and PSNR.
 */

/** A problem with an input image (not a PNG, truncated, corrupt, too large, wrong size for the model). */
export class ImageError extends Error {
  override name = 'ImageError';
}

/** An 8-bit sRGB image, pixels row-major, 3 bytes (R, G, B) per pixel. */
export interface RgbImage {
  width: number;
  height: number;
  rgb: Uint8Array;
}

export interface ModelInputOptions {
  /** Resize the shorter side to `size` and centre-crop (default true); false: the image must be size×size. */
  resize?: boolean;
}

/** One output coordinate of a 1-D resampling: the first source index and the normalized tap weights. */
interface Taps {
  start: number;
  weights: Float64Array;
}

/**
 * Filter taps for `outLen` samples at positions `offset .. offset+outLen-1` of a resampling of `inLen`
 * samples to `scaledLen`. Triangle (tent) filter whose support is scaled by the downscale factor, so it
 * averages over every source sample an output covers (antialiased); for upscaling it is plain bilinear
 * interpolation. Taps outside the source are dropped and the rest renormalized (edge = clamp-like).
 * Output sample i's centre maps to source coordinate (i + offset + 0.5)·inLen/scaledLen − 0.5.
 */
function taps(inLen: number, scaledLen: number, offset: number, outLen: number): Taps[] {
  const scale = inLen / scaledLen; // source pixels per output pixel
  const support = Math.max(1, scale);
  const out: Taps[] = [];
  for (let i = 0; i < outLen; i++) {
    const centre = (i + offset + 0.5) * scale - 0.5;
    const lo = Math.max(0, Math.ceil(centre - support));
    const hi = Math.min(inLen - 1, Math.floor(centre + support));
    const w = new Float64Array(Math.max(0, hi - lo + 1));
    let sum = 0;
    for (let j = lo; j <= hi; j++) {
      const t = Math.max(0, 1 - Math.abs(j - centre) / support);
      w[j - lo] = t;
      sum += t;
    }
    if (sum > 0) for (let k = 0; k < w.length; k++) w[k] /= sum;
    else {
      // Cannot happen for support ≥ 1 with lo ≤ hi, but keep the sample defined: nearest source pixel.
      out.push({ start: Math.min(inLen - 1, Math.max(0, Math.round(centre))), weights: Float64Array.of(1) });
      continue;
    }
    out.push({ start: lo, weights: w });
  }
  return out;
}

/**
 * Converts an image to the model's input: [size, size, 3] (NHWC, one image) floats in [-1, 1] (v/127.5 − 1).
 * Default: scale so the shorter side equals `size` (longer side round(L·size/short)), with the antialiased
 * triangle filter of `taps`, then take the centre size×size crop (offset floor((L' − size)/2)). Only the
 * cropped region is computed. With `resize: false` the image must already be size×size.
 */
export function toModelInput(img: RgbImage, size: number, opts: ModelInputOptions = {}): Float32Array {
  const { width: W, height: H, rgb } = img;
  if (!(Number.isInteger(size) && size > 0)) throw new ImageError(`model input size must be a positive integer, got ${size}`);
  if (opts.resize === false) {
    if (W !== size || H !== size) {
      throw new ImageError(`image is ${W}×${H}; the model takes ${size}×${size} (drop --no-resize to resize and crop)`);
    }
    const out = new Float32Array(size * size * 3);
    for (let i = 0; i < out.length; i++) out[i] = rgb[i] / 127.5 - 1;
    return out;
  }
  const short = Math.min(W, H);
  const sw = W === short ? size : Math.max(size, Math.round((W * size) / short));
  const sh = H === short ? size : Math.max(size, Math.round((H * size) / short));
  return resample(img, size, taps(W, sw, Math.floor((sw - size) / 2), size), taps(H, sh, Math.floor((sh - size) / 2), size), false);
}

/** A square region of a source image, in source pixels (fractional positions allowed). */
export interface CropRegion {
  x: number;
  y: number;
  side: number;
}

/**
 * The model input for a square region of `img` resampled to size×size with the same antialiased
 * filter as toModelInput (taps outside the image are dropped), mirrored left-right when `flip`.
 * Training crops use it.
 */
export function cropToModelInput(img: RgbImage, size: number, region: CropRegion, flip = false): Float32Array {
  const { x, y, side } = region;
  if (!(side > 0 && x >= 0 && y >= 0 && x + side <= img.width + 1e-9 && y + side <= img.height + 1e-9)) {
    throw new ImageError(`crop ${side}×${side} at (${x}, ${y}) does not fit a ${img.width}×${img.height} image`);
  }
  const k = size / side;
  return resample(img, size, taps(img.width, img.width * k, x * k, size), taps(img.height, img.height * k, y * k, size), flip);
}

/**
 * The image at half its size, ceil(W/2)×ceil(H/2): each pixel the rounded mean of its 2×2 block of
 * source pixels (of the 2 or 1 that exist at an odd last column or row). Output pixel j covers source
 * pixels 2j and 2j+1, so a source position x is x/2 in the halved image.
 */
export function halveImage(img: RgbImage): RgbImage {
  checkImage(img, 'halveImage');
  const { width: W, height: H, rgb } = img;
  const w = Math.ceil(W / 2);
  const h = Math.ceil(H / 2);
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const r0 = 2 * y * W * 3;
    const r1 = 2 * y + 1 < H ? r0 + W * 3 : r0; // an odd last row counts its one row twice
    for (let x = 0; x < w; x++) {
      const c0 = 2 * x * 3;
      const c1 = 2 * x + 1 < W ? c0 + 3 : c0; // likewise an odd last column
      const o = (y * w + x) * 3;
      for (let c = 0; c < 3; c++) {
        // Sums of 4 bytes: (sum + 2) >> 2 is the mean rounded half up.
        out[o + c] = (rgb[r0 + c0 + c]! + rgb[r0 + c1 + c]! + rgb[r1 + c0 + c]! + rgb[r1 + c1 + c]! + 2) >> 2;
      }
    }
  }
  return { width: w, height: h, rgb: out };
}

/**
 * The chain of halvings of `img` that a training crop of at least `size` pixels can use: levels[0] is
 * the image, levels[l] is halveImage(levels[l − 1]), down to the last level whose shorter side is still
 * at least `size`.
 */
export function imageLevels(img: RgbImage, size: number): RgbImage[] {
  const levels = [img];
  for (let last = img; Math.min(last.width, last.height) >= 2 * size; ) {
    last = halveImage(last);
    levels.push(last);
  }
  return levels;
}

/**
 * cropToModelInput from a chain of halvings (imageLevels): the region is resampled from level
 * l = floor(log2(side/size)) (at most the last level), where it spans between `size` and 2·size pixels,
 * so the triangle filter reads under 4 taps per output pixel and a crop costs O(size²) whatever its
 * side, instead of reading every source pixel under it. The filter is then the 2^l box of the levels
 * followed by the triangle: close to, not equal to, cropToModelInput on the full image (equal when
 * l = 0).
 */
export function cropFromLevels(levels: readonly RgbImage[], size: number, region: CropRegion, flip = false): Float32Array {
  if (levels.length === 0) throw new ImageError('cropFromLevels: no image levels');
  const ratio = region.side / size;
  const l = ratio >= 2 ? Math.min(levels.length - 1, Math.floor(Math.log2(ratio))) : 0;
  const f = 2 ** l;
  // The region in level-l pixels: dividing by 2^l is exact and the level is ceil(W/2^l) wide, so a
  // region that fits the image fits the level, and one that does not is refused at every level.
  return cropToModelInput(levels[l]!, size, { x: region.x / f, y: region.y / f, side: region.side / f }, flip);
}

/** Separable resampling with precomputed taps: horizontal pass over the rows needed, then vertical; 0..255 → [-1, 1]. */
function resample(img: RgbImage, size: number, tx: Taps[], ty: Taps[], flip: boolean): Float32Array {
  const { width: W, rgb } = img;
  const y0 = ty[0].start;
  const y1 = Math.max(...ty.map((t) => t.start + t.weights.length)); // rows the vertical pass reads: [y0, y1)
  // Horizontal pass over the needed rows: tmp[(y - y0), x, c].
  const tmp = new Float64Array((y1 - y0) * size * 3);
  for (let y = y0; y < y1; y++) {
    const rowIn = y * W * 3;
    const rowOut = (y - y0) * size * 3;
    for (let x = 0; x < size; x++) {
      const { start, weights } = tx[x];
      let r = 0, g = 0, b = 0;
      for (let k = 0; k < weights.length; k++) {
        const p = rowIn + (start + k) * 3;
        const w = weights[k];
        r += w * rgb[p];
        g += w * rgb[p + 1];
        b += w * rgb[p + 2];
      }
      const o = rowOut + (flip ? size - 1 - x : x) * 3;
      tmp[o] = r;
      tmp[o + 1] = g;
      tmp[o + 2] = b;
    }
  }
  // Vertical pass, then map 0..255 → [-1, 1].
  const out = new Float32Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    const { start, weights } = ty[y];
    for (let i = 0; i < size * 3; i++) {
      let s = 0;
      for (let k = 0; k < weights.length; k++) s += weights[k] * tmp[(start - y0 + k) * size * 3 + i];
      out[y * size * 3 + i] = s / 127.5 - 1;
    }
  }
  return out;
}

/** Converts the model's output [size, size, 3] in [-1, 1] to 8-bit RGB: round((clamp(x, −1, 1) + 1)·127.5). */
export function fromModelOutput(x: Float32Array, size: number): RgbImage {
  if (x.length !== size * size * 3) {
    throw new ImageError(`model output has ${x.length} values; expected ${size}×${size}×3 = ${size * size * 3}`);
  }
  const rgb = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = Math.min(1, Math.max(-1, x[i]));
    rgb[i] = Math.round((v + 1) * 127.5); // NaN → 0
  }
  return { width: size, height: size, rgb };
}

export function checkImage(img: RgbImage, what: string): void {
  if (!(img.width > 0 && img.height > 0) || img.rgb.length !== img.width * img.height * 3) {
    throw new ImageError(`${what}: ${img.width}×${img.height} image needs ${img.width * img.height * 3} bytes of RGB, got ${img.rgb.length}`);
  }
}

/**
 * Puts `a` and `b` next to each other (a left, b right, top-aligned) with a `gap`-pixel white column
 * between them; the area below the shorter image is white too. Used for input | reconstruction views.
 */
export function sideBySide(a: RgbImage, b: RgbImage, gap = 4): RgbImage {
  checkImage(a, 'sideBySide');
  checkImage(b, 'sideBySide');
  if (!(Number.isInteger(gap) && gap >= 0)) throw new ImageError(`sideBySide: gap must be a non-negative integer, got ${gap}`);
  const width = a.width + gap + b.width;
  const height = Math.max(a.height, b.height);
  const rgb = new Uint8Array(width * height * 3).fill(255);
  for (let y = 0; y < a.height; y++) rgb.set(a.rgb.subarray(y * a.width * 3, (y + 1) * a.width * 3), y * width * 3);
  const bx = (a.width + gap) * 3;
  for (let y = 0; y < b.height; y++) rgb.set(b.rgb.subarray(y * b.width * 3, (y + 1) * b.width * 3), y * width * 3 + bx);
  return { width, height, rgb };
}

/** 8-bit PSNR in dB: 10·log10(255² / MSE), MSE over all samples; Infinity when the arrays are equal. */
export function psnr(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new ImageError(`psnr: arrays differ in length (${a.length} vs ${b.length})`);
  if (a.length === 0) throw new ImageError('psnr: empty arrays');
  let se = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    se += d * d;
  }
  if (se === 0) return Infinity;
  return 10 * Math.log10((255 * 255 * a.length) / se);
}
