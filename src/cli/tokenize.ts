import { appendFileSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BackendName } from '../gpu/node.js';
import { decodeImageFile, encodePng, fromModelOutput, ImageError, psnr, sideBySide, toModelInput } from '../io/image.js';
import { Tokenizer } from '../model/tokenizer.js';
import { PRESETS, type ModelConfig } from '../model/config.js';
import { CheckpointError, writeFileAtomic } from '../model/checkpoint.js';
import { appendTokFile, formatJsonlLine, parseJsonl, parseTok, readJsonl, readTokFile, TOK_MAGIC, TokenFileError, tokHeaderFor, type TokenRecord } from '../io/tokens.js';
import { cliAnyPreset, cliPreset, EXIT, UsageError, UserError } from './errors.js';
import { Progress } from './progress.js';
import { DEMO_PAGE_MAX, demoPageHtml, type DemoEntry } from './demo-page.js';

/** Where the bundled default checkpoint lives in the package. */
export function bundledCheckpoint(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../../models/default.safetensors');
}

export interface ModelChoice {
  checkpoint?: string;
  preset?: string;
  randomInit: boolean;
  seed?: string;
  backend?: BackendName;
  /** detokenize / reconstruct: decode only the first k tokens of each image (TiTok models). */
  tokens?: number;
}

/**
 * The tokenizer a command runs: --checkpoint, --preset P --random-init, or the bundled default.
 * --checkpoint F --preset P loads F as model P: a file without a stored configuration (e.g. saved
 * from PyTorch with safetensors.torch.save_file) needs it; a stored one must agree with P.
 */
export async function openTokenizer(o: ModelChoice): Promise<Tokenizer> {
  if (o.checkpoint && o.randomInit) throw new UsageError('give --checkpoint, or --preset with --random-init, not both');
  if (o.randomInit || (o.preset && !o.checkpoint)) {
    if (!o.randomInit) throw new UsageError('--preset needs --random-init, or --checkpoint FILE for the weights');
    const seed = o.seed === undefined ? 0 : Number(o.seed);
    if (!Number.isInteger(seed)) throw new UsageError(`--seed must be an integer, not '${o.seed}'`);
    return Tokenizer.random(cliAnyPreset(o.preset ?? 'tiny'), seed, { backend: o.backend });
  }
  const path = o.checkpoint ?? bundledCheckpoint();
  if (!existsSync(path)) {
    if (o.checkpoint) throw new UserError(`${path}: no such checkpoint`);
    throw new UserError('no bundled checkpoint in this build yet: pass --checkpoint FILE, or --preset NAME --random-init [--seed S] for a randomly initialized model');
  }
  // A TiTok checkpoint folder carries its configuration in config.json.
  const config: ModelConfig | undefined = o.preset && !statSync(path).isDirectory() ? cliPreset(o.preset) : undefined;
  try {
    return await Tokenizer.load(path, { backend: o.backend, config });
  } catch (e) {
    if (e instanceof CheckpointError) {
      if (!config && /no __metadata__\.tok1d_config/.test(e.message))
        throw new UserError(`${path}: the file stores no tok1d model configuration (e.g. saved from PyTorch): name the model with --preset NAME (${Object.keys(PRESETS).join(', ')})`);
      // loadCheckpoint's messages already start with the path.
      throw new UserError(e.message.startsWith(`${path}: `) ? e.message : `${path}: ${e.message}`);
    }
    throw e;
  }
}

/**
 * Where a command's time goes (`--profile`), in milliseconds: start-up and the phases of the main
 * loop, which add up to the wall time, and the resizing inside them (main thread). Reading and
 * JPEG/WebP decoding run on worker threads while the GPU works; what they do not hide is the wait
 * for inputs.
 */
export class Timings {
  /** Milliseconds from the process start to the command's start (Node, modules, folder scan). */
  readonly startup = performance.now();
  model = 0;
  wait = 0;
  gpu = 0;
  output = 0;
  resize = 0;

