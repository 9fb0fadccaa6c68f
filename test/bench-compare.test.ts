import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asReport, compareReports, formatComparison } from '../src/bench/compare.js';
import type { BenchReport } from '../src/bench/run.js';
import { expectNoStack, ownLines, ROOT, tok1d } from './cli-run.js';

// Recorded reports (test/fixtures/bench), never timed here: naive-base and naive-again are two
// runs of examples/bench/matmul-naive.wgsl with its spec on llvmpipe (a shared, loaded 2-core
// machine), naive-slow2x a run of the same kernel with its K loop wrapped in a second loop of
// two passes adding half the product each (the same result, twice the work).
const FIX = join(ROOT, 'test', 'fixtures', 'bench');
const load = (name: string): BenchReport => asReport(JSON.parse(readFileSync(join(FIX, `${name}.json`), 'utf8')), name);

describe('bench compare', () => {
  it('does not flag two runs of the same code', () => {
    const c = compareReports(load('naive-base'), load('naive-again'));
    expect(c.rows).to.have.length(2);
    for (const r of c.rows) {
      expect(r.verdict).to.equal('same');
      expect(r.lo! <= r.ratio! && r.ratio! <= r.hi!).to.equal(true);
    }
    expect(c.regressions).to.equal(0);
  });

  it('flags the planted 2x slowdown', () => {
    const c = compareReports(load('naive-base'), load('naive-slow2x'));
    expect(c.rows.map((r) => r.verdict)).to.deep.equal(['slower', 'slower']);
    for (const r of c.rows) expect(r.lo).to.be.greaterThan(1.05);
    expect(c.regressions).to.equal(2);
    expect(formatComparison(c)).to.match(/2 regression\(s\)$/);
    // The other way round it is an improvement, not a regression.
    const back = compareReports(load('naive-slow2x'), load('naive-base'));
    expect(back.rows.map((r) => r.verdict)).to.deep.equal(['faster', 'faster']);
    expect(back.regressions).to.equal(0);
  });

  it('a case that went wrong is a regression; missing and new cases are listed', () => {
    const base = load('naive-base');
    const next = structuredClone(base);
    next.results[0] = { ...next.results[0]!, ms: null, msCI: undefined, check: 'wrong: c: relative L2 error 1e-1 > 1e-5' };
    next.results[1] = { ...next.results[1]!, variant: 'WG_X=16,WG_Y=4' };
    const c = compareReports(base, next);
    expect(c.rows.map((r) => r.verdict)).to.deep.equal(['wrong', 'missing', 'new']);
    expect(c.regressions).to.equal(1);
  });

  it('within-run intervals alone would flag drift between runs; the ceilings widen them', () => {
    const base = load('naive-base');
    const again = load('naive-again');
    // The same reports without ceilings: only within-run noise is accounted for.
    const c = compareReports({ ...base, ceilings: null }, { ...again, ceilings: null });
    expect(c.drift).to.equal(1);
    expect(c.regressions).to.be.greaterThan(0);
    expect(c.notes.join(' ')).to.match(/drift of the device is not accounted for/);
    expect(compareReports(base, again).drift).to.be.greaterThan(1);
  });

  it('rejects a file that is not a bench report', () => {
    expect(() => asReport({ adapter: {} }, 'x.json')).to.throw(/x.json is not a bench report/);
    expect(() => asReport({ results: [{ kernel: 'k' }] }, 'x.json')).to.throw(/results\[0\]/);
  });

  describe('CLI', function () {
    let dir: string;
    before(() => (dir = mkdtempSync(join(tmpdir(), 'tok1d-compare-'))));
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('exits 0 for the same code, 1 for the slowdown', async () => {
      const same = await tok1d(['bench', 'compare', join(FIX, 'naive-base.json'), join(FIX, 'naive-again.json')]);
      expect(same.code, same.stderr).to.equal(0);
      expect(same.stdout).to.match(/no regression beyond noise/);
      const slow = await tok1d(['bench', 'compare', join(FIX, 'naive-base.json'), join(FIX, 'naive-slow2x.json')]);
      expect(slow.code).to.equal(1);
      expect(slow.stdout).to.match(/SLOWER \(beyond noise\)/);
    });

    it('user mistakes are one-line errors', async () => {
      const bad = join(dir, 'bad.json');
      writeFileSync(bad, '{"results": 3}');
      for (const [args, re, code] of [
        [['bench', 'compare', join(FIX, 'naive-base.json')], /needs two JSON files/, 2],
        [['bench', 'compare', join(FIX, 'naive-base.json'), join(dir, 'none.json')], /cannot read report .*none.json: no such file/, 3],
        [['bench', 'compare', join(FIX, 'naive-base.json'), bad], /is not a bench report/, 3],
        [['bench', 'compare', join(FIX, 'naive-base.json'), bad, '--min-change', 'x'], /--min-change must be/, 2],
        [['bench', 'compares'], /unexpected argument 'compares'/, 2],
        [['bench', '--kernel-file', join(ROOT, 'examples/bench/matmul-naive.wgsl')], /--kernel-file and --spec go together/, 2],
        [['bench', '--kernel-file', join(ROOT, 'examples/bench/matmul-naive.wgsl'), '--spec', bad], /unknown field|spec\.entry/, 3],
      ] as [string[], RegExp, number][]) {
        const r = await tok1d(args);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(code);
        const lines = ownLines(r.stderr);
        expect(lines, r.stderr).to.have.length(1);
        expect(lines[0]).to.match(re);
        expectNoStack(r);
      }
    });
  });
});
