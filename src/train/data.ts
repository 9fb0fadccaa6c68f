/**
 * Training data: a folder of images (PNG, JPEG, WebP), decoded once and kept in memory within a budget, sampled as
 * random square crops at several scales with horizontal flips, plus a fixed validation set.
 *
 * Each image is kept with its chain of halvings (imageLevels, a third more memory), so a crop is
 * resampled from the level where it spans under twice the model size: its cost does not grow with the
 * crop's side (a whole 1920×1080 photo reduced to 64×64 would otherwise read all 2 M pixels).
 *
 * Every random choice is a pure function of (seed, sample number, draw) through the counter-based
 * generator of init.ts, and sample number n = step·batch + i. The data order of a run is therefore
 * fully determined by its seed and step: resuming at step s replays exactly what an uninterrupted
 * run would have drawn, with no generator state to save.
 */
import { readFile } from 'node:fs/promises';
import { cropFromLevels, decodeImageFile, imageLevels, toModelInput, type CropRegion, type RgbImage } from '../io/image.js';
import { randomBits } from './init.js';

export interface DatasetOptions {
  /** Model input side. */
  size: number;
  seed: number;
  /** Decoded-pixel cache budget in MiB (images beyond it are decoded again when drawn). */
  cacheMb: number;
  /** Smallest crop side as a fraction of the image's shorter side (largest: 1). */
  minScale: number;
  flip: boolean;
  /** Refuse images whose header declares more pixels. */
  maxPixels?: number;
}

/** A file that could not be used, and why (the run goes on without it). */
export interface SkippedFile {
  file: string;
  reason: string;
}

const DRAW_ORDER = 0;
const DRAW_SCALE = 1;
const DRAW_X = 2;
const DRAW_Y = 3;
const DRAW_FLIP = 4;

/** Files decoded at once when a dataset is opened. */
const OPEN_CONCURRENCY = 4;

/** A uniform number in [0, 1) from 32 random bits. */
function unit(bits: number): number {
  return bits / 4294967296;
}

