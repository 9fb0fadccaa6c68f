/**
 * Image files in (PNG, JPEG, WebP) and PNG out (the pixel conversions between images and the model are
 * in pixels.ts, re-exported here).
 *
 *   file bytes ──readImageInfo──▶ size check ──decodeImageFile──▶ 8-bit RGB ──toModelInput──▶ f32 [S,S,3] in [-1,1]
 *   f32 [S,S,3] ──fromModelOutput──▶ 8-bit RGB ──encodePng──▶ file bytes
 *
 * PNG is decoded here (pngjs, synchronously: decodeImage), accepting every colour type and bit depth
 * (grey 1/2/4/8/16, grey+alpha 8/16, palette 1/2/4/8 with or without tRNS, RGB 8/16 with or without
 * tRNS, RGBA 8/16, Adam7 interlacing). JPEG and WebP are decoded by libvips through the `sharp`
 * package (decodeImageFile, asynchronous, off the main thread): baseline and progressive JPEG, grey,
 * RGB, CMYK and YCCK JPEG, lossy and lossless WebP with or without alpha; EXIF orientation is applied
 * and embedded ICC profiles are converted to sRGB. No resizing happens in any decoder: tok1d's own
 * resize (pixels.ts) is the one path, so Node and the browser give the same tokens for the same pixels.
 *
 * Every failure is an `ImageError` whose message says what is wrong with the file; pixel memory is
 * only allocated after the size declared in the file's header has been checked against `maxPixels`.
 */
import { PNG } from 'pngjs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as zlib from 'node:zlib';
import { toRgb, type PixelImage } from '../model/tokenizer-core.js';
import { writeFileAtomic } from '../model/checkpoint.js';
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

/** Options of decoding an image file: the pixel-count guard and the colour under transparent pixels. */
export interface DecodeOptions {
  /** Largest accepted width·height (default 64·2^20 = 67108864). */
  maxPixels?: number;
  /** Colour that transparent pixels are composited on, 0..255 per channel (default white). */
  background?: [number, number, number];
}

/** The largest width·height an image file's header may declare unless told otherwise: 64·2^20 pixels. */
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

/** The formats tok1d reads. */
export type ImageFormat = 'PNG' | 'JPEG' | 'WebP';

/** File name extensions of the formats tok1d reads (folder scans look for these, in any letter case). */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp'] as const;

/** What a file's header declares: its format and its stored size (before EXIF orientation). */
export interface ImageInfo {
  format: ImageFormat;
  width: number;
  height: number;
}

/** The format of a file from its first bytes, or a description of what else it looks like. */
function sniff(bytes: Uint8Array): ImageFormat | string {
  if (bytes.length === 0) return 'the file is empty';
  if (bytes[0] === SIGNATURE[0] && bytes[1] === SIGNATURE[1]) return 'PNG';
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return 'JPEG';
  if (chunkName(bytes, 0) === 'RIFF' && chunkName(bytes, 8) === 'WEBP') return 'WebP';
  const kind =
    chunkName(bytes, 0) === 'GIF?' ? 'a GIF' :
    bytes[0] === 0x42 && bytes[1] === 0x4d ? 'a BMP' :
    (bytes[0] === 0x49 && bytes[1] === 0x49 && bytes[2] === 0x2a) || (bytes[0] === 0x4d && bytes[1] === 0x4d && bytes[3] === 0x2a) ? 'a TIFF' :
    chunkName(bytes, 4) === 'ftyp' ? 'a HEIF/AVIF' : '';
  return kind ? `it looks like ${kind} image` : '';
}

