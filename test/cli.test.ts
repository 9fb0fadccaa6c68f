import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAMILIES } from '../src/cli/families.js';
import { TEST_BACKENDS } from './helpers.js';
import { expectNoStack, ownLines, ROOT, tok1d, type Run } from './cli-run.js';

/** Skips the test when the backend has no adapter here (exit 3, "no WebGPU adapter"). */
function skipWithoutAdapter(ctx: Mocha.Context, r: Run, backend: string): void {
  if (r.code === 3 && /no WebGPU adapter/.test(r.stderr)) {
    console.log(`      skipped: ${backend} has no adapter here: ${ownLines(r.stderr)[0]}`);
    ctx.skip();
  }
}

describe('tok1d command line', function () {
  this.timeout(300_000);

  before(function () {
    expect(existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js')), 'build first (npm run build)').to.equal(true);
  });

  it('--help lists the commands and exits 0', async () => {
    const r = await tok1d(['--help']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.match(/^\s+doctor\s/m);
    expect(r.stdout).to.match(/^\s+bench\s/m);
    expect(r.stdout).to.include('--backend');
  });

  it('every command has --help', async () => {
    for (const cmd of ['doctor', 'bench']) {
      const r = await tok1d([cmd, '--help']);
      expect(r.code, cmd).to.equal(0);
      expect(r.stdout, cmd).to.include(`tok1d ${cmd}`);
    }
  });

  it('an unknown command exits 2 with one line and no stack trace', async () => {
    const r = await tok1d(['frobnicate']);
    expect(r.code).to.equal(2);
    const lines = ownLines(r.stderr);
    expect(lines).to.have.length(1);
    expect(lines[0]).to.include("unknown command 'frobnicate'");
    expect(lines[0]).to.include('--help');
    expectNoStack(r);
  });

  it('unknown flags and bad values are usage errors (exit 2)', async () => {
    for (const args of [['doctor', '--bogus'], ['bench', '--runs', '0'], ['bench', '--suite', 'nope'], ['bench', 'extra']]) {
      const r = await tok1d(args);
      expect(r.code, args.join(' ')).to.equal(2);
      expect(ownLines(r.stderr), args.join(' ')).to.have.length(1);
      expectNoStack(r);
    }
  });

  it('an unknown preset is a usage error naming the known presets, in every command that takes one', async () => {
    const commands = [
      ['info', '--preset', 'nope'],
      ['bench', '--suite', 'train', '--preset', 'nope'],
      ['bench', '--tune', '--preset', 'nope'],
      ['train', 'some-images', '--preset', 'nope', '-o', 'unused-run'],
      ['tokenize', '--preset', 'nope', '--random-init', 'a.png'],
    ];
    for (const args of commands) {
      const r = await tok1d(args);
      expect(r.code, args.join(' ')).to.equal(2);
      const lines = ownLines(r.stderr);
      expect(lines, args.join(' ')).to.have.length(1);
      expect(lines[0], args.join(' ')).to.match(/unknown preset "nope" \(known: seed, tiny, small/);
      expectNoStack(r);
    }
  });

  it('--backend nosuch gives a clear message and a non-zero exit without a stack trace', async () => {
    for (const r of [await tok1d(['--backend', 'nosuch', 'doctor']), await tok1d(['doctor'], { TOK1D_BACKEND: 'nosuch' })]) {
      expect(r.code).to.not.equal(0);
      const lines = ownLines(r.stderr);
      expect(lines).to.have.length(1);
      expect(lines[0]).to.match(/unknown backend 'nosuch'.*opengl/);
      expectNoStack(r);
    }
  });

  for (const backend of ['opengl', 'swiftshader'] as const) {
    it(`doctor passes every self-test on ${backend}`, async function () {
      if (!TEST_BACKENDS.includes(backend)) this.skip();
      const r = await tok1d(['doctor'], { TOK1D_BACKEND: backend });
      skipWithoutAdapter(this, r, backend);
      expectNoStack(r);
      expect(r.stdout).to.match(new RegExp(`^backend\\s+${backend}$`, 'm'));
      expect(r.stdout).to.match(/^\s+maxStorageBufferBindingSize\s+\d+/m);
      for (const family of FAMILIES) expect(r.stdout, `${family}\n${r.stdout}`).to.match(new RegExp(`^\\s+PASS\\s+${family}\\s+\\d+ ms`, 'm'));
      // SwiftShader has subgroups and llvmpipe has not.
      const subgroups = backend === 'swiftshader' ? 'agrees with the tree' : "not available \\(no 'subgroups' feature\\)";
      expect(r.stdout).to.match(new RegExp(`^\\s+subgroup reductions\\s+${subgroups}$`, 'm'));
      expect(r.code, r.stdout + r.stderr).to.equal(0);
    });
  }

  it('bench --quick --kernel <family> --json writes the documented JSON', async function () {
    const small = ['elementwise', 'gelu', 'softmax', 'layernorm'].find((f) => existsSync(join(ROOT, 'dist', 'src', 'bench', 'cases', `${f}.js`)));
    if (!small) {
      console.log('      skipped: no small family has bench cases yet');
      this.skip();
    }
    const backend = TEST_BACKENDS.includes('opengl') ? 'opengl' : TEST_BACKENDS[0]!;
    const dir = mkdtempSync(join(tmpdir(), 'tok1d-cli-'));
    try {
      const file = join(dir, 'bench.json');
      const r = await tok1d(['bench', '--quick', '--kernel', small!, '--json', file], { TOK1D_BACKEND: backend });
      skipWithoutAdapter(this, r, backend);
      expectNoStack(r);
      expect(r.code, r.stdout + r.stderr).to.equal(0);
      expect(r.stdout).to.include('GFLOP/s');
      const j = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      expect(j).to.include.keys('adapter', 'timing', 'ceilings', 'results');
      const adapter = j.adapter as Record<string, unknown>;
      expect(adapter.backend).to.equal(backend);
      expect(adapter).to.include.keys('adapter', 'featureLevel', 'software', 'limits', 'features');
      expect(['timestamp', 'wallclock']).to.include(j.timing);
      const ceilings = j.ceilings as Record<string, number>;
      expect(ceilings.fmaGflops).to.be.greaterThan(0);
      expect(ceilings.copyGBs).to.be.greaterThan(0);
      const results = j.results as Record<string, unknown>[];
      expect(results).to.be.an('array').that.is.not.empty;
      for (const res of results) {
        expect(res).to.include.keys('kernel', 'variant', 'shape', 'ms', 'msMin', 'msMax', 'gflops', 'gbps', 'pctOfCeiling', 'check');
        expect(res.check, JSON.stringify(res)).to.equal('ok');
        const [ms, lo, hi] = [res.ms, res.msMin, res.msMax] as number[];
        expect(lo).to.be.greaterThan(0);
        expect(lo).to.be.at.most(ms!);
        expect(ms).to.be.at.most(hi!);
        expect(res.pctOfCeiling).to.be.greaterThan(0);
      }
      expect(readFileSync(file, 'utf8').endsWith('\n')).to.equal(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const backend of ['opengl', 'swiftshader'] as const) {
    it(`bench: the subgroup-reduction variants are skipped without 'subgroups' and checked with it (${backend})`, async function () {
      if (!TEST_BACKENDS.includes(backend)) this.skip();
      const dir = mkdtempSync(join(tmpdir(), 'tok1d-cli-'));
      try {
        const file = join(dir, 'bench.json');
        const r = await tok1d(['bench', '--quick', '--kernel', 'softmax', '--runs', '1', '--json', file], { TOK1D_BACKEND: backend });
        skipWithoutAdapter(this, r, backend);
        expectNoStack(r);
        expect(r.code, r.stdout + r.stderr).to.equal(0);
        const results = (JSON.parse(readFileSync(file, 'utf8')) as { results: Record<string, unknown>[] }).results;
        const sg = results.filter((x) => String(x.variant).endsWith('-subgroups'));
        expect(sg.map((x) => x.variant).sort()).to.deep.equal(['backward-workgroup-subgroups', 'workgroup-subgroups']);
        for (const x of sg) {
          // llvmpipe has no subgroups; SwiftShader has them.
          if (backend === 'opengl') expect(x).to.include({ skipped: true, check: "skipped: no 'subgroups' feature", ms: null });
          else expect(x.check, JSON.stringify(x)).to.equal('ok');
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
