/**
 * The library API shared by the Node and browser entries: images → token ids → images on the GPU.
 * Only engine acquisition and file I/O differ between the two; each entry installs a TokenizerHost
 * (src/model/tokenizer.ts for Node, src/browser.ts for pages) and re-exports Tokenizer.
 *
 *   const tok = await Tokenizer.load(source);   // Node: a path; browser: a URL; both: bytes
 *   const ids = await tok.encode([image]);      // Float32Array [S, S, 3] in [-1, 1], 8-bit pixels,
 *                                               // a GPUTexture, a GPUBuffer of pixels, an ImageBitmap
 *   const [back] = await tok.decode(ids);
 *   tok.dispose();
 *
 * Embedding (an application's own device): encodeToBuffer() leaves the ids in a GPUBuffer the app
 * binds in its own pipelines, decode()/decodeTo() read ids from such a buffer and decodeTo() writes
 * images into the app's textures or buffers, all without a round trip through the CPU. Every call
 * runs inside its own validation / out-of-memory / internal error scopes, which it always pops, so
 * its GPU errors reject that call and never reach the app's uncapturederror handler; calls on one
 * tokenizer run one at a time.
 */
import type { Ctx } from '../autograd/functions.js';
import type { Engine } from '../gpu/engine.js';
import { parametersLimitError } from '../gpu/limits.js';
import type { BackendName } from '../gpu/node.js';
import { codebookLookup, codebookSearch } from '../ops/codebook.js';
import { affine } from '../ops/elementwise.js';
import { checkHalfTextures, wantsHalfTexture } from '../ops/matmul.js';
import { measuresByDefault, tuneModel } from './tune.js';
import { checkPixelSource, checkRgbaTarget, checkTextureTarget, modelOutputToRgba, modelOutputToTexture, pixelsToModelInput } from '../ops/pixels.js';
import { numel, Tensor } from '../tensor.js';
import { CheckpointError, serializeCheckpoint, type CheckpointDType, type ParsedCheckpoint, type SaveCheckpointOptions } from './checkpoint-format.js';
import { anyParamSpecs, anyPresetConfig, tokensPerImage, type AnyModelConfig, type ModelConfig } from './config.js';
import { TokenizerModel } from './model.js';
import { TiTokModel } from './titok.js';
import { parseAnyCheckpoint, serializeTiTok, serializeTiTokFile, type ParsedTiTok, type TiTokFiles } from './titok-checkpoint.js';
import { isTiTok, titokBits, type TiTokConfig } from './titok-config.js';
import { currentHost } from './tokenizer-host.js';
import { fromModelOutput, toModelInput, type RgbImage } from '../io/pixels.js';

/** Where a tokenizer runs (its engine, device or backend) and how it loads: for Tokenizer.load and Tokenizer.random. */
export interface TokenizerOptions {
  /** Run on this engine (it stays the caller's: dispose() leaves it alone). */
  engine?: Engine;
  /** Otherwise create an engine on this device (the device stays the caller's)… */
  device?: GPUDevice;
  /** …or (Node) acquire one on this backend (default: TOK1D_BACKEND, else automatic). */
  backend?: BackendName;
  /** load(): the configuration the checkpoint must have (a mismatch is a CheckpointError). */
  config?: ModelConfig;
  /**
   * Kernel choices for this device (src/gpu/autotune.ts), kept per adapter + driver + shape class:
   * 'stored' uses the stored choices and the fixed rule elsewhere, measuring nothing; 'measure'
   * first times the candidates of every shape class the store lacks (once per device: later loads
   * reuse them) and saves them; 'auto' (default) measures on hardware adapters and not on CPU
   * executors, where compiling and timing every candidate took 80–105 s for one preset on llvmpipe
   * (`tok1d bench --tune` does it there ahead of time).
   */
  tune?: 'auto' | 'stored' | 'measure';
  /**
   * Browser, load() of the bundled model: the URL of the package folder, where
   * `models/default.safetensors` is fetched from (default: the folder two levels above the bundle,
   * as in the package: dist/browser/tok1d.js). Ignored in Node and for any other source.
   */
  baseUrl?: string | URL;
}


/** 8-bit pixels, row-major, RGB (channels 3) or RGBA (channels 4, e.g. ImageData). */
export interface PixelImage {
  width: number;
  height: number;
  data: Uint8Array | Uint8ClampedArray;
  /** Default: 4 when data has width·height·4 bytes, else 3. */
  channels?: 3 | 4;
}

/**
 * Pixels in a GPUBuffer. 'rgba8unorm' (default): packed RGBA, 4 bytes per pixel, R first (the bytes
 * of an ImageData or of copyTextureToBuffer), any size; as an encode input the buffer needs STORAGE
 * or COPY_SRC usage, as a decodeTo target STORAGE. 'model-f32': the model's own layout, f32 [S, S, 3]
 * NHWC in [-1, 1] (width = height = S; no resizing), copied with COPY_SRC / COPY_DST usage.
 */
export interface GpuPixels {
  buffer: GPUBuffer;
  width: number;
  height: number;
  format?: 'rgba8unorm' | 'model-f32';
  /** Byte offset of the first pixel (multiple of 4; default 0). */
  offset?: number;
  /** rgba8unorm: bytes from one row to the next (default 4 · width). */
  bytesPerRow?: number;
}

/** Browser image sources copied to the GPU with copyExternalImageToTexture (ImageBitmap, canvas, img, video, VideoFrame). */
export type ExternalImage = Exclude<GPUCopyExternalImageSource, ImageData>;

/**
 * One image to encode: the model input itself (Float32Array [S, S, 3] in [-1, 1]), 8-bit pixels
 * (PixelImage, which an ImageData is), a GPUTexture (float-sampleable format, TEXTURE_BINDING or
 * COPY_SRC usage), a GpuPixels buffer, or (browser) an ExternalImage. Everything but the model input
 * is resized (antialiased) and centre-cropped to S × S unless `resize` is false, with alpha
 * composited on white. Float32Array and PixelImage inputs are prepared on the CPU (toModelInput);
 * GPU inputs on the GPU (kernels/pixels.wgsl), which matches the CPU path to about 1e-6.
 */
export type ImageInput = Float32Array | PixelImage | GPUTexture | GpuPixels | ExternalImage;

