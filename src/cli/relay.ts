/**
 * Quiet output when stderr is a regular file or a socket (`tok1d … 2> log`, `> log 2>&1`, a service
 * manager's journal). Dawn prints two adapter notices from native code; withoutDawnNotices
 * (src/gpu/node.ts) removes them by briefly reopening file descriptor 2, which only works on a
 * terminal or a pipe: a socket cannot be reopened, and a reopened file would not share the offset
 * the shell's descriptor shares with stdout and later commands. There the command runs in a child
 * process whose stderr comes to this one, which passes every line but those notices on to its own
 * stderr, and passes on signals and the exit status.
 */
import { spawn } from 'node:child_process';
import { fstatSync, writeSync } from 'node:fs';
import { DAWN_NOTICE } from '../gpu/node.js';

/** Set in the child's environment so that it runs the command itself. */
const RELAYED = 'TOK1D_RELAYED';

/** True when this invocation should run the command in a child (see above). */
export function needsRelay(argv: readonly string[]): boolean {
  if (process.platform !== 'linux' || process.env[RELAYED] === '1' || process.env.TOK1D_DEBUG === '1' || argv.includes('--verbose')) return false;
  // Help and version print nothing of Dawn's.
  if (argv.length === 0 || argv.some((a) => a === '-h' || a === '--help' || a === '-V' || a === '--version')) return false;
  try {
    const st = fstatSync(2);
    return !st.isFIFO() && !st.isCharacterDevice();
  } catch {
    return false;
  }
}

/** Runs `script argv` in a child with stderr through a pipe; resolves to its exit code. */
export function relay(script: string, argv: readonly string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, script, ...argv], { stdio: ['inherit', 'inherit', 'pipe'], env: { ...process.env, [RELAYED]: '1' } });
    const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
    const forward = (s: NodeJS.Signals) => child.kill(s);
    for (const s of signals) process.on(s, forward);
    const put = (text: string) => {
      try {
        writeSync(2, text);
      } catch {
        /* stderr is gone: nothing can be shown */
      }
    };
    // Whole lines are passed on as they come; a last unterminated one at the end.
    let pending = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      const lines = (pending + chunk).split('\n');
      pending = lines.pop()!;
      const kept = lines.filter((l) => !DAWN_NOTICE.test(l));
      if (kept.length) put(`${kept.join('\n')}\n`);
    });
    child.stderr.on('end', () => pending && put(pending));
    child.on('error', (e) => {
      writeSync(2, `tok1d: cannot start the command: ${e.message}\n`);
      resolve(1);
    });
    child.on('close', (code, signal) => {
      for (const s of signals) process.off(s, forward);
      // A child ended by a signal: the shell's convention, 128 + its number.
      resolve(code ?? 128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1, SIGKILL: 9 }[signal as string] ?? 1));
    });
  });
}

/**
 * In the child: when the relaying process is gone (killed with SIGKILL, which cannot be passed on),
 * end at once as it did, rather than run on unseen.
 */
export function followRelayingParent(): void {
  if (process.env[RELAYED] !== '1') return;
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.kill(process.pid, 'SIGKILL');
  }, 250).unref();
}
