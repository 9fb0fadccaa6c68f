import { readFileSync } from 'node:fs';
import { CheckpointError } from '../model/checkpoint.js';
import type { AnyModelConfig } from '../model/config.js';
import { parseAnyCheckpoint } from '../model/titok-checkpoint.js';
import { UserError } from './errors.js';

/** The model configuration stored in a checkpoint (user-facing errors as UserError). */
export async function loadCheckpointConfig(path: string): Promise<AnyModelConfig> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new UserError(`cannot read checkpoint ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  try {
    return parseAnyCheckpoint(bytes).config;
  } catch (e) {
    if (e instanceof CheckpointError) throw new UserError(`${path}: ${e.message}`);
    throw e;
  }
}
