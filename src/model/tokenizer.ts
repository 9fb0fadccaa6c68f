/**
 * The library API: images → token ids → images on the GPU, with checkpoint load/save.
 *
 *   const tok = await Tokenizer.load('model.safetensors');
 *   const ids = await tok.encode([image]);      // image: Float32Array [S, S, 3] NHWC in [-1, 1]
 *   const [back] = await tok.decode(ids);
 *   tok.dispose();
 */
import type { Ctx } from '../autograd/functions.js';
import type { Engine } from '../gpu/engine.js';
import type { BackendName } from '../gpu/node.js';
import { createEngine } from '../node-engine.js';
import { codebookSearch } from '../ops/codebook.js';
import { gatherRows } from '../ops/elementwise.js';
import type { Tensor } from '../tensor.js';
import { loadCheckpoint, parseCheckpoint, saveCheckpoint, type CheckpointDType, type ParsedCheckpoint } from './checkpoint.js';
import { PRESETS, paramSpecs, tokensPerImage, type ModelConfig } from './config.js';
import { TokenizerModel } from './model.js';
import { fromModelOutput, toModelInput, type RgbImage } from '../io/image.js';

export interface TokenizerOptions {
  /** Run on this engine (it stays the caller's: dispose() leaves it alone). */
  engine?: Engine;
  /** Otherwise create an engine on this device (the device stays the caller's)… */
  device?: GPUDevice;
  /** …or acquire one on this backend (default: TOK1D_BACKEND, else automatic). */
  backend?: BackendName;
  /** load(): the configuration the checkpoint must have (a mismatch is a CheckpointError). */
  config?: ModelConfig;
}

/** 8-bit pixels, row-major, RGB (channels 3) or RGBA (channels 4, e.g. ImageData.data). */
export interface PixelImage {
  width: number;
  height: number;
  data: Uint8Array | Uint8ClampedArray;
  /** Default: 4 when data has width·height·4 bytes, else 3. */
  channels?: 3 | 4;
}

/** RGB from RGB or RGBA pixels; alpha composited on white (as PNG input is). */
function toRgb(img: PixelImage, what: string): RgbImage {
  const n = img.width * img.height;
  const channels = img.channels ?? (img.data.length === n * 4 ? 4 : 3);
  if (!(Number.isInteger(n) && n > 0) || img.data.length !== n * channels) throw new Error(`${what}: ${img.data.length} bytes for ${img.width}×${img.height}×${channels}`);
  if (channels === 3) return { width: img.width, height: img.height, rgb: Uint8Array.from(img.data) };
  const rgb = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    const a = img.data[4 * p + 3]! / 255;
    for (let c = 0; c < 3; c++) rgb[3 * p + c] = Math.round(a * img.data[4 * p + c]! + (1 - a) * 255);
  }
  return { width: img.width, height: img.height, rgb };
}

/** Images per GPU batch when encode/decode are not told. */
export const DEFAULT_BATCH = 16;

export class Tokenizer {
  private disposed = false;

  private constructor(
    readonly engine: Engine,
    readonly model: TokenizerModel,
    private readonly ownsEngine: boolean,
  ) {}

  private static async engineFor(opts: TokenizerOptions): Promise<{ engine: Engine; owns: boolean }> {
    if (opts.engine) return { engine: opts.engine, owns: false };
    return { engine: await createEngine({ device: opts.device, backend: opts.backend }), owns: true };
  }

  private static fromParams(engine: Engine, owns: boolean, parsed: Pick<ParsedCheckpoint, 'config' | 'params'>): Tokenizer {
    const tensors = new Map<string, Tensor>();
    try {
      for (const s of paramSpecs(parsed.config)) tensors.set(s.name, engine.upload(parsed.params.get(s.name)!, s.shape));
      return new Tokenizer(engine, new TokenizerModel(engine, parsed.config, tensors), owns);
    } catch (e) {
      engine.release(...tensors.values());
      if (owns) engine.dispose();
      throw e;
    }
  }

