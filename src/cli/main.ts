import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BACKENDS } from '../gpu/node.js';
import { bench } from './bench.js';
import { doctor } from './doctor.js';
import { resolveBackend } from './engine.js';
import { EXIT, UsageError, UserError } from './errors.js';
import { FAMILIES } from './families.js';

type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

interface Command {
  summary: string;
  usage: string;
  options: OptionSpec;
  run(values: Record<string, string | boolean | string[] | undefined>): Promise<number>;
}

const GLOBAL_OPTIONS: OptionSpec = {
  backend: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

const GLOBAL_HELP = `Global options:
  --backend NAME   ${BACKENDS.join('|')} (default: TOK1D_BACKEND, else auto:
                   a hardware adapter, then llvmpipe through OpenGL, then SwiftShader)
  -h, --help       show help
  -V, --version    print the version

Environment: TOK1D_BACKEND (as --backend), TOK1D_DEBUG=1 (stack traces on errors).`;

const COMMANDS: Record<string, Command> = {
  doctor: {
    summary: 'describe the WebGPU device and run every kernel family\'s self-test',
    usage: `Usage: tok1d doctor [--json] [--backend NAME]

Prints the adapter, backend, feature level, software or hardware executor, features and key
limits, then runs each kernel family's self-test (${FAMILIES.join(', ')})
on a NaN-poisoning engine and prints PASS/FAIL with its time.
Exit code 0 only when every self-test passes.

Options:
  --json           print one JSON object instead of text`,
    options: { json: { type: 'boolean' } },
    run: (v) => doctor(resolveBackend(v.backend as string | undefined), v.json === true),
  },
  bench: {
    summary: 'time the kernels against the device\'s measured FMA and copy ceilings',
    usage: `Usage: tok1d bench [--suite kernels|train] [--kernel NAME] [--quick] [--runs N] [--peers] [--json FILE]

Measures the device's FMA (GFLOP/s) and copy (GB/s) ceilings with two probe kernels, then for
every bench case: checks it against the float64 reference (a failing case is reported and not
timed), warms up, and times N runs, each recording enough repetitions into one submit to last
at least 50 ms. Uses GPU timestamps where the device has 'timestamp-query', else the wall clock.
Table on stdout, progress on stderr. Exit code 1 when a case fails or a family is unavailable.

Options:
  --suite NAME     kernels (default), or train: ms per training step and images/s for the\n                   tiny and small presets at batch 8 (--kernel PRESET picks presets), and\n                   the share of step time per kernel family
  --kernel NAME    only this family or kernel (repeat or comma-separate for several)
  --quick          3 runs and only the smallest shape of each variant
  --runs N         timed runs per case (default 10; 3 with --quick)
  --peers          also time tfjs-backend-webgpu's matmul on the same device and shapes
  --json FILE      also write the results as JSON to FILE (written atomically)`,
    options: {
      suite: { type: 'string' },
      kernel: { type: 'string', multiple: true },
      quick: { type: 'boolean' },
      runs: { type: 'string' },
      peers: { type: 'boolean' },
      json: { type: 'string' },
    },
    run: (v) => {
      const quick = v.quick === true;
      const runs = v.runs === undefined ? (quick ? 3 : 10) : Number(v.runs);
      if (!Number.isInteger(runs) || runs < 1 || runs > 1000) throw new UsageError(`--runs must be an integer from 1 to 1000, not '${v.runs}'`);
      const kernels = (v.kernel as string[] | undefined)?.flatMap((k) => k.split(',')).filter(Boolean);
      if (v.json === '') throw new UsageError('--json needs a file name');
      return bench({
        backend: resolveBackend(v.backend as string | undefined),
        suite: (v.suite as string | undefined) ?? 'kernels',
        kernels: kernels?.length ? kernels : undefined,
        quick,
        runs,
        peers: v.peers === true,
        json: v.json as string | undefined,
      });
    },
  },
};

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function mainHelp(): string {
  const names = Object.keys(COMMANDS);
  const w = Math.max(...names.map((n) => n.length));
  return `tok1d ${version()}: a 1D image tokenizer on WebGPU compute kernels

Usage: tok1d <command> [options]

Commands:
${names.map((n) => `  ${n.padEnd(w)}   ${COMMANDS[n]!.summary}`).join('\n')}

Run 'tok1d <command> --help' (or 'tok1d help <command>') for a command's options.

${GLOBAL_HELP}`;
}

/** Splits off the command: the first argument that is neither an option nor the value of --backend. */
function findCommand(argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return -1;
    if (a === '--backend') {
      i++;
      continue;
    }
    if (!a.startsWith('-')) return i;
  }
  return -1;
}

