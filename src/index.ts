/** tok1d for Node. */
export { createEngine, type CreateEngineOptions } from './node-engine.js';
export { Engine, grid, type DeviceInfo, type EngineOptions } from './gpu/engine.js';
export { Tensor, type DType } from './tensor.js';
export { NoAdapterError, BACKENDS, type BackendName } from './gpu/node.js';
export * as ops from './ops/index.js';
export { PRESETS, paramSpecs, presetConfig, anyPresetConfig, tokensPerImage, UnknownPresetError, type ModelConfig, type AnyModelConfig } from './model/config.js';
export { TokenizerModel, type ForwardResult } from './model/model.js';
export { TiTokModel } from './model/titok.js';
export { TITOK_PRESETS, TITOK_SIZES, titokParamSpecs, titokFromReference, titokCosts, isTiTok, type TiTokConfig } from './model/titok-config.js';
export { parseTiTok, parseTiTokConfig, type ParsedTiTok } from './model/titok-checkpoint.js';
export { loadTiTokDir, loadTiTokConfig } from './model/titok-files.js';
export { Tape } from './autograd/tape.js';
export { Trainer, type TrainerOptions, type StepLosses } from './train/trainer.js';
export { tuneModel, measuresByDefault, type TuneModelOptions } from './model/tune.js';
export { AdamW, Ema, gradNorm, clipGradNorm, decayFor } from './train/optim.js';
export { lrAt } from './train/schedule.js';
export * from './model/tokenizer.js';
export { runTraining, readRunState, type RunSettings, type RunHooks, type TrainMetrics, type ValMetrics } from './train/run.js';
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
  type CheckpointDType,
  type SaveCheckpointOptions,
  type ParsedCheckpoint,
} from './model/checkpoint.js';
export {
  TokenFileError,
  configHash,
  formatJsonlLine,
  parseJsonl,
  readJsonl,
  writeJsonl,
  tokHeaderFor,
  serializeTok,
  parseTok,
  readTokFile,
  writeTokFile,
  appendTokFile,
  type TokenRecord,
  type TokHeader,
  type ReadTokOptions,
} from './io/tokens.js';