  /** A tokenizer from a checkpoint file or its bytes (validated before any GPU work). */
  static async load(pathOrBytes: string | Uint8Array, opts: TokenizerOptions = {}): Promise<Tokenizer> {
    const parsed = typeof pathOrBytes === 'string' ? await loadCheckpoint(pathOrBytes, opts.config) : parseCheckpoint(pathOrBytes, opts.config);
    const { engine, owns } = await Tokenizer.engineFor(opts);
    return Tokenizer.fromParams(engine, owns, parsed);
  }

  /** A randomly initialized tokenizer (reproducible from the seed) for a preset name or a configuration. */
  static async random(preset: string | ModelConfig, seed: number, opts: TokenizerOptions = {}): Promise<Tokenizer> {
    let config: ModelConfig;
    if (typeof preset === 'string') {
      const p = PRESETS[preset];
      if (!p) throw new Error(`unknown preset "${preset}" (known: ${Object.keys(PRESETS).join(', ')})`);
      config = p;
    } else config = preset;
    const { engine, owns } = await Tokenizer.engineFor(opts);
    try {
      return new Tokenizer(engine, TokenizerModel.random(engine, config, seed), owns);
    } catch (e) {
      if (owns) engine.dispose();
      throw e;
    }
  }

  get config(): ModelConfig {
    return this.model.config;
  }

  get tokensPerImage(): number {
    return tokensPerImage(this.config);
  }

  /** Information per image: tokens · log2(codebookSize). */
  get bitsPerImage(): number {
    return this.tokensPerImage * Math.log2(this.config.codebookSize);
  }

  /** Values per image: imageSize · imageSize · 3. */
  get imageValues(): number {
    return this.config.imageSize * this.config.imageSize * 3;
  }

  private ctx(): Ctx {
    if (this.disposed) throw new Error('Tokenizer: used after dispose()');
    return { engine: this.engine, tape: null };
  }

  private static batchSize(batch: number | undefined): number {
    const b = batch ?? DEFAULT_BATCH;
    if (!Number.isInteger(b) || b < 1) throw new Error(`batch must be a positive integer, got ${b}`);
    return b;
  }

  /**
   * Token ids per image. Each image is a Float32Array [S, S, 3] (NHWC, values in [-1, 1]). Per batch:
   * one upload, the encoder, one codebook search, one read-back of the ids.
   */
  async encode(images: readonly Float32Array[], batch?: number): Promise<Uint32Array[]> {
    const ctx = this.ctx();
    const B = Tokenizer.batchSize(batch);
    const S = this.config.imageSize;
    const n = this.imageValues;
    images.forEach((img, i) => {
      if (!(img instanceof Float32Array)) throw new Error(`encode: image ${i} is not a Float32Array`);
      if (img.length !== n) throw new Error(`encode: image ${i} has ${img.length} values, expected ${S}×${S}×3 = ${n}`);
      for (let j = 0; j < n; j++) if (!Number.isFinite(img[j]!)) throw new Error(`encode: image ${i} has a non-finite value at index ${j}`);
    });
    const T = this.tokensPerImage;
    const out: Uint32Array[] = [];
    const codebook = this.model.p('vq.codebook');
    for (let i0 = 0; i0 < images.length; i0 += B) {
      const chunk = images.slice(i0, i0 + B);
      const data = new Float32Array(chunk.length * n);
      chunk.forEach((img, k) => data.set(img, k * n));
      const x = this.engine.upload(data, [chunk.length, S, S, 3]);
      const z = this.model.encode(ctx, x);
      this.engine.release(x);
      const { indices, distances } = codebookSearch(this.engine, z, codebook, { cosine: this.config.cosine });
      this.engine.release(z, distances);
      const ids = await this.engine.readU32(indices);
      this.engine.release(indices);
      for (let k = 0; k < chunk.length; k++) out.push(ids.slice(k * T, (k + 1) * T));
    }
    return out;
  }

