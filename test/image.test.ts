import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { crc32, deflateSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import {
  DEFAULT_MAX_PIXELS,
  ImageError,
  decodeImage,
  encodePng,
  fromModelOutput,
  psnr,
  readImageHeader,
  sideBySide,
  toModelInput,
  type RgbImage,
} from '../src/io/image.js';
import { freshRng } from './helpers.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));
const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(FIXTURES + name));
const WHITE: [number, number, number] = [255, 255, 255];
const BLACK: [number, number, number] = [0, 0, 0];

/** Pixel (x, y) of an RGB image as [r, g, b]. */
function px(img: RgbImage, x: number, y: number): number[] {
  const p = (y * img.width + x) * 3;
  return [img.rgb[p], img.rgb[p + 1], img.rgb[p + 2]];
}

/** The reference compositing formula of decodeImage, in 8-bit values with alpha in 0..255. */
function over(c: number, alpha: number, bg: number): number {
  const a = alpha / 255;
  return Math.round(a * c + (1 - a) * bg);
}

/** Asserts that `fn` throws an ImageError whose message matches `re` and carries no stack-trace text. */
function expectImageError(fn: () => unknown, re: RegExp): ImageError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected an ImageError').to.be.instanceOf(ImageError);
  const err = caught as ImageError;
  expect(err.message).to.match(re);
  expect(err.message).to.not.match(/\n|\bat \S+ \(|node_modules/);
  return err;
}

function randomImage(width: number, height: number): RgbImage {
  const rng = freshRng();
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = Math.floor(rng() * 256);
  return { width, height, rgb };
}

/** A PNG file from chunks [type, data], each given its length and CRC. */
function pngFile(chunks: [string, Uint8Array][]): Uint8Array {
  const parts: Buffer[] = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])];
  for (const [type, data] of chunks) {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    parts.push(len, body, crc);
  }
  return new Uint8Array(Buffer.concat(parts));
}

function ihdr(width: number, height: number, bitDepth = 8, colorType = 2): Uint8Array {
  const b = Buffer.alloc(13); // compression, filter, interlace = 0
  b.writeUInt32BE(width, 0);
  b.writeUInt32BE(height, 4);
  b[8] = bitDepth;
  b[9] = colorType;
  return b;
}

/** A PNG of signature + IHDR and nothing else (33 bytes), declaring the given size. */
const headerOnlyPng = (width: number, height: number, bitDepth = 8, colorType = 2): Uint8Array =>
  pngFile([['IHDR', ihdr(width, height, bitDepth, colorType)]]);

/** Byte offsets of the chunks of a PNG file, as [type, offset, total length]. */
function chunksOf(bytes: Uint8Array): [string, number, number][] {
  const b = Buffer.from(bytes);
  const out: [string, number, number][] = [];
  for (let at = 8; at < b.length; at += 12 + b.readUInt32BE(at)) out.push([b.toString('latin1', at + 4, at + 8), at, 12 + b.readUInt32BE(at)]);
  return out;
}