/** Token ids in a GPUBuffer: `images` lists of tokensPerImage u32 ids each, from byte `offset`. */
export interface TokenBuffer {
  buffer: GPUBuffer;
  images: number;
  /** Byte offset of the first id (multiple of 4; default 0). */
  offset?: number;
}

/** Where decodeTo writes one image: an rgba8unorm texture (STORAGE_BINDING, at least S × S; top-left S × S written) or a buffer. */
export type DecodeTarget = GPUTexture | Omit<GpuPixels, 'width' | 'height'>;

/** Options of encode() and the other calls that take images: batch size and resizing. */
export interface EncodeOptions {
  /** Images per GPU batch (default DEFAULT_BATCH). */
  batch?: number;
  /** Resize and centre-crop pixel inputs to the model size (default true); false: they must be S × S. */
  resize?: boolean;
}

/** Options of decode() and the other calls that produce images: batch size and (TiTok) prefix decoding. */
export interface DecodeOptions {
  /** Images per GPU batch (default DEFAULT_BATCH). */
  batch?: number;
  /**
   * Decode only the first k tokens of each list (TiTok models: a prefix of the latent tokens;
   * 1 ≤ k ≤ tokensPerImage). Default: every token given. Lists may also simply be k long.
   */
  tokens?: number;
}

/** Options of encodeToBuffer(): encode's, and which GPUBuffer (and byte offset) receives the ids. */
export interface EncodeToBufferOptions extends EncodeOptions {
  /** Write into this buffer (COPY_DST usage) at byte `offset`; default: a new buffer the caller owns. */
  into?: GPUBuffer;
  offset?: number;
}

/** Images per GPU batch when encode/decode are not told. */
export const DEFAULT_BATCH = 16;

/**
 * The model input for 8-bit pixels, as encode() prepares them on the CPU: RGB (alpha composited on
 * white), resized and centre-cropped to size × size unless `resize` is false; [size, size, 3] in [-1, 1].
 */
export function prepareImage(img: PixelImage, size: number, opts: { resize?: boolean } = {}): Float32Array {
  return toModelInput(toRgb(img, 'prepareImage'), size, opts);
}

