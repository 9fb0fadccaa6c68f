/** Runs the tok1d command line from the tests. */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, seen from dist/test/. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = join(ROOT, 'bin', 'tok1d.js');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/tok1d.js ...args`; resolves when the process exits on its own. */
export function tok1d(args: string[], env: Record<string, string> = {}, timeoutMs = 240_000): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete childEnv.TOK1D_DEBUG;
  if (!('TOK1D_BACKEND' in env)) delete childEnv.TOK1D_BACKEND;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: childEnv, timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const e = err as { code?: unknown; killed?: boolean } | null;
      if (e?.killed) return reject(new Error(`tok1d ${args.join(' ')} did not exit within ${timeoutMs} ms`));
      if (e && typeof e.code !== 'number') return reject(err);
      resolve({ code: typeof e?.code === 'number' ? e.code : 0, stdout, stderr });
    });
  });
}

/** Dawn prints a few "Warning:" lines of its own on stderr; everything else is ours. */
export function ownLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('Warning:'));
}

export function expectNoStack(r: Run): void {
  expect(r.stderr + r.stdout).not.to.match(/^\s+at .+(:\d+:\d+\)?|<anonymous>)$/m);
}