describe('image: decode fixtures', function () {
  const sizes: Record<string, [number, number, number, number]> = {
    // name: [width, height, bitDepth, colorType]
    'block.png': [10, 10, 8, 2],
    'checker_bilevel.png': [10, 10, 1, 0],
    'chessboard_GRAY.png': [200, 200, 8, 0],
    'chessboard_RGB.png': [200, 200, 16, 2],
    'foo3x5x4indexed.png': [5, 3, 8, 3],
    'green_palette.png': [320, 240, 8, 3],
    'horse.png': [400, 328, 8, 6],
    'palette_color.png': [10, 10, 8, 3],
    'chelsea.png': [451, 300, 8, 2],
    'gray_alpha_4x2.png': [4, 2, 8, 4],
    'gray_alpha16_2x1.png': [2, 1, 16, 4],
    'gray2_trns_5x1.png': [5, 1, 2, 0],
    'rgb_1x1.png': [1, 1, 8, 2],
    'rgb_adam7_7x5.png': [7, 5, 8, 2],
  };
  for (const [name, [w, h, depth, type]] of Object.entries(sizes)) {
    it(`${name}: header and decoded size ${w}×${h}`, function () {
      const bytes = fixture(name);
      expect(readImageHeader(bytes.subarray(0, 33))).to.deep.equal({ width: w, height: h, bitDepth: depth, colorType: type });
      const img = decodeImage(bytes);
      expect([img.width, img.height, img.rgb.length]).to.deep.equal([w, h, w * h * 3]);
    });
  }

  it('8-bit RGB (block.png): known pixels', function () {
    const img = decodeImage(fixture('block.png'));
    expect(px(img, 0, 0)).to.deep.equal([0, 0, 0]);
    expect(px(img, 1, 1)).to.deep.equal([0x90, 0x21, 0x21]);
    expect(px(img, 5, 1)).to.deep.equal([255, 255, 255]);
  });

  it('1-bit grey (checker_bilevel.png): bits scale to 0 / 255', function () {
    const img = decodeImage(fixture('checker_bilevel.png'));
    for (let x = 0; x < 10; x++) {
      expect(px(img, x, 0)).to.deep.equal([255, 255, 255]);
      expect(px(img, x, 1)).to.deep.equal([0, 0, 0]);
    }
    expect(new Set(img.rgb)).to.deep.equal(new Set([0, 255]));
  });

  it('16-bit RGB → 8 bits as round(v·255/65535): equals the 8-bit grey version of the same board', function () {
    const rgb16 = decodeImage(fixture('chessboard_RGB.png'));
    const grey = decodeImage(fixture('chessboard_GRAY.png'));
    expect(px(rgb16, 24, 0)).to.deep.equal([205, 205, 205]); // 52690
    expect(px(rgb16, 25, 0)).to.deep.equal([50, 50, 50]); // 12845
    expect(px(rgb16, 23, 24)).to.deep.equal([211, 211, 211]); // 54124 → 210.6
    expect(px(rgb16, 24, 24)).to.deep.equal([175, 175, 175]); // 44880 → 174.6
    expect(Buffer.from(rgb16.rgb).equals(Buffer.from(grey.rgb))).to.equal(true);
    expect(px(grey, 0, 0)).to.deep.equal([255, 255, 255]);
    expect(px(grey, 30, 0)).to.deep.equal([0, 0, 0]);
  });

  it('palette (palette_color.png): indices map to their PLTE colours', function () {
    const img = decodeImage(fixture('palette_color.png'));
    expect(px(img, 0, 0)).to.deep.equal([51, 0, 255]); // index 0xbf
    expect(px(img, 1, 0)).to.deep.equal([102, 204, 102]); // index 0x6c
    expect(px(img, 7, 0)).to.deep.equal([0, 102, 153]);
    const green = decodeImage(fixture('green_palette.png'));
    expect(px(green, 0, 0)).to.deep.equal([0, 0, 0]);
    expect(new Set(green.rgb).size).to.be.greaterThan(2);
  });

  it('palette + tRNS (foo3x5x4indexed.png): opaque entries exact, transparent ones take the background', function () {
    const bytes = fixture('foo3x5x4indexed.png');
    const white = decodeImage(bytes);
    const black = decodeImage(bytes, { background: BLACK });
    for (let x = 0; x < 5; x++) {
      for (const img of [white, black]) {
        expect(px(img, x, 0)).to.deep.equal([127, 0, 255]); // index 2, alpha 255
        expect(px(img, x, 2)).to.deep.equal([0, 31, 255]); // index 1, alpha 255
      }
      expect(px(white, x, 1)).to.deep.equal([255, 255, 255]); // indices 3 and 0, alpha 0
      expect(px(black, x, 1)).to.deep.equal([0, 0, 0]);
    }
    expect(px(decodeImage(bytes, { background: [10, 20, 30] }), 0, 1)).to.deep.equal([10, 20, 30]);
  });

  it('grey + alpha (8-bit): composited on white and on black give the formula and differ', function () {
    const bytes = fixture('gray_alpha_4x2.png');
    const white = decodeImage(bytes, { background: WHITE });
    const black = decodeImage(bytes, { background: BLACK });
    expect(decodeImage(bytes).rgb).to.deep.equal(white.rgb); // white is the default
    const file: [number, number][][] = [
      [[200, 255], [200, 128], [200, 0], [0, 64]],
      [[100, 255], [100, 128], [255, 0], [255, 191]],
    ];
    for (let y = 0; y < 2; y++) {
      for (let x = 0; x < 4; x++) {
        const [g, a] = file[y][x];
        expect(px(white, x, y)).to.deep.equal(Array(3).fill(over(g, a, 255)), `white (${x},${y})`);
        expect(px(black, x, y)).to.deep.equal(Array(3).fill(over(g, a, 0)), `black (${x},${y})`);
      }
    }
    expect(px(white, 1, 0)).to.deep.equal([227, 227, 227]);
    expect(px(black, 1, 0)).to.deep.equal([100, 100, 100]);
  });

  it('grey + alpha (16-bit): same values as the 8-bit equivalents', function () {
    const bytes = fixture('gray_alpha16_2x1.png'); // (0xC8C8, 0xFFFF), (0x6464, 0x8080) = 8-bit (200, 255), (100, 128)
    expect(px(decodeImage(bytes), 0, 0)).to.deep.equal([200, 200, 200]);
    expect(px(decodeImage(bytes), 1, 0)).to.deep.equal(Array(3).fill(over(100, 128, 255)));
    expect(px(decodeImage(bytes, { background: BLACK }), 1, 0)).to.deep.equal(Array(3).fill(over(100, 128, 0)));
  });

  it('RGBA (horse.png): semi-transparent pixel composited on white vs black', function () {
    const bytes = fixture('horse.png');
    const white = decodeImage(bytes);
    const black = decodeImage(bytes, { background: BLACK });
    expect(px(white, 0, 0)).to.deep.equal([255, 255, 255]); // (255, 255, 255, 110)
    expect(px(black, 0, 0)).to.deep.equal([110, 110, 110]);
    let differ = 0;
    for (let i = 0; i < white.rgb.length; i++) if (white.rgb[i] !== black.rgb[i]) differ++;
    expect(differ).to.be.greaterThan(0);
  });

  it('2-bit grey + tRNS: values scale by 255/3 and the transparent value takes the background', function () {
    const bytes = fixture('gray2_trns_5x1.png'); // samples 0, 1, 2, 3, 1; tRNS grey = 1
    const row = (img: RgbImage) => Array.from({ length: 5 }, (_, x) => px(img, x, 0)[0]);
    expect(row(decodeImage(bytes))).to.deep.equal([0, 255, 170, 255, 255]);
    expect(row(decodeImage(bytes, { background: [40, 40, 40] }))).to.deep.equal([0, 40, 170, 255, 40]);
  });

  it('Adam7-interlaced RGB: every pixel in place', function () {
    const img = decodeImage(fixture('rgb_adam7_7x5.png'));
    for (let y = 0; y < 5; y++) for (let x = 0; x < 7; x++) expect(px(img, x, y)).to.deep.equal([30 * x, 40 * y, 7 * x + 11 * y]);
  });

  it('photo (chelsea.png): plausible statistics', function () {
    const img = decodeImage(fixture('chelsea.png'));
    let sum = 0;
    let sq = 0;
    for (const v of img.rgb) {
      sum += v;
      sq += v * v;
    }
    const mean = sum / img.rgb.length;
    const std = Math.sqrt(sq / img.rgb.length - mean * mean);
    expect(mean).to.be.within(40, 215);
    expect(std).to.be.greaterThan(15);
  });

  it('1×1 and 3×5 images upscale to the model size', function () {
    const one = decodeImage(fixture('rgb_1x1.png'));
    expect(px(one, 0, 0)).to.deep.equal([10, 20, 30]);
    const x = toModelInput(one, 8);
    expect(x.length).to.equal(8 * 8 * 3);
    for (let i = 0; i < x.length; i += 3) {
      expect(x[i]).to.be.closeTo(10 / 127.5 - 1, 1e-6);
      expect(x[i + 1]).to.be.closeTo(20 / 127.5 - 1, 1e-6);
      expect(x[i + 2]).to.be.closeTo(30 / 127.5 - 1, 1e-6);
    }
    const small = decodeImage(fixture('foo3x5x4indexed.png')); // 5×3: shorter side 3 → 16
    const y = toModelInput(small, 16);
    expect(y.length).to.equal(16 * 16 * 3);
    for (const v of y) expect(v).to.be.within(-1, 1);
    expect(new Set(y).size).to.be.greaterThan(3);
  });
});

