import { expect } from 'chai';
import type { Engine } from '../src/gpu/engine.js';
import { layernorm, type RowLayout } from '../src/ops/layernorm.js';
import { describeBackends, expectClose, freshRng, randomF32, randomNormal, RUN_SEED } from './helpers.js';
import { layernormRef, type LayernormRef } from './reference/layernorm.js';

interface Case {
  x: Float32Array;
  g: Float32Array;
  b: Float32Array;
  rows: number;
  D: number;
  ref: LayernormRef;
}

function makeCase(rows: number, D: number, offset = 0, std = 2): Case {
  const r = freshRng();
  const x = randomNormal(rows * D, r, std);
  for (let i = 0; i < x.length; i++) x[i] = x[i]! + offset;
  const g = randomF32(D, r, 0.5, 1.5);
  const b = randomF32(D, r, -0.5, 0.5);
  return { x, g, b, rows, D, ref: layernormRef(x, g, b, rows, D) };
}

async function check(engine: Engine, c: Case, layout: RowLayout | undefined, what: string, tol = 1e-5): Promise<void> {
  const tx = engine.upload(c.x, [c.rows, c.D]);
  const tg = engine.upload(c.g, [c.D]);
  const tb = engine.upload(c.b, [c.D]);
  const out = layernorm(engine, tx, tg, tb, 1e-5, layout ? { layout } : {});
  expect(out.y.shape).to.deep.equal([c.rows, c.D]);
  expect(out.mean.shape).to.deep.equal([c.rows]);
  const [y, mean, rstd] = [await engine.readF32(out.y), await engine.readF32(out.mean), await engine.readF32(out.rstd)];
  engine.release(tx, tg, tb, out.y, out.mean, out.rstd);
  expectClose(y, c.ref.y, tol, `${what} y`);
  // A relative error means nothing for a mean near 0: each row's mean error is measured against
  // the larger of |mean| and the row's standard deviation (the scale y sees it on).
  let meanErr = 0;
  for (let r = 0; r < c.rows; r++) {
    const std = Math.sqrt(Math.max(0, 1 / c.ref.rstd[r]! ** 2 - 1e-5));
    meanErr = Math.max(meanErr, Math.abs(mean[r]! - c.ref.mean[r]!) / Math.max(Math.abs(c.ref.mean[r]!), std, 1e-30));
  }
  expect(meanErr, `${what} mean: error ${meanErr.toExponential(2)} of max(|mean|, std) (seed ${RUN_SEED})`).to.be.at.most(tol);
  expectClose(rstd, c.ref.rstd, tol, `${what} rstd`);
}

// The 4096 × 1024 reference is computed once and shared by both backends.
let big: Case | undefined;
const bigCase = (): Case => (big ??= makeCase(4096, 1024));

describeBackends('layernorm', (get, backend) => {
  for (const layout of ['row', 'workgroup'] as const) {
    it(`odd shapes, ${layout} layout (rows 1, 7, 33 × D 1, 3, 7, 33, 127)`, async () => {
      for (const rows of [1, 7, 33])
        for (const D of [1, 3, 7, 33, 127]) await check(get(), makeCase(rows, D), layout, `${layout} ${rows}×${D}`);
    });

    it(`D a multiple of 4 (vec4 path), ${layout} layout`, async () => {
      for (const [rows, D] of [[5, 4], [3, 8], [9, 260]] as const) await check(get(), makeCase(rows, D), layout, `${layout} ${rows}×${D}`);
    });

    it(`4096 × 1024, ${layout} layout`, async () => {
      await check(get(), bigCase(), layout, `${layout} 4096×1024`);
    });

    it(`large common offset (1000 + N(0, 1)) keeps f32 accuracy, ${layout} layout`, async () => {
      // E[x²] − E[x]² would lose everything here; a plain f32 mean of values near 1000 is off by
      // ~3e-5 of the spread. The kernel centres on the row's first element.
      await check(get(), makeCase(9, 1024, 1000, 1), layout, `${layout} offset`);
      await check(get(), makeCase(9, 33, 1000, 1), layout, `${layout} offset, odd D`);
    });
  }

  it('default layout: long scalar rows (D 4095) and rows past the per-invocation loop budget (D 30001)', async () => {
    // 3 × 30001 loop trips would pass llvmpipe's 65535 cap in the row layout: the op must switch.
    await check(get(), makeCase(3, 4095), undefined, 'default 3×4095');
    await check(get(), makeCase(2, 30001), undefined, 'default 2×30001');
    await check(get(), makeCase(2, 30001), 'row', "'row' requested, 2×30001");
  });

  it('65537 rows (the workgroup layout splits its grid over y)', async function () {
    // 65537 barrier-synchronised workgroups take over a minute on SwiftShader; the grid split is
    // the op's and the same on every backend, so llvmpipe checks it.
    if (backend === 'swiftshader') this.skip();
    for (const layout of ['row', 'workgroup'] as const) await check(get(), makeCase(65537, 3), layout, `${layout} 65537×3`);
  });

  it('a constant row gives beta (variance 0) and rstd = 1/√eps', async () => {
    const D = 37;
    const r = freshRng();
    const x = new Float32Array(2 * D).fill(3.25);
    const g = randomF32(D, r, 0.5, 1.5);
    const b = randomF32(D, r, -0.5, 0.5);
    for (const layout of ['row', 'workgroup'] as const)
      await check(get(), { x, g, b, rows: 2, D, ref: layernormRef(x, g, b, 2, D) }, layout, `${layout} constant`);
  });
});
