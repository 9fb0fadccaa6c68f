import { expect } from 'chai';
import type { Engine } from '../src/gpu/engine.js';
import { type RowLayout } from '../src/ops/layernorm.js';
import { softmax, softmaxBackward } from '../src/ops/softmax.js';
import { describeBackends, expectClose, freshRng, randomNormal, relL2, RUN_SEED } from './helpers.js';
import { dot64, finiteDifferences } from './reference/elementwise.js';
import { softmaxBackwardRef, softmaxRef } from './reference/softmax.js';

interface Case {
  rows: number;
  cols: number;
  x: Float32Array;
  dy: Float32Array;
  ref: Float64Array;
}

function makeCase(rows: number, cols: number, x?: Float32Array): Case {
  const r = freshRng();
  const xx = x ?? randomNormal(rows * cols, r, 3);
  const dy = randomNormal(rows * cols, r);
  return { rows, cols, x: xx, dy, ref: softmaxBackwardRef(dy, softmaxRef(xx, rows, cols), rows, cols) };
}

/**
 * Softmax forward on the GPU (its y is what the backward gets in training), backward twice: bit-
 * identical runs, each element within the f32 error model of the float64 backward of the GPU's own
 * y, and the whole chain within rel L2 1e-2 of the float64 backward of the float64 forward.
 *
 * Error model: dx_i = y_i (dy_i − d), d = Σ_j y_j dy_j, in f32: d carries at most (cols + 2)·u·S
 * (u = 2^-24, S = Σ_j |y_j dy_j|, any summation order), the difference and the product a few u more,
 * so |dx_i − exact| ≤ y_i·(cols + 4)·u·(|dy_i| + S). Against the float64 forward instead, where a
 * row is nearly one-hot dy_i − d cancels and the forward's own rounding of y is amplified (a 1×3
 * row measured 4.5e-4 in rel L2): that part is the forward's, tested in softmax.test.ts.
 */
async function check(engine: Engine, c: Case, layout: RowLayout | undefined, what: string): Promise<Float32Array> {
  const tx = engine.upload(c.x, [c.rows, c.cols]);
  const tdy = engine.upload(c.dy, [c.rows, c.cols]);
  const opts = layout ? { layout } : {};
  const y = softmax(engine, tx, opts);
  const dx1 = softmaxBackward(engine, tdy, y, opts);
  const dx2 = softmaxBackward(engine, tdy, y, opts);
  expect(dx1.shape).to.deep.equal([c.rows, c.cols]);
  const yv = await engine.readF32(y);
  const g1 = await engine.readF32(dx1);
  const g2 = await engine.readF32(dx2);
  engine.release(tx, tdy, y, dx1, dx2);
  const exact = softmaxBackwardRef(c.dy, yv, c.rows, c.cols);
  const u = 2 ** -24;
  for (let r = 0; r < c.rows; r++) {
    const o = r * c.cols;
    let S = 0;
    for (let j = 0; j < c.cols; j++) S += Math.abs(yv[o + j]! * c.dy[o + j]!);
    for (let j = 0; j < c.cols; j++) {
      const i = o + j;
      const bound = yv[i]! * (c.cols + 4) * u * (Math.abs(c.dy[i]!) + S);
      const err = Math.abs(g1[i]! - exact[i]!);
      if (!(err <= bound)) expect.fail(`${what}: element ${i} (row ${r}) off by ${err.toExponential(2)}, bound ${bound.toExponential(2)} (seed ${RUN_SEED})`);
    }
  }
  expectClose(g1, c.ref, 1e-2, what);
  const u1 = new Uint32Array(g1.buffer);
  const u2 = new Uint32Array(g2.buffer);
  for (let i = 0; i < u1.length; i++) if (u1[i] !== u2[i]) expect.fail(`${what}: element ${i} differs between runs`);
  return g1;
}

describe('softmax backward reference (float64, against central finite differences)', () => {
  // Logits of spread 1: a saturated row (one probability near 1) has gradients near 0, where the
  // finite differences' rounding error (~1e-10) would dominate a relative measure.
  for (const [rows, cols] of [[3, 7], [2, 33], [4, 5], [1, 6]] as const) {
    it(`${rows} × ${cols}: dx of Σ w·softmax(x)`, () => {
      const r = freshRng();
      const x = Float64Array.from(randomNormal(rows * cols, r, 1));
      const w = randomNormal(rows * cols, r);
      const fd = finiteDifferences((v) => dot64(w, softmaxRef(v, rows, cols)), x);
      const analytic = softmaxBackwardRef(w, softmaxRef(x, rows, cols), rows, cols);
      const e = relL2(fd, analytic);
      expect(e, `${rows}×${cols}: relative L2 ${e.toExponential(2)} (seed ${RUN_SEED})`).to.be.at.most(1e-6);
    });
  }
});

const bigCases = new Map<string, Case>();
function bigCase(rows: number, cols: number): Case {
  const key = `${rows}x${cols}`;
  let c = bigCases.get(key);
  if (!c) bigCases.set(key, (c = makeCase(rows, cols)));
  return c;
}

describeBackends('softmax backward', (get) => {
  for (const layout of ['row', 'workgroup'] as const) {
    it(`odd shapes, ${layout} layout (rows 1, 7, 33 × cols 1, 3, 7, 33, 127)`, async () => {
      for (const rows of [1, 7, 33]) for (const cols of [1, 3, 7, 33, 127]) await check(get(), makeCase(rows, cols), layout, `${layout} ${rows}×${cols}`);
    });

    it(`cols a multiple of 4 (vec4 path), ${layout} layout`, async () => {
      for (const [rows, cols] of [[5, 4], [3, 8], [9, 260]] as const) await check(get(), makeCase(rows, cols), layout, `${layout} ${rows}×${cols}`);
    });

    it(`256 × 1024, ${layout} layout`, async () => {
      await check(get(), bigCase(256, 1024), layout, `${layout} 256×1024`);
    });

    it(`-Infinity entries and all -Infinity rows give 0 gradients there, ${layout} layout`, async () => {
      const [rows, cols] = [4, 36];
      const x = randomNormal(rows * cols, freshRng(), 3);
      for (let j = 0; j < cols; j++) x[cols + j] = -Infinity; // row 1 all -inf
      for (let j = 0; j < cols; j += 3) x[2 * cols + j] = -Infinity;
      const got = await check(get(), makeCase(rows, cols, x), layout, `${layout} -inf`);
      for (let i = 0; i < got.length; i++) if (x[i] === -Infinity) expect(got[i], `dx at -inf entry ${i}`).to.equal(0);
    });
  }

  it('4096 × 1024 (default layout)', async () => {
    // The workgroup layout is barrier-bound on software executors; it is covered at 256 × 1024.
    await check(get(), bigCase(4096, 1024), undefined, 'default 4096×1024');
  });

  it('default layout: rows past the per-invocation loop budget (cols 30001)', async () => {
    await check(get(), makeCase(2, 30001), undefined, 'default 2×30001');
    await check(get(), makeCase(2, 30001), 'row', "'row' requested, 2×30001");
  });
});