describe('image: refused inputs', function () {
  it('empty file', function () {
    expectImageError(() => decodeImage(fixture('empty.png')), /^not a PNG file: the file is empty$/);
  });

  it('text file named .png', function () {
    expectImageError(() => decodeImage(fixture('not-an-image.png')), /^not a PNG file$/);
  });

  it('JPEG (truncated.jpg) is named as such', function () {
    expectImageError(() => decodeImage(fixture('truncated.jpg')), /^not a PNG file \(it looks like a JPEG image; decodeImageFile reads it\)$/);
  });

  it('truncated PNG (cut inside IDAT, no IEND)', function () {
    expectImageError(() => decodeImage(fixture('truncated.png')), /^truncated PNG: chunk IDAT at byte \d+ declares 8192 bytes of data but the file ends after 20000 bytes$/);
  });

  it('truncated PNG inside the signature / IHDR, and after the last chunk', function () {
    const block = fixture('block.png');
    expectImageError(() => decodeImage(block.subarray(0, 5)), /^truncated PNG: .*shorter than the PNG signature/);
    expectImageError(() => decodeImage(block.subarray(0, 20)), /^truncated PNG: .*inside the IHDR header/);
    expectImageError(() => readImageHeader(block.subarray(0, 32)), /^truncated PNG/);
    expectImageError(() => decodeImage(block.subarray(0, block.length - 12)), /^truncated PNG: .*before the IEND chunk/);
  });

  it('header declaring 100000×100000 is refused before any pixel memory', function () {
    const huge = headerOnlyPng(100000, 100000); // 33 bytes: no IDAT, no IEND
    expect(huge.length).to.equal(33);
    expect(readImageHeader(huge)).to.deep.equal({ width: 100000, height: 100000, bitDepth: 8, colorType: 2 });
    expectImageError(
      () => decodeImage(huge),
      /^declared size 100000×100000 exceeds the 67108864-pixel limit \(use --max-pixels\)$/,
    );
    expect(DEFAULT_MAX_PIXELS).to.equal(67108864);
    // The same header under a limit it fits in reaches the chunk walk, which proves the order of checks.
    expectImageError(() => decodeImage(huge, { maxPixels: 1e10 }), /^truncated PNG/);
  });

  it('maxPixels applies to real files', function () {
    const bytes = fixture('chelsea.png');
    expectImageError(() => decodeImage(bytes, { maxPixels: 451 * 300 - 1 }), /^declared size 451×300 exceeds the 135299-pixel limit/);
    expect(decodeImage(bytes, { maxPixels: 451 * 300 }).width).to.equal(451);
  });

  it('zero width or height, invalid depth / colour type, wrong first chunk', function () {
    expectImageError(() => decodeImage(headerOnlyPng(0, 5)), /^invalid PNG: declared size 0×5 has no pixels$/);
    expectImageError(() => decodeImage(headerOnlyPng(7, 0)), /^invalid PNG: declared size 7×0 has no pixels$/);
    expectImageError(() => readImageHeader(headerOnlyPng(4, 4, 4, 2)), /^invalid PNG: bit depth 4 is not allowed for colour type 2$/);
    expectImageError(() => readImageHeader(headerOnlyPng(4, 4, 8, 5)), /^invalid PNG: colour type 5 does not exist$/);
    const bad = headerOnlyPng(4, 4);
    bad.set([0x49, 0x44, 0x41, 0x54], 12); // "IDAT" first
    expectImageError(() => readImageHeader(bad), /^invalid PNG: the first chunk is "IDAT"/);
  });

  it('damaged chunk (CRC mismatch)', function () {
    const block = fixture('block.png');
    const [, at] = chunksOf(block).find(([t]) => t === 'IDAT')!;
    const bad = block.slice();
    bad[at + 10] ^= 0xff;
    expectImageError(() => decodeImage(bad), new RegExp(`^corrupt PNG: chunk IDAT at byte ${at} fails its CRC check`));
  });

  it('missing image data with intact chunks: a dropped IDAT, a zlib stream of too few / too many rows', function () {
    const photo = fixture('chelsea.png');
    const idats = chunksOf(photo).filter(([t]) => t === 'IDAT');
    const [, at, len] = idats[idats.length - 1];
    const dropped = new Uint8Array(Buffer.concat([photo.subarray(0, at), photo.subarray(at + len)]));
    expectImageError(() => decodeImage(dropped), /^truncated PNG: the compressed image data ends early/);
    const rows = (n: number) => deflateSync(new Uint8Array(n * (1 + 4 * 3))); // n rows of 4 RGB pixels, filter 0
    const file = (h: number, n: number) => pngFile([['IHDR', ihdr(4, h)], ['IDAT', rows(n)], ['IEND', new Uint8Array(0)]]);
    expect(decodeImage(file(3, 3)).rgb).to.deep.equal(new Uint8Array(36)); // the well-formed one decodes
    expectImageError(() => decodeImage(file(3, 2)), /^truncated PNG: the image data holds 26 of the 39 bytes a 4×3 image needs/);
    expectImageError(() => decodeImage(file(3, 4)), /^corrupt PNG: the image data is longer than the 39 bytes/);
    const garbage = pngFile([['IHDR', ihdr(4, 3)], ['IDAT', new Uint8Array([1, 2, 3, 4, 5])], ['IEND', new Uint8Array(0)]]);
    expectImageError(() => decodeImage(garbage), /^corrupt PNG: the compressed image data is damaged/);
  });

  it('decoder errors are wrapped (palette index out of range, palette missing)', function () {
    const idat = deflateSync(new Uint8Array([0, 0, 5])); // one row: index 0, index 5
    const plte = new Uint8Array([255, 0, 0, 0, 255, 0]); // 2 entries
    const end: [string, Uint8Array] = ['IEND', new Uint8Array(0)];
    expectImageError(() => decodeImage(pngFile([['IHDR', ihdr(2, 1, 8, 3)], ['PLTE', plte], ['IDAT', idat], end])), /^corrupt PNG: .*5/);
    expectImageError(() => decodeImage(pngFile([['IHDR', ihdr(2, 1, 8, 3)], ['IDAT', idat], end])), /^corrupt PNG: /);
    const ok = deflateSync(new Uint8Array([0, 1, 0]));
    expect(px(decodeImage(pngFile([['IHDR', ihdr(2, 1, 8, 3)], ['PLTE', plte], ['IDAT', ok], end])), 0, 0)).to.deep.equal([0, 255, 0]);
  });
});

