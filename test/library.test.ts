/**
 * The Node library as a program uses it: Tokenizer.load() of the bundled model and clear errors for
 * wrong arguments; readImage / writeImage; tok.encodeFiles; tokenizeFiles / tokenizeFileBatches
 * (order, failed files, shards, skip) and TokenWriter (.tok and JSONL, resume), each checked against
 * what the lower-level calls give for the same files (decodeImage / decodeImageFile, toModelInput,
 * Tokenizer.encode, readTokFile / readJsonl, parseCheckpoint).
 */
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Engine } from '../src/gpu/engine.js';
import { parseCheckpoint, CheckpointError } from '../src/model/checkpoint.js';
import { PRESETS, tokensPerImage } from '../src/model/config.js';
import { TITOK_PRESETS } from '../src/model/titok-config.js';
import { bundledCheckpoint, Tokenizer } from '../src/model/tokenizer.js';
import { decodeImage, decodeImageFile, ImageError, readImage, toModelInput, writeImage } from '../src/io/image.js';
import { tokenizeFileBatches, tokenizeFiles, TokenWriter, type FileTokens } from '../src/io/dataset.js';
import { readJsonl, readTokFile, TokenFileError } from '../src/io/tokens.js';
import { engineFor } from './helpers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURES = join(ROOT, 'test', 'fixtures');
const EXAMPLES = join(ROOT, 'examples', 'images');

