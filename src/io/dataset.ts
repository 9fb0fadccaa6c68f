/**
 * Image files to token ids in bulk (Node), as `tok1d tokenize` does it, which is built on this module:
 *
 *   const out = await TokenWriter.open('tokens.tok', tok);             // or .jsonl; resumes
 *   for await (const batch of tokenizeFileBatches(tok, paths, { skip: out.done, shard: { index: 0, count: 4 } })) {
 *     await out.write(batch.filter((r) => r.ids));                     // failed files carry `error`
 *   }
 *
 * Files are read and decoded (PNG, JPEG, WebP: decodeImageFile) concurrently a batch at a time, on
 * libuv's worker threads for JPEG and WebP, and the next batch loads while the GPU encodes this one.
 */
import { appendFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { extname } from 'node:path';
import type { AnyModelConfig } from '../model/config.js';
import { DEFAULT_BATCH, type Tokenizer } from '../model/tokenizer-core.js';
import { DEFAULT_MAX_PIXELS, decodeImageFile, ImageError, readImageBytes, toModelInput } from './image.js';
import { appendTokFile, formatJsonlLine, readJsonl, readTokFile, TokenFileError, tokHeaderFor, type TokHeader } from './tokens.js';

/** Milliseconds spent, added to as files are processed (for profiles such as `tok1d tokenize --profile`). */
export interface DatasetTimings {
  /** Waiting for a batch's files to be read and decoded (what the overlap with GPU work did not hide). */
  wait: number;
  /** Encoding on the GPU, read-back included. */
  gpu: number;
  /** Resizing and cropping to the model size (main thread). */
  resize: number;
}

/** How files are read and prepared: resizing, the pixel guard, batch size, timings. */
export interface ImageBatchOptions {
  /** Files per batch, read and decoded concurrently (default DEFAULT_BATCH). */
  batch?: number;
  /** Resize and centre-crop to the model size (default true); false: a file of another size fails. */
  resize?: boolean;
  /** Largest width·height a file's header may declare; checked before decoding (default DEFAULT_MAX_PIXELS). */
  maxPixels?: number;
  /** Adds the time spent waiting for inputs and resizing to these counters. */
  timings?: DatasetTimings;
}

/** One file made ready for the model: its input [S, S, 3] in [-1, 1], or why it could not be read. */
export type LoadedImage = { file: string; input: Float32Array; error?: undefined } | { file: string; input?: undefined; error: string };

/** One file's token ids, or why it could not be read (a one-line reason without the file name). */
export type FileTokens = { file: string; ids: Uint32Array; error?: undefined } | { file: string; ids?: undefined; error: string };

/** Which part of a dataset a process takes: the files whose position modulo `count` is `index`. */
export interface Shard {
  index: number;
  count: number;
}

/** tokenizeFiles' options: those of reading, and which files to take. */
export interface TokenizeFilesOptions extends ImageBatchOptions {
  /** Take only this shard of the paths (applied before `skip`). */
  shard?: Shard;
  /** Leave these files out, e.g. TokenWriter.done (those already in the output). */
  skip?: { has(file: string): boolean };
}

function positive(name: string, v: number | undefined, dflt: number): number {
  const n = v ?? dflt;
  if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`${name} must be a positive integer, got ${n}`);
  return n;
}

/** The paths of shard `s` (all of them without one). */
export function shardOf<T>(paths: readonly T[], s: Shard | undefined): T[] {
  if (!s) return [...paths];
  if (!(Number.isInteger(s.index) && Number.isInteger(s.count) && s.count >= 1 && s.index >= 0 && s.index < s.count))
    throw new RangeError(`shard must be { index, count } with integers 0 ≤ index < count, got ${JSON.stringify(s)}`);
  return paths.filter((_, i) => i % s.count === s.index);
}

/** Reads, decodes and prepares one file; a bad file is an ImageError saying why. */
async function loadInput(file: string, size: number | Promise<number>, resize: boolean, maxPixels: number, timings?: DatasetTimings): Promise<Float32Array> {
  const image = await decodeImageFile(await readImageBytes(file), { maxPixels });
  const side = await size;
  const t0 = performance.now();
  const input = toModelInput(image, side, { resize });
  if (timings) timings.resize += performance.now() - t0;
  return input;
}

