import { readFileSync } from 'node:fs';
import { CheckpointError, parseCheckpoint } from '../model/checkpoint.js';
import type { ModelConfig } from '../model/config.js';
import { UserError } from './errors.js';

/** The model configuration stored in a checkpoint (user-facing errors as UserError). */
export async function loadCheckpointConfig(path: string): Promise<ModelConfig> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new UserError(`cannot read checkpoint ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  try {
    return parseCheckpoint(bytes).config;
  } catch (e) {
    if (e instanceof CheckpointError) throw new UserError(`${path}: ${e.message}`);
    throw e;
  }
}