describe('image: model input / output', function () {
  it('resize of a constant image stays constant (down and up)', function () {
    const rgb = new Uint8Array(37 * 23 * 3);
    for (let i = 0; i < rgb.length; i += 3) rgb.set([90, 150, 210], i);
    for (const size of [8, 16, 23, 50]) {
      const x = toModelInput({ width: 37, height: 23, rgb }, size);
      expect(x.length).to.equal(size * size * 3);
      for (let i = 0; i < x.length; i += 3) {
        expect(x[i]).to.be.closeTo(90 / 127.5 - 1, 1e-6);
        expect(x[i + 1]).to.be.closeTo(150 / 127.5 - 1, 1e-6);
        expect(x[i + 2]).to.be.closeTo(210 / 127.5 - 1, 1e-6);
      }
    }
  });

  it('downscaling a 1-pixel checkerboard by 4 gives mid-grey (antialiased)', function () {
    const n = 64;
    const rgb = new Uint8Array(n * n * 3);
    for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) rgb.fill((x + y) % 2 ? 255 : 0, (y * n + x) * 3, (y * n + x + 1) * 3);
    const s = 16;
    const out = toModelInput({ width: n, height: n, rgb }, s);
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        const interior = x > 0 && y > 0 && x < s - 1 && y < s - 1;
        for (let c = 0; c < 3; c++) {
          // 0 in [-1, 1] is 127.5; only the image edges (renormalized, truncated filter) may stray slightly.
          expect(Math.abs(out[(y * s + x) * 3 + c])).to.be.below(interior ? 1e-6 : 0.01);
        }
      }
    }
  });

  it('upscaling is bilinear with edge clamping (2→4 pixels)', function () {
    const img = { width: 2, height: 2, rgb: new Uint8Array([0, 0, 0, 255, 255, 255, 0, 0, 0, 255, 255, 255]) };
    const x = toModelInput(img, 4);
    const expected = [0, 63.75, 191.25, 255];
    for (let y = 0; y < 4; y++) for (let i = 0; i < 4; i++) expect((x[(y * 4 + i) * 3] + 1) * 127.5).to.be.closeTo(expected[i], 1e-4);
  });

  it('centre crop takes the middle (wide and tall, no scaling)', function () {
    const wide = randomImage(40, 20);
    const a = toModelInput(wide, 20);
    const tall = randomImage(20, 41);
    const b = toModelInput(tall, 20);
    for (let y = 0; y < 20; y++) {
      for (let x = 0; x < 20; x++) {
        for (let c = 0; c < 3; c++) {
          expect(a[(y * 20 + x) * 3 + c]).to.be.closeTo(wide.rgb[(y * 40 + x + 10) * 3 + c] / 127.5 - 1, 1e-6);
          expect(b[(y * 20 + x) * 3 + c]).to.be.closeTo(tall.rgb[((y + 10) * 20 + x) * 3 + c] / 127.5 - 1, 1e-6);
        }
      }
    }
  });

  it('crop after downscale: a bright band in the middle of a wide image survives, the sides are cut', function () {
    const W = 300;
    const H = 100;
    const rgb = new Uint8Array(W * H * 3);
    // Scale 1/10 → 30×10, crop columns 10..19 = source 100..199; the filter (support 10) reads 95..204.
    for (let y = 0; y < H; y++) for (let x = 95; x < 205; x++) rgb.fill(255, (y * W + x) * 3, (y * W + x + 1) * 3);
    const out = toModelInput({ width: W, height: H, rgb }, 10);
    for (const v of out) expect(v).to.be.closeTo(1, 1e-6);
    // Narrow the band by 2 pixels on the left: the left output column now sees black, the others do not.
    for (let y = 0; y < H; y++) rgb.fill(0, (y * W + 95) * 3, (y * W + 97) * 3);
    const cut = toModelInput({ width: W, height: H, rgb }, 10);
    expect(cut[0]).to.be.below(1 - 1e-3);
    expect(cut[9 * 3]).to.be.closeTo(1, 1e-6);
  });

  it('resize: false takes exact-size images and refuses others with the CLI hint', function () {
    const img = randomImage(16, 16);
    const x = toModelInput(img, 16, { resize: false });
    for (let i = 0; i < x.length; i++) expect(x[i]).to.equal(Math.fround(img.rgb[i] / 127.5 - 1));
    expectImageError(
      () => toModelInput(randomImage(40, 20), 16, { resize: false }),
      /^image is 40×20; the model takes 16×16 \(drop --no-resize to resize and crop\)$/,
    );
  });

  it('fromModelOutput clamps and rounds; inverts toModelInput exactly', function () {
    const x = Float32Array.from([-2, -1, 0, 1, 2, 0.5, -0.999, 0.999, 1e9, -1e9, NaN, 0.0039]);
    const out = fromModelOutput(x, 2);
    expect([out.width, out.height]).to.deep.equal([2, 2]);
    expect(Array.from(out.rgb)).to.deep.equal([0, 0, 128, 255, 255, 191, 0, 255, 255, 0, 0, 128]);
    const img = randomImage(9, 9);
    expect(fromModelOutput(toModelInput(img, 9), 9).rgb).to.deep.equal(img.rgb);
    expectImageError(() => fromModelOutput(new Float32Array(10), 2), /expected 2×2×3 = 12/);
  });
});

