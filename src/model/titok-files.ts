/** TiTok checkpoint folders on disk (Node): config.json + model.safetensors. */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { CheckpointError } from './checkpoint-format.js';
import { parseTiTokConfig, parseTiTokWeights, type ParsedTiTok } from './titok-checkpoint.js';
import type { TiTokConfig } from './titok-config.js';

/** True when `path` is a folder (a TiTok checkpoint is one; tok1d's own are single files). */
export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await fsp.stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function readIn(dir: string, name: string): Promise<Buffer> {
  try {
    return await fsp.readFile(join(dir, name));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new CheckpointError(`${dir}: no ${name} (a TiTok checkpoint folder holds config.json and model.safetensors)`);
    throw new CheckpointError(`cannot read ${join(dir, name)}: ${err.message}`);
  }
}

/** The configuration of a TiTok folder, from its config.json alone. */
export async function loadTiTokConfig(dir: string): Promise<TiTokConfig> {
  return parseTiTokConfig((await readIn(dir, 'config.json')).toString('utf8'), join(dir, 'config.json')).config;
}

/** Reads and parses a TiTok checkpoint folder. */
export async function loadTiTokDir(dir: string): Promise<ParsedTiTok> {
  const config = parseTiTokConfig((await readIn(dir, 'config.json')).toString('utf8'), join(dir, 'config.json'));
  return parseTiTokWeights(config, await readIn(dir, 'model.safetensors'), join(dir, 'model.safetensors'));
}
