import { expect } from 'chai';
import type { Engine } from '../src/gpu/engine.js';
import { geluBackward } from '../src/ops/gelu.js';
import type { Tensor } from '../src/tensor.js';
import { describeBackends, expectClose, freshRng, randomNormal, relL2, RUN_SEED } from './helpers.js';
import { finiteDifferences } from './reference/elementwise.js';
import { gelu64, geluBackwardRef, geluGrad64 } from './reference/gelu.js';

const FORMS = ['erf', 'tanh'] as const;

/** Largest |gelu'(x) error| the dense-grid test allows (measured 2.5e-7 on llvmpipe and SwiftShader, see activation.wgsl). */
const GRAD_MAX_ABS_ERROR = 5e-7;

describe('gelu backward reference (float64, against central finite differences)', () => {
  for (const approx of FORMS) {
    it(`${approx} form: gelu' at 200 random points and at 0, ±1, ±3, ±6`, () => {
      const x = Float64Array.from([...randomNormal(200, freshRng(), 3), 0, 1, -1, 3, -3, 6, -6]);
      const fd = new Float64Array(x.length);
      for (let i = 0; i < x.length; i++) {
        const xi = new Float64Array([x[i]!]);
        fd[i] = finiteDifferences((v) => gelu64(v[0]!, approx), xi)[0]!;
      }
      const analytic = Float64Array.from(x, (v) => geluGrad64(v, approx));
      const e = relL2(fd, analytic);
      expect(e, `${approx}: relative L2 ${e.toExponential(2)} (seed ${RUN_SEED})`).to.be.at.most(1e-6);
      // Point by point too, on the scale of the derivative (it is 0 near x = −0.75 and in the tail).
      for (let i = 0; i < x.length; i++) expect(Math.abs(fd[i]! - analytic[i]!), `${approx} at x = ${x[i]}`).to.be.at.most(1e-8);
    });
  }
});

async function backward(engine: Engine, x: Float32Array, dy: Float32Array, shape: number[], approx: 'erf' | 'tanh'): Promise<Float32Array> {
  const tx = engine.upload(x, shape);
  const tdy = engine.upload(dy, shape);
  const dx: Tensor = geluBackward(engine, tdy, tx, approx);
  expect(dx.shape).to.deep.equal(shape);
  const got = await engine.readF32(dx);
  engine.release(tx, tdy, dx);
  return got;
}

// 256 × 4096: the MLP hidden layer at batch 16 (16 tokens × 16 images × 4·1024). Computed once.
let big: { x: Float32Array; dy: Float32Array; erf: Float64Array; tanh: Float64Array } | undefined;
function bigCase(): NonNullable<typeof big> {
  if (!big) {
    const r = freshRng();
    const x = randomNormal(256 * 4096, r, 3);
    const dy = randomNormal(256 * 4096, r);
    big = { x, dy, erf: geluBackwardRef(dy, x, 'erf'), tanh: geluBackwardRef(dy, x, 'tanh') };
  }
  return big;
}

/** 2^18 + 1 points over [-8, 8], dy = 1: the kernel's derivative itself. */
const GRID_N = (1 << 18) + 1;
let grid: { x: Float32Array; ones: Float32Array; erf: Float64Array; tanh: Float64Array } | undefined;
function denseGrid(): NonNullable<typeof grid> {
  if (!grid) {
    const x = Float32Array.from({ length: GRID_N }, (_, i) => -8 + (16 * i) / (GRID_N - 1));
    const ones = new Float32Array(GRID_N).fill(1);
    grid = { x, ones, erf: geluBackwardRef(ones, x, 'erf'), tanh: geluBackwardRef(ones, x, 'tanh') };
  }
  return grid;
}

describeBackends('gelu backward', (get) => {
  for (const approx of FORMS) {
    it(`${approx} form: |gelu'(x) error| <= ${GRAD_MAX_ABS_ERROR} on a dense grid over [-8, 8]`, async () => {
      const g = denseGrid();
      const got = await backward(get(), g.x, g.ones, [GRID_N], approx);
      const ref = g[approx];
      let worst = 0;
      let at = 0;
      for (let i = 0; i < GRID_N; i++) {
        const d = Math.abs(got[i]! - ref[i]!);
        if (!(d <= worst)) {
          worst = d;
          at = g.x[i]!;
        }
      }
      console.log(`      gelu' ${approx}: max abs error ${worst.toExponential(3)} at x = ${at}`);
      expect(worst, `gelu' ${approx} max abs error at x = ${at} (seed ${RUN_SEED})`).to.be.at.most(GRAD_MAX_ABS_ERROR);
    });

    it(`${approx} form: odd sizes (1, 3, 7, 33, 127, 7×33) and vec4 sizes, rel L2 <= 1e-4`, async () => {
      for (const shape of [[1], [3], [7], [33], [127], [7, 33], [4], [260]]) {
        const n = shape.reduce((a, b) => a * b, 1);
        const r = freshRng();
        const x = randomNormal(n, r, 3);
        const dy = randomNormal(n, r);
        const got = await backward(get(), x, dy, shape, approx);
        expectClose(got, geluBackwardRef(dy, x, approx), 1e-4, `geluBackward ${approx} [${shape.join(', ')}]`);
      }
    });

    it(`${approx} form: 256 × 4096 (MLP hidden), rel L2 <= 1e-4, deterministic`, async () => {
      const b = bigCase();
      const got1 = await backward(get(), b.x, b.dy, [256, 4096], approx);
      const got2 = await backward(get(), b.x, b.dy, [256, 4096], approx);
      expectClose(got1, b[approx], 1e-4, `geluBackward ${approx} 256×4096`);
      const u1 = new Uint32Array(got1.buffer);
      const u2 = new Uint32Array(got2.buffer);
      for (let i = 0; i < u1.length; i++) if (u1[i] !== u2[i]) expect.fail(`geluBackward ${approx}: element ${i} differs between runs`);
    });
  }

  it("large |x|: gelu' is 1 for x >> 0 and 0 for x << 0 (no NaN or inf)", async () => {
    const x = new Float32Array([12, 30, 1e4, 1e30, -12, -30, -1e4, -1e30]);
    const dy = new Float32Array(x.length).fill(2);
    for (const approx of FORMS) {
      const got = await backward(get(), x, dy, [x.length], approx);
      for (let i = 0; i < 4; i++) expect(got[i], `${approx}'(${x[i]})`).to.equal(2);
      for (let i = 4; i < 8; i++) expect(Math.abs(got[i]!), `${approx}'(${x[i]}) = ${got[i]}`).to.be.below(1e-30);
    }
  });
});