/** A permutation of 0..n-1 (Fisher–Yates driven by the counter generator). */
export function permutation(n: number, seed: number, key: number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(unit(randomBits(seed, key * 65536 + i, DRAW_ORDER)) * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

/**
 * Splits files into training and validation: `val` files when given, else a held-out 5% (at least
 * one when there are two or more files) chosen by the seed. The split never changes for a seed.
 */
export function splitFiles(files: readonly string[], seed: number): { train: string[]; val: string[] } {
  const sorted = [...files].sort();
  if (sorted.length < 2) return { train: sorted, val: [] };
  const nVal = Math.max(1, Math.round(sorted.length * 0.05));
  const order = permutation(sorted.length, seed, 0xffff);
  const held = new Set(Array.from(order.subarray(0, nVal), (i) => sorted[i]!));
  return { train: sorted.filter((f) => !held.has(f)), val: sorted.filter((f) => held.has(f)) };
}

export class Dataset {
  readonly files: string[];
  readonly skipped: SkippedFile[] = [];
  /** Decoded images with their halvings (levels[0] is the image), by file index. */
  private readonly cache = new Map<number, RgbImage[]>();
  private cachedBytes = 0;
  /** The permutation of the epoch last drawn from (one per epoch, not one per sample). */
  private order: { epoch: number; perm: Uint32Array } | null = null;

  private constructor(
    files: string[],
    private readonly o: DatasetOptions,
  ) {
    this.files = files;
  }

  /**
   * Opens the files, decoding each once to check it (and caching it within the budget). Files that
   * fail to decode are listed in `skipped` and left out; no usable file at all is an error. A few
   * files decode at a time (JPEG and WebP on worker threads).
   */
  static async open(files: readonly string[], o: DatasetOptions): Promise<Dataset> {
    const decoded: (RgbImage | Error)[] = new Array(files.length);
    let nextFile = 0;
    const worker = async () => {
      for (let i = nextFile++; i < files.length; i = nextFile++) {
        try {
          decoded[i] = await decodeImageFile(await readFile(files[i]!), { maxPixels: o.maxPixels });
        } catch (e) {
          decoded[i] = e as Error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, files.length) }, worker));
    const good = files.filter((_, i) => !(decoded[i] instanceof Error));
    const ds = new Dataset(good, o);
    files.forEach((f, i) => {
      const d = decoded[i]!;
      if (d instanceof Error) ds.skipped.push({ file: f, reason: d.message });
    });
    decoded.filter((d): d is RgbImage => !(d instanceof Error)).forEach((img, i) => ds.keep(i, img));
    return ds;
  }

  get length(): number {
    return this.files.length;
  }

  /** Keeps an image and its halvings within the budget (beyond it they are rebuilt on each use). */
  private keep(i: number, img: RgbImage): RgbImage[] {
    const levels = imageLevels(img, this.o.size);
    const bytes = levels.reduce((n, l) => n + l.rgb.byteLength, 0);
    if (this.cachedBytes + bytes <= this.o.cacheMb * 1048576) {
      this.cache.set(i, levels);
      this.cachedBytes += bytes;
    }
    return levels;
  }

  /** Image i and its halvings: from the cache, else decoded again. */
  private async levels(i: number): Promise<RgbImage[]> {
    const hit = this.cache.get(i);
    if (hit) return hit;
    return this.keep(i, await decodeImageFile(await readFile(this.files[i]!), { maxPixels: this.o.maxPixels }));
  }

  async image(i: number): Promise<RgbImage> {
    return (await this.levels(i))[0]!;
  }

  /** The image drawn for sample n: epochs of a seeded permutation of the files. */
  fileFor(n: number): number {
    const N = this.files.length;
    const epoch = Math.floor(n / N);
    if (this.order?.epoch !== epoch) this.order = { epoch, perm: permutation(N, this.o.seed, epoch + 1) };
    return this.order.perm[n % N]!;
  }

  /**
   * What sample n is: image fileFor(n) (with its halvings) and a square region whose side is
   * log-uniform in [minScale, 1] of the shorter image side (at least the model size when the image
   * allows), at a uniform position, mirrored with probability ½.
   */
  async draw(n: number): Promise<{ levels: RgbImage[]; region: CropRegion; flip: boolean }> {
    const levels = await this.levels(this.fileFor(n));
    const img = levels[0]!;
    const seed = this.o.seed;
    const short = Math.min(img.width, img.height);
    const lo = Math.min(short, Math.max(this.o.size, this.o.minScale * short));
    const side = lo * Math.pow(short / lo, unit(randomBits(seed, n, DRAW_SCALE)));
    const x = unit(randomBits(seed, n, DRAW_X)) * (img.width - side);
    const y = unit(randomBits(seed, n, DRAW_Y)) * (img.height - side);
    const flip = this.o.flip && randomBits(seed, n, DRAW_FLIP) >>> 31 === 1;
    return { levels, region: { x, y, side }, flip };
  }

  /** Sample n (draw) resampled to size×size from the image's halvings (cropFromLevels). */
  async sample(n: number): Promise<Float32Array> {
    const { levels, region, flip } = await this.draw(n);
    return cropFromLevels(levels, this.o.size, region, flip);
  }

  /** The batch for a training step: samples step·batch … step·batch + batch − 1, as one [B, S, S, 3] array. */
  async batch(step: number, batch: number): Promise<Float32Array> {
    const S = this.o.size;
    const out = new Float32Array(batch * S * S * 3);
    for (let i = 0; i < batch; i++) out.set(await this.sample(step * batch + i), i * S * S * 3);
    return out;
  }

  /** Validation inputs: each image resized and centre-cropped (as tokenize does), [N, S, S, 3]. */
  async centreCrops(): Promise<Float32Array> {
    const S = this.o.size;
    const out = new Float32Array(this.files.length * S * S * 3);
    for (let i = 0; i < this.files.length; i++) out.set(toModelInput(await this.image(i), S), i * S * S * 3);
    return out;
  }
}