/** 8-bit RGB (an RgbImage) from RGB or RGBA pixels, alpha composited on white (as PNG input is); `what` names the caller in errors. */
export function toRgb(img: PixelImage, what: string): RgbImage {
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

function isTexture(x: unknown): x is GPUTexture {
  return typeof x === 'object' && x !== null && typeof (x as GPUTexture).createView === 'function' && typeof (x as GPUTexture).format === 'string';
}

function isGpuBuffer(x: unknown): x is GPUBuffer {
  return typeof x === 'object' && x !== null && typeof (x as GPUBuffer).mapAsync === 'function' && typeof (x as GPUBuffer).usage === 'number';
}

function isGpuPixels(x: unknown): x is GpuPixels {
  return typeof x === 'object' && x !== null && isGpuBuffer((x as GpuPixels).buffer);
}

function isPixelImage(x: unknown): x is PixelImage {
  if (typeof x !== 'object' || x === null) return false;
  const d = (x as PixelImage).data;
  return d instanceof Uint8Array || d instanceof Uint8ClampedArray;
}

/** Displayed size of a browser image source. */
function externalSize(src: ExternalImage): { width: number; height: number } {
  const s = src as unknown as Record<string, number | undefined>;
  const width = s.displayWidth ?? s.videoWidth ?? s.naturalWidth ?? s.width ?? 0;
  const height = s.displayHeight ?? s.videoHeight ?? s.naturalHeight ?? s.height ?? 0;
  return { width, height };
}

function byteOffset(offset: number | undefined, what: string): number {
  const o = offset ?? 0;
  if (!(Number.isInteger(o) && o >= 0 && o % 4 === 0)) throw new Error(`${what}: byte offset ${o} must be a non-negative multiple of 4`);
  return o;
}

/**
 * Kernel choices for the model's shape classes at the default batch (TokenizerOptions.tune): the
 * stored ones, and with measuring the missing ones timed and stored first. Classes without a
 * choice use the fixed per-device rule.
 */
async function chooseKernels(engine: Engine, config: AnyModelConfig, mode: TokenizerOptions['tune'] = 'auto'): Promise<void> {
  const measure = mode === 'measure' || (mode === 'auto' && measuresByDefault(engine));
  await tuneModel(engine, config, DEFAULT_BATCH, { measure });
}

/** What Tokenizer.load takes: a path (Node) or URL (browser), checkpoint bytes, or 'default'. */
export type CheckpointSource = string | URL | Uint8Array | ArrayBuffer;

/** The name Tokenizer.load takes for the model bundled with the package (also load() with no argument). */
export const DEFAULT_MODEL = 'default';

/** The end of every message about a wrong Tokenizer.load argument. */
export const CHECKPOINT_SOURCES =
  "Tokenizer.load takes a tok1d checkpoint (.safetensors) or a TiTok checkpoint folder (config.json + model.safetensors) as a path (Node) or URL (browser), a checkpoint's bytes (Uint8Array or ArrayBuffer), or no argument or 'default' for the bundled model";

function isCheckpointSource(x: unknown): x is CheckpointSource | undefined {
  return x === undefined || typeof x === 'string' || x instanceof URL || x instanceof Uint8Array || x instanceof ArrayBuffer;
}

/** A wrong argument as a message shows it: its type and, for short values, the value. */
function describeArgument(x: unknown, given: boolean): string {
  if (x === undefined) return given ? 'undefined (an unset variable?)' : 'nothing';
  if (x === null) return 'null';
  if (typeof x === 'string') return x.trim() === '' ? 'an empty path' : JSON.stringify(x);
  if (typeof x === 'number' || typeof x === 'boolean' || typeof x === 'bigint') return `the ${typeof x} ${String(x)}`;
  if (typeof x === 'object') return `${Array.isArray(x) ? 'an array' : `an object (${(x as object).constructor?.name ?? 'no prototype'})`}`;
  return `a ${typeof x}`;
}

/** Checkpoint bytes parsed; an unreadable one is a CheckpointError that says what load() accepts. */
function parseBytes(bytes: Uint8Array, expected?: ModelConfig): ParsedCheckpoint | ParsedTiTok {
  try {
    return parseAnyCheckpoint(bytes, expected);
  } catch (e) {
    if (e instanceof CheckpointError && bytes.length < 8) throw new CheckpointError(`the ${bytes.length} bytes given are not a checkpoint; ${CHECKPOINT_SOURCES}`);
    throw e;
  }
}

/**
 * A model on the GPU: images to token ids (encode, encodePixels) and back (decode, decodePixels,
 * decodeTo), continuous latents for TiTok VAEs, and checkpoint export. Made by Tokenizer.load
 * (a checkpoint, or the bundled model) or Tokenizer.random; dispose() frees it.
 */
export class Tokenizer {
  private disposed = false;
  /** Calls run one at a time (their error scopes nest correctly and the engine's encoder is not shared). */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly engine: Engine,
    /** The network: tok1d's patch-token model or a TiTok model. */
    readonly model: TokenizerModel | TiTokModel,
    private readonly ownsEngine: boolean,
  ) {
    // Inference only: a weight whose packed matmul texture holds it drops its buffer (CPU
    // executors), so it is not resident twice. Training builds its models without a Tokenizer.
    for (const t of model.params.values()) t.evictable = true;
  }

  private static async engineFor(opts: TokenizerOptions): Promise<{ engine: Engine; owns: boolean }> {
    if (opts.engine) return { engine: opts.engine, owns: false };
    return { engine: await currentHost().createEngine({ device: opts.device, backend: opts.backend }), owns: true };
  }

  private static async fromParams(engine: Engine, owns: boolean, parsed: Pick<ParsedCheckpoint | ParsedTiTok, 'config' | 'params' | 'dtypes'>, tune: TokenizerOptions['tune']): Promise<Tokenizer> {
    const tensors = new Map<string, Tensor>();
    try {
      await Tokenizer.scoped(engine, 'load', async () => {
        const tooLarge = parametersLimitError(engine.limits, anyParamSpecs(parsed.config).map((s) => [s.name, numel(s.shape)]));
        if (tooLarge) throw tooLarge;
        for (const s of anyParamSpecs(parsed.config)) {
          const t = engine.upload(parsed.params.get(s.name)!, s.shape);
          // Stored as f16: every value is exactly a float16 (matmul may keep half textures of it).
          t.f16Exact = parsed.dtypes.get(s.name) === 'F16';
          tensors.set(s.name, t);
        }
        engine.flush();
      });
      // Large f16 weights may live in half-precision textures, once checked on this device.
      if ([...tensors.values()].some(wantsHalfTexture)) await checkHalfTextures(engine);
      await chooseKernels(engine, parsed.config, tune);
      const c = parsed.config;
      return new Tokenizer(engine, isTiTok(c) ? new TiTokModel(engine, c, tensors) : new TokenizerModel(engine, c, tensors), owns);
    } catch (e) {
      engine.release(...tensors.values());
      if (owns) engine.dispose();
      throw e;
    }
  }

  /**
   * A tokenizer from a checkpoint (validated before any GPU work). With no argument or `'default'`,
   * the model bundled with the package (models/default.safetensors: found next to the package in
   * Node; in the browser fetched relative to the bundle, or to `opts.baseUrl`). Otherwise a tok1d
   * checkpoint file or a TiTok checkpoint folder (config.json + model.safetensors, as the reference
   * publishes them) by path in Node, by URL in the browser (a folder URL ends in '/'), or a tok1d
   * checkpoint's bytes anywhere. Anything else is a TypeError; a file or folder that is not a
   * checkpoint a CheckpointError naming it.
   */
  static async load(): Promise<Tokenizer>;
  static async load(source: CheckpointSource, opts?: TokenizerOptions): Promise<Tokenizer>;
  static async load(source?: CheckpointSource, opts: TokenizerOptions = {}): Promise<Tokenizer> {
    // load() is the bundled model; load(undefined) is a missing argument (e.g. an unset variable).
    const given = arguments.length > 0;
    if (!isCheckpointSource(source) || (source === undefined && given) || (typeof source === 'string' && source.trim() === ''))
      throw new TypeError(`Tokenizer.load: got ${describeArgument(source, given)}; ${CHECKPOINT_SOURCES}`);
    if (typeof opts !== 'object' || opts === null) throw new TypeError(`Tokenizer.load: the options must be an object, got ${describeArgument(opts, true)}`);
    const h = currentHost();
    const where = source === undefined || source === DEFAULT_MODEL ? h.defaultCheckpoint(opts.baseUrl) : source;
    const parsed =
      typeof where === 'string' || where instanceof URL
        ? await h.readCheckpoint(where, opts.config)
        : parseBytes(where instanceof Uint8Array ? where : new Uint8Array(where), opts.config);
    if (opts.config && isTiTok(parsed.config) !== isTiTok(opts.config)) throw new CheckpointError(`checkpoint is a ${isTiTok(parsed.config) ? 'TiTok' : 'tok1d'} model, not the configuration asked for`);
    const { engine, owns } = await Tokenizer.engineFor(opts);
    return Tokenizer.fromParams(engine, owns, parsed, opts.tune);
  }

  /** A randomly initialized tokenizer (reproducible from the seed) for a preset name or a configuration. */
  static async random(preset: string | AnyModelConfig, seed: number, opts: TokenizerOptions = {}): Promise<Tokenizer> {
    const config = typeof preset === 'string' ? anyPresetConfig(preset) : preset;
    const { engine, owns } = await Tokenizer.engineFor(opts);
    let model: TokenizerModel | TiTokModel | undefined;
    try {
      await Tokenizer.scoped(engine, 'random', async () => {
        model = isTiTok(config) ? TiTokModel.random(engine, config, seed) : TokenizerModel.random(engine, config, seed);
        engine.flush();
      });
      await chooseKernels(engine, config, opts.tune);
      return new Tokenizer(engine, model!, owns);
    } catch (e) {
      if (owns) engine.dispose();
      else if (model) engine.release(...model.params.values());
      throw e;
    }
  }

  get config(): AnyModelConfig {
    return this.model.config;
  }

  /** The TiTok configuration, or null for tok1d's patch-token models. */
  get titok(): TiTokConfig | null {
    return isTiTok(this.config) ? this.config : null;
  }

  get tokensPerImage(): number {
    return tokensPerImage(this.config);
  }

  /** Information per image: tokens · log2(codebookSize) (a TiTok VAE: its latents as float16). */
  get bitsPerImage(): number {
    const t = this.titok;
    return t ? titokBits(t) : this.tokensPerImage * Math.log2(this.config.codebookSize);
  }

  /** Bits of the first k tokens of an image (prefix decoding). */
  bitsForTokens(k: number): number {
    const t = this.titok;
    return t ? titokBits(t, k) : k * Math.log2(this.config.codebookSize);
  }

  /** True for models with continuous latents (TiTok VAE): encodeLatents/decodeLatents instead of ids. */
  get continuous(): boolean {
    return this.titok?.quantizeMode === 'vae';
  }

  /** The codebook tensor and whether its search is l2-normalized (cosine). */
  private quantizer(what: string): { codebook: Tensor; cosine: boolean } {
    const t = this.titok;
    if (t?.quantizeMode === 'vae') throw new Error(`${what}: this TiTok model is a VAE (continuous latents, no token ids); use encodeLatents / decodeLatents or reconstruct`);
    if (t) return { codebook: this.model.p('quantize.embedding.weight'), cosine: t.useL2Norm };
    return { codebook: this.model.p('vq.codebook'), cosine: (this.config as ModelConfig).cosine };
  }

  /** Encoder output [b·T, C] of a batch x [b, S, S, 3] in [-1, 1] (TiTok reads [0, 1]: mapped here). */
  private encodeLatent(ctx: Ctx, x: Tensor): Tensor {
    if (this.model instanceof TokenizerModel) return this.model.encode(ctx, x);
    const unit = affine(this.engine, x, 0.5, 0.5);
    const z = this.model.encode(ctx, unit);
    this.engine.release(unit);
    return z;
  }

  /** Images [b, S, S, 3] in [-1, 1] from code vectors [b·k, C] (TiTok's [0, 1] output mapped back). */
  private decodeLatent(ctx: Ctx, codes: Tensor, batch: number): Tensor {
    if (this.model instanceof TokenizerModel) return this.model.decode(ctx, codes, batch);
    const unit = this.model.decode(ctx, codes, batch);
    const img = affine(this.engine, unit, 2, -1);
    this.engine.release(unit);
    return img;
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
   * Runs `fn` inside validation, out-of-memory and internal error scopes on the engine's device and
   * pops all three whatever happens; a GPU error caught there rejects the call.
   */
  private static async scoped<T>(engine: Engine, what: string, fn: () => Promise<T>): Promise<T> {
    const device = engine.device;
    device.pushErrorScope('internal');
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    let value: T | undefined;
    let failure: unknown;
    let failed = false;
    try {
      value = await fn();
    } catch (e) {
      failed = true;
      failure = e;
    }
    const popped = await Promise.allSettled([device.popErrorScope(), device.popErrorScope(), device.popErrorScope()]);
    if (failed) throw failure;
    const errors = popped.map((p) => (p.status === 'fulfilled' ? p.value?.message : String(p.reason))).filter((m): m is string => !!m);
    if (errors.length) throw new Error(`${what}: WebGPU error: ${errors.join('\n')}`);
    return value as T;
  }

  /**
   * One call at a time, inside its error scopes. Work recorded before a failure is submitted at
   * once, while the resources it names (possibly the app's) still exist.
   */
  private run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(() => {
      this.ctx();
      return Tokenizer.scoped(this.engine, what, async () => {
        try {
          return await fn();
        } catch (e) {
          this.engine.flush();
          throw e;
        }
      });
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  private static encodeOptions(opts: number | EncodeOptions | undefined): EncodeOptions {
    return typeof opts === 'number' || opts === undefined ? { batch: opts } : opts;
  }

  /** Checks every input before anything is recorded (a failing call leaves no work behind that uses the app's resources). */
  private checkInputs(images: readonly ImageInput[], resize: boolean | undefined, what: string): void {
    const S = this.config.imageSize;
    const n = this.imageValues;
    images.forEach((img, i) => {
      const where = `${what}: image ${i}`;
      if (img instanceof Float32Array) {
        if (img.length !== n) throw new Error(`${where} has ${img.length} values, expected ${S}×${S}×3 = ${n}`);
        for (let j = 0; j < n; j++) if (!Number.isFinite(img[j]!)) throw new Error(`${where} has a non-finite value at index ${j}`);
      } else if (isPixelImage(img)) {
        const px = img.width * img.height;
        const ch = img.channels ?? (img.data.length === px * 4 ? 4 : 3);
        if (!(Number.isInteger(px) && px > 0) || img.data.length !== px * ch) throw new Error(`${where} has ${img.data.length} bytes for ${img.width}×${img.height}×${ch}`);
        if (resize === false && (img.width !== S || img.height !== S)) throw new Error(`${where} is ${img.width}×${img.height}; without resizing it must be ${S}×${S}`);
      } else if (isTexture(img)) {
        if (!(img.usage & (GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_SRC))) throw new Error(`${where}: the texture needs TEXTURE_BINDING or COPY_SRC usage`);
        checkPixelSource(this.engine, img, S, { resize, copied: !(img.usage & GPUTextureUsage.TEXTURE_BINDING) }, where);
      } else if (isGpuPixels(img)) {
        const offset = byteOffset(img.offset, where);
        if ((img.format ?? 'rgba8unorm') === 'model-f32') {
          if (img.width !== S || img.height !== S) throw new Error(`${where} is a model-f32 buffer of ${img.width}×${img.height}; it must be ${S}×${S}`);
          if (!(img.buffer.usage & GPUBufferUsage.COPY_SRC)) throw new Error(`${where}: a model-f32 buffer needs COPY_SRC usage`);
          if (offset + n * 4 > img.buffer.size) throw new Error(`${where}: ${n * 4} bytes from offset ${offset} exceed the ${img.buffer.size}-byte buffer`);
        } else if (img.buffer.usage & GPUBufferUsage.STORAGE) {
          checkPixelSource(this.engine, { ...img, offset }, S, { resize }, where);
        } else {
          if (!(img.buffer.usage & GPUBufferUsage.COPY_SRC)) throw new Error(`${where}: the pixel buffer needs STORAGE or COPY_SRC usage`);
          const bpr = img.bytesPerRow ?? 4 * img.width;
          if (!(Number.isInteger(img.width) && Number.isInteger(img.height) && img.width > 0 && img.height > 0)) throw new Error(`${where}: bad size ${img.width}×${img.height}`);
          if (!(Number.isInteger(bpr) && bpr % 4 === 0 && bpr >= 4 * img.width)) throw new Error(`${where}: bytesPerRow ${bpr} must be a multiple of 4 and at least 4 · width`);
          const bytes = (img.height - 1) * bpr + 4 * img.width;
          if (offset + bytes > img.buffer.size) throw new Error(`${where}: ${bytes} bytes from offset ${offset} exceed the ${img.buffer.size}-byte buffer`);
          if (resize === false && (img.width !== S || img.height !== S)) throw new Error(`${where} is ${img.width}×${img.height}; without resizing it must be ${S}×${S}`);
        }
      } else if (typeof img === 'object' && img !== null && typeof (this.engine.device.queue as Partial<GPUQueue>).copyExternalImageToTexture === 'function') {
        const { width, height } = externalSize(img);
        if (!(width > 0 && height > 0)) throw new Error(`${where} has no size (not loaded yet?)`);
        if (resize === false && (width !== S || height !== S)) throw new Error(`${where} is ${width}×${height}; without resizing it must be ${S}×${S}`);
      } else {
        throw new Error(`${where} is not a Float32Array, pixels, GPUTexture, GPU pixel buffer or browser image`);
      }
    });
  }

  /**
   * Records the preparation of a batch tensor x [b, S, S, 3]: the inputs prepared on the CPU
   * (Float32Array, PixelImage) in one upload, then one recording per GPU input, which overwrites
   * its slot of that upload.
   */
  private prepareBatch(images: readonly ImageInput[], x: Tensor, resize: boolean | undefined, what: (k: number) => string): void {
    const n = this.imageValues;
    let host: Float32Array | null = null;
    images.forEach((img, k) => {
      if (img instanceof Float32Array) (host ??= new Float32Array(images.length * n)).set(img, k * n);
      else if (isPixelImage(img)) (host ??= new Float32Array(images.length * n)).set(prepareImage(img, this.config.imageSize, { resize }), k * n);
    });
    if (host) this.engine.write(x, host);
    images.forEach((img, k) => {
      if (!(img instanceof Float32Array) && !isPixelImage(img)) this.prepareGpu(img, x, k, resize, what(k));
    });
  }

  /** Records the preparation of image `k` of the batch tensor `x` from a GPU or browser input. */
  private prepareGpu(img: Exclude<ImageInput, Float32Array | PixelImage>, x: Tensor, k: number, resize: boolean | undefined, what: string): void {
    const e = this.engine;
    const n = this.imageValues;
    if (isTexture(img)) {
      if (img.usage & GPUTextureUsage.TEXTURE_BINDING) pixelsToModelInput(e, img, x, k, { resize });
      else {
        const copy = e.device.createTexture({ label: 'tok1d input copy', size: [img.width, img.height], format: img.format, usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST });
        e.recordCommands((enc) => enc.copyTextureToTexture({ texture: img }, { texture: copy }, [img.width, img.height]));
        pixelsToModelInput(e, copy, x, k, { resize });
        e.deferDestroy(copy);
      }
    } else if (isGpuPixels(img)) {
      const offset = byteOffset(img.offset, what);
      if ((img.format ?? 'rgba8unorm') === 'model-f32') {
        e.recordCommands((enc) => enc.copyBufferToBuffer(img.buffer, offset, x.buffer, k * n * 4, n * 4));
        x.touch();
      } else if (img.buffer.usage & GPUBufferUsage.STORAGE) {
        pixelsToModelInput(e, { ...img, offset }, x, k, { resize });
      } else {
        const bpr = img.bytesPerRow ?? 4 * img.width;
        const bytes = (img.height - 1) * bpr + 4 * img.width;
        const staged = e.empty([bytes / 4], 'u32');
        e.recordCommands((enc) => enc.copyBufferToBuffer(img.buffer, offset, staged.buffer, 0, bytes));
        pixelsToModelInput(e, { buffer: staged.buffer, width: img.width, height: img.height, bytesPerRow: bpr }, x, k, { resize });
        e.release(staged);
      }
    } else {
      const { width, height } = externalSize(img);
      const tex = e.device.createTexture({
        label: 'tok1d external image',
        size: [width, height],
        format: 'rgba8unorm',
        usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST | GPUTextureUsage.RENDER_ATTACHMENT,
      });
      e.device.queue.copyExternalImageToTexture({ source: img }, { texture: tex, premultipliedAlpha: false }, [width, height]);
      pixelsToModelInput(e, tex, x, k, { resize });
      e.deferDestroy(tex);
    }
  }

  /** Records the encoder and codebook search for each batch; `sink` gets the ids tensor [b·T] of images i0… */
  private async encodeBatches(images: readonly ImageInput[], opts: EncodeOptions, what: string, sink: (ids: Tensor, i0: number, count: number) => Promise<void> | void): Promise<void> {
    const { codebook, cosine } = this.quantizer(what);
    await this.latentBatches(images, opts, what, async (z, i0, count) => {
      const { indices, distances } = codebookSearch(this.engine, z, codebook, { cosine });
      this.engine.release(distances);
      await sink(indices, i0, count);
      this.engine.release(indices);
    });
  }

  /** Records the encoder for each batch; `sink` gets the encoder output [b·T, C] of images i0… (released after). */
  private async latentBatches(images: readonly ImageInput[], opts: EncodeOptions, what: string, sink: (z: Tensor, i0: number, count: number) => Promise<void> | void): Promise<void> {
    const ctx = this.ctx();
    const B = Tokenizer.batchSize(opts.batch);
    this.checkInputs(images, opts.resize, what);
    const S = this.config.imageSize;
    for (let i0 = 0; i0 < images.length; i0 += B) {
      const chunk = images.slice(i0, i0 + B);
      const x = this.engine.empty([chunk.length, S, S, 3]);
      this.prepareBatch(chunk, x, opts.resize, (k) => `${what}: image ${i0 + k}`);
      const z = this.encodeLatent(ctx, x);
      this.engine.release(x);
      await sink(z, i0, chunk.length);
      this.engine.release(z);
    }
  }

  /**
   * Token ids per image (see ImageInput for what an image may be). Per batch: the inputs prepared,
   * the encoder, one codebook search, one read-back of the ids. The second argument is the batch
   * size or the options.
   */
  async encode(images: readonly ImageInput[], opts?: number | EncodeOptions): Promise<Uint32Array[]> {
    return this.run('encode', () => this.encodeNow(images, opts));
  }

  private async encodeNow(images: readonly ImageInput[], opts?: number | EncodeOptions): Promise<Uint32Array[]> {
    const T = this.tokensPerImage;
    const out: Uint32Array[] = [];
    await this.encodeBatches(images, Tokenizer.encodeOptions(opts), 'encode', async (indices, _i0, count) => {
      const ids = await this.engine.readU32(indices);
      for (let k = 0; k < count; k++) out.push(ids.slice(k * T, (k + 1) * T));
    });
    return out;
  }

  /**
   * Token ids left on the GPU: images·T u32 values, image i's at byte offset + 4·T·i of the
   * returned buffer (a new one with STORAGE | COPY_SRC | COPY_DST usage that the caller owns and
   * destroys, or `into`). The work is submitted when the promise resolves; nothing is read back, so
   * the app can bind the buffer in its own pipelines on the same queue.
   */
  async encodeToBuffer(images: readonly ImageInput[], opts: EncodeToBufferOptions = {}): Promise<Required<TokenBuffer>> {
    return this.run('encodeToBuffer', async () => {
      const T = this.tokensPerImage;
      const bytes = images.length * T * 4;
      const offset = byteOffset(opts.offset, 'encodeToBuffer');
      if (opts.into) {
        if (!(opts.into.usage & GPUBufferUsage.COPY_DST)) throw new Error('encodeToBuffer: the target buffer needs COPY_DST usage');
        if (offset + bytes > opts.into.size) throw new Error(`encodeToBuffer: ${bytes} bytes of ids from offset ${offset} exceed the ${opts.into.size}-byte buffer`);
      }
      this.checkInputs(images, opts.resize, 'encodeToBuffer');
      const buffer =
        opts.into ??
        this.engine.device.createBuffer({ label: 'tok1d tokens', size: Math.max(4, bytes), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      try {
        await this.encodeBatches(images, opts, 'encodeToBuffer', (indices, i0, count) => {
          this.engine.recordCommands((enc) => enc.copyBufferToBuffer(indices.buffer, 0, buffer, offset + i0 * T * 4, count * T * 4));
        });
        this.engine.flush();
      } catch (e) {
        if (!opts.into) buffer.destroy();
        throw e;
      }
      return { buffer, images: images.length, offset };
    });
  }

  /** Checks token lists on the CPU, or a token buffer's size and usage. */
  private checkTokens(tokens: readonly Uint32Array[] | TokenBuffer, what: string, T = this.tokensPerImage): number {
    const K = this.config.codebookSize;
    if (Array.isArray(tokens)) {
      tokens.forEach((ids: Uint32Array, i: number) => {
        if (!(ids instanceof Uint32Array)) throw new Error(`${what}: token list ${i} is not a Uint32Array`);
        if (ids.length < T) throw new Error(`${what}: token list ${i} has ${ids.length} ids, expected ${T}`);
        for (let j = 0; j < T; j++) if (ids[j]! >= K) throw new Error(`${what}: token list ${i} has id ${ids[j]} at position ${j}, outside the codebook (size ${K})`);
      });
      return tokens.length;
    }
    const tb = tokens as TokenBuffer;
    if (!isGpuBuffer(tb.buffer)) throw new Error(`${what}: tokens must be Uint32Array lists or a { buffer, images } token buffer`);
    if (!(Number.isInteger(tb.images) && tb.images >= 0)) throw new Error(`${what}: bad image count ${tb.images}`);
    const offset = byteOffset(tb.offset, what);
    if (!(tb.buffer.usage & GPUBufferUsage.COPY_SRC)) throw new Error(`${what}: the token buffer needs COPY_SRC usage`);
    if (offset + tb.images * T * 4 > tb.buffer.size) throw new Error(`${what}: ${tb.images} images of ${T} ids from offset ${offset} exceed the ${tb.buffer.size}-byte buffer`);
    return tb.images;
  }

  /** Records the decoder per batch; `sink` gets the images tensor [b, S, S, 3] of images i0… */
  private async decodeBatches(tokens: readonly Uint32Array[] | TokenBuffer, opts: number | DecodeOptions | undefined, what: string, sink: (img: Tensor, i0: number, count: number) => Promise<void> | void): Promise<void> {
    const ctx = this.ctx();
    const o = typeof opts === 'object' ? opts : { batch: opts };
    const B = Tokenizer.batchSize(o.batch);
    const T = this.decodeTokens(tokens, o.tokens, what);
    const count = this.checkTokens(tokens, what, T);
    const { codebook, cosine } = this.quantizer(what);
    for (let i0 = 0; i0 < count; i0 += B) {
      const b = Math.min(B, count - i0);
      let idx: Tensor;
      if (Array.isArray(tokens)) {
        const ids = new Uint32Array(b * T);
        (tokens as readonly Uint32Array[]).slice(i0, i0 + b).forEach((t, k) => ids.set(t.subarray(0, T), k * T));
        idx = this.engine.upload(ids, [ids.length], 'u32');
      } else {
        const tb = tokens as TokenBuffer;
        idx = this.engine.empty([b * T], 'u32');
        this.engine.recordCommands((enc) => enc.copyBufferToBuffer(tb.buffer, (tb.offset ?? 0) + i0 * T * 4, idx.buffer, 0, b * T * 4));
        idx.touch();
      }
      const codes = codebookLookup(this.engine, codebook, idx, { cosine });
      this.engine.release(idx);
      const img = this.decodeLatent(ctx, codes, b);
      this.engine.release(codes);
      await sink(img, i0, b);
      this.engine.release(img);
    }
  }

  /**
   * Tokens decoded per image: `want` when given, else the lists' common length (TiTok models decode
   * any prefix 1..K; tok1d's patch-token models need all of them).
   */
  private decodeTokens(tokens: readonly Uint32Array[] | TokenBuffer, want: number | undefined, what: string): number {
    const T = this.tokensPerImage;
    const prefix = this.titok !== null;
    let k = want;
    if (k === undefined && Array.isArray(tokens) && prefix && tokens.length > 0) {
      k = (tokens as readonly Uint32Array[])[0]!.length;
      (tokens as readonly Uint32Array[]).forEach((t, i) => {
        if (t.length !== k) throw new Error(`${what}: token list ${i} has ${t.length} ids and list 0 ${k}; decode lists of one length per call`);
      });
    }
    k ??= T;
    if (!(Number.isInteger(k) && k >= 1 && k <= T)) throw new Error(`${what}: ${k} tokens per image; this model takes ${prefix ? `1 to ${T}` : T}`);
    if (k !== T && !prefix) throw new Error(`${what}: this model decodes all ${T} tokens of an image; prefix decoding needs a TiTok model`);
    return k;
  }

  /**
   * Images [S, S, 3] (NHWC in [-1, 1], not clamped) from token ids: codebook rows through the
   * decoder. Ids may also come from a GPUBuffer (COPY_SRC usage); there an id outside the codebook
   * decodes as a zero code vector instead of being rejected. The second argument is the batch size
   * or the options (TiTok: `tokens` decodes a prefix).
   */
  async decode(tokens: readonly Uint32Array[] | TokenBuffer, opts?: number | DecodeOptions): Promise<Float32Array[]> {
    return this.run('decode', () => this.decodeNow(tokens, opts));
  }

  private async decodeNow(tokens: readonly Uint32Array[] | TokenBuffer, opts?: number | DecodeOptions): Promise<Float32Array[]> {
    const n = this.imageValues;
    const out: Float32Array[] = [];
    await this.decodeBatches(tokens, opts, 'decode', async (img, _i0, count) => {
      const pixels = await this.engine.readF32(img);
      for (let k = 0; k < count; k++) out.push(pixels.slice(k * n, (k + 1) * n));
    });
    return out;
  }

  /**
   * Decodes into the app's GPU resources, one target per image: an rgba8unorm texture with
   * STORAGE_BINDING usage (its top-left S × S gets the image, alpha 255) or a buffer (packed RGBA8
   * with STORAGE usage, or 'model-f32' with COPY_DST usage). The work is submitted when the promise
   * resolves; nothing is read back.
   */
  async decodeTo(tokens: readonly Uint32Array[] | TokenBuffer, targets: readonly DecodeTarget[], batch?: number): Promise<void> {
    return this.run('decodeTo', async () => {
      const count = this.checkTokens(tokens, 'decodeTo');
      if (targets.length !== count) throw new Error(`decodeTo: ${targets.length} targets for ${count} images`);
      const S = this.config.imageSize;
      const n = this.imageValues;
      targets.forEach((t, i) => {
        const what = `decodeTo: target ${i}`;
        if (isTexture(t)) checkTextureTarget(t, S, what);
        else if (typeof t === 'object' && t !== null && isGpuBuffer(t.buffer)) {
          const offset = byteOffset(t.offset, what);
          if ((t.format ?? 'rgba8unorm') === 'model-f32') {
            if (!(t.buffer.usage & GPUBufferUsage.COPY_DST)) throw new Error(`${what}: a model-f32 buffer needs COPY_DST usage`);
            if (offset + n * 4 > t.buffer.size) throw new Error(`${what}: ${n * 4} bytes from offset ${offset} exceed the ${t.buffer.size}-byte buffer`);
          } else checkRgbaTarget(this.engine, { ...t, offset }, S, what);
        } else throw new Error(`${what}: not a GPUTexture or a { buffer } target`);
      });
      await this.decodeBatches(tokens, batch, 'decodeTo', (img, i0, b) => {
        for (let k = 0; k < b; k++) {
          const t = targets[i0 + k]!;
          if (isTexture(t)) modelOutputToTexture(this.engine, img, k, t);
          else if ((t.format ?? 'rgba8unorm') === 'model-f32') {
            this.engine.recordCommands((enc) => enc.copyBufferToBuffer(img.buffer, k * n * 4, t.buffer, t.offset ?? 0, n * 4));
          } else modelOutputToRgba(this.engine, img, k, { buffer: t.buffer, offset: t.offset, bytesPerRow: t.bytesPerRow });
        }
      });
      this.engine.flush();
    });
  }

  /**
   * Token ids from 8-bit pixels (RGB or RGBA rows, e.g. ImageData; alpha composited on white),
   * resized (antialiased) and centre-cropped to the model size unless `resize` is false.
   */
  async encodePixels(images: readonly PixelImage[], opts: { resize?: boolean; batch?: number } = {}): Promise<Uint32Array[]> {
    images.forEach((img, i) => {
      if (!isPixelImage(img)) throw new Error(`encodePixels: image ${i} is not 8-bit pixels`);
    });
    return this.encode(images, opts);
  }

  /** 8-bit images from token ids: RGB rows, or RGBA (alpha 255) with channels 4, e.g. for ImageData. */
  async decodePixels(tokens: readonly Uint32Array[] | TokenBuffer, opts: { channels?: 3 | 4 } & DecodeOptions = {}): Promise<PixelImage[]> {
    return this.toPixels(await this.decode(tokens, opts), opts.channels ?? 3);
  }

  /** 8-bit RGB or RGBA images from decoded model outputs. */
  private toPixels(images: Float32Array[], channels: 3 | 4): PixelImage[] {
    const S = this.config.imageSize;
    return images.map((x) => {
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

  /**
   * decode(encode(images)); for a TiTok VAE, decodeLatents(encodeLatents(images)) (the posterior
   * mean). The second argument is the batch size or the options (TiTok: `tokens` decodes a prefix).
   */
  async reconstruct(images: readonly ImageInput[], opts?: number | DecodeOptions): Promise<Float32Array[]> {
    const o = typeof opts === 'object' ? opts : { batch: opts };
    if (this.continuous) return this.decodeLatents(await this.encodeLatents(images, { batch: o.batch }), o);
    return this.decode(await this.encode(images, { batch: o.batch }), o);
  }

  /**
   * The encoder's output per image, before quantization: [T, C] row-major (TiTok: K latent tokens of
   * token_size channels; a VAE's posterior mean, i.e. what its decoder reads).
   */
  /**
   * Compiles, all at once and in parallel (createComputePipelineAsync), the pipelines that encode
   * and decode will use for `batch` images at a time (default 1), instead of one after another at
   * their first use: a page on a CPU adapter (SwiftShader) spends most of its first encode
   * compiling. The work is traced without being run (Engine.tracePipelines), in turn with this
   * tokenizer's other calls; other users of its engine must not run meanwhile. Resolves once
   * every pipeline is compiled; returns how many were.
   *
   * `kernels: 'fast'`: on CPU executors small work runs, by default, on kernels that compile
   * quickly but run several times slower (Engine.quickCompileFlops). This compiles the fast ones
   * instead and, once they are all compiled, switches the engine to them. While they compile,
   * this tokenizer's calls run (on the quick kernels), so a page can show its first tokens and
   * upgrade in the background. The fast kernels add in another order, so a code at a near-tie of
   * the codebook search can change.
   */
  async warmup(opts: { batch?: number; kernels?: 'quick' | 'fast' } = {}): Promise<number> {
    const batch = Tokenizer.batchSize(opts.batch ?? 1);
    const fast = opts.kernels === 'fast';
    if (opts.kernels !== undefined && opts.kernels !== 'quick' && !fast) throw new TypeError(`warmup: kernels must be 'quick' or 'fast', got ${String(opts.kernels)}`);
    const images = Array.from({ length: batch }, () => new Float32Array(this.imageValues));
    // The trace is one call in this tokenizer's queue: calls made meanwhile wait for it.
    const list = await this.run('warmup', async () => {
      const quick = this.engine.quickCompileFlops;
      if (fast) this.engine.quickCompileFlops = 0;
      try {
        return await this.engine.tracePipelines(async () => {
          if (this.continuous) await this.decodeLatentsNow(await this.encodeLatentsNow(images, { batch }), { batch });
          else await this.decodeNow(await this.encodeNow(images, { batch }), { batch });
        });
      } finally {
        this.engine.quickCompileFlops = quick;
      }
    });
    await this.engine.precompile(list);
    if (fast) this.engine.quickCompileFlops = 0;
    return list.length;
  }

  async encodeLatents(images: readonly ImageInput[], opts?: number | EncodeOptions): Promise<Float32Array[]> {
    return this.run('encodeLatents', () => this.encodeLatentsNow(images, opts));
  }

  private async encodeLatentsNow(images: readonly ImageInput[], opts?: number | EncodeOptions): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    await this.latentBatches(images, Tokenizer.encodeOptions(opts), 'encodeLatents', async (z, _i0, count) => {
      const mean = this.continuous ? (this.model as TiTokModel).posteriorMean(z) : z;
      const v = await this.engine.readF32(mean);
      if (mean !== z) this.engine.release(mean);
      const per = v.length / count;
      for (let k = 0; k < count; k++) out.push(v.slice(k * per, (k + 1) * per));
    });
    return out;
  }

  /**
   * Images (as decode() returns them) from latents [k, C] per image, row-major: a TiTok VAE's means
   * (any prefix of its K tokens, all images the same k), or any code vectors the decoder should read.
   */
  async decodeLatents(latents: readonly Float32Array[], opts?: number | DecodeOptions): Promise<Float32Array[]> {
    return this.run('decodeLatents', () => this.decodeLatentsNow(latents, opts));
  }

  private async decodeLatentsNow(latents: readonly Float32Array[], opts?: number | DecodeOptions): Promise<Float32Array[]> {
    const t = this.titok;
    if (!t) throw new Error('decodeLatents: only TiTok models decode latents');
    const o = typeof opts === 'object' ? opts : { batch: opts };
    const B = Tokenizer.batchSize(o.batch);
    const C = t.tokenSize;
    const k = o.tokens ?? (latents[0]?.length ?? 0) / C;
    latents.forEach((l, i) => {
      if (!(l instanceof Float32Array) || l.length < k * C || (o.tokens === undefined && l.length !== k * C))
        throw new Error(`decodeLatents: latents ${i} have ${l?.length} values; expected ${k} tokens of ${C}`);
      for (let j = 0; j < k * C; j++) if (!Number.isFinite(l[j]!)) throw new Error(`decodeLatents: latents ${i} have a non-finite value at ${j}`);
    });
    if (!(Number.isInteger(k) && k >= 1 && k <= t.tokens)) throw new Error(`decodeLatents: ${k} tokens per image; this model takes 1 to ${t.tokens} of ${C} values`);
    const ctx = this.ctx();
    const n = this.imageValues;
    const out: Float32Array[] = [];
    for (let i0 = 0; i0 < latents.length; i0 += B) {
      const chunk = latents.slice(i0, i0 + B);
      const data = new Float32Array(chunk.length * k * C);
      chunk.forEach((l, j) => data.set(l.subarray(0, k * C), j * k * C));
      const codes = this.engine.upload(data, [chunk.length * k, C]);
      const img = this.decodeLatent(ctx, codes, chunk.length);
      this.engine.release(codes);
      const pixels = await this.engine.readF32(img);
      this.engine.release(img);
      for (let j = 0; j < chunk.length; j++) out.push(pixels.slice(j * n, (j + 1) * n));
    }
    return out;
  }

  /** The parameters, read back, by name in paramSpecs order (TiTok: reference names, tok1d's layout). */
  async parameters(): Promise<Map<string, Float32Array>> {
    return this.run('parameters', async () => {
      const out = new Map<string, Float32Array>();
      for (const s of anyParamSpecs(this.config)) out.set(s.name, await this.engine.readF32(this.model.p(s.name)));
      return out;
    });
  }

  /**
   * A TiTok model's checkpoint folder as the reference publishes it: config.json text and
   * model.safetensors bytes (the reference code and Tokenizer.load read them back).
   */
  async titokFiles(dtype: 'F32' | 'F16' = 'F32'): Promise<TiTokFiles> {
    const t = this.titok;
    if (!t) throw new Error('titokFiles: not a TiTok model (use checkpointBytes)');
    return serializeTiTok(t, await this.parameters(), dtype);
  }

  /**
   * The parameters as one safetensors checkpoint file's bytes (what saveCheckpoint writes;
   * Tokenizer.load takes them back). A TiTok model's file holds the reference's tensors with its
   * config.json in the metadata (titokFiles() gives the reference's two-file folder instead).
   */
  async checkpointBytes(dtype: CheckpointDType = 'f32', metadata?: Record<string, string>): Promise<Uint8Array> {
    const params = await this.parameters();
    const t = this.titok;
    return t ? serializeTiTokFile(t, params, dtype === 'f16' ? 'F16' : 'F32', metadata) : serializeCheckpoint(this.config as ModelConfig, params, { dtype, metadata });
  }

  /** Saves the parameters as a safetensors checkpoint (atomically; Node only: use checkpointBytes() in a page). */
  async saveCheckpoint(path: string, dtype: CheckpointDType = 'f32', metadata?: Record<string, string>): Promise<void> {
    const h = currentHost();
    if (!h.writeCheckpoint) throw new Error('saveCheckpoint: no file system here; use checkpointBytes() and store the bytes yourself');
    await h.writeCheckpoint(path, await this.checkpointBytes(dtype, metadata));
  }

  /** Frees the parameters; the engine too when this tokenizer created it. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.ownsEngine) this.engine.dispose();
    else this.engine.release(...this.model.params.values());
  }
}