function parse(args: string[], options: OptionSpec, command: string): Record<string, string | boolean | string[] | undefined> {
  try {
    const { values } = parseArgs({ args, options: { ...GLOBAL_OPTIONS, ...options }, strict: true, allowPositionals: false });
    return values as Record<string, string | boolean | string[] | undefined>;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const opt = /'([^']+)'/.exec(err.message)?.[1];
    switch (err.code) {
      case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
        throw new UsageError(`unknown option '${opt}' for '${command}'`);
      case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
        throw new UsageError(`unexpected argument '${opt}' for '${command}'`);
      default:
        throw new UsageError(err.message.split('\n')[0]!);
    }
  }
}

function helpHint(command?: string): string {
  return command && COMMANDS[command] ? `tok1d ${command} --help` : 'tok1d --help';
}

/** Runs the command line; returns the exit code (0 ok, 1 failure, 2 usage error, 3 user-facing error). */
export async function main(argv: readonly string[]): Promise<number> {
  // `tok1d doctor | head -1`: a closed pipe ends the output quietly instead of with a stack trace.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? EXIT.ok);
    throw e;
  });
  let command: string | undefined;
  try {
    const at = findCommand(argv);
    if (at < 0) {
      const v = parse([...argv], { version: { type: 'boolean', short: 'V' } }, 'tok1d');
      if (v.version) {
        process.stdout.write(`${version()}\n`);
        return EXIT.ok;
      }
      if (v.help) {
        process.stdout.write(`${mainHelp()}\n`);
        return EXIT.ok;
      }
      process.stderr.write(`${mainHelp()}\n`);
      return EXIT.usage;
    }
    command = argv[at]!;
    const rest = [...argv.slice(0, at), ...argv.slice(at + 1)];
    if (command === 'help') {
      const topic = rest.find((a) => !a.startsWith('-'));
      if (topic && !COMMANDS[topic]) throw new UsageError(`unknown command '${topic}'`);
      process.stdout.write(`${topic ? `${COMMANDS[topic]!.usage}\n\n${GLOBAL_HELP}` : mainHelp()}\n`);
      return EXIT.ok;
    }
    if (command === 'version') {
      process.stdout.write(`${version()}\n`);
      return EXIT.ok;
    }
    const cmd = COMMANDS[command];
    if (!cmd) {
      const c = command;
      command = undefined;
      throw new UsageError(`unknown command '${c}'`);
    }
    const values = parse(rest, cmd.options, command);
    if (values.help) {
      process.stdout.write(`${cmd.usage}\n\n${GLOBAL_HELP}\n`);
      return EXIT.ok;
    }
    return await cmd.run(values);
  } catch (e) {
    return reportError(e, command);
  }
}

function reportError(e: unknown, command: string | undefined): number {
  const err = e instanceof Error ? e : new Error(String(e));
  const debug = process.env.TOK1D_DEBUG === '1';
  const detail = debug && err.stack ? `\n${err.stack}` : '';
  if (err instanceof UsageError) {
    process.stderr.write(`tok1d: ${err.message} (see '${helpHint(command)}')${detail}\n`);
    return EXIT.usage;
  }
  if (err instanceof UserError || err.name === 'NoAdapterError') {
    process.stderr.write(`tok1d: ${err.message}${detail}\n`);
    return EXIT.user;
  }
  const msg = err.message.split('\n')[0];
  process.stderr.write(`tok1d: ${command ? `${command} failed: ` : ''}${msg}${debug ? detail : ' (set TOK1D_DEBUG=1 for the stack trace)'}\n`);
  return EXIT.failure;
}
