/**
 * JPEG and WebP input (decodeImageFile, readImageInfo): pixels checked against the PNG the fixtures
 * were made from (test/fixtures/make-jpeg-webp.sh), against each other where the files hold the same
 * coefficients, and against the EXIF orientation transforms written out below from the EXIF spec.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cmykToRgb, decodeImage, decodeImageFile, ImageError, readImageInfo, type RgbImage } from '../src/io/image.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));
const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(FIXTURES + name));
const decode = (name: string, opts = {}): Promise<RgbImage> => decodeImageFile(fixture(name), opts);

/** The colours of quadrants.png: top-left, top-right, bottom-left, bottom-right (24×16, 12×8 blocks). */
const QUADRANTS = [
  [220, 30, 40],
  [30, 200, 60],
  [40, 50, 210],
  [240, 220, 30],
];

function px(img: RgbImage, x: number, y: number): number[] {
  const p = (y * img.width + x) * 3;
  return [img.rgb[p]!, img.rgb[p + 1]!, img.rgb[p + 2]!];
}

/** Largest |a − b| over the pixels of a 24×16 quadrants image at least 2 pixels inside a block (JPEG ringing stays at block edges). */
function interiorError(img: RgbImage, expected: (quadrant: number) => number[]): number {
  expect([img.width, img.height]).to.deep.equal([24, 16]);
  let worst = 0;
  for (let y = 0; y < 16; y++) {
    for (let x = 0; x < 24; x++) {
      if (x % 12 < 2 || x % 12 > 9 || y % 8 < 2 || y % 8 > 5) continue;
      const want = expected((y < 8 ? 0 : 2) + (x < 12 ? 0 : 1));
      const got = px(img, x, y);
      for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(got[c]! - want[c]!));
    }
  }
  return worst;
}

/**
 * The displayed image for EXIF orientation `o` of a stored image S (w×h), D(x, y) in terms of S:
 * 1 as stored; 2 mirrored left-right; 3 rotated 180°; 4 mirrored top-bottom; 5 transposed;
 * 6 rotated 90° clockwise; 7 transversed; 8 rotated 90° anticlockwise (5–8 are h×w).
 */
function orient(s: RgbImage, o: number): RgbImage {
  const { width: w, height: h } = s;
  const swap = o >= 5;
  const W = swap ? h : w;
  const H = swap ? w : h;
  const source: Record<number, (x: number, y: number) => [number, number]> = {
    1: (x, y) => [x, y],
    2: (x, y) => [w - 1 - x, y],
    3: (x, y) => [w - 1 - x, h - 1 - y],
    4: (x, y) => [x, h - 1 - y],
    5: (x, y) => [y, x],
    6: (x, y) => [y, h - 1 - x],
    7: (x, y) => [w - 1 - y, h - 1 - x],
    8: (x, y) => [w - 1 - y, x],
  };
  const rgb = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const [sx, sy] = source[o]!(x, y);
      rgb.set(s.rgb.subarray((sy * w + sx) * 3, (sy * w + sx) * 3 + 3), (y * W + x) * 3);
    }
  }
  return { width: W, height: H, rgb };
}

/** Asserts that `p` rejects with a one-line ImageError (no stack-trace text) matching `re`. */
async function expectRejected(p: Promise<unknown>, re: RegExp): Promise<void> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err, 'expected an ImageError').to.be.instanceOf(ImageError);
  expect((err as ImageError).message).to.match(re).and.not.match(/\n|\bat \S+ \(|node_modules/);
}

