import { accessSync, constants, existsSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { BackendName } from '../gpu/node.js';
import type { BenchReport } from '../../bench/run.js';
import { describeEngine, openEngine } from './engine.js';
import { EXIT, UsageError, UserError } from './errors.js';

export interface BenchCommandOptions {
  backend?: BackendName;
  suite: string;
  kernels?: string[];
  quick: boolean;
  runs: number;
  peers: boolean;
  json?: string;
}

/** Writes a file whole or not at all: a temporary file beside it, then a rename. */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* nothing was written */
    }
    throw new UserError(`cannot write ${path}: ${(e as Error).message}`);
  }
}

/** Fails early, before any GPU work, when the JSON output could not be written. */
function checkWritable(path: string): void {
  const dir = dirname(path);
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    accessSync(dir, constants.W_OK);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new UserError(`cannot write ${path}: folder ${dir} ${err.code === 'ENOENT' ? 'does not exist' : err.code === 'EACCES' ? 'is not writable' : err.message}`);
  }
  if (existsSync(path) && statSync(path).isDirectory()) throw new UserError(`cannot write ${path}: it is a folder`);
}

/** `tok1d bench`: times every kernel case and prints a table (and JSON with --json FILE). */
export async function bench(o: BenchCommandOptions): Promise<number> {
  if (o.suite === 'train') return benchTrainSuite(o);
  if (o.suite !== 'kernels') throw new UsageError(`unknown suite '${o.suite}'; suites: kernels, train`);
  if (o.json) checkWritable(o.json);
  // Loaded on demand: the rest of the CLI works without the bench harness installed.
  const { formatReport, runBench, UnknownKernelError } = await import('../../bench/run.js');
  const engine = await openEngine(o.backend, false);
  let report: BenchReport;
  try {
    report = await runBench(engine, {
      kernels: o.kernels,
      runs: o.runs,
      quick: o.quick,
      peers: o.peers,
      seed: process.env.TOK1D_BENCH_SEED ? Number(process.env.TOK1D_BENCH_SEED) : undefined,
      log: (line) => process.stderr.write(`${line}\n`),
    });
  } catch (e) {
    if (e instanceof UnknownKernelError) throw new UsageError(e.message);
    throw e;
  } finally {
    engine.dispose();
  }
  process.stdout.write(`${formatReport(report, o.runs)}\n`);
  if (o.json) writeFileAtomic(o.json, `${JSON.stringify(report, null, 2)}\n`);
  const failed = report.results.filter((r) => r.check !== 'ok').length + report.unavailable.length;
  if (failed) process.stderr.write(`${failed} case(s) or families failed or were unavailable\n`);
  return failed ? EXIT.failure : EXIT.ok;
}

/** `tok1d bench --suite train`: step time and images/s per preset, kernel-family shares. */
async function benchTrainSuite(o: BenchCommandOptions): Promise<number> {
  if (o.json) checkWritable(o.json);
  const { benchTrain, formatTrain } = await import('../../bench/train.js');
  const presets = o.kernels?.length ? o.kernels : ['tiny', 'small'];
  const engine = await openEngine(o.backend, false);
  try {
    const results = await benchTrain(engine, { presets, batch: 8, runs: o.runs, log: (line) => process.stderr.write(`${line}\n`) });
    process.stdout.write(`${formatTrain(results, `${engine.info.adapter} — ${engine.info.backend}`, o.runs)}\n`);
    if (o.json) writeFileAtomic(o.json, `${JSON.stringify({ adapter: describeEngine(engine), timing: 'wallclock', results }, null, 2)}\n`);
    return EXIT.ok;
  } catch (e) {
    if (e instanceof Error && e.message.startsWith('unknown preset')) throw new UsageError(e.message);
    throw e;
  } finally {
    engine.dispose();
  }
}