describe('image: encode, compare, psnr', function () {
  it('encode → decode round trip is exact (8-bit RGB PNG)', function () {
    for (const [w, h] of [[1, 1], [33, 17], [64, 3]]) {
      const img = randomImage(w, h);
      const bytes = encodePng(img);
      expect(readImageHeader(bytes)).to.deep.equal({ width: w, height: h, bitDepth: 8, colorType: 2 });
      const back = decodeImage(bytes, { background: BLACK });
      expect([back.width, back.height]).to.deep.equal([w, h]);
      expect(back.rgb).to.deep.equal(img.rgb);
    }
    const photo = decodeImage(fixture('chelsea.png'));
    expect(decodeImage(encodePng(photo)).rgb).to.deep.equal(photo.rgb);
  });

  it('sideBySide: a | white gap | b, top-aligned, white below the shorter one', function () {
    const a = randomImage(3, 2);
    const b = randomImage(2, 4);
    const s = sideBySide(a, b, 4);
    expect([s.width, s.height, s.rgb.length]).to.deep.equal([9, 4, 9 * 4 * 3]);
    for (let y = 0; y < 4; y++) {
      for (let x = 0; x < 9; x++) {
        let want = [255, 255, 255];
        if (x < 3 && y < 2) want = px(a, x, y);
        if (x >= 7) want = px(b, x - 7, y);
        expect(px(s, x, y)).to.deep.equal(want, `(${x},${y})`);
      }
    }
    expect(sideBySide(a, a, 0).width).to.equal(6);
    expect(sideBySide(a, a).width).to.equal(10); // default gap 4
  });

  it('psnr: Infinity when identical, 10·log10(255²/MSE) otherwise', function () {
    const a = randomImage(8, 8).rgb;
    expect(psnr(a, a.slice())).to.equal(Infinity);
    const four = new Uint8Array([0, 10, 20, 30]);
    expect(psnr(four, new Uint8Array([255, 10, 20, 30]))).to.be.closeTo(10 * Math.log10(4), 1e-12); // MSE = 255²/4
    const b = a.slice();
    for (let i = 0; i < 16; i++) b[i] = b[i] > 127 ? b[i] - 3 : b[i] + 3; // 16 of 192 samples off by 3
    expect(psnr(a, b)).to.be.closeTo(10 * Math.log10((255 * 255) / ((16 * 9) / 192)), 1e-12);
    expectImageError(() => psnr(a, a.subarray(1)), /differ in length/);
  });
});
