/**
 * PNG in/out and the pixel conversions between files and the model.
 *
 *   file bytes ──readImageHeader──▶ size check ──decodeImage──▶ 8-bit RGB ──toModelInput──▶ f32 [S,S,3] in [-1,1]
 *   f32 [S,S,3] ──fromModelOutput──▶ 8-bit RGB ──encodePng──▶ file bytes
 *
 * Decoding accepts every PNG colour type and bit depth (grey 1/2/4/8/16, grey+alpha 8/16, palette 1/2/4/8
 * with or without tRNS, RGB 8/16 with or without tRNS, RGBA 8/16, Adam7 interlacing). Every failure is an
 * `ImageError` whose message says what is wrong with the file; pixel memory is only allocated after the
 * declared size has been checked against `maxPixels`.
 */
import { PNG } from 'pngjs';
import * as zlib from 'node:zlib';

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

export interface PngHeader {
  width: number;
  height: number;
  /** 1, 2, 4, 8 or 16. */
  bitDepth: number;
  /** 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA. */
  colorType: number;
}

export interface DecodeOptions {
  /** Largest accepted width·height (default 64·2^20 = 67108864). */
  maxPixels?: number;
  /** Colour that transparent pixels are composited on, 0..255 per channel (default white). */
  background?: [number, number, number];
}

export const DEFAULT_MAX_PIXELS = 64 * 1024 * 1024;

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Allowed bit depths per colour type (PNG spec, table 11.1). */
const DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

function u32(b: Uint8Array, at: number): number {
  return ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
}

/** The 4-letter chunk type at `at`; bytes that are not ASCII letters show as '?'. */
function chunkName(b: Uint8Array, at: number): string {
  let s = '';
  for (let i = at; i < at + 4; i++) s += /[A-Za-z]/.test(String.fromCharCode(b[i] ?? 0)) ? String.fromCharCode(b[i]) : '?';
  return s;
}

function notPng(bytes: Uint8Array): ImageError {
  if (bytes.length === 0) return new ImageError('not a PNG file: the file is empty');
  const kind =
    bytes[0] === 0xff && bytes[1] === 0xd8 ? 'a JPEG' :
    chunkName(bytes, 0) === 'GIF?' ? 'a GIF' :
    bytes[0] === 0x42 && bytes[1] === 0x4d ? 'a BMP' :
    chunkName(bytes, 0) === 'RIFF' && chunkName(bytes, 8) === 'WEBP' ? 'a WebP' : '';
  return new ImageError(`not a PNG file${kind ? ` (it looks like ${kind} image; only PNG is supported)` : ''}`);
}

/**
 * Parses the PNG signature and the IHDR chunk only (the first 33 bytes), so that the declared size can
 * be checked before any pixel memory is allocated. Throws ImageError for a non-PNG, a file cut short
 * before the end of IHDR, or an IHDR with an invalid bit depth / colour type combination.
 */
export function readImageHeader(bytes: Uint8Array): PngHeader {
  const sigLen = Math.min(bytes.length, 8);
  for (let i = 0; i < sigLen; i++) if (bytes[i] !== SIGNATURE[i]) throw notPng(bytes);
  if (bytes.length < 8) {
    throw bytes.length === 0 ? notPng(bytes) : new ImageError(`truncated PNG: the file is ${bytes.length} bytes, shorter than the PNG signature`);
  }
  if (bytes.length < 33) throw new ImageError(`truncated PNG: the file ends after ${bytes.length} bytes, inside the IHDR header`);
  const len = u32(bytes, 8);
  const name = chunkName(bytes, 12);
  if (name !== 'IHDR' || len !== 13) throw new ImageError(`invalid PNG: the first chunk is ${JSON.stringify(name)} of ${len} bytes, expected IHDR of 13 bytes`);
  const header: PngHeader = { width: u32(bytes, 16), height: u32(bytes, 20), bitDepth: bytes[24], colorType: bytes[25] };
  const allowed = DEPTHS[header.colorType];
  if (!allowed) throw new ImageError(`invalid PNG: colour type ${header.colorType} does not exist`);
  if (!allowed.includes(header.bitDepth)) {
    throw new ImageError(`invalid PNG: bit depth ${header.bitDepth} is not allowed for colour type ${header.colorType}`);
  }
  return header;
}