/** Rejection of `p` (fails when it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('Node library: the bundled model, image files, datasets', function () {
  let engine: Engine;
  let tok: Tokenizer;
  let dir: string;
  /** Example photos plus JPEG / WebP fixtures, and a truncated JPEG third. */
  let files: string[];
  const bad = join(FIXTURES, 'chelsea-truncated.jpg');

  before(async function () {
    const e = await engineFor('opengl');
    if (typeof e === 'string') {
      console.log(`      skipped: ${e}`);
      this.skip();
    }
    engine = e;
    tok = await Tokenizer.load(bundledCheckpoint(), { engine });
    dir = mkdtempSync(join(tmpdir(), 'tok1d-library-'));
    const photos = readdirSync(EXAMPLES).filter((f) => f.endsWith('.png')).sort().map((f) => join(EXAMPLES, f));
    files = [photos[0]!, photos[1]!, bad, ...photos.slice(2), join(FIXTURES, 'quadrants-orient-6.jpg'), join(FIXTURES, 'quadrants.webp')];
  });

  after(() => {
    tok?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Token ids of one file the long way: decode, resize + crop, Tokenizer.encode one at a time. */
  async function reference(file: string): Promise<Uint32Array> {
    const img = await decodeImageFile(readFileSync(file));
    const [ids] = await tok.encode([toModelInput(img, tok.config.imageSize)], { batch: 1 });
    return ids!;
  }

  describe('Tokenizer.load', () => {
    it('with no argument and with "default": the bundled checkpoint, parameter for parameter', async () => {
      expect(bundledCheckpoint()).to.equal(join(ROOT, 'models', 'default.safetensors'));
      const want = parseCheckpoint(readFileSync(join(ROOT, 'models', 'default.safetensors')));
      const own = await Tokenizer.load(); // an engine of its own
      try {
        expect(own.config).to.deep.equal(want.config);
        const got = await own.parameters();
        expect([...got.keys()]).to.deep.equal([...want.params.keys()]);
        for (const [name, values] of want.params) expect(got.get(name), name).to.deep.equal(values);
      } finally {
        own.dispose();
      }
      const named = await Tokenizer.load('default', { engine });
      try {
        const img = toModelInput(decodeImage(readFileSync(files[0]!)), tok.config.imageSize);
        expect(await named.encode([img])).to.deep.equal(await tok.encode([img]));
      } finally {
        named.dispose();
      }
    });

    it('a wrong argument is a TypeError naming what was given and what is accepted', async () => {
      const accepted = /Tokenizer\.load takes .*checkpoint.*TiTok checkpoint folder.*bytes.*'default' for the bundled model/;
      const cases: [unknown, RegExp][] = [
        [undefined, /got undefined/],
        [42, /got the number 42/],
        ['', /got an empty path/],
        [null, /got null/],
        [{ path: 'x' }, /got an object \(Object\)/],
      ];
      for (const [arg, given] of cases) {
        const e = await rejection((Tokenizer.load as (x: unknown) => Promise<Tokenizer>)(arg));
        expect(e, String(arg)).to.be.instanceOf(TypeError);
        expect(e.message).to.match(given).and.match(accepted);
      }
      const e = await rejection((Tokenizer.load as (x: unknown, o: unknown) => Promise<Tokenizer>)('default', 'opengl'));
      expect(e).to.be.instanceOf(TypeError);
      expect(e.message).to.match(/options must be an object, got "opengl"/);
    });

    it('a path that is not a checkpoint is a CheckpointError naming it and what is accepted', async () => {
      const empty = join(dir, 'empty.safetensors');
      writeFileSync(empty, new Uint8Array(0));
      const folder = join(dir, 'not-a-model');
      mkdirSync(folder);
      const missing = join(dir, 'missing.safetensors');
      for (const [path, why] of [
        [empty, /not a checkpoint/],
        [folder, /no config\.json/],
        [missing, /no such file or folder/],
      ] as const) {
        const e = await rejection(Tokenizer.load(path, { engine }));
        expect(e, path).to.be.instanceOf(CheckpointError);
        expect(e.message).to.contain(path).and.match(why).and.match(/Tokenizer\.load takes/);
      }
      const bytes = await rejection(Tokenizer.load(new Uint8Array(3), { engine }));
      expect(bytes).to.be.instanceOf(CheckpointError);
      expect(bytes.message).to.match(/the 3 bytes given are not a checkpoint; Tokenizer\.load takes/);
    });
  });

  describe('readImage / writeImage / encodeFiles', () => {
    it('readImage: the decoded pixels of a path, a file URL, bytes or an ArrayBuffer', async () => {
      const png = files[0]!;
      const want = decodeImage(readFileSync(png)); // pngjs, synchronously
      for (const source of [png, pathToFileURL(png), new Uint8Array(readFileSync(png)), new Uint8Array(readFileSync(png)).buffer]) {
        const img = await readImage(source);
        expect(img.channels).to.equal(3);
        expect([img.width, img.height]).to.deep.equal([want.width, want.height]);
        expect(Buffer.from(img.data).equals(Buffer.from(want.rgb))).to.equal(true);
      }
      const jpeg = join(FIXTURES, 'quadrants-orient-6.jpg');
      const rotated = await decodeImageFile(readFileSync(jpeg));
      const img = await readImage(jpeg);
      expect([img.width, img.height]).to.deep.equal([rotated.width, rotated.height]);
      expect(Buffer.from(img.data).equals(Buffer.from(rotated.rgb))).to.equal(true);
    });

    it('readImage: a bad file is an ImageError starting with its path; a wrong argument a TypeError', async () => {
      const t = await rejection(readImage(bad));
      expect(t).to.be.instanceOf(ImageError);
      expect(t.message).to.match(new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: truncated JPEG`));
      const m = await rejection(readImage(join(dir, 'nope.png')));
      expect(m.message).to.match(/nope\.png: cannot read: no such file$/);
      const big = await rejection(readImage(files[0]!, { maxPixels: 100 }));
      expect(big.message).to.match(/exceeds the 100-pixel limit/);
      const n = await rejection((readImage as (x: unknown) => Promise<unknown>)(7));
      expect(n).to.be.instanceOf(TypeError);
      expect(n.message).to.match(/expected a file path, a file URL or the file's bytes/);
    });

    it('writeImage: a decoded image as a PNG that reads back to the same pixels (RGB and RGBA)', async () => {
      const ids = await tok.encodeFiles([files[0]!]);
      const [rgb] = await tok.decodePixels(ids);
      const [rgba] = await tok.decodePixels(ids, { channels: 4 });
      const a = join(dir, 'rgb.png');
      const b = join(dir, 'rgba.png');
      await writeImage(a, rgb!);
      await writeImage(b, rgba!);
      expect(Buffer.from(decodeImage(readFileSync(a)).rgb).equals(Buffer.from(rgb!.data))).to.equal(true);
      expect(Buffer.from(decodeImage(readFileSync(b)).rgb).equals(Buffer.from(rgb!.data))).to.equal(true);
    });

    it('tok.encodeFiles: the ids of encode() on the decoded, resized files; a bad file rejects naming it', async () => {
      const some = [files[0]!, files[1]!, files.at(-2)!, files.at(-1)!];
      const ids = await tok.encodeFiles(some, { batch: 1 });
      expect(ids).to.have.length(some.length);
      for (const [i, f] of some.entries()) expect(ids[i], f).to.deep.equal(await reference(f));
      const e = await rejection(tok.encodeFiles([files[0]!, bad]));
      expect(e).to.be.instanceOf(ImageError);
      expect(e.message).to.contain(`${bad}: truncated JPEG`);
    });
  });

  describe('tokenizeFiles and TokenWriter', () => {
    let all: FileTokens[];

    it('tokenizeFiles: one result per file, in order; ids as encode() gives them; a bad file as { file, error }', async () => {
      all = [];
      for await (const r of tokenizeFiles(tok, files, { batch: 1 })) all.push(r);
      expect(all.map((r) => r.file)).to.deep.equal(files);
      for (const r of all) {
        if (r.file === bad) {
          expect(r.ids).to.equal(undefined);
          expect(r.error).to.match(/^truncated JPEG/);
        } else expect(r.ids, r.file).to.deep.equal(await reference(r.file));
      }
    });

    it('tokenizeFileBatches: batches of `batch` files; a Tokenizer promise works; shards split the files exactly', async () => {
      const sizes: number[] = [];
      const seen: FileTokens[] = [];
      for await (const b of tokenizeFileBatches(Promise.resolve(tok), files, { batch: 4 })) {
        sizes.push(b.length);
        seen.push(...b);
      }
      expect(sizes).to.deep.equal(Array.from({ length: Math.ceil(files.length / 4) }, (_, i) => Math.min(4, files.length - 4 * i)));
      expect(seen.map((r) => r.file)).to.deep.equal(files);
      const union: string[] = [];
      for (let index = 0; index < 3; index++) {
        for await (const r of tokenizeFiles(tok, files, { shard: { index, count: 3 }, batch: 2 })) {
          union.push(r.file);
          expect(files.indexOf(r.file) % 3, r.file).to.equal(index);
        }
      }
      expect([...union].sort()).to.deep.equal([...files].sort());
      const e = await rejection(tokenizeFiles(tok, files, { shard: { index: 3, count: 3 } }).next());
      expect(e).to.be.instanceOf(RangeError);
      expect(e.message).to.match(/0 ≤ index < count/);
    });

    for (const format of ['tok', 'jsonl'] as const) {
      it(`TokenWriter (${format}): written batch by batch, resumed with skip: writer.done, read back equal`, async () => {
        const out = join(dir, `tokens.${format}`);
        const first = await TokenWriter.open(out, tok);
        expect(first.format).to.equal(format);
        expect(first.done.size).to.equal(0);
        let n = 0;
        for await (const b of tokenizeFileBatches(tok, files.slice(0, 5), { batch: 2 })) {
          await first.write(b.filter((r): r is { file: string; ids: Uint32Array } => r.ids !== undefined));
          n += b.length;
        }
        expect(n).to.equal(5);
        // "Interrupted" after five files: a new writer knows the four that were written.
        const again = await TokenWriter.open(out, tok);
        expect([...again.done].sort()).to.deep.equal(files.slice(0, 5).filter((f) => f !== bad).sort());
        const rest: string[] = [];
        for await (const b of tokenizeFileBatches(tok, files, { batch: 3, skip: again.done })) {
          rest.push(...b.map((r) => r.file));
          await again.write(b.filter((r): r is { file: string; ids: Uint32Array } => r.ids !== undefined));
        }
        expect(rest).to.deep.equal(files.filter((f) => !files.slice(0, 5).includes(f) || f === bad));
        const records = format === 'tok' ? (await readTokFile(out, { config: tok.config })).records : await readJsonl(out, { tokensPerImage: tok.tokensPerImage });
        const byFile = new Map(records.map((r) => [r.file, r.tokens]));
        expect(records).to.have.length(files.length - 1);
        for (const r of all) if (r.ids) expect(byFile.get(r.file), r.file).to.deep.equal(r.ids);
        // Another model's file is refused, naming it.
        const another = Object.values(PRESETS).find((c) => tokensPerImage(c) !== tok.tokensPerImage)!;
        const other = await rejection(TokenWriter.open(out, another));
        expect(other).to.be.instanceOf(TokenFileError);
        expect(other.message).to.contain(out).and.match(/not this model's token file/);
      });
    }

    it('a model without token ids (TiTok VAE) is refused with a TypeError', async () => {
      const vae = Object.create(Tokenizer.prototype, { model: { value: { config: TITOK_PRESETS['titok-bl64-vae'] } } }) as Tokenizer;
      expect(vae.continuous).to.equal(true);
      const e = await rejection(tokenizeFiles(vae, files).next());
      expect(e).to.be.instanceOf(TypeError);
      expect(e.message).to.match(/VAE.*no token ids/);
      const w = await rejection(TokenWriter.open(join(dir, 'vae.tok'), vae));
      expect(w).to.be.instanceOf(TypeError);
    });
  });
});