function notPng(bytes: Uint8Array): ImageError {
  if (bytes.length === 0) return new ImageError('not a PNG file: the file is empty');
  const what = sniff(bytes);
  const kind = what === 'JPEG' ? 'it looks like a JPEG image' : what === 'WebP' ? 'it looks like a WebP image' : what;
  const other = what === 'JPEG' || what === 'WebP' ? '; decodeImageFile reads it' : '';
  return new ImageError(`not a PNG file${kind ? ` (${kind}${other})` : ''}`);
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
  checkPixels({ format: 'PNG', width, height }, maxPixels);
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

function u16be(b: Uint8Array, at: number): number {
  return (b[at] << 8) | b[at + 1];
}

function u24le(b: Uint8Array, at: number): number {
  return b[at] | (b[at + 1] << 8) | (b[at + 2] << 16);
}

function u32le(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}

/** Start-of-frame markers: SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC). */
function isSof(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

/**
 * The size a JPEG declares in its frame header (SOFn), its number of colour components and whether
 * an ICC profile (APP2) comes before it, found by walking the marker segments before the first scan. Throws ImageError for a file cut short in its headers, a malformed segment, or a
 * frame header without a usable size.
 */
function readJpegInfo(bytes: Uint8Array): ImageInfo & { components: number; iccProfile: boolean } {
  let at = 2;
  let iccProfile = false;
  for (;;) {
    if (at >= bytes.length) throw new ImageError(`truncated JPEG: the file ends after ${bytes.length} bytes, before its frame header`);
    if (bytes[at] !== 0xff) throw new ImageError(`invalid JPEG: expected a marker at byte ${at}, found 0x${bytes[at].toString(16).padStart(2, '0')}`);
    while (bytes[at] === 0xff && at < bytes.length) at++; // fill bytes
    if (at >= bytes.length) throw new ImageError(`truncated JPEG: the file ends after ${bytes.length} bytes, before its frame header`);
    const marker = bytes[at++];
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) continue; // RSTn and TEM have no length
    if (marker === 0xd9 || marker === 0xda || marker === 0xd8) {
      throw new ImageError(`invalid JPEG: ${marker === 0xda ? 'a scan starts' : marker === 0xd9 ? 'the image ends' : 'a second image starts'} before the frame header (no image size)`);
    }
    if (at + 2 > bytes.length) throw new ImageError(`truncated JPEG: the file ends after ${bytes.length} bytes, inside its headers`);
    const len = u16be(bytes, at);
    if (len < 2) throw new ImageError(`invalid JPEG: segment 0xff${marker.toString(16)} at byte ${at - 2} has length ${len}`);
    if (at + len > bytes.length) throw new ImageError(`truncated JPEG: the file ends after ${bytes.length} bytes, inside its headers`);
    if (marker === 0xe2 && String.fromCharCode(...bytes.subarray(at + 2, at + 14)) === 'ICC_PROFILE\0') iccProfile = true;
    if (isSof(marker)) {
      if (len < 8) throw new ImageError(`invalid JPEG: frame header of ${len} bytes`);
      const height = u16be(bytes, at + 3);
      const width = u16be(bytes, at + 5);
      const components = bytes[at + 7];
      if (width === 0 || height === 0) {
        throw new ImageError(`invalid JPEG: the frame header declares ${width}×${height}${height === 0 ? ' (a height given later in a DNL marker is not supported)' : ''}`);
      }
      if (![1, 3, 4].includes(components)) throw new ImageError(`invalid JPEG: ${components} colour components (1, 3 or 4 are readable)`);
      return { format: 'JPEG', width, height, components, iccProfile };
    }
    at += len;
  }
}

/**
 * The canvas size a WebP declares: in its VP8X chunk (extended format), else in the first frame's
 * VP8 (lossy) or VP8L (lossless) header. Throws ImageError for a file shorter than its RIFF header
 * says, or a header that is not one of these.
 */
function readWebpInfo(bytes: Uint8Array): ImageInfo {
  const declared = 8 + u32le(bytes, 4);
  if (bytes.length < declared) {
    throw new ImageError(`truncated WebP: the file is ${bytes.length} bytes, its RIFF header declares ${declared}`);
  }
  if (bytes.length < 30) throw new ImageError(`invalid WebP: ${bytes.length} bytes is too short for an image header`);
  const chunk = String.fromCharCode(bytes[12], bytes[13], bytes[14], bytes[15]);
  let width: number;
  let height: number;
  if (chunk === 'VP8X') {
    width = u24le(bytes, 24) + 1;
    height = u24le(bytes, 27) + 1;
  } else if (chunk === 'VP8 ') {
    if (bytes[23] !== 0x9d || bytes[24] !== 0x01 || bytes[25] !== 0x2a) throw new ImageError('invalid WebP: the VP8 frame has no start code');
    width = (bytes[26] | (bytes[27] << 8)) & 0x3fff;
    height = (bytes[28] | (bytes[29] << 8)) & 0x3fff;
  } else if (chunk === 'VP8L') {
    if (bytes[20] !== 0x2f) throw new ImageError('invalid WebP: the VP8L header has no signature');
    const bits = u32le(bytes, 21);
    width = (bits & 0x3fff) + 1;
    height = ((bits >>> 14) & 0x3fff) + 1;
  } else {
    throw new ImageError(`invalid WebP: the first chunk is ${JSON.stringify(chunk.replace(/[^\x20-\x7e]/g, '?'))}, expected VP8, VP8L or VP8X`);
  }
  if (width === 0 || height === 0) throw new ImageError(`invalid WebP: declared size ${width}×${height} has no pixels`);
  return { format: 'WebP', width, height };
}

/**
 * The format and declared size of a PNG, JPEG or WebP file, from its header only (no pixel data is
 * read). Throws ImageError for another kind of file or a header that is cut short or malformed.
 */
export function readImageInfo(bytes: Uint8Array): ImageInfo {
  const format = sniff(bytes);
  switch (format) {
    case 'PNG': {
      const { width, height } = readImageHeader(bytes);
      return { format, width, height };
    }
    case 'JPEG': {
      const { width, height } = readJpegInfo(bytes);
      return { format, width, height };
    }
    case 'WebP':
      return readWebpInfo(bytes);
    default:
      throw new ImageError(bytes.length === 0 ? 'not an image: the file is empty' : `not a PNG, JPEG or WebP image${format ? ` (${format})` : ''}`);
  }
}

function checkPixels(info: ImageInfo, maxPixels: number): void {
  if (info.width * info.height > maxPixels) {
    throw new ImageError(`declared size ${info.width}×${info.height} exceeds the ${maxPixels}-pixel limit (use --max-pixels)`);
  }
}

type Sharp = (typeof import('sharp'))['default'];
let sharpLoaded: Promise<Sharp> | undefined;

/** The sharp module, loaded on first use (PNG-only work never loads libvips). */
function loadSharp(): Promise<Sharp> {
  sharpLoaded ??= import('sharp').then(
    (m) => {
      const sharp = m.default;
      sharp.cache(false); // decoded images are used once: keep no copies in libvips' operation cache
      return sharp;
    },
    (e: unknown) => {
      sharpLoaded = undefined;
      throw new ImageError(`JPEG and WebP input needs the 'sharp' package, which did not load: ${(e as Error).message.split('\n')[0]}`);
    },
  );
  return sharpLoaded;
}

/** libvips' message, one line: its distinct reasons without the loader prefixes. */
function vipsReason(err: unknown): string {
  const lines = String((err as Error)?.message ?? err)
    .split('\n')
    .map((l) => l.replace(/^Input (buffer|file) (has corrupt header|contains unsupported image format):?\s*/i, '').replace(/^(VipsJpeg|VipsForeignLoad\w*|webp|jpeg|vips\w*):\s*/i, '').trim())
    .filter(Boolean);
  return [...new Set(lines)].join('; ') || 'the decoder gave no reason';
}

/**
 * Decodes a PNG, JPEG or WebP file to 8-bit RGB. The header's declared size is checked against
 * `maxPixels` before anything is decoded. PNG: as decodeImage. JPEG and WebP (libvips): EXIF
 * orientation applied, grey and CMYK converted to sRGB (embedded ICC profiles honoured), alpha
 * composited on `background`, only the first frame of an animation; any decoder warning (a file
 * cut short, damaged entropy-coded data) is an error.
 */
export async function decodeImageFile(bytes: Uint8Array, opts: DecodeOptions = {}): Promise<RgbImage> {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const info = readImageInfo(bytes);
  if (info.format === 'PNG') return decodeImage(bytes, opts);
  checkPixels(info, maxPixels);
  const sharp = await loadSharp();
  // A CMYK JPEG without an ICC profile: its own inks, converted as browsers, libjpeg and Pillow do.
  const jpeg = info.format === 'JPEG' ? readJpegInfo(bytes) : undefined;
  const naiveCmyk = jpeg?.components === 4 && !jpeg.iccProfile;
  const [r, g, b] = opts.background ?? [255, 255, 255];
  let out: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    const image = sharp(bytes, { failOn: 'warning', limitInputPixels: maxPixels, autoOrient: true, sequentialRead: true });
    const converted = naiveCmyk ? image.pipelineColourspace('cmyk').toColourspace('cmyk') : image.flatten({ background: { r, g, b } }).toColourspace('srgb');
    out = await converted.raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    let reason = vipsReason(err);
    // libvips may report a cut-short JPEG by its generic failOn message, depending on which of its
    // threads warns first: a JPEG without an end-of-image marker after its scan data is truncated.
    const cutShort = info.format === 'JPEG' && !jpegHasEnd(bytes);
    if (cutShort && !TRUNCATED.test(reason)) reason = 'premature end of JPEG image';
    const truncated = cutShort || (TRUNCATED.test(reason) && !/corrupt/i.test(reason));
    throw new ImageError(`${truncated ? 'truncated' : 'corrupt'} ${info.format}: ${reason}`);
  }
  const { width, height, channels } = out.info;
  const want = naiveCmyk ? 4 : 3;
  if (channels !== want || out.data.length !== width * height * want) {
    throw new ImageError(`corrupt ${info.format}: decoded ${width}×${height} with ${channels} channels, expected ${naiveCmyk ? 'CMYK' : 'RGB'}`);
  }
  if (naiveCmyk) return { width, height, rgb: cmykToRgb(out.data) };
  return { width, height, rgb: new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.byteLength) };
}

