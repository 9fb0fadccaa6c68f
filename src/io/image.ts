/**
 * PNG in/out (the pixel conversions between images and the model are in pixels.ts, re-exported here).
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
import { checkImage, ImageError, type RgbImage } from './pixels.js';

export * from './pixels.js';

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

