import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cropFromLevels, cropToModelInput, decodeImage, fromModelOutput, halveImage, imageLevels, psnr, type RgbImage } from '../src/io/image.js';
import { Dataset } from '../src/train/data.js';
import { freshRng } from './helpers.js';

const IMAGES = fileURLToPath(new URL('../../examples/images/', import.meta.url));
const photo = (name: string): RgbImage => decodeImage(new Uint8Array(readFileSync(IMAGES + name)));

function randomImage(width: number, height: number, r: () => number): RgbImage {
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = Math.floor(r() * 256);
  return { width, height, rgb };
}

/** halveImage in float64: the mean of the 2×2 block's pixels that exist, rounded half up. */
function halveReference(img: RgbImage): number[] {
  const out: number[] = [];
  for (let y = 0; y < Math.ceil(img.height / 2); y++)
    for (let x = 0; x < Math.ceil(img.width / 2); x++)
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        let n = 0;
        for (let yy = 2 * y; yy < Math.min(img.height, 2 * y + 2); yy++)
          for (let xx = 2 * x; xx < Math.min(img.width, 2 * x + 2); xx++) {
            sum += img.rgb[(yy * img.width + xx) * 3 + c]!;
            n++;
          }
        out.push(Math.floor(sum / n + 0.5));
      }
  return out;
}

describe('training crops from halvings of the image', () => {
  it('halveImage: each pixel the rounded mean of its block, odd edges included', () => {
    const r = freshRng();
    for (const [w, h] of [[8, 6], [7, 5], [1, 1], [1, 4], [5, 1], [33, 17]] as const) {
      const img = randomImage(w, h, r);
      const half = halveImage(img);
      expect([half.width, half.height], `${w}×${h}`).to.deep.equal([Math.ceil(w / 2), Math.ceil(h / 2)]);
      expect(Array.from(half.rgb), `${w}×${h}`).to.deep.equal(halveReference(img));
    }
    // Rounding: a block of 0, 0, 1, 1 is 0.5 → 1; of 0, 0, 0, 1 is 0.25 → 0.
    const two = (a: number, b: number, c: number, d: number) => halveImage({ width: 2, height: 2, rgb: Uint8Array.from([a, a, a, b, b, b, c, c, c, d, d, d]) }).rgb[0];
    expect(two(0, 0, 1, 1)).to.equal(1);
    expect(two(0, 0, 0, 1)).to.equal(0);
    expect(two(255, 255, 255, 255)).to.equal(255);
  });

  it('imageLevels: halvings while the shorter side stays at least the model size', () => {
    const r = freshRng();
    const levels = imageLevels(randomImage(741, 500, r), 64);
    expect(levels.map((l) => [l.width, l.height])).to.deep.equal([[741, 500], [371, 250], [186, 125]]);
    expect(imageLevels(randomImage(100, 40, r), 64)).to.have.length(1); // smaller than the model: the image only
    const deep = imageLevels(randomImage(1030, 2048, r), 64);
    expect(deep.map((l) => Math.min(l.width, l.height))).to.deep.equal([1030, 515, 258, 129, 65]);
  });

  it('cropFromLevels: the full-image crop below twice the model size, a close one above, every scale', () => {
    const r = freshRng();
    const S = 64;
    for (const name of ['motorcycle_left.png', 'astronaut.png']) {
      const img = photo(name);
      const levels = imageLevels(img, S);
      const short = Math.min(img.width, img.height);
      const close: number[] = [];
      for (let i = 0; i < 40; i++) {
        // Sides from the model size to the whole shorter side, log-spaced (a third of them under twice
        // the model size), at random positions; the last ones at the far edges.
        const side = i === 39 ? short : S * Math.pow(short / S, i / 39);
        const x = i >= 38 ? img.width - side : r() * (img.width - side);
        const y = i >= 38 ? img.height - side : r() * (img.height - side);
        const flip = r() < 0.5;
        const got = cropFromLevels(levels, S, { x, y, side }, flip);
        const full = cropToModelInput(img, S, { x, y, side }, flip);
        expect(got.every(Number.isFinite), `${name} crop ${i}: finite`).to.equal(true);
        if (side < 2 * S) expect(Array.from(got), `${name} side ${side.toFixed(1)}: level 0 is the full image`).to.deep.equal(Array.from(full));
        else close.push(psnr(fromModelOutput(got, S).rgb, fromModelOutput(full, S).rgb));
      }
      close.sort((a, b) => a - b);
      expect(close.length, name).to.be.greaterThan(20);
      // The 2^l box then the triangle filter against the triangle alone: a wrong level, offset or
      // mirror gives 10–25 dB here.
      expect(close[0], `${name}: lowest PSNR against the full-image crop`).to.be.greaterThan(30);
      expect(close[close.length >> 1], `${name}: median PSNR against the full-image crop`).to.be.greaterThan(38);
    }
  });

  it('cropFromLevels: a flat image stays flat at every level; no levels is an error', () => {
    const img: RgbImage = { width: 517, height: 300, rgb: new Uint8Array(517 * 300 * 3).fill(200) };
    const levels = imageLevels(img, 16);
    expect(levels.map((l) => l.height)).to.deep.equal([300, 150, 75, 38, 19]);
    for (const side of [16, 40, 100, 299.5, 300]) {
      const got = cropFromLevels(levels, 16, { x: 517 - side, y: 300 - side, side });
      expect(Array.from(new Set(got)), `side ${side}`).to.deep.equal([Math.fround(200 / 127.5 - 1)]);
    }
    expect(() => cropFromLevels([], 16, { x: 0, y: 0, side: 1 })).to.throw(/no image levels/);
  });

  it('Dataset: a sample is its drawn region from the halvings, whatever the cache budget', async () => {
    const files = ['motorcycle_left.png', 'astronaut.png', 'val/coffee.png'].map((f) => IMAGES + f);
    const open = (cacheMb: number, seed = 3) => Dataset.open(files, { size: 32, seed, cacheMb, minScale: 0.15, flip: true });
    const cached = await open(1024);
    const uncached = await open(0);
    const images = await Promise.all(files.map((f) => decodeImage(new Uint8Array(readFileSync(f)))));
    const sides: number[] = [];
    for (let n = 0; n < 12; n++) {
      const a = await cached.sample(n);
      expect(Array.from(await uncached.sample(n)), `sample ${n}: cached and decoded again`).to.deep.equal(Array.from(a));
      const { region, flip } = await cached.draw(n);
      sides.push(region.side);
      const img = images[cached.fileFor(n)]!;
      expect(Array.from(a), `sample ${n}`).to.deep.equal(Array.from(cropFromLevels(imageLevels(img, 32), 32, region, flip)));
    }
    expect(Math.max(...sides) / Math.min(...sides), 'crop sides vary').to.be.greaterThan(2);
    const other = await open(1024, 4);
    expect(Array.from(await other.sample(0)), 'another seed, another crop').to.not.deep.equal(Array.from(await cached.sample(0)));
  });
});
