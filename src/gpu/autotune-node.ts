/**
 * The Node store of kernel choices: one JSON file, cacheDir()/autotune.json by default, written
 * whole through a temporary file and a rename (a reader never sees half a file; concurrent
 * writers lose at most the other's latest entries, which the next tuning run measures again).
 * Browser builds use the in-memory store of autotune.ts and never load this module.
 */
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { TuneStore } from './autotune.js';
import { cacheDir } from './node.js';

export class FileTuneStore implements TuneStore {
  constructor(readonly where: string = defaultTunePath()) {}

  async read(): Promise<string | null> {
    try {
      return await readFile(this.where, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  async write(text: string): Promise<void> {
    await mkdir(dirname(this.where), { recursive: true });
    const tmp = join(dirname(this.where), `.${basename(this.where)}.${process.pid}.tmp`);
    try {
      await writeFile(tmp, text);
      await rename(tmp, this.where);
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw e;
    }
  }
}

/** cacheDir()/autotune.json (TOK1D_CACHE_DIR, else $XDG_CACHE_HOME/tok1d or ~/.cache/tok1d). */
export function defaultTunePath(): string {
  return join(cacheDir(), 'autotune.json');
}
