import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchKernel, overrideCombos, SpecError, validateSpec, type KernelBenchReport, type KernelBinding, type KernelSpec } from '../src/bench/custom.js';
import { compileExpr, evalExpr } from '../src/bench/expr.js';
import { matmulRef } from '../src/check/matmul.js';
import { relL2 } from '../src/check/util.js';
import { medianInterval, quantile } from '../src/util/stats.js';
import { ownLines, ROOT, tok1d } from './cli-run.js';
import { describeBackends, RUN_SEED, TEST_BACKENDS } from './helpers.js';

// Structure and correctness only: runs are few and short, no figure is asserted.

const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');
const naive = read('examples/bench/matmul-naive.wgsl');
const tiled = read('examples/bench/matmul-tiled.wgsl');
/** A deliberately wrong matmul: the naive example with its K loop skipping k = 0. */
const wrong = naive.replace('var k = 0u;', 'var k = 1u;');
const naiveSpec = JSON.parse(read('examples/bench/matmul-naive.json')) as KernelSpec;
const tiledSpec = JSON.parse(read('examples/bench/matmul-tiled.json')) as KernelSpec;

/** Shapes that are no multiple of any tile or workgroup size. */
const SHAPES = [
  { M: 37, N: 29, K: 23 },
  { M: 5, N: 67, K: 9 },
];
const QUICK = { runs: 3, minRunMs: 1, ceilings: false, seed: RUN_SEED } as const;

describe('kernel bench: expressions', () => {
  it('evaluates arithmetic, functions and variables', () => {
    expect(evalExpr('2 * M * N * K', { M: 3, N: 5, K: 7 })).to.equal(210);
    expect(evalExpr('ceil(N / TILE) + -1', { N: 29, TILE: 8 })).to.equal(3);
    expect(evalExpr('max(a, 2) ** 2 % 5', { a: 3 })).to.equal(4);
    expect(evalExpr(12, {})).to.equal(12);
    expect([...compileExpr('M*(K+N)').vars].sort()).to.deep.equal(['K', 'M', 'N']);
  });
  it('names the mistake', () => {
    expect(() => evalExpr('M * Q', { M: 1 })).to.throw(/unknown variable 'Q'.*variables: M/);
    expect(() => compileExpr('exp(M)')).to.throw(/unknown function 'exp'/);
    expect(() => compileExpr('M +')).to.throw(/unexpected end/);
    expect(() => compileExpr('M; process.exit()')).to.throw(/unexpected ';'/);
    expect(() => evalExpr('M / 0', { M: 1 })).to.throw(/Infinity/);
  });
});