/** What decoders say of a file that ends too soon. */
const TRUNCATED = /premature end of (JPEG|the) (image|file|data)|truncated|unexpected end/i;

/**
 * Whether a JPEG has its end-of-image marker (FF D9) after the start of its first scan (FF DA):
 * inside entropy-coded data an FF byte is always followed by 00 or a restart marker, so an FF D9
 * there is the end of the image.
 */
function jpegHasEnd(bytes: Uint8Array): boolean {
  let sos = -1;
  for (let i = 2; i + 1 < bytes.length; i++) {
    if (bytes[i] !== 0xff) continue;
    if (sos < 0 && bytes[i + 1] === 0xda) sos = i;
    else if (sos >= 0 && bytes[i + 1] === 0xd9) return true;
  }
  return false;
}

/** CMYK (0 = no ink) to RGB without a colour profile: R = round((255 − C)(255 − K) / 255), and so on. */
export function cmykToRgb(cmyk: Uint8Array): Uint8Array {
  const n = cmyk.length / 4;
  const rgb = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    const k = 255 - cmyk[4 * p + 3];
    for (let c = 0; c < 3; c++) rgb[3 * p + c] = Math.round(((255 - cmyk[4 * p + c]) * k) / 255);
  }
  return rgb;
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


/** The bytes of an image file; a file that cannot be read is an ImageError saying why ("no such file", …). */
export async function readImageBytes(path: string | URL): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ImageError(`cannot read: ${err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'a folder, not a file' : err.message}`);
  }
}

