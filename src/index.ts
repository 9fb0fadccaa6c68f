/**
 * tok1d for Node: images to discrete tokens and back on WebGPU (Dawn).
 *
 *   import { Tokenizer, readImage } from 'tok1d';
 *   const tok = await Tokenizer.load();                       // the bundled model
 *   const ids = await tok.encodePixels([await readImage('photo.jpg')]);
 *
 * Exports without a doc comment at their declaration carry one here, at their export: the API
 * reference (npm run docs:api) shows it.
 *
 * @module tok1d
 */

// Engine and ops.

/** An engine on a device of its own (Dawn: a hardware adapter, else llvmpipe, else SwiftShader), or on the caller's `device`, used as it is. */
export { createEngine } from './node-engine.js';
/** Options of createEngine: the engine's, plus the caller's device or the backend to acquire one on. */
export type { CreateEngineOptions } from './node-engine.js';
export { Engine, grid, type DeviceInfo } from './gpu/engine.js';
/** Engine settings: NaN-poisoning of new buffers (tests), the device error handler, and where kernel choices persist. */
export type { EngineOptions } from './gpu/engine.js';
/** Named uniform parameters for Engine.dispatch: a schema per WGSL uniform struct (paramSchema), its values by field name (schema.with). */
export { paramSchema, structType, arrayOf, ParamSchema, StructLayout, type KernelParams, type FieldType } from './gpu/params.js';
export { Tensor, type DType } from './tensor.js';
export { NoAdapterError } from './gpu/node.js';
/** The backend names createEngine and the CLI's --backend take ('auto' picks the first adapter that works). */
export { BACKENDS } from './gpu/node.js';
/** One of BACKENDS. */
export type { BackendName } from './gpu/node.js';
/** The ops: GPU kernels on tensors (matmul, attention, layernorm, elementwise, codebook search, …), each recorded on an engine and submitted at the next read-back. */
export * as ops from './ops/index.js';

// Models and the Tokenizer.

/** tok1d's own model presets by name (tiny, small, seed, …), each a complete ModelConfig. */
export { PRESETS } from './model/config.js';
export { paramSpecs, presetConfig, anyPresetConfig, tokensPerImage, UnknownPresetError, type ModelConfig, type AnyModelConfig } from './model/config.js';
export { TokenizerModel } from './model/model.js';
/** What a training forward pass of TokenizerModel returns: the reconstruction, token ids and the loss terms, as tensors. */
export type { ForwardResult } from './model/model.js';
/** A TiTok network (latent-token ViT encoder, quantizer, decoder) on an engine; Tokenizer runs it. */
export { TiTokModel } from './model/titok.js';
/** True when a configuration is a TiTok model's (TiTokConfig) rather than tok1d's own (ModelConfig). */
export { isTiTok } from './model/titok-config.js';
export { TITOK_PRESETS, TITOK_SIZES, titokParamSpecs, titokFromReference, titokCosts, type TiTokConfig } from './model/titok-config.js';
export { parseTiTok, parseTiTokConfig } from './model/titok-checkpoint.js';
/** A TiTok checkpoint read: its configuration, the parameters in tok1d's layout with their stored types, and the reference's config.json. */
export type { ParsedTiTok } from './model/titok-checkpoint.js';
export { loadTiTokDir, loadTiTokConfig } from './model/titok-files.js';
export * from './model/tokenizer.js';
export { tuneModel, measuresByDefault } from './model/tune.js';
/** Options of tuneModel: the training matmuls too, and measuring again where choices are stored. */
export type { TuneModelOptions } from './model/tune.js';

// Kernel bench: a WGSL kernel checked against tok1d's float64 references and timed.

export {
  benchKernel,
  validateSpec,
  SpecError,
  LIKE_OPS,
  type KernelSpec,
  type KernelBinding,
  type LikeCheck,
  type LikeOp,
  type CheckFunction,
  type CheckContext,
  type HostArray,
  type KernelBenchOptions,
  type KernelBenchReport,
  type KernelBenchResult,
} from './bench/custom.js';
export { compareReports, formatComparison, type Comparison, type CompareRow, type Verdict } from './bench/compare.js';

// Image files and datasets.

export { readImage, writeImage, readImageInfo, decodeImageFile, ImageError, DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, type ImageInfo, type ImageFormat, type RgbImage } from './io/image.js';
export type { DecodeOptions as ReadImageOptions } from './io/image.js';
export * from './io/dataset.js';

// Training.

export { Tape } from './autograd/tape.js';
export { Trainer, type StepLosses } from './train/trainer.js';
/** Trainer settings: peak and final learning rate, warm-up and run length, weight decay, Adam's betas, gradient clipping and loss weights. */
export type { TrainerOptions } from './train/trainer.js';
export { AdamW, Ema, gradNorm, clipGradNorm, decayFor } from './train/optim.js';
export { lrAt } from './train/schedule.js';
export { runTraining, readRunState, type RunSettings } from './train/run.js';
/** Callbacks of runTraining: log lines, per-step progress, and a stop request polled after each step. */
export type { RunHooks } from './train/run.js';
/** One training step's metrics as runTraining reports them: step, learning rate, losses, gradient norm, codebook usage and milliseconds. */
export type { TrainMetrics } from './train/run.js';
/** One validation pass's metrics as runTraining reports them: step, MSE, PSNR, code usage and the number of images. */
export type { ValMetrics } from './train/run.js';

// Checkpoints and token files.

export {
  CheckpointError,
  saveCheckpoint,
  loadCheckpoint,
  serializeCheckpoint,
  parseCheckpoint,
  writeFileAtomic,
  f32ToF16,
  f16ToF32,
  canonicalConfigJson,
} from './model/checkpoint.js';
/** How a checkpoint stores its parameters: 'f32' or 'f16'. */
export type { CheckpointDType } from './model/checkpoint.js';
/** Options of saveCheckpoint and serializeCheckpoint: the storage type and extra metadata. */
export type { SaveCheckpointOptions } from './model/checkpoint.js';
/** A tok1d checkpoint read: its model configuration, every parameter by name and their stored types. */
export type { ParsedCheckpoint } from './model/checkpoint.js';
export { TokenFileError, configHash, formatJsonlLine, parseJsonl, writeJsonl, tokHeaderFor, serializeTok, parseTok, writeTokFile, appendTokFile } from './io/tokens.js';
/** The records of a JSONL token file, checked against the model's tokens per image and codebook size when given. */
export { readJsonl } from './io/tokens.js';
/** The header and records of a .tok file (see ReadTokOptions for the checks and recovery). */
export { readTokFile } from './io/tokens.js';
/** One image's token ids in a token file, with the file it came from. */
export type { TokenRecord } from './io/tokens.js';
/** A .tok file's header: the model's config hash, tokens per image, codebook size and bytes per id. */
export type { TokHeader } from './io/tokens.js';
/** Options of readTokFile and parseTok: the model the ids must come from, and recovery of a torn append. */
export type { ReadTokOptions } from './io/tokens.js';
