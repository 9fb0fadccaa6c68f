import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { IMAGE_EXTENSIONS } from '../io/image.js';
import { UsageError, UserError } from './errors.js';

/**
 * Files named on the command line (any name), and the PNG, JPEG and WebP files (.png, .jpg, .jpeg,
 * .webp in any letter case) of folders scanned recursively, in a stable sorted order.
 */
export function collectImages(paths: string[]): string[] {
  if (!paths.length) throw new UsageError('no input images or folders given');
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (IMAGE_EXTENSIONS.some((e) => name.toLowerCase().endsWith(e))) out.push(p);
    }
  };
  for (const p of paths) {
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new UserError(`${p}: no such file or folder`);
    }
    if (st.isDirectory()) walk(p);
    else out.push(p);
  }
  return out;
}

/** `--shard i/n`: the inputs whose position modulo n is i (0 ≤ i < n). */
export function parseShard(spec: string | undefined): { index: number; count: number } {
  if (spec === undefined) return { index: 0, count: 1 };
  const m = /^(\d+)\/(\d+)$/.exec(spec);
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index >= count) throw new UsageError(`--shard must be i/n with 0 ≤ i < n, not '${spec}'`);
  return { index, count };
}

export function positiveInt(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer, not '${v}'`);
  return n;
}

/** A probability option: a number in [0, 1]. */
export function probability(name: string, v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !(n >= 0 && n <= 1)) throw new UsageError(`${name} must be a number from 0 to 1, not '${v}'`);
  return n;
}