/**
 * The model inputs of image files, one array per batch in the order of `paths`: each batch's files
 * are read and decoded concurrently, the next batch loads while the caller works on this one, and
 * the first starts loading at once. `size` is the model's image size, or a promise of it (the
 * files are then read and decoded while the model is being set up). A file that cannot be read or
 * decoded gives `{ file, error }`; other failures reject.
 */
export function readImageBatches(paths: readonly string[], size: number | Promise<number>, opts: ImageBatchOptions = {}): AsyncIterable<LoadedImage[]> {
  const batch = positive('batch', opts.batch, DEFAULT_BATCH);
  const resize = opts.resize ?? true;
  const maxPixels = positive('maxPixels', opts.maxPixels, DEFAULT_MAX_PIXELS);
  const timings = opts.timings;
  // A rejected size (the model failed to load) surfaces through the batches or the caller's own
  // await of the model, never as an unhandled rejection while files are still being read.
  if (typeof size !== 'number') size.catch(() => {});
  const load = async (chunk: readonly string[]): Promise<LoadedImage[]> => {
    const results = await Promise.allSettled(chunk.map((file) => loadInput(file, size, resize, maxPixels, timings)));
    return results.map((r, j) => {
      if (r.status === 'fulfilled') return { file: chunk[j]!, input: r.value };
      if (r.reason instanceof ImageError) return { file: chunk[j]!, error: r.reason.message };
      throw r.reason;
    });
  };
  const first = paths.length ? load(paths.slice(0, batch)) : null;
  // A failure of a prefetched batch surfaces when it is awaited, not as an unhandled rejection.
  first?.catch(() => {});
  return {
    async *[Symbol.asyncIterator]() {
      let next = first;
      for (let i = 0; next; i += batch) {
        const current = next;
        next = i + batch < paths.length ? load(paths.slice(i + batch, i + 2 * batch)) : null;
        next?.catch(() => {});
        const t0 = performance.now();
        const loaded = await current;
        if (timings) timings.wait += performance.now() - t0;
        yield loaded;
      }
    },
  };
}

/** The tokenizer, refused when it has no token ids. */
function idsModel(tok: Tokenizer, what: string): Tokenizer {
  if (tok.continuous) throw new TypeError(`${what}: this TiTok model is a VAE: its latents are continuous and there are no token ids; use encodeLatents or reconstruct`);
  return tok;
}

/**
 * Token ids of image files, one array per GPU batch (the files of the batch in the order of `paths`,
 * failed ones as `{ file, error }`): the same reading, batching, overlap of decoding with GPU work,
 * sharding and skipping as `tok1d tokenize`. Reading starts at once; `tok` may still be a promise
 * (the first files are then decoded while the model is set up). A TiTok VAE (continuous latents)
 * is refused with a TypeError.
 */
export function tokenizeFileBatches(tok: Tokenizer | Promise<Tokenizer>, paths: readonly string[], opts: TokenizeFilesOptions = {}): AsyncIterable<FileTokens[]> {
  const skip = opts.skip;
  const todo = shardOf(paths, opts.shard).filter((f) => !skip?.has(f));
  const model = Promise.resolve(tok).then((t) => idsModel(t, 'tokenizeFiles'));
  model.catch(() => {});
  const size = model.then((t) => t.config.imageSize);
  size.catch(() => {});
  const batches = readImageBatches(todo, size, opts);
  const timings = opts.timings;
  return {
    async *[Symbol.asyncIterator]() {
      const t = await model;
      for await (const loaded of batches) {
        const ok = loaded.filter((x): x is LoadedImage & { input: Float32Array } => x.input !== undefined);
        const t0 = performance.now();
        const ids = ok.length ? await t.encode(ok.map((x) => x.input), { batch: opts.batch }) : [];
        if (timings) timings.gpu += performance.now() - t0;
        const byFile = new Map(ok.map((x, j) => [x, ids[j]!]));
        yield loaded.map((x): FileTokens => (x.input ? { file: x.file, ids: byFile.get(x)! } : { file: x.file, error: x.error! }));
      }
    },
  };
}

/**
 * Token ids of image files, file by file in the order of `paths`: `{ file, ids }`, or `{ file, error }`
 * for a file that could not be read or decoded (see tokenizeFileBatches for the rest).
 *
 *   for await (const { file, ids, error } of tokenizeFiles(tok, paths, { batch: 16 })) …
 */
