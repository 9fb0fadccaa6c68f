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
 * and TiTok checkpoint folders on disk.
 */
import { fileURLToPath } from 'node:url';
import { createEngine } from '../node-engine.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { isDirectory, loadTiTokDir } from './titok-files.js';
import { setTokenizerHost } from './tokenizer-host.js';

setTokenizerHost({
  createEngine: (opts) => createEngine(opts),
  readCheckpoint: async (source, expected) => {
    const path = typeof source === 'string' ? source : fileURLToPath(source);
    return (await isDirectory(path)) ? loadTiTokDir(path) : loadCheckpoint(path, expected);
  },
  saveCheckpoint,
});

export * from './tokenizer-core.js';
