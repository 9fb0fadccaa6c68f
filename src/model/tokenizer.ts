/**
 * The library API in Node: images → token ids → images on the GPU, with checkpoint load/save.
 *
 *   const tok = await Tokenizer.load();          // the bundled model; or a path, a TiTok folder, bytes
 *   const ids = await tok.encodeFiles(['photo.jpg']);
 *   const [back] = await tok.decodePixels(ids);
 *   tok.dispose();
 *
 * The Tokenizer itself lives in tokenizer-core.ts (shared with the browser entry, src/browser.ts);
 * this module installs the Node host: engines through Dawn (src/node-engine.ts), checkpoint files
 * and TiTok checkpoint folders on disk, the bundled model's path, and image files (encodeFiles).
 */
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEngine } from '../node-engine.js';
import { encodeFiles, type ImageBatchOptions } from '../io/dataset.js';
import { CheckpointError } from './checkpoint-format.js';
import { loadAnyCheckpoint, writeFileAtomic } from './checkpoint.js';
import { loadTiTokDir } from './titok-files.js';
import { CHECKPOINT_SOURCES, Tokenizer } from './tokenizer-core.js';
import { setTokenizerHost } from './tokenizer-host.js';

/** The path of the model bundled with the package (models/default.safetensors), which `Tokenizer.load()` loads. */
export function bundledCheckpoint(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../../models/default.safetensors');
}

/** A checkpoint by path: a file, or a TiTok folder; what is wrong with it said with what load() takes. */
async function readCheckpointPath(source: string | URL, expected: Parameters<typeof loadAnyCheckpoint>[1]) {
  const path = typeof source === 'string' ? source : fileURLToPath(source);
  const kind = await stat(path).then(
    (s) => (s.isDirectory() ? 'folder' : s.isFile() ? 'file' : 'other'),
    () => 'missing',
  );
  if (kind === 'missing') throw new CheckpointError(`${path}: no such file or folder; ${CHECKPOINT_SOURCES}`);
  if (kind === 'other') throw new CheckpointError(`${path}: not a file or folder; ${CHECKPOINT_SOURCES}`);
  try {
    return await (kind === 'folder' ? loadTiTokDir(path) : loadAnyCheckpoint(path, expected));
  } catch (e) {
    // Only a file or folder that is not a checkpoint at all gets the reminder of what load() takes.
    if (e instanceof CheckpointError && /not a checkpoint|no config\.json|no model\.safetensors/.test(e.message)) throw new CheckpointError(`${e.message}; ${CHECKPOINT_SOURCES}`);
    throw e;
  }
}

setTokenizerHost({
  createEngine: (opts) => createEngine(opts),
  readCheckpoint: readCheckpointPath,
  defaultCheckpoint: () => bundledCheckpoint(),
  writeCheckpoint: (path, bytes) => writeFileAtomic(path, bytes),
});

declare module './tokenizer-core.js' {
  interface Tokenizer {
    /**
     * Node: token ids of image files (PNG, JPEG, WebP, decoded as readImage does), one list per
     * path; a file that cannot be read or decoded rejects the call with an ImageError naming it.
     * For datasets (resume, shards, failed files skipped) see tokenizeFiles.
     */
    encodeFiles(paths: readonly string[], opts?: ImageBatchOptions): Promise<Uint32Array[]>;
  }
}

Tokenizer.prototype.encodeFiles = function (this: Tokenizer, paths: readonly string[], opts?: ImageBatchOptions): Promise<Uint32Array[]> {
  return encodeFiles(this, paths, opts);
};

export * from './tokenizer-core.js';