export async function* tokenizeFiles(tok: Tokenizer | Promise<Tokenizer>, paths: readonly string[], opts: TokenizeFilesOptions = {}): AsyncGenerator<FileTokens> {
  for await (const batch of tokenizeFileBatches(tok, paths, opts)) yield* batch;
}

/**
 * Token ids of image files, all read before resolving; a file that cannot be read or decoded rejects
 * the call with an ImageError naming it (tokenizeFiles keeps going instead).
 */
export async function encodeFiles(tok: Tokenizer, paths: readonly string[], opts: ImageBatchOptions = {}): Promise<Uint32Array[]> {
  const out: Uint32Array[] = [];
  for await (const r of tokenizeFiles(tok, paths, opts)) {
    if (r.error !== undefined) throw new ImageError(`${r.file}: ${r.error}`);
    out.push(r.ids);
  }
  return out;
}

/** The formats TokenWriter writes: JSONL text lines or tok1d's compact binary `.tok`. */
export type TokenFormat = 'jsonl' | 'tok';

/** The format a token file's name implies: `.tok` → 'tok', anything else → 'jsonl'. */
export function tokenFormatFor(path: string): TokenFormat {
  return extname(path).toLowerCase() === '.tok' ? 'tok' : 'jsonl';
}

/**
 * Appends token ids to a `.tok` or JSONL file, batch by batch, and knows which files it already
 * holds (`done`), so a job that was interrupted, or one shard of many, is resumed by running it
 * again with `skip: writer.done`. `.tok` appends are crash-safe (a torn last batch is dropped when
 * the file is next opened); JSONL lines are written whole.
 */
export class TokenWriter {
  private constructor(
    /** The file written. */
    readonly path: string,
    /** Its format. */
    readonly format: TokenFormat,
    /** The files already in it when it was opened, and those written since. */
    readonly done: Set<string>,
    private readonly header: TokHeader,
  ) {}

  /**
   * Opens (without truncating) or starts a token file for the model `model` (a Tokenizer or its
   * configuration). The format is `opts.format`, else the name's (`.tok`, else JSONL). An existing
   * file that is not this model's token file is a TokenFileError naming it.
   */
  static async open(path: string, model: Tokenizer | AnyModelConfig, opts: { format?: TokenFormat } = {}): Promise<TokenWriter> {
    const format = opts.format ?? tokenFormatFor(path);
    if (format !== 'jsonl' && format !== 'tok') throw new TypeError(`TokenWriter: format must be 'jsonl' or 'tok', got ${JSON.stringify(format)}`);
    const config = 'config' in model ? model.config : model;
    if ('continuous' in model) idsModel(model, 'TokenWriter');
    const header = tokHeaderFor(config);
    const done = new Set<string>();
    if (existsSync(path)) {
      try {
        const records =
          format === 'tok' ? (await readTokFile(path, { config, recover: true })).records : await readJsonl(path, { tokensPerImage: header.tokensPerImage, codebookSize: config.codebookSize });
        for (const r of records) done.add(r.file);
      } catch (e) {
        if (e instanceof TokenFileError) throw new TokenFileError(`${e.message.startsWith(`${path}: `) ? e.message : `${path}: ${e.message}`} (it is not this model's token file)`);
        throw e;
      }
    }
    return new TokenWriter(path, format, done, header);
  }

  /** Appends these files' ids (in one write) and adds the files to `done`. */
  async write(records: readonly { file: string; ids: Uint32Array }[]): Promise<void> {
    if (!records.length) return;
    for (const [i, r] of records.entries()) {
      if (typeof r?.file !== 'string' || !(r.ids instanceof Uint32Array) || r.ids.length !== this.header.tokensPerImage)
        throw new TypeError(`TokenWriter.write: record ${i} must be { file, ids } with ${this.header.tokensPerImage} ids in a Uint32Array`);
    }
    const tokens = records.map((r) => ({ file: r.file, tokens: r.ids }));
    if (this.format === 'tok') await appendTokFile(this.path, this.header, tokens);
    else await appendFile(this.path, tokens.map((r) => `${formatJsonlLine(r)}\n`).join(''));
    for (const r of records) this.done.add(r.file);
  }
}