  /** Adds the time `fn` takes to `phase`. */
  async time<T>(phase: 'model' | 'wait' | 'gpu' | 'output', fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this[phase] += performance.now() - t0;
    }
  }

  report(): string {
    const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    return (
      `profile: start-up ${s(this.startup)}, model ${s(this.model)} (device, parameters, upload), ` +
      `waiting for inputs ${s(this.wait)}, GPU ${s(this.gpu)}, output ${s(this.output)}; ` +
      `resizing (main thread, within those) ${s(this.resize)}`
    );
  }
}

/** Reads, decodes (PNG, JPEG or WebP) and prepares one image; a bad file gives an ImageError saying why. */
export async function loadInput(path: string, size: number | Promise<number>, resize: boolean, maxPixels: number, timings?: Timings): Promise<Float32Array> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new ImageError(`cannot read: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  const image = await decodeImageFile(bytes, { maxPixels });
  const side = await size;
  const t0 = performance.now();
  const input = toModelInput(image, side, { resize });
  if (timings) timings.resize += performance.now() - t0;
  return input;
}

/** One batch of inputs: the images that loaded, and a message for each that did not. */
interface LoadedBatch {
  ok: { path: string; input: Float32Array }[];
  failed: { path: string; message: string }[];
}

/**
 * The inputs in batches of `batch`, each batch's files read and decoded concurrently (JPEG and WebP
 * decode on libuv's worker threads), and the next batch loading while the caller works on this one.
 * The first batch starts loading at once: with `size` a promise (the model's input size, known once
 * the model is open), its files are read and decoded while the model is being set up.
 */
function loadBatches(paths: string[], batch: number, size: number | Promise<number>, resize: boolean, maxPixels: number, timings?: Timings): AsyncIterable<LoadedBatch> {
  const load = async (chunk: string[]): Promise<LoadedBatch> => {
    const out: LoadedBatch = { ok: [], failed: [] };
    const results = await Promise.allSettled(chunk.map((path) => loadInput(path, size, resize, maxPixels, timings)));
    for (const [j, r] of results.entries()) {
      if (r.status === 'fulfilled') out.ok.push({ path: chunk[j]!, input: r.value });
      else if (r.reason instanceof ImageError) out.failed.push({ path: chunk[j]!, message: r.reason.message });
      else throw r.reason;
    }
    return out;
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
        yield await (timings ? timings.time('wait', () => current) : current);
      }
    },
  };
}

/** A promise and the function that resolves it. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** `tok1d: skipping FILE: why` on stderr (clearing a progress line on a terminal first). */
function reportSkipped(failed: LoadedBatch['failed']): void {
  for (const f of failed) process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[K' : ''}tok1d: skipping ${f.path}: ${f.message}\n`);
}

export interface ReconstructOptions extends ModelChoice {
  inputs: string[];
  out: string;
  compare: boolean;
  batch: number;
  resize: boolean;
  maxPixels: number;
}