describe('image formats: headers', function () {
  it('readImageInfo: format and declared size of PNG, JPEG (baseline, progressive, grey, CMYK) and WebP (VP8, VP8L, VP8X)', function () {
    const cases: [string, string][] = [
      ['quadrants.png', 'PNG'],
      ['quadrants.jpg', 'JPEG'],
      ['quadrants-progressive.jpg', 'JPEG'],
      ['quadrants-grey.jpg', 'JPEG'],
      ['quadrants-cmyk.jpg', 'JPEG'],
      ['quadrants-orient-6.jpg', 'JPEG'], // stored size: orientation does not change the pixel count
      ['quadrants.webp', 'WebP'],
      ['quadrants-lossless.webp', 'WebP'],
      ['quadrants-orient-6.webp', 'WebP'],
    ];
    for (const [name, format] of cases) expect(readImageInfo(fixture(name)), name).to.deep.equal({ format, width: 24, height: 16 });
    expect(readImageInfo(fixture('chelsea.png'))).to.deep.equal({ format: 'PNG', width: 451, height: 300 });
  });

  it('WebP headers: the 14-bit VP8 and VP8L fields and the 24-bit VP8X fields, built by hand', function () {
    const riff = (chunk: string, body: number[]): Uint8Array => {
      const data = [...Buffer.from(chunk, 'latin1'), ...[body.length, 0, 0, 0], ...body];
      while (data.length < 30 - 12) data.push(0);
      const size = 4 + data.length;
      return Uint8Array.from([...Buffer.from('RIFF'), size & 255, size >> 8, 0, 0, ...Buffer.from('WEBP'), ...data]);
    };
    // VP8L: signature 0x2f, then (width − 1) in 14 bits and (height − 1) in the next 14, little-endian.
    const w = 16384, h = 3001;
    const bits = (w - 1) | ((h - 1) << 14);
    const vp8l = riff('VP8L', [0x2f, bits & 255, (bits >>> 8) & 255, (bits >>> 16) & 255, (bits >>> 24) & 255]);
    expect(readImageInfo(vp8l)).to.deep.equal({ format: 'WebP', width: 16384, height: 3001 });
    // VP8: frame tag (3 bytes), start code 9d 01 2a, 14-bit width and height (top 2 bits: scaling, ignored).
    const vp8 = riff('VP8 ', [0, 0, 0, 0x9d, 0x01, 0x2a, 0x34, 0x12 | 0xc0, 0x78, 0x06]);
    expect(readImageInfo(vp8)).to.deep.equal({ format: 'WebP', width: 0x1234, height: 0x0678 });
    // VP8X: flags + 3 reserved bytes, then (width − 1) and (height − 1) in 24 bits each.
    const vp8x = riff('VP8X', [0, 0, 0, 0, 0xff, 0xff, 0x00, 0x0f, 0x27, 0x00]);
    expect(readImageInfo(vp8x)).to.deep.equal({ format: 'WebP', width: 0x10000, height: 10000 });
  });

  it('files that are none of the three, or cut inside their headers, are one-line errors', async function () {
    const gif = Uint8Array.from(Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1'));
    await expectRejected(decodeImageFile(gif), /^not a PNG, JPEG or WebP image \(it looks like a GIF image\)$/);
    await expectRejected(decodeImageFile(fixture('not-an-image.png')), /^not a PNG, JPEG or WebP image$/);
    await expectRejected(decodeImageFile(fixture('empty.png')), /^not an image: the file is empty$/);
    const jpg = fixture('quadrants.jpg');
    await expectRejected(decodeImageFile(jpg.subarray(0, 30)), /^truncated JPEG: the file ends after 30 bytes/);
    const webp = fixture('quadrants.webp');
    await expectRejected(decodeImageFile(webp.subarray(0, 40)), /^truncated WebP: the file is 40 bytes, its RIFF header declares 110$/);
  });

  it('the pixel limit is checked against the header before decoding, for JPEG and WebP', async function () {
    // quadrants.jpg with its frame header rewritten to 30000×20000 (the data stays 24×16).
    const jpg = Uint8Array.from(fixture('quadrants.jpg'));
    let sof = 2;
    while (!(jpg[sof] === 0xff && jpg[sof + 1]! >= 0xc0 && jpg[sof + 1]! <= 0xc2)) sof += 2 + ((jpg[sof + 2]! << 8) | jpg[sof + 3]!);
    jpg.set([20000 >> 8, 20000 & 255, 30000 >> 8, 30000 & 255], sof + 5);
    expect(readImageInfo(jpg)).to.deep.equal({ format: 'JPEG', width: 30000, height: 20000 });
    await expectRejected(decodeImageFile(jpg), /^declared size 30000×20000 exceeds the 67108864-pixel limit \(use --max-pixels\)$/);
    // Under a limit it fits, the same file reaches the decoder, which finds the data too short: the size came first.
    await expectRejected(decodeImageFile(jpg, { maxPixels: 1e9 }), /^(corrupt|truncated) JPEG: /);

    await expectRejected(decode('quadrants.jpg', { maxPixels: 24 * 16 - 1 }), /^declared size 24×16 exceeds the 383-pixel limit/);
    await expectRejected(decode('quadrants-lossless.webp', { maxPixels: 383 }), /^declared size 24×16 exceeds the 383-pixel limit/);
    await expectRejected(decode('quadrants.webp', { maxPixels: 383 }), /^declared size 24×16 exceeds the 383-pixel limit/);
    expect((await decode('quadrants.jpg', { maxPixels: 384 })).width).to.equal(24);
  });
});

describe('image formats: pixels', function () {
  it('PNG through decodeImageFile is decodeImage', async function () {
    for (const name of ['quadrants.png', 'horse.png', 'chessboard_RGB.png']) {
      expect(await decode(name), name).to.deep.equal(decodeImage(fixture(name)));
    }
  });

  it('lossless WebP decodes to the PNG it was made from, exactly', async function () {
    const png = decodeImage(fixture('quadrants.png'));
    expect(Array.from(png.rgb.subarray(0, 3))).to.deep.equal(QUADRANTS[0]);
    expect(await decode('quadrants-lossless.webp')).to.deep.equal(png);
  });

  it('baseline JPEG and lossy WebP: block interiors within a few levels of the source colours', async function () {
    expect(interiorError(await decode('quadrants.jpg'), (q) => QUADRANTS[q]!)).to.be.at.most(3);
    expect(interiorError(await decode('quadrants.webp'), (q) => QUADRANTS[q]!)).to.be.at.most(4);
  });

  it('progressive JPEG (the same coefficients, rewritten by jpegtran) decodes to the same pixels as the baseline one', async function () {
    const baseline = await decode('quadrants.jpg');
    const progressive = await decode('quadrants-progressive.jpg');
    expect(Buffer.compare(fixture('quadrants.jpg'), fixture('quadrants-progressive.jpg'))).to.not.equal(0);
    expect(progressive).to.deep.equal(baseline);
  });

  it('greyscale JPEG: R = G = B = the luma of the source colour (BT.601)', async function () {
    const grey = await decode('quadrants-grey.jpg');
    for (let i = 0; i < grey.rgb.length; i += 3) expect(grey.rgb[i]).to.equal(grey.rgb[i + 1]).and.to.equal(grey.rgb[i + 2]);
    const luma = (c: number[]) => Math.round(0.299 * c[0]! + 0.587 * c[1]! + 0.114 * c[2]!);
    expect(interiorError(grey, (q) => Array(3).fill(luma(QUADRANTS[q]!)))).to.be.at.most(3);
  });

  it('CMYK JPEG without a profile (Adobe, as ImageMagick writes it) converts back to the source colours', async function () {
    expect(interiorError(await decode('quadrants-cmyk.jpg'), (q) => QUADRANTS[q]!)).to.be.at.most(3);
    // The conversion itself: R = (255 − C)(255 − K)/255 per channel.
    expect(Array.from(cmykToRgb(Uint8Array.of(0, 220, 210, 35, 255, 0, 0, 0, 0, 0, 0, 255)))).to.deep.equal([220, 30, 39, 0, 255, 255, 0, 0, 0]);
  });

  it('EXIF orientations 2–8 (the same JPEG data, one tag changed) are applied as the EXIF spec defines them', async function () {
    const stored = await decode('quadrants.jpg');
    for (let o = 2; o <= 8; o++) {
      const got = await decode(`quadrants-orient-${o}.jpg`);
      expect(got, `orientation ${o}`).to.deep.equal(orient(stored, o));
    }
    // Spot check of the reading of the spec itself: orientation 6 turns the top-left red block to the top right.
    const six = orient(stored, 6);
    expect([six.width, six.height]).to.deep.equal([16, 24]);
    expect(px(six, 13, 3)).to.deep.equal(px(stored, 3, 2));
  });

  it('EXIF orientation in a WebP (VP8X with an EXIF chunk)', async function () {
    expect(await decode('quadrants-orient-6.webp')).to.deep.equal(orient(decodeImage(fixture('quadrants.png')), 6));
  });

  it('WebP alpha is composited on the background as PNG alpha is', async function () {
    const png = fixture('gray_alpha_4x2.png');
    for (const background of [[255, 255, 255], [0, 0, 0], [10, 20, 30]] as [number, number, number][]) {
      const want = decodeImage(png, { background });
      const got = await decodeImageFile(fixture('gray_alpha_4x2.webp'), { background });
      expect([got.width, got.height]).to.deep.equal([4, 2]);
      for (let i = 0; i < want.rgb.length; i++) expect(got.rgb[i], `${background} byte ${i}`).to.be.closeTo(want.rgb[i]!, 1);
    }
  });
});

describe('image formats: damaged files', function () {
  it('a JPEG cut inside its compressed data is a one-line "truncated JPEG" error', async function () {
    await expectRejected(decode('chelsea-truncated.jpg'), /^truncated JPEG: premature end of JPEG image$/);
  });

  it('a JPEG whose compressed data is overwritten is a one-line "corrupt JPEG" error', async function () {
    await expectRejected(decode('quadrants-corrupt.jpg'), /^corrupt JPEG: Corrupt JPEG data/);
  });

  it('a WebP cut short is a one-line "truncated WebP" error', async function () {
    await expectRejected(decode('chelsea-truncated.webp'), /^truncated WebP: the file is 10184 bytes, its RIFF header declares 16974$/);
    // A WebP whose RIFF size was cut to match reaches the decoder, which refuses it.
    const cut = Uint8Array.from(fixture('chelsea-truncated.webp'));
    cut.set([(cut.length - 8) & 255, ((cut.length - 8) >> 8) & 255, 0, 0], 4);
    await expectRejected(decodeImageFile(cut), /^(corrupt|truncated) WebP: /);
  });
});
