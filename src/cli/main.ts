import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BACKENDS, setNativeVerbose } from '../gpu/node.js';
import { bench, benchCompare, benchRoofline } from './bench.js';
import { doctor } from './doctor.js';
import { resolveBackend } from './engine.js';
import { cliAnyPreset, EXIT, UsageError, UserError } from './errors.js';
import { FAMILIES } from './families.js';
import { collectImages, parseShard, positiveInt, probability } from './inputs.js';
import type { ModelChoice } from './tokenize.js';
import { PRESETS } from '../model/config.js';
import { TITOK_PRESETS } from '../model/titok-config.js';
import { TRAIN_OPTIONS, TRAIN_USAGE } from './train-options.js';

type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

interface Command {
  summary: string;
  usage: string;
  options: OptionSpec;
  /** Takes positional arguments (given to run() as `_`). */
  positionals?: boolean;
  run(values: Record<string, string | boolean | string[] | undefined>): Promise<number>;
}

const GLOBAL_OPTIONS: OptionSpec = {
  backend: { type: 'string' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

const GLOBAL_HELP = `Global options:
  --backend NAME   ${BACKENDS.join('|')} (default: TOK1D_BACKEND, else auto:
                   a hardware adapter, then llvmpipe through OpenGL, then SwiftShader)
  --verbose        also show what the GPU driver layers print (Dawn's adapter notices)
  -h, --help       show help
  -V, --version    print the version

Environment: TOK1D_BACKEND (as --backend), TOK1D_DEBUG=1 (stack traces on errors; implies --verbose).`;


const MODEL_OPTIONS: OptionSpec = {
  checkpoint: { type: 'string' },
  preset: { type: 'string' },
  'random-init': { type: 'boolean' },
  seed: { type: 'string' },
};

const MODEL_HELP = `Model (default: the bundled checkpoint):
  --checkpoint PATH   a safetensors checkpoint (from tok1d train, or with --preset NAME for a
                      file that stores no tok1d configuration, e.g. one saved from PyTorch), or
                      a TiTok checkpoint folder (config.json + model.safetensors as published)
  --preset NAME --random-init [--seed S]
                      a randomly initialized model, for benchmarks and tests
                      (${[...Object.keys(PRESETS), ...Object.keys(TITOK_PRESETS)].join(', ')})`;

const TOKENS_HELP = `  --tokens K          decode only the first K tokens of each image (TiTok models: coarse
                      to fine prefixes; default all)`;

const IMAGE_OPTIONS: OptionSpec = {
  'no-resize': { type: 'boolean' },
  'max-pixels': { type: 'string' },
  batch: { type: 'string' },
};

const IMAGE_HELP = `Images: PNG (any colour type and bit depth), JPEG (baseline or progressive; grey, RGB or
CMYK; EXIF orientation applied) and WebP (lossy or lossless); alpha is composited on white. By
default each is resized (antialiased) so its shorter side matches the model, then centre-cropped.
  --no-resize         refuse images that are not exactly the model's size instead
  --max-pixels N      refuse images whose header declares more pixels (default 67108864)
  --batch B           images per GPU batch (default 16)`;

type Values = Record<string, string | boolean | string[] | undefined>;

/** The model options of tokenize, detokenize and reconstruct; a preset name is checked before any input. */
function modelChoice(v: Values): ModelChoice {
  if (typeof v.preset === 'string') cliAnyPreset(v.preset);
  return {
    checkpoint: v.checkpoint as string | undefined,
    preset: v.preset as string | undefined,
    randomInit: v['random-init'] === true,
    seed: v.seed as string | undefined,
    backend: resolveBackend(v.backend as string | undefined),
    tokens: v.tokens === undefined ? undefined : positiveInt('--tokens', v.tokens as string, 1),
  };
}

function imageChoice(v: Values): { batch: number; resize: boolean; maxPixels: number } {
  return { batch: positiveInt('--batch', v.batch as string | undefined, 16), resize: v['no-resize'] !== true, maxPixels: positiveInt('--max-pixels', v['max-pixels'] as string | undefined, 64 * 1024 * 1024) };
}

const COMMANDS: Record<string, Command> = {
  tokenize: {
    summary: 'turn images into token ids (JSONL or the binary .tok format)',
    usage: `Usage: tok1d tokenize <images|folders...> [-o FILE] [--format jsonl|tok] [--shard i/n] [model] [images]

Folders are scanned recursively for .png, .jpg, .jpeg and .webp files (any letter case). Without
-o, JSONL goes to stdout. With -o the output is appended batch by batch and files already in it
are skipped, so an interrupted or sharded job is resumed by running it again. Progress (images/s,
ETA) on stderr on a terminal, a summary line otherwise. Exit code 1 when some inputs could not be
read (the rest are done).

Options:
  -o, --out FILE      output file (.tok selects the binary format)
  --format F          jsonl: one {"file": ..., "tokens": [...]} per line; tok: magic, version,
                      config hash, count, then uint16/uint32 ids per image
  --shard i/n         take every n-th input starting at the i-th (0-based), to split a dataset
                      over processes or machines
  --profile           print where the time went: start-up, model (device, parameters, upload),
                      waiting for inputs (reading and decoding not hidden behind the GPU), GPU,
                      output, and the resizing within them

${MODEL_HELP}

${IMAGE_HELP}`,
    options: { ...MODEL_OPTIONS, ...IMAGE_OPTIONS, out: { type: 'string', short: 'o' }, format: { type: 'string' }, shard: { type: 'string' }, profile: { type: 'boolean' } },
    positionals: true,
    run: async (v) => {
      const { tokenize } = await import('./tokenize.js');
      return tokenize({ ...modelChoice(v), ...imageChoice(v), inputs: collectImages(v._ as string[]), out: v.out as string | undefined, format: v.format as string | undefined, shard: parseShard(v.shard as string | undefined), profile: v.profile === true });
    },
  },
  detokenize: {
    summary: 'turn a token file back into PNG images',
    usage: `Usage: tok1d detokenize <tokens.jsonl|tokens.tok> -o DIR [model] [--batch B]

Writes DIR/<name>.png (8-bit RGB) for every record; the model must be the one that made the
tokens (a .tok file's config hash is checked).

${TOKENS_HELP}

${MODEL_HELP}`,
    options: { ...MODEL_OPTIONS, out: { type: 'string', short: 'o' }, batch: { type: 'string' }, tokens: { type: 'string' } },
    positionals: true,
    run: async (v) => {
      const files = v._ as string[];
      if (files.length !== 1) throw new UsageError('give exactly one token file');
      const { detokenize, checkOutDir } = await import('./tokenize.js');
      return detokenize({ ...modelChoice(v), file: files[0]!, out: checkOutDir(v.out as string | undefined), batch: positiveInt('--batch', v.batch as string | undefined, 16) });
    },
  },
  reconstruct: {
    summary: 'image → tokens → image, with PSNR per image',
    usage: `Usage: tok1d reconstruct <images|folders...> -o DIR [--compare] [model] [images]

Prints the PSNR of each reconstruction against the model-size input and the mean, and writes
DIR/<name>.png (with --compare: input | reconstruction side by side, and DIR/index.html, a
page showing each input and reconstruction enlarged, its tokens, PSNR and bits).

Options:
  -o, --out DIR       output folder
  --compare           write side-by-side PNGs and the page DIR/index.html
${TOKENS_HELP}

${MODEL_HELP}

${IMAGE_HELP}`,
    options: { ...MODEL_OPTIONS, ...IMAGE_OPTIONS, out: { type: 'string', short: 'o' }, compare: { type: 'boolean' }, tokens: { type: 'string' } },
    positionals: true,
    run: async (v) => {
      const { reconstruct, checkOutDir } = await import('./tokenize.js');
      return reconstruct({ ...modelChoice(v), ...imageChoice(v), inputs: collectImages(v._ as string[]), out: checkOutDir(v.out as string | undefined), compare: v.compare === true });
    },
  },
  info: {
    summary: 'parameters, FLOPs, tokens and bits per image of a preset or checkpoint',
    usage: `Usage: tok1d info [--preset NAME | --checkpoint PATH] [--json]

The model family, parameter count per part, FLOPs per image (encode, codebook search, decode),
tokens and bits per image (tokens · log2 codebook size) and the compression ratio against raw
8-bit RGB. PATH is a tok1d checkpoint file or a TiTok checkpoint folder.
Default: the bundled checkpoint (the seed preset when there is none).
Presets: ${[...Object.keys(PRESETS), ...Object.keys(TITOK_PRESETS)].join(', ')}.`,
    options: { preset: { type: 'string' }, checkpoint: { type: 'string' }, json: { type: 'boolean' } },
    run: async (v) => {
      const { info } = await import('./info.js');
      return info({ preset: v.preset as string | undefined, checkpoint: v.checkpoint as string | undefined, json: v.json === true });
    },
  },
  train: {
    summary: 'train a tokenizer on a folder of images (resumable, with codebook re-seeding)',
    usage: TRAIN_USAGE,
    options: TRAIN_OPTIONS as OptionSpec,
    positionals: true,
    run: async (v) => {
      const { train } = await import('./train.js');
      return train(v, resolveBackend(v.backend as string | undefined));
    },
  },
  doctor: {
    summary: 'describe the WebGPU device and run every kernel family\'s self-test',
    usage: `Usage: tok1d doctor [--json] [--backend NAME] [--default-limits]

Prints the adapter, backend, feature level, software or hardware executor, features and key
limits, the limits tok1d needs and which of them this device would have to raise, then runs each kernel family's self-test (${FAMILIES.join(', ')})
on a NaN-poisoning engine and prints PASS/FAIL with its time, then checks the optional fast
paths against the plain ones (subgroup reductions, where the device has 'subgroups'); one that
disagrees is switched off and reported, and the plain path runs instead.
Exit code 0 only when every self-test passes.

Options:
  --json           print one JSON object instead of text
  --default-limits request the device with WebGPU's default limits instead of the adapter's
                   (what an application that keeps the defaults hands tok1d)`,
    options: { json: { type: 'boolean' }, 'default-limits': { type: 'boolean' } },
    run: (v) => doctor(resolveBackend(v.backend as string | undefined), v.json === true, v['default-limits'] === true),
  },
  bench: {
    summary: 'time the kernels against the device\'s measured FMA and copy ceilings',
    usage: `Usage: tok1d bench [--suite kernels|train|model] [--kernel NAME] [--preset NAME] [--batch LIST] [--quick] [--runs N] [--peers] [--json FILE] [--csv FILE] [--roofline FILE]
       tok1d bench --suite train --preset NAME [--config FILE] [--nested-dropout P] [--runs N] [--json FILE]
       tok1d bench --tune [--suite train] [--preset NAME] [--batch LIST] [--json FILE]
       tok1d bench --kernel-file K.wgsl --spec K.json [--runs N] [--seed N] [--json FILE] [--csv FILE]
       tok1d bench compare BASE.json NEW.json [--min-change PCT]
       tok1d bench roofline REPORT.json -o FILE.svg|FILE.png

Measures the device's FMA (GFLOP/s) and copy (GB/s) ceilings with two probe kernels, then for
every bench case: checks it against the float64 reference (a failing case is reported and not
timed), warms up, and times N runs, each recording enough repetitions into one submit to last
at least 50 ms. Uses GPU timestamps where the device has 'timestamp-query', else the wall clock.
Table on stdout, progress on stderr. Exit code 1 when a case fails or a family is unavailable.

Options:
  --suite NAME     kernels (default), or train: ms per training step and images/s for the\n                   tiny and small presets at batch 8 (--kernel PRESET picks presets), GFLOP/s\n                   and the step's ideal time at the measured ceilings, where the step's time\n                   goes (recording, submit, read-back, dispatch launches), and the share of\n                   kernel time per family against its ideal time;
                   or model: encode and decode images/s and GFLOP/s through the Tokenizer for
                   random-init seed and small (--quick: tiny and small; --preset for others,
                   TiTok presets such as titok-bl64-vq included) at batch 1 and 16, the
                   share of kernel time per family, and the time against the sum of the ideal
                   times of the model's ops (FLOPs / FMA ceiling or bytes / copy ceiling),
                   the ceilings probed around every timed batch
  --preset NAME    train and model suites: these presets (repeat or comma-separate; TiTok
                   presets too)
  --config FILE    train suite: a JSON model configuration over --preset's fields, as
                   tok1d train --config takes (e.g. a TiTok model small enough to train here)
  --nested-dropout P  train suite, TiTok models: decode each image from only its first k
                   tokens with probability P, as tok1d train does
  --batch LIST     model suite: batch sizes, comma-separated (default 1,16)
  --kernel NAME    only this family or kernel (repeat or comma-separate for several)
  --quick          3 runs and only the smallest shape of each variant
  --runs N         timed runs per case (default 10; 3 with --quick or --suite model)
  --peers          also time tfjs-backend-webgpu's matmul on the same device and shapes
  --json FILE      also write the results as JSON to FILE (written atomically)
  --tune           instead of timing suites: time every matmul variant (texture and storage
                   tiles, split-K) on each shape class of the presets (default small and seed
                   at --batch 16,1; with --suite train a training step's shapes, small at batch
                   8), store the fastest per class for this adapter and driver in the cache
                   (cacheDir()/autotune.json, where the library's tuneModel() reads it) and
                   print the choices with every candidate's time
  --kernel-file F  bench your own WGSL kernel, run as --spec says: entry point, override
                   constants (lists are swept), bindings sized by expressions of the shape
                   variables, dispatch size, FLOP and byte counts, and a check (like a tok1d
                   op against its float64 reference, or a JS function in a .mjs spec). Wrong
                   cases are reported wrong and not timed; the fastest correct variant of
                   each shape is marked. See docs/bench.md and examples/bench/
  --spec FILE      the kernel's spec (.json, or .mjs exporting it)
  --csv FILE       also write the results as CSV (kernels suite or --kernel-file)
  --seed N         seed of the random inputs
  --no-ceilings    with --kernel-file: skip measuring the FMA and copy ceilings (no %ceil,
                   no roofline; a quicker correctness run)
  --roofline FILE  also draw the roofline (.svg or .png): the measured FMA and copy ceilings
                   as the roof, every timed case that counts FLOPs as a point

bench compare BASE.json NEW.json: per case (kernel, variant, shape) the time ratio NEW/BASE
with its 95% interval; exit code 1 when a case is slower beyond the noise (the ratio's whole
interval above 1 + --min-change, default 5%) or went wrong. The intervals are widened by the
change of the measured ceilings between the two runs (the device's own drift).

bench roofline REPORT.json -o FILE: the roofline of a saved --json report`,
    positionals: true,
    options: {
      tune: { type: 'boolean' },
      'kernel-file': { type: 'string' },
      spec: { type: 'string' },
      csv: { type: 'string' },
      seed: { type: 'string' },
      'min-change': { type: 'string' },
      roofline: { type: 'string' },
      'no-ceilings': { type: 'boolean' },
      config: { type: 'string' },
      'nested-dropout': { type: 'string' },
      out: { type: 'string', short: 'o' },
      suite: { type: 'string' },
      kernel: { type: 'string', multiple: true },
      quick: { type: 'boolean' },
      runs: { type: 'string' },
      peers: { type: 'boolean' },
      json: { type: 'string' },
      preset: { type: 'string', multiple: true },
      batch: { type: 'string' },
    },
    run: (v) => {
      const pos = (v._ as string[] | undefined) ?? [];
      if (pos[0] === 'compare') {
        if (pos.length !== 3) throw new UsageError('bench compare needs two JSON files: BASE.json NEW.json');
        const pct = v['min-change'] === undefined ? 5 : Number(String(v['min-change']).replace(/%$/, ''));
        if (!Number.isFinite(pct) || pct < 0 || pct >= 100) throw new UsageError(`--min-change must be a percentage from 0 to 99, not '${v['min-change']}'`);
        return benchCompare(pos[1]!, pos[2]!, pct / 100);
      }
      if (pos[0] === 'roofline') {
        if (pos.length !== 2) throw new UsageError('bench roofline needs one report: REPORT.json -o FILE.svg');
        if (!v.out) throw new UsageError('bench roofline needs -o FILE.svg or FILE.png');
        return benchRoofline(pos[1]!, v.out as string);
      }
      if (v.out !== undefined) throw new UsageError('-o goes with bench roofline');
      if (pos.length) throw new UsageError(`unexpected argument '${pos[0]}' for 'bench' (did you mean 'bench compare'?)`);
      if (v['min-change'] !== undefined) throw new UsageError('--min-change goes with bench compare');
      const quick = v.quick === true;
      const runs = v.runs === undefined ? (quick || v.suite === 'model' ? 3 : 10) : Number(v.runs);
      if (!Number.isInteger(runs) || runs < 1 || runs > 1000) throw new UsageError(`--runs must be an integer from 1 to 1000, not '${v.runs}'`);
      const kernels = (v.kernel as string[] | undefined)?.flatMap((k) => k.split(',')).filter(Boolean);
      if (v.json === '') throw new UsageError('--json needs a file name');
      const presets = (v.preset as string[] | undefined)?.flatMap((k) => k.split(',')).filter(Boolean);
      const batches = (v.batch as string | undefined)?.split(',').map((b) => positiveInt('--batch', b, 1));
      return bench({
        backend: resolveBackend(v.backend as string | undefined),
        suite: (v.suite as string | undefined) ?? 'kernels',
        kernels: kernels?.length ? kernels : undefined,
        quick,
        runs,
        peers: v.peers === true,
        json: v.json as string | undefined,
        presets: presets?.length ? presets : undefined,
        batches,
        tune: v.tune === true,
        kernelFile: v['kernel-file'] as string | undefined,
        spec: v.spec as string | undefined,
        csv: v.csv as string | undefined,
        seed: v.seed === undefined ? undefined : positiveInt('--seed', v.seed as string, 0),
        roofline: v.roofline as string | undefined,
        noCeilings: v['no-ceilings'] === true,
        config: v.config as string | undefined,
        nestedDropout: v['nested-dropout'] === undefined ? undefined : probability('--nested-dropout', v['nested-dropout'] as string),
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

function parse(args: string[], options: OptionSpec, command: string, allowPositionals = false): Record<string, string | boolean | string[] | undefined> {
  try {
    const { values, positionals } = parseArgs({ args, options: { ...GLOBAL_OPTIONS, ...options }, strict: true, allowPositionals });
    return { ...(values as Record<string, string | boolean | string[] | undefined>), _: positionals };
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
    const values = parse(rest, cmd.options, command, cmd.positionals);
    if (values.help) {
      process.stdout.write(`${cmd.usage}\n\n${GLOBAL_HELP}\n`);
      return EXIT.ok;
    }
    setNativeVerbose(values.verbose === true);
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