  /** Images [S, S, 3] (NHWC, not clamped) from token ids: codebook rows through the decoder. */
  async decode(tokens: readonly Uint32Array[], batch?: number): Promise<Float32Array[]> {
    const ctx = this.ctx();
    const B = Tokenizer.batchSize(batch);
    const T = this.tokensPerImage;
    const K = this.config.codebookSize;
    tokens.forEach((ids, i) => {
      if (!(ids instanceof Uint32Array)) throw new Error(`decode: token list ${i} is not a Uint32Array`);
      if (ids.length !== T) throw new Error(`decode: token list ${i} has ${ids.length} ids, expected ${T}`);
      for (let j = 0; j < T; j++) if (ids[j]! >= K) throw new Error(`decode: token list ${i} has id ${ids[j]} at position ${j}, outside the codebook (size ${K})`);
    });
    const n = this.imageValues;
    const out: Float32Array[] = [];
    const codebook = this.model.p('vq.codebook');
    for (let i0 = 0; i0 < tokens.length; i0 += B) {
      const chunk = tokens.slice(i0, i0 + B);
      const ids = new Uint32Array(chunk.length * T);
      chunk.forEach((t, k) => ids.set(t, k * T));
      const idx = this.engine.upload(ids, [ids.length], 'u32');
      const codes = gatherRows(this.engine, codebook, idx);
      this.engine.release(idx);
      const img = this.model.decode(ctx, codes, chunk.length);
      this.engine.release(codes);
      const pixels = await this.engine.readF32(img);
      this.engine.release(img);
      for (let k = 0; k < chunk.length; k++) out.push(pixels.slice(k * n, (k + 1) * n));
    }
    return out;
  }

  /**
   * Token ids from 8-bit pixels (RGB or RGBA rows, e.g. ImageData; alpha composited on white),
   * resized (antialiased) and centre-cropped to the model size unless `resize` is false.
   */
  async encodePixels(images: readonly PixelImage[], opts: { resize?: boolean; batch?: number } = {}): Promise<Uint32Array[]> {
    const S = this.config.imageSize;
    return this.encode(images.map((img, i) => toModelInput(toRgb(img, `encodePixels: image ${i}`), S, { resize: opts.resize })), opts.batch);
  }

  /** 8-bit images from token ids: RGB rows, or RGBA (alpha 255) with channels 4, e.g. for ImageData. */
  async decodePixels(tokens: readonly Uint32Array[], opts: { channels?: 3 | 4; batch?: number } = {}): Promise<PixelImage[]> {
    const S = this.config.imageSize;
    const channels = opts.channels ?? 3;
    return (await this.decode(tokens, opts.batch)).map((x) => {
      const rgb = fromModelOutput(x, S);
      if (channels === 3) return { width: S, height: S, channels, data: rgb.rgb };
      const data = new Uint8Array(S * S * 4);
      for (let p = 0; p < S * S; p++) {
        data[4 * p] = rgb.rgb[3 * p]!;
        data[4 * p + 1] = rgb.rgb[3 * p + 1]!;
        data[4 * p + 2] = rgb.rgb[3 * p + 2]!;
        data[4 * p + 3] = 255;
      }
      return { width: S, height: S, channels, data };
    });
  }

  /** decode(encode(images)). */
  async reconstruct(images: readonly Float32Array[], batch?: number): Promise<Float32Array[]> {
    return this.decode(await this.encode(images, batch), batch);
  }

  /** The parameters, read back, by name in paramSpecs order. */
  async parameters(): Promise<Map<string, Float32Array>> {
    this.ctx();
    const out = new Map<string, Float32Array>();
    for (const s of paramSpecs(this.config)) out.set(s.name, await this.engine.readF32(this.model.p(s.name)));
    return out;
  }

  /** Saves the parameters as a safetensors checkpoint (atomically). */
  async saveCheckpoint(path: string, dtype: CheckpointDType = 'f32', metadata?: Record<string, string>): Promise<void> {
    await saveCheckpoint(path, this.config, await this.parameters(), { dtype, metadata });
  }

  /** Frees the parameters; the engine too when this tokenizer created it. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.ownsEngine) this.engine.dispose();
    else this.engine.release(...this.model.params.values());
  }
}
