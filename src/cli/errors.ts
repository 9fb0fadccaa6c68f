import { anyPresetConfig, presetConfig, UnknownPresetError, type AnyModelConfig, type ModelConfig } from '../model/config.js';

/** A mistake on the command line: one line on stderr, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A failure the user can act on (no adapter, unwritable output file): one line, exit code 3. */
export class UserError extends Error {
  override name = 'UserError';
}

export const EXIT = { ok: 0, failure: 1, usage: 2, user: 3 } as const;

/** A preset's configuration for the command line: an unknown name is a usage error listing the presets. */
export function cliPreset(name: string): ModelConfig {
  try {
    return presetConfig(name);
  } catch (e) {
    if (e instanceof UnknownPresetError) throw new UsageError(e.message);
    throw e;
  }
}

/** cliPreset over both families (commands that run TiTok presets too). */
export function cliAnyPreset(name: string): AnyModelConfig {
  try {
    return anyPresetConfig(name);
  } catch (e) {
    if (e instanceof UnknownPresetError) throw new UsageError(e.message);
    throw e;
  }
}