/**
 * Reads an image for the tokenizer: a PNG, JPEG or WebP file by path (or file URL), or its bytes,
 * decoded as `tok1d tokenize` decodes it (decodeImageFile: EXIF orientation applied, grey and CMYK
 * converted, alpha composited on white, the header's size checked against `maxPixels` before
 * decoding) into 8-bit RGB pixels at the file's own size, which Tokenizer.encodePixels resizes and
 * crops. A bad file is an ImageError whose message starts with the path.
 */
export async function readImage(source: string | URL | Uint8Array | ArrayBuffer, opts: DecodeOptions = {}): Promise<PixelImage & { channels: 3 }> {
  const bytes = source instanceof Uint8Array ? source : source instanceof ArrayBuffer ? new Uint8Array(source) : undefined;
  if (!bytes && !(typeof source === 'string' || source instanceof URL)) {
    throw new TypeError(`readImage: expected a file path, a file URL or the file's bytes (Uint8Array or ArrayBuffer), got ${source === null ? 'null' : typeof source}`);
  }
  const name = bytes ? '' : source instanceof URL ? fileURLToPath(source) : (source as string);
  try {
    const img = await decodeImageFile(bytes ?? (await readImageBytes(source as string | URL)), opts);
    return { width: img.width, height: img.height, channels: 3, data: img.rgb };
  } catch (e) {
    if (e instanceof ImageError && name) throw new ImageError(`${name}: ${e.message}`);
    throw e;
  }
}

/**
 * Writes 8-bit pixels (a PixelImage as Tokenizer.decodePixels returns it, RGB or RGBA; or an
 * RgbImage) as an 8-bit RGB PNG file, atomically (alpha, if any, is composited on white).
 */
export async function writeImage(path: string, image: PixelImage | RgbImage): Promise<void> {
  await writeFileAtomic(path, encodePng('rgb' in image ? image : toRgb(image, 'writeImage')));
}