/** CRC-32 (ISO-HDLC, as PNG uses): zlib's when this Node has it (≥ 20.15), else a table version. */
const crc32: (data: Uint8Array) => number =
  typeof zlib.crc32 === 'function'
    ? (data) => zlib.crc32(data)
    : (() => {
        const table = new Uint32Array(256);
        for (let n = 0; n < 256; n++) {
          let c = n;
          for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
          table[n] = c >>> 0;
        }
        return (data: Uint8Array) => {
          let c = 0xffffffff;
          for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]) & 0xff] ^ (c >>> 8);
          return (c ^ 0xffffffff) >>> 0;
        };
      })();

/**
 * Walks the chunk list and checks each chunk's CRC (without decompressing anything), so that a file cut
 * short or damaged gets a message that says so, instead of whatever the decoder happens to stumble over.
 * Returns the IDAT payloads.
 */
function checkChunks(bytes: Uint8Array): Uint8Array[] {
  let at = 8;
  const idat: Uint8Array[] = [];
  for (;;) {
    if (at + 8 > bytes.length) {
      throw new ImageError(`truncated PNG: the file ends after ${bytes.length} bytes, before the IEND chunk`);
    }
    const len = u32(bytes, at);
    const name = chunkName(bytes, at + 4);
    if (at + 12 + len > bytes.length) {
      throw new ImageError(
        `truncated PNG: chunk ${name} at byte ${at} declares ${len} bytes of data but the file ends after ${bytes.length} bytes`,
      );
    }
    if (crc32(bytes.subarray(at + 4, at + 8 + len)) !== u32(bytes, at + 8 + len)) {
      throw new ImageError(`corrupt PNG: chunk ${name} at byte ${at} fails its CRC check (the file is damaged)`);
    }
    if (name === 'IDAT') idat.push(bytes.subarray(at + 8, at + 8 + len));
    if (name === 'IEND') break;
    at += 12 + len;
  }
  if (idat.length === 0) throw new ImageError('invalid PNG: no IDAT chunk (the file holds no pixel data)');
  return idat;
}

/** Bytes of filtered scanlines (1 filter byte per row) that a PNG of this header decompresses to. */
function scanlineBytes(h: PngHeader, interlace: boolean): number {
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[h.colorType] ?? 0;
  const rows = (w: number, n: number) => (w > 0 && n > 0 ? n * (1 + Math.ceil((w * channels * h.bitDepth) / 8)) : 0);
  if (!interlace) return rows(h.width, h.height);
  // Adam7 passes: [x0, y0, dx, dy].
  const passes = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];
  let total = 0;
  for (const [x0, y0, dx, dy] of passes) total += rows(Math.ceil((h.width - x0) / dx), Math.ceil((h.height - y0) / dy));
  return total;
}

/**
 * Inflates the IDAT stream once to check that it is complete and exactly as long as the image needs
 * (the decoder silently fills missing rows with zeros). The buffer is dropped right away.
 */
function checkImageData(bytes: Uint8Array, header: PngHeader, idat: Uint8Array[]): void {
  const expected = scanlineBytes(header, bytes[28] === 1);
  const stream = idat.length === 1 ? idat[0] : Buffer.concat(idat);
  let got: number;
  try {
    got = zlib.inflateSync(stream, { maxOutputLength: expected }).length;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'Z_BUF_ERROR') {
      throw new ImageError('truncated PNG: the compressed image data ends early (IDAT data is missing)');
    }
    if (e.code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new ImageError(`corrupt PNG: the image data is longer than the ${expected} bytes a ${header.width}×${header.height} image needs`);
    }
    throw new ImageError(`corrupt PNG: the compressed image data is damaged (${e.message})`);
  }
  if (got < expected) {
    throw new ImageError(
      `truncated PNG: the image data holds ${got} of the ${expected} bytes a ${header.width}×${header.height} image needs (rows are missing)`,
    );
  }
}

