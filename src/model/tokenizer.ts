/**
 * The library API in Node: images → token ids → images on the GPU, with checkpoint load/save.
 *
 *   const tok = await Tokenizer.load('model.safetensors');
 *   const ids = await tok.encode([image]);      // image: Float32Array [S, S, 3] NHWC in [-1, 1]
 *   const [back] = await tok.decode(ids);
 *   tok.dispose();
 *
 * The Tokenizer itself lives in tokenizer-core.ts (shared with the browser entry, src/browser.ts);
 * this module installs the Node host: engines through Dawn (src/node-engine.ts) and checkpoint files
 * on disk.
 */
import { fileURLToPath } from 'node:url';
import { createEngine } from '../node-engine.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { setTokenizerHost } from './tokenizer-core.js';

setTokenizerHost({
  createEngine: (opts) => createEngine(opts),
  readCheckpoint: (source, expected) => loadCheckpoint(typeof source === 'string' ? source : fileURLToPath(source), expected),
  saveCheckpoint,
});

export {
  Tokenizer,
  DEFAULT_BATCH,
  prepareImage,
  type TokenizerOptions,
  type PixelImage,
  type GpuPixels,
  type ExternalImage,
  type ImageInput,
  type TokenBuffer,
  type DecodeTarget,
  type EncodeOptions,
  type EncodeToBufferOptions,
} from './tokenizer-core.js';
