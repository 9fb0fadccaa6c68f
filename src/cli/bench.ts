import { accessSync, constants, existsSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { KernelSpec } from '../bench/custom.js';
import type { Engine } from '../gpu/engine.js';
import type { BackendName } from '../gpu/node.js';
import type { BenchReport } from '../bench/run.js';
import { describeEngine, openEngine } from './engine.js';
import { cliAnyPreset, cliPreset, EXIT, UsageError, UserError } from './errors.js';

export interface BenchCommandOptions {
  backend?: BackendName;
  suite: string;
  kernels?: string[];
  quick: boolean;
  runs: number;
  peers: boolean;
  json?: string;
  /** Presets for the train and model suites (train also takes them from `kernels`). */
  presets?: string[];
  /** Train suite: a JSON model configuration over --preset's (as `tok1d train --config`). */
  config?: string;
  /** Train suite: nested dropout's probability for TiTok models. */
  nestedDropout?: number;
  /** Batch sizes for the model suite (and --tune). */
  batches?: number[];
  /** Tune the presets' matmul shapes on this device, store the choices, print them (no suite runs). */
  tune?: boolean;
  /** A WGSL kernel to bench with `spec` (instead of the suites). */
  kernelFile?: string;
  /** The kernel's spec: a .json file, or a .js/.mjs module exporting it (default export or `spec`). */
  spec?: string;
  /** Also write the results as CSV. */
  csv?: string;
  /** Seed of the random inputs. */
  seed?: number;
  /** Also draw the roofline (.svg, or .png). */
  roofline?: string;
  /** With kernelFile: do not measure the ceilings. */
  noCeilings?: boolean;
}

/** Writes a file whole or not at all: a temporary file beside it, then a rename. */
export function writeFileAtomic(path: string, text: string | Uint8Array): void {
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

/** A usage error for a preset name that does not exist, before any GPU work. */
function checkPresets(names: readonly string[], titok = false): void {
  for (const p of names) if (titok) cliAnyPreset(p);
  else cliPreset(p);
}

/** Runs `work` on an engine opened for the bench, disposed afterwards. */
async function withEngine<T>(o: BenchCommandOptions, work: (engine: Engine) => Promise<T>): Promise<T> {
  const engine = await openEngine(o.backend, false);
  try {
    return await work(engine);
  } finally {
    engine.dispose();
  }
}

/** `tok1d bench`: times every kernel case and prints a table (and JSON with --json FILE). */
export async function bench(o: BenchCommandOptions): Promise<number> {
  if ((o.config !== undefined || o.nestedDropout !== undefined) && (o.tune || o.suite !== 'train' || o.kernelFile !== undefined)) throw new UsageError('--config and --nested-dropout go with --suite train');
  if (o.kernelFile !== undefined || o.spec !== undefined) return benchKernelFile(o);
  if (o.csv && (o.tune || o.suite !== 'kernels')) throw new UsageError('--csv goes with the kernels suite or --kernel-file');
  if (o.seed !== undefined && (o.tune || o.suite !== 'kernels')) throw new UsageError('--seed goes with the kernels suite or --kernel-file');
  if (o.noCeilings) throw new UsageError('--no-ceilings goes with --kernel-file');
  if (o.roofline && (o.tune || o.suite !== 'kernels')) throw new UsageError('--roofline goes with the kernels suite or --kernel-file');
  if (o.tune) return benchTune(o);
  if (o.suite === 'train') return benchTrainSuite(o);
  if (o.suite === 'model') return benchModelSuite(o);
  if (o.suite !== 'kernels') throw new UsageError(`unknown suite '${o.suite}'; suites: kernels, train, model`);
  if (o.json) checkWritable(o.json);
  if (o.csv) checkWritable(o.csv);
  if (o.roofline) checkRooflinePath(o.roofline);
  // Loaded on demand: the rest of the CLI works without the bench harness installed.
  const { runBench, UnknownKernelError } = await import('../bench/run.js');
  let report: BenchReport;
  try {
    report = await withEngine(o, (engine) =>
      runBench(engine, {
        kernels: o.kernels,
        runs: o.runs,
        quick: o.quick,
        peers: o.peers,
        seed: o.seed ?? (process.env.TOK1D_BENCH_SEED ? Number(process.env.TOK1D_BENCH_SEED) : undefined),
        log: (line) => process.stderr.write(`${line}\n`),
      }),
    );
  } catch (e) {
    if (e instanceof UnknownKernelError) throw new UsageError(e.message);
    throw e;
  }
  await writeReport(report, o);
  const failed = report.results.filter((r) => r.check !== 'ok' && !r.skipped).length + report.unavailable.length;
  if (failed) process.stderr.write(`${failed} case(s) or families failed or were unavailable\n`);
  return failed ? EXIT.failure : EXIT.ok;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new UserError(`cannot read ${what} ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'it is a folder' : err.message}`);
  }
}

/** The spec file as a KernelSpec: JSON, or a module's default export or `spec` export; `file` inputs read. */
async function loadSpec(path: string): Promise<KernelSpec> {
  const { validateSpec, SpecError } = await import('../bench/custom.js');
  let raw: unknown;
  if (/\.(m?js|cjs)$/.test(path)) {
    if (!existsSync(path)) throw new UserError(`cannot read spec ${path}: no such file`);
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(resolve(path)).href)) as Record<string, unknown>;
    } catch (e) {
      throw new UserError(`cannot load spec ${path}: ${(e as Error).message.split('\n')[0]}`);
    }
    raw = mod.default ?? mod.spec;
    if (raw === undefined) throw new UserError(`spec ${path} exports neither a default nor 'spec'`);
  } else {
    try {
      raw = JSON.parse(readText(path, 'spec'));
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw new UserError(`spec ${path} is not valid JSON: ${(e as Error).message}`);
    }
  }
  let spec: KernelSpec;
  try {
    spec = validateSpec(raw);
  } catch (e) {
    if (e instanceof SpecError) throw new UserError(`${path}: ${e.message}`);
    throw e;
  }
  // Input files: raw little-endian values of the binding's type, relative to the spec.
  const bindings = spec.bindings.map((b) => {
    if (b.file === undefined || b.data) return b;
    const file = resolve(dirname(path), b.file);
    let buf: Buffer;
    try {
      buf = readFileSync(file);
    } catch (e) {
      throw new UserError(`${path}: binding ${b.name}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (buf.byteLength % 4) throw new UserError(`${path}: binding ${b.name}: ${file} holds ${buf.byteLength} bytes, not a whole number of 4-byte values`);
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
    const data = b.type === 'u32' ? new Uint32Array(ab) : b.type === 'i32' ? new Int32Array(ab) : new Float32Array(ab);
    return { ...b, data, file: undefined };
  });
  return { ...spec, bindings };
}

/** `tok1d bench --kernel-file K.wgsl --spec K.json`: checks and times a user's kernel over its shapes × overrides. */
async function benchKernelFile(o: BenchCommandOptions): Promise<number> {
  if (!o.kernelFile || !o.spec) throw new UsageError('--kernel-file and --spec go together');
  if (o.tune || o.suite !== 'kernels' || o.kernels?.length || o.presets?.length || o.peers) throw new UsageError('--kernel-file takes --spec, --runs, --seed, --json, --csv, --roofline and --no-ceilings only');
  if (o.json) checkWritable(o.json);
  if (o.csv) checkWritable(o.csv);
  if (o.roofline) checkRooflinePath(o.roofline);
  if (o.roofline && o.noCeilings) throw new UsageError('--roofline needs the ceilings; drop --no-ceilings');
  const wgsl = readText(o.kernelFile, 'kernel');
  const spec = await loadSpec(o.spec);
  const { benchKernel, SpecError } = await import('../bench/custom.js');
  const report = await withEngine(o, async (engine) => {
    try {
      return await benchKernel(engine, wgsl, spec, { runs: o.runs, seed: o.seed, ceilings: !o.noCeilings, log: (line) => process.stderr.write(`${line}\n`) });
    } catch (e) {
      if (e instanceof SpecError) throw new UserError(e.message);
      throw e;
    }
  });
  await writeReport(report, o);
  const failed = report.results.filter((r) => r.check !== 'ok' && !r.skipped).length;
  if (failed) process.stderr.write(`${failed} case(s) wrong or failed\n`);
  return failed ? EXIT.failure : EXIT.ok;
}

function checkRooflinePath(path: string): void {
  if (!/\.(svg|png)$/i.test(path)) throw new UsageError(`--roofline needs a .svg or .png file name, not '${path}'`);
  checkWritable(path);
}

/** A kernels report: the table on stdout, then the --json, --csv and --roofline files asked for. */
async function writeReport(report: BenchReport, o: BenchCommandOptions): Promise<void> {
  const { formatReport, reportCsv } = await import('../bench/run.js');
  process.stdout.write(`${formatReport(report, o.runs)}\n`);
  if (o.json) writeFileAtomic(o.json, `${JSON.stringify(report, null, 2)}\n`);
  if (o.csv) writeFileAtomic(o.csv, reportCsv(report));
  await drawRoofline(report, o.roofline);
}

/** Writes the report's roofline to `path` (nothing when absent). */
async function drawRoofline(report: BenchReport, path: string | undefined): Promise<void> {
  if (!path) return;
  const { writeRoofline } = await import('../bench/roofline.js');
  try {
    await writeRoofline(report, path, writeFileAtomic);
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`cannot draw the roofline: ${(e as Error).message.split('\n')[0]}`);
  }
  process.stderr.write(`roofline written to ${path}\n`);
}

/** `tok1d bench roofline REPORT.json -o FILE`: the roofline of a saved report. */
export async function benchRoofline(reportPath: string, out: string): Promise<number> {
  checkRooflinePath(out);
  const { asReport } = await import('../bench/compare.js');
  let report: BenchReport;
  try {
    report = asReport(JSON.parse(readText(reportPath, 'report')), reportPath);
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${reportPath}: ${(e as Error).message}`);
  }
  await drawRoofline(report, out);
  return EXIT.ok;
}

/** `tok1d bench compare BASE NEW`: per-case ratios with intervals; exit 1 on a regression beyond noise. */
export async function benchCompare(basePath: string, newPath: string, minChange: number): Promise<number> {
  const { asReport, compareReports, formatComparison } = await import('../bench/compare.js');
  const load = (path: string) => {
    let raw: unknown;
    try {
      raw = JSON.parse(readText(path, 'report'));
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw new UserError(`${path} is not valid JSON: ${(e as Error).message}`);
    }
    try {
      return asReport(raw, path);
    } catch (e) {
      throw new UserError((e as Error).message);
    }
  };
  const c = compareReports(load(basePath), load(newPath), minChange);
  process.stdout.write(`${formatComparison(c)}\n`);
  return c.regressions ? EXIT.failure : EXIT.ok;
}

/** `tok1d bench --suite train`: step time and images/s per preset, kernel-family shares. */
async function benchTrainSuite(o: BenchCommandOptions): Promise<number> {
  if (o.json) checkWritable(o.json);
  const { benchTrain, formatTrain } = await import('../bench/train.js');
  const { modelConfigFrom } = await import('./train.js');
  const { isTiTok } = await import('../model/titok-config.js');
  const presets = o.presets?.length ? o.presets : o.kernels?.length ? o.kernels : ['tiny', 'small'];
  if (o.config && presets.length !== 1) throw new UsageError('--config goes with one --preset (its fields go over that preset\'s)');
  const models = presets.map((p) => {
    const { model } = modelConfigFrom(p, o.config);
    return { name: o.config ? `${p} + ${o.config}` : p, config: model };
  });
  if (o.nestedDropout !== undefined) {
    const plain = models.find((m) => !isTiTok(m.config));
    if (plain) throw new UsageError(`--nested-dropout needs latent-token (TiTok) models; ${plain.name} is not one`);
  }
  return withEngine(o, async (engine) => {
    const report = await benchTrain(engine, { models, batch: 8, runs: o.runs, nestedDropout: o.nestedDropout, log: (line) => process.stderr.write(`${line}\n`) });
    process.stdout.write(`${formatTrain(report, `${engine.info.adapter} — ${engine.info.backend}`, o.runs)}\n`);
    if (o.json) writeFileAtomic(o.json, `${JSON.stringify({ adapter: describeEngine(engine), timing: 'wallclock', ...report }, null, 2)}\n`);
    return EXIT.ok;
  });
}

/**
 * `tok1d bench --suite model`: encode and decode images/s, GFLOP/s, kernel-family shares and the
 * throughput budget per preset and batch (default seed and small at batch 1 and 16; --quick: tiny
 * and small).
 */
async function benchModelSuite(o: BenchCommandOptions): Promise<number> {
  if (o.json) checkWritable(o.json);
  if (o.kernels?.length) throw new UsageError('--suite model takes --preset NAME, not --kernel');
  const { benchModel, formatModel } = await import('../bench/model.js');
  const presets = o.presets?.length ? o.presets : o.quick ? ['tiny', 'small'] : ['seed', 'small'];
  const batches = o.batches?.length ? o.batches : [1, 16];
  checkPresets(presets, true);
  return withEngine(o, async (engine) => {
    // The engine's tuner reads the on-disk cache (`tok1d bench --tune` fills it; missing classes are tuned now).
    const report = await benchModel(engine, { presets, batches, runs: o.runs, log: (line) => process.stderr.write(`${line}\n`) });
    const text = formatModel(report);
    process.stdout.write(`${text}\n`);
    if (o.json) {
      const { kernelChoice, ceilings, runs, profileMethod, budgetMethod, results } = report;
      const json = { adapter: describeEngine(engine), timing: 'wallclock', kernelChoice, ceilings, runs, profileMethod, budgetMethod, results, table: text };
      writeFileAtomic(o.json, `${JSON.stringify(json, null, 2)}\n`);
    }
    return EXIT.ok;
  });
}

/**
 * `tok1d bench --tune`: measures every matmul candidate on each shape class of the presets (default
 * small and seed at batch 16 and 1; with --suite train, a training step's shapes at batch 8 for
 * small), stores the winners in the device's section of cacheDir()/autotune.json, and prints the
 * choices with the time of each candidate.
 */
async function benchTune(o: BenchCommandOptions): Promise<number> {
  if (o.json) checkWritable(o.json);
  if (o.kernels?.length) throw new UsageError('--tune takes --preset NAME and --batch LIST, not --kernel');
  if (o.suite !== 'kernels' && o.suite !== 'model' && o.suite !== 'train') throw new UsageError(`unknown suite '${o.suite}'; suites: kernels, train, model`);
  const training = o.suite === 'train';
  const { anyPresetConfig } = await import('../model/config.js');
  const { isTiTok, TITOK_SIZES } = await import('../model/titok-config.js');
  const { tuneModel } = await import('../model/tune.js');
  const { REDUCE_KERNEL, reductionClass } = await import('../ops/reductions.js');
  const presets = o.presets?.length ? o.presets : training ? ['small'] : ['small', 'seed'];
  checkPresets(presets, true);
  const batches = o.batches?.length ? o.batches : training ? [8] : [16, 1];
  return withEngine(o, async (engine) => {
    // openEngine's tuner stores its choices in the on-disk cache.
    const store = engine.tuner.store;
    const log = (line: string) => process.stderr.write(`${line}\n`);
    const rows: TuneRow[] = [];
    const t0 = performance.now();
    for (const preset of presets) {
      for (const batch of batches) {
        log(`tune ${preset} batch ${batch}${training ? ' (training step)' : ''}`);
        const config = anyPresetConfig(preset);
        for (const r of await tuneModel(engine, config, batch, { training, force: true, log })) {
          rows.push({ preset, batch, what: r.what, shape: r.entry.shape ?? '', shapeClass: r.shapeClass, choice: r.entry.choice, ms: r.entry.ms, dropped: r.entry.dropped ?? {}, rule: r.rule });
        }
        // The workgroup-reduction variant (measured only on devices with 'subgroups').
        const widths = isTiTok(config) ? [TITOK_SIZES[config.encoderSize].width, TITOK_SIZES[config.decoderSize].width] : [config.width];
        for (const cls of new Set(widths.map(reductionClass))) {
          const red = engine.tuner.entry(REDUCE_KERNEL, cls);
          if (red && !rows.some((r) => r.what === 'reductions' && r.shapeClass === cls)) rows.push({ preset, batch, what: 'reductions', shape: red.shape ?? '', shapeClass: cls, choice: red.choice, ms: red.ms, dropped: red.dropped ?? {}, rule: 'tree' });
        }
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const disabled = [...engine.tuner.disabled.entries()];
    process.stdout.write(`${formatTune(`${engine.info.adapter} — ${engine.info.backend}`, engine.tuner.deviceKey, store.where, rows, disabled, seconds)}\n`);
    if (o.json) writeFileAtomic(o.json, `${JSON.stringify({ adapter: describeEngine(engine), deviceKey: engine.tuner.deviceKey, cache: store.where, seconds, disabled: Object.fromEntries(disabled), results: rows }, null, 2)}\n`);
    return EXIT.ok;
  });
}

interface TuneRow {
  preset: string;
  batch: number;
  what: string;
  shape: string;
  shapeClass: string;
  choice: string;
  /** The fixed rule's plan (what runs without tuning). */
  rule: string;
  ms: Record<string, number>;
  dropped: Record<string, string>;
}

/** The choices as a table, then each class's candidates fastest first. */
function formatTune(adapter: string, key: string, where: string, rows: TuneRow[], disabled: [string, string][], seconds: number): string {
  const lines = [`adapter   ${adapter}`, `device    ${key}`, `cache     ${where}`, `timing    wall clock per run (runs repeated in one submit to last ≥ 30 ms), median of 3 interleaved rounds; candidates over 3× the best after one round are dropped and show that round's time`, `tuned in  ${seconds.toFixed(1)} s`];
  if (disabled.length) for (const [family, why] of disabled) lines.push(`disabled  ${family}: ${why}`);
  lines.push('');
  const head = ['preset', 'batch', 'layer', 'shape', 'class', 'rule', 'rule ms', 'choice', 'ms', 'speed-up'];
  const table: string[][] = [head];
  for (const r of rows) {
    const best = r.ms[r.choice];
    const rule = r.ms[r.rule];
    table.push([r.preset, String(r.batch), r.what, r.shape, r.shapeClass, r.rule, rule === undefined ? '-' : rule.toFixed(2), r.choice, best === undefined ? '-' : best.toFixed(2), rule && best ? `${(rule / best).toFixed(2)}x` : '-']);
  }
  const widths = head.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table) lines.push(row.map((v, i) => (i === 1 || i >= 6 ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ').trimEnd());
  lines.push('', 'Candidates per class (ms per run, fastest first; * chosen, d dropped):');
  for (const r of rows) {
    const list = Object.entries(r.ms)
      .sort((a, b) => a[1] - b[1])
      .map(([name, ms]) => `${name === r.choice ? '*' : r.dropped[name] ? 'd' : ' '}${name} ${ms.toFixed(2)}`);
    const failed = Object.entries(r.dropped)
      .filter(([name]) => r.ms[name] === undefined)
      .map(([name, why]) => `${name}: ${why}`);
    lines.push(`  ${r.preset} b${r.batch} ${r.what} (${r.shapeClass}): ${list.join(', ')}${failed.length ? `; left out ${failed.join('; ')}` : ''}`);
  }
  return lines.join('\n');
}