/**
 * Decodes a PNG to 8-bit RGB. Samples of other depths are scaled to 8 bits as round(v·255 / (2^depth − 1)).
 * Alpha (an alpha channel, or tRNS for palette, grey and RGB images) is composited on `background`:
 *   out = round(a·c + (1 − a)·bg),  a = A / (2^depth − 1) ∈ [0, 1],  c and bg in 8-bit sRGB values (no gamma).
 * Ancillary colour chunks (gAMA, cHRM, iCCP, sRGB, bKGD) are ignored: values are taken as sRGB.
 */
export function decodeImage(bytes: Uint8Array, opts: DecodeOptions = {}): RgbImage {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const bg = opts.background ?? [255, 255, 255];
  const header = readImageHeader(bytes);
  const { width, height } = header;
  if (width === 0 || height === 0) throw new ImageError(`invalid PNG: declared size ${width}×${height} has no pixels`);
  if (width * height > maxPixels) {
    throw new ImageError(`declared size ${width}×${height} exceeds the ${maxPixels}-pixel limit (use --max-pixels)`);
  }
  checkImageData(bytes, header, checkChunks(bytes));

  let decoded;
  try {
    // skipRescale: keep the file's own sample values (16-bit stays 16-bit) so that compositing is exact.
    decoded = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { skipRescale: true });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ImageError(`corrupt PNG: ${reason}`);
  }
  if (decoded.width !== width || decoded.height !== height) {
    throw new ImageError(`corrupt PNG: decoded ${decoded.width}×${decoded.height}, header declares ${width}×${height}`);
  }
  // Palette entries are always 8-bit; other samples keep the file's depth (RGBA layout, alpha = max if absent).
  const max = header.colorType === 3 ? 255 : 2 ** header.bitDepth - 1;
  const src = decoded.data as unknown as ArrayLike<number>;
  const n = width * height;
  const rgb = new Uint8Array(n * 3);
  const toByte = 255 / max;
  for (let p = 0; p < n; p++) {
    const a = src[4 * p + 3] / max;
    for (let c = 0; c < 3; c++) {
      const v = src[4 * p + c] * toByte;
      rgb[3 * p + c] = Math.round(a * v + (1 - a) * bg[c]);
    }
  }
  return { width, height, rgb };
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
  const tx = taps(W, sw, Math.floor((sw - size) / 2), size);
  const ty = taps(H, sh, Math.floor((sh - size) / 2), size);
  const y0 = ty[0].start;
  const y1 = ty[size - 1].start + ty[size - 1].weights.length; // rows the vertical pass reads: [y0, y1)
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
      tmp[rowOut + x * 3] = r;
      tmp[rowOut + x * 3 + 1] = g;
      tmp[rowOut + x * 3 + 2] = b;
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

function checkImage(img: RgbImage, what: string): void {
  if (!(img.width > 0 && img.height > 0) || img.rgb.length !== img.width * img.height * 3) {
    throw new ImageError(`${what}: ${img.width}×${img.height} image needs ${img.width * img.height * 3} bytes of RGB, got ${img.rgb.length}`);
  }
}

/** Encodes 8-bit RGB as an 8-bit RGB (colour type 2) PNG. */
export function encodePng(img: RgbImage): Uint8Array {
  checkImage(img, 'encodePng');
  const png = new PNG();
  png.width = img.width;
  png.height = img.height;
  png.data = Buffer.from(img.rgb.buffer, img.rgb.byteOffset, img.rgb.byteLength);
  const file = PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false, bitDepth: 8 });
  return new Uint8Array(file.buffer, file.byteOffset, file.byteLength);
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
