import { expect } from 'chai';
import type { Engine } from '../src/gpu/engine.js';
import { type RowLayout } from '../src/ops/layernorm.js';
import { softmax } from '../src/ops/softmax.js';
import { describeBackends, expectClose, freshRng, randomNormal } from './helpers.js';
import { softmaxRef } from './reference/softmax.js';

async function run(engine: Engine, x: Float32Array, rows: number, cols: number, layout?: RowLayout): Promise<Float32Array> {
  const tx = engine.upload(x, [rows, cols]);
  const y = softmax(engine, tx, layout ? { layout } : {});
  expect(y.shape).to.deep.equal([rows, cols]);
  const got = await engine.readF32(y);
  engine.release(tx, y);
  return got;
}

async function check(engine: Engine, x: Float32Array, rows: number, cols: number, layout: RowLayout | undefined, what: string, ref = softmaxRef(x, rows, cols)): Promise<Float32Array> {
  const got = await run(engine, x, rows, cols, layout);
  for (let i = 0; i < got.length; i++) if (Number.isNaN(got[i])) expect.fail(`${what}: NaN at ${i}`);
  expectClose(got, ref, 1e-5, what);
  return got;
}

let big: { x: Float32Array; ref: Float64Array } | undefined;
function bigCase(): { x: Float32Array; ref: Float64Array } {
  if (!big) {
    const x = randomNormal(4096 * 1024, freshRng(), 3);
    big = { x, ref: softmaxRef(x, 4096, 1024) };
  }
  return big;
}

describeBackends('softmax', (get, backend) => {
  for (const layout of ['row', 'workgroup'] as const) {
    it(`odd shapes, ${layout} layout (rows 1, 7, 33 × cols 1, 3, 7, 33, 127)`, async () => {
      for (const rows of [1, 7, 33])
        for (const cols of [1, 3, 7, 33, 127]) await check(get(), randomNormal(rows * cols, freshRng(), 3), rows, cols, layout, `${layout} ${rows}×${cols}`);
    });

    it(`cols a multiple of 4 (vec4 path), ${layout} layout`, async () => {
      for (const [rows, cols] of [[5, 4], [3, 8], [9, 260]] as const)
        await check(get(), randomNormal(rows * cols, freshRng(), 3), rows, cols, layout, `${layout} ${rows}×${cols}`);
    });

    it(`4096 × 1024, ${layout} layout`, async () => {
      const { x, ref } = bigCase();
      await check(get(), x, 4096, 1024, layout, `${layout} 4096×1024`, ref);
    });

    it(`-Infinity entries and all -Infinity rows, ${layout} layout`, async () => {
      for (const cols of [1, 7, 12, 300]) {
        const rows = 4;
        const x = randomNormal(rows * cols, freshRng(), 3);
        // row 0: all -inf; row 1: every other entry -inf; row 2: all but the last -inf; row 3 plain.
        for (let j = 0; j < cols; j++) {
          x[j] = -Infinity;
          if (j % 2 === 0) x[cols + j] = -Infinity;
          if (j < cols - 1) x[2 * cols + j] = -Infinity;
        }
        const got = await check(get(), x, rows, cols, layout, `${layout} -inf, cols ${cols}`);
        for (let j = 0; j < cols; j++) {
          expect(got[j], `all -inf row, col ${j}`).to.equal(0);
          if (j % 2 === 0 && cols > 1) expect(got[cols + j], `masked entry ${j}`).to.equal(0);
        }
        expect(got[3 * cols - 1], 'single live entry').to.be.closeTo(1, 1e-6);
      }
    });

    it(`large values (1e4 scale) do not overflow, ${layout} layout`, async () => {
      for (const cols of [7, 64, 1000]) {
        const rows = 5;
        const x = randomNormal(rows * cols, freshRng(), 1);
        for (let i = 0; i < x.length; i++) x[i] = 1e4 + x[i]! * (i % 3 === 0 ? 1e4 : 3);
        await check(get(), x, rows, cols, layout, `${layout} 1e4, cols ${cols}`);
        for (let i = 0; i < x.length; i++) x[i] = -1e4 + x[i]! * 1e-3;
        await check(get(), x, rows, cols, layout, `${layout} -1e4, cols ${cols}`);
      }
    });
  }

  it('65537 rows (the workgroup layout splits its grid over y)', async function () {
    // 65537 barrier-synchronised workgroups take over a minute on SwiftShader; the grid split is
    // the op's and the same on every backend, so llvmpipe checks it.
    if (backend === 'swiftshader') this.skip();
    for (const layout of ['row', 'workgroup'] as const) await check(get(), randomNormal(65537 * 2, freshRng(), 3), 65537, 2, layout, `${layout} 65537×2`);
  });

  it('default layout: rows past the per-invocation loop budget (cols 30001)', async () => {
    for (const layout of [undefined, 'row'] as const) await check(get(), randomNormal(2 * 30001, freshRng(), 3), 2, 30001, layout, `${layout ?? 'default'} 2×30001`);
  });
});