describe('kernel bench: spec validation', () => {
  const bad = (patch: Record<string, unknown>, re: RegExp) => expect(() => validateSpec({ ...naiveSpec, ...patch })).to.throw(SpecError, re);
  it('accepts the examples', () => {
    expect(validateSpec(naiveSpec).entry).to.equal('main');
    expect(overrideCombos(tiledSpec.overrides).length).to.equal(3);
  });
  it('rejects mistakes with one line naming the field', () => {
    bad({ entry: '' }, /spec\.entry/);
    bad({ shapes: [] }, /spec\.shapes/);
    bad({ dispatch: ['N / ', 1] }, /spec\.dispatch\[0\]/);
    bad({ check: { like: 'conv9' } }, /unknown op 'conv9'.*matmul/);
    bad({ check: { like: 'softmax' } }, /operand 'x' has no binding named 'x'/);
    bad({ check: { like: 'matmul', bindings: { c: 'a' } } }, /binding 'a' plays matmul's output 'c' but its role is input/);
    bad({ overrides: { TILE: [] } }, /spec\.overrides\.TILE/);
    bad({ bindings: [{ name: 'a', size: 'M' }, { name: 'a', size: 'M' }] }, /'a' is used twice/);
    bad({ tile: 3 }, /unknown field 'tile'/);
    bad({ bindings: [{ name: 'a', sizes: 'M' }] }, /spec\.bindings\[0\]: unknown field 'sizes'/);
    bad({ check: { like: 'matmul', tolerance: 1 } }, /spec\.check: unknown field 'tolerance'/);
    for (const m of ['spec.entry', 'spec.shapes']) expect(m).not.to.include('\n');
  });
  it('orders sweeps as every combination of the lists', () => {
    expect(overrideCombos({ A: [1, 2], B: 3, C: [4, 5] })).to.deep.equal([
      { A: 1, B: 3, C: 4 },
      { A: 1, B: 3, C: 5 },
      { A: 2, B: 3, C: 4 },
      { A: 2, B: 3, C: 5 },
    ]);
    expect(overrideCombos(undefined)).to.deep.equal([{}]);
  });
});

describe('kernel bench: statistics', () => {
  it('median interval by order statistics', () => {
    const xs = [10, 1, 9, 2, 8, 3, 7, 4, 6, 5];
    // n = 10: j = 1 (coverage 97.9%; j = 2 covers only 89.1%).
    expect(medianInterval(xs)).to.deep.equal([2, 9]);
    expect(medianInterval([1, 2, 3, 4, 5])).to.equal(null); // min..max of 5 covers 93.75%
    expect(medianInterval([1, 2, 3, 4, 5, 6])).to.deep.equal([1, 6]);
    expect(quantile(xs, 0.9)).to.be.closeTo(9.1, 1e-12);
    expect(quantile([4], 0.5)).to.equal(4);
  });
});

describeBackends('kernel bench: own WGSL kernels', (get) => {
  it('checks the naive example like tok1d matmul on odd shapes and times it', async () => {
    const r = await benchKernel(get(), naive, { ...naiveSpec, shapes: SHAPES }, QUICK);
    expect(r.kind).to.equal('kernel-file');
    expect(r.results).to.have.length(2);
    for (const x of r.results) {
      expect(x.check, JSON.stringify(x.vars)).to.equal('ok');
      expect(x.ms).to.be.greaterThan(0);
      expect(x.msMin! <= x.ms! && x.ms! <= x.msMax!).to.equal(true);
      expect(x.flops).to.equal(2 * x.vars.M! * x.vars.N! * x.vars.K!);
      expect(x.best).to.equal(true);
    }
    expect(r.ceilings).to.equal(null);
    expect(r.adapter.software).to.be.a('boolean');
  });

  it('reports a deliberately wrong kernel as wrong and never ranks it', async () => {
    expect(wrong).not.to.equal(naive);
    const r = await benchKernel(get(), wrong, { ...naiveSpec, shapes: SHAPES }, QUICK);
    for (const x of r.results) {
      expect(x.check).to.match(/^wrong: c: relative L2 error/);
      expect(x.ms).to.equal(null);
      expect(x.best).to.equal(undefined);
    }
  });

  it('runs the load-reuse example (a spec module with a check function) and its check can fail', async () => {
    const spec = ((await import(pathToFileURL(join(ROOT, 'examples/bench/load-reuse.mjs')).href)) as { default: KernelSpec }).default;
    const source = read('examples/bench/load-reuse.wgsl');
    const small = { ...spec, shapes: [{ n: 77, loads: 13 }], overrides: { REUSE: [1, 5, 16], READ: [1, 0], WG: 64 } };
    const r = await benchKernel(get(), source, small, QUICK);
    expect(r.results).to.have.length(6);
    for (const x of r.results) {
      expect(x.check, x.variant).to.equal('ok');
      expect(x.flops).to.equal(8 * 77 * 13 * x.overrides.REUSE!);
    }
    // An accumulator that misses its last product: every variant reported wrong.
    const bad = await benchKernel(get(), source.replace('j < dims.loads', 'j + 1u < dims.loads'), small, QUICK);
    for (const x of bad.results) expect(x.check, x.variant).to.match(/^wrong: out\[0\] is/);
  });

  it('catches outputs the kernel never writes (poisoned with NaN)', async () => {
    // floor() instead of ceil(): the last columns of C are never written.
    const r = await benchKernel(get(), naive, { ...naiveSpec, shapes: [SHAPES[0]!], dispatch: ['floor(N / WG_X)', 'ceil(M / WG_Y)'] }, QUICK);
    expect(r.results[0]!.check).to.match(/^wrong: c: relative L2 error Infinity/);
  });

  it('sweeps the tiled example and marks one fastest correct tile per shape', async () => {
    const r = await benchKernel(get(), tiled, { ...tiledSpec, shapes: SHAPES, overrides: { TILE: [4, 8] } }, QUICK);
    expect(r.results.map((x) => x.variant)).to.deep.equal(['TILE=4', 'TILE=8', 'TILE=4', 'TILE=8']);
    for (const shape of SHAPES) {
      const mine = r.results.filter((x) => x.vars.M === shape.M);
      for (const x of mine) expect(x.check).to.equal('ok');
      const best = mine.filter((x) => x.best);
      expect(best).to.have.length(1);
      expect(best[0]!.ms).to.equal(Math.min(...mine.map((x) => x.ms!)));
    }
  });

  it('runs a JS check function with the inputs and outputs by binding name', async () => {
    const seen: string[] = [];
    const spec: KernelSpec = {
      ...naiveSpec,
      shapes: [SHAPES[0]!],
      check: ({ vars, inputs, outputs }) => {
        seen.push(Object.keys(inputs).sort().join(','), Object.keys(outputs).join(','));
        const want = matmulRef(inputs.a!, inputs.b!, { M: vars.M!, N: vars.N!, K: vars.K! });
        const e = relL2(outputs.c!, want);
        return e <= 1e-5 ? null : `error ${e}`;
      },
    };
    const ok = await benchKernel(get(), naive, spec, QUICK);
    expect(ok.results[0]!.check).to.equal('ok');
    expect(seen).to.deep.equal(['a,b', 'c']);
    expect(ok.spec.check).to.equal('function');
    const bad = await benchKernel(get(), naive, { ...spec, check: () => 'planted failure' }, QUICK);
    expect(bad.results[0]!.check).to.equal('wrong: planted failure');
  });

  describe('checks like softmax, layernorm and codebook search (bindings and parameters mapped)', () => {
    const rowwise = read('test/fixtures/bench/rowwise.wgsl');
    const dims: KernelBinding = { name: 'dims', role: 'uniform', values: ['R', 'C', 'Q'] };
    const base = { shapes: [{ R: 19, C: 37, Q: 13 }], dispatch: 'ceil(R / 64)' };
    const specs: Record<string, KernelSpec> = {
      softmax: {
        ...base,
        entry: 'softmax_rows',
        bindings: [dims, { name: 'x', size: 'R * C', range: [-4, 4] }, { name: 'y', role: 'output', size: 'R * C' }],
        check: { like: 'softmax', params: { rows: 'R', cols: 'C' } },
      },
      layernorm: {
        ...base,
        entry: 'layernorm_rows',
        bindings: [dims, { name: 'x', size: 'R * C' }, { name: 'y', role: 'output', size: 'R * C' }, { name: 'g', binding: 3, size: 'C' }, { name: 'b', binding: 4, size: 'C' }],
        check: { like: 'layernorm', bindings: { gamma: 'g', beta: 'b' }, params: { rows: 'R', D: 'C' } },
      },
      codebook: {
        ...base,
        entry: 'nearest_code',
        bindings: [
          dims,
          { name: 'queries', size: 'R * C' },
          { name: 'dist', role: 'output', size: 'R' },
          { name: 'codes', binding: 5, size: 'Q * C' },
          { name: 'ids', binding: 6, role: 'output', type: 'u32', size: 'R' },
        ],
        check: { like: 'codebook', bindings: { z: 'queries', codebook: 'codes', indices: 'ids', distances: 'dist' }, params: { n: 'R', k: 'Q', d: 'C' } },
      },
    };
    for (const [op, spec] of Object.entries(specs)) {
      it(`like ${op}: right, and wrong once the kernel is broken`, async () => {
        const ok = await benchKernel(get(), rowwise, spec, QUICK);
        expect(ok.results[0]!.check, op).to.equal('ok');
        // A planted fault in the entry point: the first row is never written (softmax,
        // layernorm) or every query gets code 0 (codebook).
        const broken = op === 'codebook' ? rowwise.replace('bi = c; }', '}') : rowwise.replace(/if \(r >= dims\.rows\) \{ return; \}/g, 'if (r >= dims.rows || r == 0u) { return; }');
        expect(broken).not.to.equal(rowwise);
        const bad = await benchKernel(get(), broken, spec, QUICK);
        expect(bad.results[0]!.check, op).to.match(/^wrong: /);
      });
    }
  });

  it('an unknown entry point or override constant is one clear error', async () => {
    const fail = async (spec: KernelSpec) => {
      try {
        await benchKernel(get(), naive, spec, QUICK);
      } catch (e) {
        return e as Error;
      }
      return undefined;
    };
    expect((await fail({ ...naiveSpec, entry: 'mian' }))?.message).to.equal("spec.entry: 'mian' is not a @compute entry point of the kernel (entry points: main)");
    expect((await fail({ ...naiveSpec, overrides: { WG_Z: 4 } }))?.message).to.equal("spec.overrides.WG_Z: the kernel declares no override 'WG_Z' (overrides: WG_X, WG_Y)");
  });

  it('a kernel that does not compile is one clear error', async () => {
    let err: Error | undefined;
    try {
      await benchKernel(get(), naive.replace('acc += ', 'acc += nope + '), naiveSpec, QUICK);
    } catch (e) {
      err = e as Error;
    }
    expect(err).to.be.instanceOf(SpecError);
    expect(err!.message).to.match(/does not compile: \d+:\d+: .*nope/);
    expect(err!.message).not.to.include('\n');
  });
});

describe('kernel bench: CLI', function () {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'tok1d-kbench-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const FIX = join(ROOT, 'test', 'fixtures', 'bench');

  for (const backend of TEST_BACKENDS) {
    it(`runs a .mjs spec with a check function and writes JSON, CSV and a roofline [${backend}]`, async () => {
      const json = join(dir, `${backend}.json`);
      const csv = join(dir, `${backend}.csv`);
      // SwiftShader's probes take seconds: its ceilings are skipped.
      const ceilings = backend === 'opengl';
      const args = ['bench', '--backend', backend, '--kernel-file', join(FIX, 'scale2.wgsl'), '--spec', join(FIX, 'scale2.mjs'), '--runs', '3', ...(ceilings ? [] : ['--no-ceilings']), '--json', json, '--csv', csv];
      const r = await tok1d(args);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/^adapter .*SOFTWARE adapter/m);
      const report = JSON.parse(readFileSync(json, 'utf8')) as KernelBenchReport;
      expect(report.kind).to.equal('kernel-file');
      expect(report.spec.check).to.equal('function');
      expect(report.results.map((x) => x.check)).to.deep.equal(['ok', 'ok']);
      if (ceilings) expect(report.ceilings!.copyGBs).to.be.greaterThan(0);
      else expect(report.ceilings).to.equal(null);
      const rows = readFileSync(csv, 'utf8').trim().split('\n');
      expect(rows).to.have.length(3);
      expect(rows[0]).to.match(/^kernel,variant,shape,ms,/);
      // The planted wrong check: reported wrong, exit code 1, nothing ranked.
      const bad = await tok1d(args.slice(0, -4), { SCALE2_WRONG: '1' });
      expect(bad.code).to.equal(1);
      expect(bad.stdout).to.match(/wrong: y\[0\] is/);
      expect(bad.stdout).not.to.match(/\s\*\s/);
      // The roofline of the saved report: no FLOPs here (and no ceilings on SwiftShader), so nothing to draw.
      const roof = await tok1d(['bench', 'roofline', json, '-o', join(dir, 'r.svg')]);
      expect(roof.code).to.equal(3);
      expect(ownLines(roof.stderr)).to.deep.equal([
        `tok1d: cannot draw the roofline: ${ceilings ? 'no timed case that counts FLOPs and bytes to place on the roofline' : 'the report has no measured ceilings (run the bench with them) to draw the roof'}`,
      ]);
    });
  }

  it('draws a roofline from a recorded report (SVG and PNG)', async () => {
    for (const ext of ['svg', 'png']) {
      const out = join(dir, `roof.${ext}`);
      const r = await tok1d(['bench', 'roofline', join(FIX, 'naive-base.json'), '-o', out]);
      expect(r.code, r.stderr).to.equal(0);
      const data = readFileSync(out);
      if (ext === 'svg') {
        const svg = data.toString('utf8');
        expect(svg).to.match(/^<svg/);
        expect(svg).to.include('SOFTWARE adapter');
        expect(svg).to.include('matmul-naive');
      } else expect([...data.subarray(1, 4)].map((c) => String.fromCharCode(c)).join('')).to.equal('PNG');
    }
  });
});