/** `tok1d reconstruct`: image → tokens → image, PSNR per image and the mean. */
export async function reconstruct(o: ReconstructOptions): Promise<number> {
  const size = deferred<number>();
  const batches = loadBatches(o.inputs, o.batch, size.promise, o.resize, o.maxPixels);
  const tok = await openTokenizer(o);
  size.resolve(tok.config.imageSize);
  try {
    mkdirSync(o.out, { recursive: true });
    const S = tok.config.imageSize;
    const progress = new Progress(o.inputs.length);
    let failed = 0;
    const psnrs: number[] = [];
    const page: DemoEntry[] = [];
    for await (const { ok, failed: bad } of batches) {
      failed += bad.length;
      reportSkipped(bad);
      if (!ok.length) {
        progress.tick(bad.length);
        continue;
      }
      // The token ids are kept for the --compare page (models with continuous latents have none).
      const tokens = tok.continuous ? undefined : await tok.encode(ok.map((x) => x.input), { batch: o.batch });
      const recon = tokens ? await tok.decode(tokens, { batch: o.batch, tokens: o.tokens }) : await tok.reconstruct(ok.map((x) => x.input), { batch: o.batch });
      for (const [j, x] of ok.entries()) {
        const ref = fromModelOutput(x.input, S);
        const out = fromModelOutput(recon[j]!, S);
        const p = psnr(ref.rgb, out.rgb);
        psnrs.push(p);
        const name = `${basename(x.path, extname(x.path))}.png`;
        await writeFileAtomic(join(o.out, name), encodePng(o.compare ? sideBySide(ref, out) : out));
        if (o.compare && page.length < DEMO_PAGE_MAX) page.push({ file: x.path, input: ref, output: out, psnr: p, tokens: tokens?.[j]?.subarray(0, o.tokens) });
        process.stdout.write(`${x.path}\t${p.toFixed(2)} dB\n`);
      }
      progress.tick(ok.length + bad.length);
    }
    const mean = psnrs.length ? psnrs.reduce((a, b) => a + b, 0) / psnrs.length : NaN;
    const k = o.tokens ?? tok.tokensPerImage;
    if (o.compare) {
      const html = demoPageHtml(page, { images: psnrs.length, meanPsnr: mean, tokensPerImage: k, bitsPerImage: tok.bitsForTokens(k), codebookSize: tok.config.codebookSize });
      await writeFileAtomic(join(o.out, 'index.html'), new TextEncoder().encode(html));
    }
    process.stdout.write(`mean PSNR ${mean.toFixed(2)} dB over ${psnrs.length} images; ${k} tokens, ${tok.bitsForTokens(k).toFixed(0)} bits per image; outputs in ${o.out}${o.compare ? ` (page: ${join(o.out, 'index.html')})` : ''}\n`);
    progress.done(`reconstructed ${psnrs.length} images${failed ? `, ${failed} failed` : ''}`);
    return failed ? EXIT.failure : EXIT.ok;
  } finally {
    tok.dispose();
  }
}

export function checkOutDir(out: string | undefined): string {
  if (!out) throw new UsageError('-o DIR is required');
  return out;
}

export interface TokenizeOptions extends ModelChoice {
  inputs: string[];
  out?: string;
  format?: string;
  batch: number;
  shard: { index: number; count: number };
  resize: boolean;
  maxPixels: number;
  /** Print where the time went (stderr, after the summary). */
  profile?: boolean;
}

/**
 * `tok1d tokenize`: tokens for many images, batched on the GPU. With -o the output is appended
 * batch by batch (.tok appends are crash-safe; JSONL lines are written whole) and files already in
 * it are skipped, so an interrupted or sharded job can simply be run again.
 */
