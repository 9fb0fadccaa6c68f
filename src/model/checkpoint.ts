/**
 * Checkpoint files: the safetensors format itself lives in checkpoint-format.ts (re-exported here,
 * so this stays the one import for Node code); this module adds the file I/O.
 *
 * Saving is atomic: the bytes go to a temporary file in the target's folder, which is fsynced,
 * renamed over the target, and the folder fsynced; a crash leaves either the old file or the new one.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { ModelConfig } from './config.js';
import { CheckpointError, parseCheckpoint, serializeCheckpoint, type ParsedCheckpoint, type SaveCheckpointOptions } from './checkpoint-format.js';
import { parseAnyCheckpoint, type ParsedTiTok } from './titok-checkpoint.js';

export * from './checkpoint-format.js';

const CHUNK_BYTES = 1 << 20;

// ---------------------------------------------------------------- files

async function fsyncDir(dir: string): Promise<void> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(dir, 'r');
    await fh.sync();
  } catch (e) {
    // Some platforms (Windows) and file systems cannot open or fsync a folder: nothing more to do.
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EACCES' && code !== 'ENOTSUP') throw e;
  } finally {
    await fh?.close();
  }
}

/**
 * Writes `data` to `path` atomically: a temporary file next to it (same folder, so rename stays on
 * one file system) gets the bytes in chunks and an fsync, is renamed over the target, and the folder
 * is fsynced. On any failure the temporary file is removed and the target is left as it was.
 */
export async function writeFileAtomic(path: string, data: Uint8Array, onProgress?: (written: number, total: number) => void | Promise<void>): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(tmp, 'wx', 0o644);
    let written = 0;
    while (written < data.length) {
      const n = Math.min(CHUNK_BYTES, data.length - written);
      const { bytesWritten } = await fh.write(data, written, n, written);
      written += bytesWritten;
      if (onProgress) await onProgress(written, data.length);
    }
    await fh.sync();
    await fh.close();
    fh = undefined;
    await fsp.rename(tmp, path);
  } catch (e) {
    await fh?.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
  await fsyncDir(dir);
}

/** Saves a checkpoint atomically (see writeFileAtomic); validation failures are CheckpointErrors. */
export async function saveCheckpoint(path: string, config: ModelConfig, params: ReadonlyMap<string, Float32Array>, opts: SaveCheckpointOptions = {}): Promise<void> {
  const bytes = serializeCheckpoint(config, params, opts);
  try {
    await writeFileAtomic(path, bytes, opts.onProgress);
  } catch (e) {
    if (e instanceof CheckpointError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (err.code) throw new CheckpointError(`cannot write checkpoint ${path}: ${err.message}`);
    throw e;
  }
}

/** Reads and parses a tok1d patch-token checkpoint file (see parseCheckpoint). */
export async function loadCheckpoint(path: string, expected?: ModelConfig): Promise<ParsedCheckpoint> {
  return loadWith(path, (bytes) => parseCheckpoint(bytes, expected));
}

/** Reads and parses a checkpoint file of either family (see parseAnyCheckpoint). */
export async function loadAnyCheckpoint(path: string, expected?: ModelConfig): Promise<ParsedCheckpoint | ParsedTiTok> {
  return loadWith(path, (bytes) => parseAnyCheckpoint(bytes, expected));
}

async function loadWith<T>(path: string, parse: (bytes: Uint8Array) => T): Promise<T> {
  let bytes: Uint8Array;
  try {
    bytes = await fsp.readFile(path);
  } catch (e) {
    throw new CheckpointError(`cannot read checkpoint ${path}: ${(e as Error).message}`);
  }
  try {
    return parse(bytes);
  } catch (e) {
    if (e instanceof CheckpointError) throw new CheckpointError(`${path}: ${e.message}`);
    throw e;
  }
}
