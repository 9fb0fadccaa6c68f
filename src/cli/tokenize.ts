import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import type { BackendName } from '../gpu/node.js';
import { encodePng, fromModelOutput, psnr, sideBySide } from '../io/image.js';
import { readImageBatches, shardOf, tokenFormatFor, tokenizeFileBatches, TokenWriter, type DatasetTimings } from '../io/dataset.js';
import { bundledCheckpoint, Tokenizer } from '../model/tokenizer.js';
import { PRESETS, type ModelConfig } from '../model/config.js';
import { CheckpointError, writeFileAtomic } from '../model/checkpoint.js';
import { formatJsonlLine, parseJsonl, parseTok, TOK_MAGIC, TokenFileError, type TokenRecord } from '../io/tokens.js';
import { cliAnyPreset, cliPreset, EXIT, UsageError, UserError } from './errors.js';
import { Progress } from './progress.js';
import { DEMO_PAGE_MAX, demoPageHtml, type DemoEntry } from './demo-page.js';
import { mean } from '../util/stats.js';

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
export class Timings implements DatasetTimings {
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

/** `tok1d: skipping FILE: why` on stderr (clearing a progress line on a terminal first). */
function reportSkipped(results: readonly { file: string; error?: string }[]): number {
  let failed = 0;
  for (const r of results) {
    if (r.error === undefined) continue;
    failed++;
    process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[K' : ''}tok1d: skipping ${r.file}: ${r.error}\n`);
  }
  return failed;
}

export interface ReconstructOptions extends ModelChoice {
  inputs: string[];
  out: string;
  compare: boolean;
  batch: number;
  resize: boolean;
  maxPixels: number;
}

/** --tokens K: a prefix length the model decodes (TiTok models: 1..K), else a usage error. */
function checkTokenCount(tok: Tokenizer, k: number | undefined): void {
  if (k === undefined) return;
  if (!tok.titok) throw new UsageError(`--tokens: this model decodes all ${tok.tokensPerImage} tokens of an image; prefix decoding needs a TiTok model`);
  if (k > tok.tokensPerImage) throw new UsageError(`--tokens ${k}: this model has ${tok.tokensPerImage} tokens per image`);
}

/** `tok1d reconstruct`: image → tokens → image, PSNR per image and the mean. */
export async function reconstruct(o: ReconstructOptions): Promise<number> {
  // The first images are read and decoded while the model is set up.
  const opening = openTokenizer(o);
  const batches = readImageBatches(o.inputs, opening.then((t) => t.config.imageSize), o);
  const tok = await opening;
  try {
    checkTokenCount(tok, o.tokens);
    mkdirSync(o.out, { recursive: true });
    const S = tok.config.imageSize;
    const progress = new Progress(o.inputs.length);
    let failed = 0;
    const psnrs: number[] = [];
    const page: DemoEntry[] = [];
    for await (const loaded of batches) {
      failed += reportSkipped(loaded);
      const ok = loaded.filter((x): x is { file: string; input: Float32Array } => x.input !== undefined);
      if (!ok.length) {
        progress.tick(loaded.length);
        continue;
      }
      // The token ids are kept for the --compare page (models with continuous latents have none).
      const tokens = tok.continuous ? undefined : await tok.encode(ok.map((x) => x.input), { batch: o.batch });
      const recon = tokens ? await tok.decode(tokens, { batch: o.batch, tokens: o.tokens }) : await tok.reconstruct(ok.map((x) => x.input), { batch: o.batch, tokens: o.tokens });
      for (const [j, x] of ok.entries()) {
        const ref = fromModelOutput(x.input, S);
        const out = fromModelOutput(recon[j]!, S);
        const p = psnr(ref.rgb, out.rgb);
        psnrs.push(p);
        const name = `${basename(x.file, extname(x.file))}.png`;
        await writeFileAtomic(join(o.out, name), encodePng(o.compare ? sideBySide(ref, out) : out));
        if (o.compare && page.length < DEMO_PAGE_MAX) page.push({ file: x.file, input: ref, output: out, psnr: p, tokens: tokens?.[j]?.subarray(0, o.tokens) });
        process.stdout.write(`${x.file}\t${p.toFixed(2)} dB\n`);
      }
      progress.tick(loaded.length);
    }
    const meanPsnr = mean(psnrs);
    const k = o.tokens ?? tok.tokensPerImage;
    if (o.compare) {
      const html = demoPageHtml(page, { images: psnrs.length, meanPsnr, tokensPerImage: k, bitsPerImage: tok.bitsForTokens(k), codebookSize: tok.config.codebookSize });
      await writeFileAtomic(join(o.out, 'index.html'), new TextEncoder().encode(html));
    }
    process.stdout.write(`mean PSNR ${meanPsnr.toFixed(2)} dB over ${psnrs.length} images; ${k} tokens, ${tok.bitsForTokens(k).toFixed(0)} bits per image; outputs in ${o.out}${o.compare ? ` (page: ${join(o.out, 'index.html')})` : ''}\n`);
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
  const format = o.format ?? (o.out ? tokenFormatFor(o.out) : 'jsonl');
  if (format !== 'jsonl' && format !== 'tok') throw new UsageError(`--format must be jsonl or tok, not '${format}'`);
  if (format === 'tok' && !o.out) throw new UsageError('--format tok needs -o FILE (binary output)');
  const timings = o.profile ? new Timings() : undefined;
  const opening = timings ? timings.time('model', () => openTokenizer(o)) : openTokenizer(o);
  const settings = { ...o, timings };
  // Without earlier output to skip, the first images are read and decoded while the model is set up.
  const early = !o.out || !existsSync(o.out) ? tokenizeFileBatches(opening, o.inputs, settings) : undefined;
  const tok = await opening;
  try {
    if (tok.continuous) throw new UserError('this TiTok model is a VAE: its latents are continuous, there are no token ids to write; use reconstruct');
    let writer: TokenWriter | undefined;
    try {
      writer = o.out ? await TokenWriter.open(o.out, tok, { format }) : undefined;
    } catch (e) {
      if (e instanceof TokenFileError) throw new UserError(`${e.message.replace(/\)$/, '')}; choose another -o)`);
      throw e;
    }
    const all = shardOf(o.inputs, o.shard);
    const todo = writer?.done.size ? all.filter((f) => !writer.done.has(f)) : all;
    if (todo.length < all.length) process.stderr.write(`tok1d: ${all.length - todo.length} of ${all.length} images already in ${o.out}; tokenizing the other ${todo.length}\n`);
    const progress = new Progress(todo.length);
    let failed = 0;
    let written = 0;
    for await (const results of early ?? tokenizeFileBatches(tok, todo, { ...settings, shard: undefined })) {
      failed += reportSkipped(results);
      const records = results.filter((r): r is { file: string; ids: Uint32Array } => r.ids !== undefined);
      const write = async () => {
        if (writer) await writer.write(records);
        else process.stdout.write(records.map((r) => `${formatJsonlLine({ file: r.file, tokens: r.ids })}\n`).join(''));
      };
      await (timings ? timings.time('output', write) : write());
      written += records.length;
      progress.tick(results.length);
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
    checkTokenCount(tok, o.tokens);
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