export async function tokenize(o: TokenizeOptions): Promise<number> {
  const format = o.format ?? (o.out && extname(o.out).toLowerCase() === '.tok' ? 'tok' : 'jsonl');
  if (format !== 'jsonl' && format !== 'tok') throw new UsageError(`--format must be jsonl or tok, not '${format}'`);
  if (format === 'tok' && !o.out) throw new UsageError('--format tok needs -o FILE (binary output)');
  const all = o.inputs.filter((_, i) => i % o.shard.count === o.shard.index);
  const timings = o.profile ? new Timings() : undefined;
  // Without earlier output to skip, the first images are read and decoded while the model is set up.
  const size = deferred<number>();
  const early = !o.out || !existsSync(o.out) ? loadBatches(all, o.batch, size.promise, o.resize, o.maxPixels, timings) : undefined;
  const tok = await (timings ? timings.time('model', () => openTokenizer(o)) : openTokenizer(o));
  size.resolve(tok.config.imageSize);
  try {
    if (tok.continuous) throw new UserError('this TiTok model is a VAE: its latents are continuous, there are no token ids to write; use reconstruct');
    const header = tokHeaderFor(tok.config);
    const done = new Set<string>();
    if (o.out && existsSync(o.out)) {
      try {
        const records = format === 'tok' ? (await readTokFile(o.out, { config: tok.config, recover: true })).records : await readJsonl(o.out, { tokensPerImage: tok.tokensPerImage, codebookSize: tok.config.codebookSize });
        for (const r of records) done.add(r.file);
      } catch (e) {
        if (e instanceof TokenFileError) throw new UserError(`${o.out}: ${e.message} (it is not this model's token file; choose another -o)`);
        throw e;
      }
    }
    const todo = all.filter((f) => !done.has(f));
    if (done.size) process.stderr.write(`tok1d: ${all.length - todo.length} of ${all.length} images already in ${o.out}; tokenizing the other ${todo.length}\n`);
    const progress = new Progress(todo.length);
    let failed = 0;
    let written = 0;
    const timed = <T>(phase: 'gpu' | 'output', fn: () => Promise<T>) => (timings ? timings.time(phase, fn) : fn());
    for await (const { ok, failed: bad } of early ?? loadBatches(todo, o.batch, tok.config.imageSize, o.resize, o.maxPixels, timings)) {
      failed += bad.length;
      reportSkipped(bad);
      if (ok.length) {
        const ids = await timed('gpu', () => tok.encode(ok.map((x) => x.input), o.batch));
        const records = ok.map((x, j) => ({ file: x.path, tokens: ids[j]! }));
        await timed('output', async () => {
          if (format === 'tok') await appendTokFile(o.out!, header, records);
          else {
            const text = records.map((r) => `${formatJsonlLine(r)}\n`).join('');
            if (o.out) appendFileSync(o.out, text);
            else process.stdout.write(text);
          }
        });
        written += ok.length;
      }
      progress.tick(ok.length + bad.length);
    }
    if (timings) process.stderr.write(`${timings.report()}\n`);
    progress.done(`tokenized ${written} images (${tok.tokensPerImage} tokens, ${tok.bitsPerImage.toFixed(0)} bits each)${failed ? `, ${failed} failed` : ''}${o.out ? ` into ${o.out}` : ''}`);
    return failed ? EXIT.failure : EXIT.ok;
  } finally {
    tok.dispose();
  }
}

/** `tok1d detokenize`: PNGs from a .tok or JSONL token file. */
export async function detokenize(o: ModelChoice & { file: string; out: string; batch: number }): Promise<number> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(o.file);
  } catch (e) {
    throw new UserError(`cannot read ${o.file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  const tok = await openTokenizer(o);
  try {
    const isTok = bytes.length >= TOK_MAGIC.length && TOK_MAGIC.every((b, i) => bytes[i] === b);
    let records: TokenRecord[];
    try {
      records = isTok ? parseTok(bytes, { config: tok.config }).records : parseJsonl(new TextDecoder().decode(bytes), { tokensPerImage: tok.tokensPerImage, codebookSize: tok.config.codebookSize });
    } catch (e) {
      if (e instanceof TokenFileError) throw new UserError(`${o.file}: ${e.message}`);
      throw e;
    }
    mkdirSync(o.out, { recursive: true });
    const progress = new Progress(records.length);
    const S = tok.config.imageSize;
    for (let i = 0; i < records.length; i += o.batch) {
      const chunk = records.slice(i, i + o.batch);
      const images = await tok.decode(chunk.map((r) => r.tokens), { batch: o.batch, tokens: o.tokens });
      for (const [j, r] of chunk.entries()) {
        await writeFileAtomic(join(o.out, `${basename(r.file, extname(r.file))}.png`), encodePng(fromModelOutput(images[j]!, S)));
      }
      progress.tick(chunk.length);
    }
    progress.done(`decoded ${records.length} images into ${o.out}`);
    return EXIT.ok;
  } finally {
    tok.dispose();
  }
}
