import { expect } from 'chai';
import type { Engine } from '../src/gpu/engine.js';
import { erf, gelu } from '../src/ops/gelu.js';
import { describeBackends, expectClose, freshRng, randomNormal, RUN_SEED } from './helpers.js';
import { erf64, gelu64, geluRef } from './reference/gelu.js';

/** The bound kernels/activation.wgsl states for erf_approx over [-8, 8]. */
const ERF_MAX_ABS_ERROR = 2.5e-7;

/** A dense grid over [-8, 8]: 2^20 + 1 points (step 1.5e-5), as f32. */
const GRID_N = (1 << 20) + 1;
let grid: { x: Float32Array; erf: Float64Array; gelu: Float64Array; geluTanh: Float64Array } | undefined;
function denseGrid(): NonNullable<typeof grid> {
  if (!grid) {
    const x = new Float32Array(GRID_N);
    for (let i = 0; i < GRID_N; i++) x[i] = -8 + (16 * i) / (GRID_N - 1);
    const e = new Float64Array(GRID_N);
    for (let i = 0; i < GRID_N; i++) e[i] = erf64(x[i]!);
    grid = { x, erf: e, gelu: geluRef(x, 'erf'), geluTanh: geluRef(x, 'tanh') };
  }
  return grid;
}

let big: { x: Float32Array; erf: Float64Array; tanh: Float64Array } | undefined;
function bigCase(): NonNullable<typeof big> {
  if (!big) {
    const x = randomNormal(4096 * 1024, freshRng(), 3);
    big = { x, erf: geluRef(x, 'erf'), tanh: geluRef(x, 'tanh') };
  }
  return big;
}

async function apply(engine: Engine, x: Float32Array, shape: number[], f: (t: ReturnType<Engine['upload']>) => ReturnType<Engine['upload']>): Promise<Float32Array> {
  const t = engine.upload(x, shape);
  const y = f(t);
  expect(y.shape).to.deep.equal(shape);
  const got = await engine.readF32(y);
  engine.release(t, y);
  return got;
}

describe('gelu reference', () => {
  it('float64 erf matches known values to 1e-15', () => {
    // erf(0.5), erf(1), erf(2), erf(3), erf(5) and erfc via gelu64 in the tail.
    const known: [number, number][] = [
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2, 0.9953222650189527],
      [3, 0.9999779095030014],
      [-1.5, -0.9661051464753108],
    ];
    for (const [x, v] of known) expect(Math.abs(erf64(x) - v), `erf(${x})`).to.be.below(1e-15);
    // Phi(-8) = 6.22096057427178e-16: gelu(-8) = -8 Phi(-8).
    expect(Math.abs(gelu64(-8) / (-8 * 6.22096057427178e-16) - 1)).to.be.below(1e-12);
  });
});

describeBackends('gelu', (get) => {
  it(`erf approximation: max abs error <= ${ERF_MAX_ABS_ERROR} over a dense grid on [-8, 8]`, async () => {
    const g = denseGrid();
    const got = await apply(get(), g.x, [GRID_N], (t) => erf(get(), t));
    let worst = 0;
    let at = 0;
    for (let i = 0; i < GRID_N; i++) {
      const d = Math.abs(got[i]! - g.erf[i]!);
      if (!(d <= worst)) {
        worst = d;
        at = g.x[i]!;
      }
    }
    console.log(`      erf max abs error ${worst.toExponential(3)} at x = ${at}`);
    expect(worst, `erf max abs error at x = ${at} (seed ${RUN_SEED})`).to.be.at.most(ERF_MAX_ABS_ERROR);
  });

  for (const approx of ['erf', 'tanh'] as const) {
    it(`${approx} form on the dense grid: abs error <= 4e-7·max(1, |x|), and small relative error in the negative tail`, async () => {
      // GELU is near 0 for x near 0 and x << 0, so a relative error per element is meaningless
      // there; the abs bound follows from the erf bound (|Δ| ≤ |x|·Δerf/2 + f32 rounding of x).
      const g = denseGrid();
      const ref = approx === 'erf' ? g.gelu : g.geluTanh;
      const got = await apply(get(), g.x, [GRID_N], (t) => gelu(get(), t, approx));
      let worstAbs = 0;
      let worstTail = 0;
      for (let i = 0; i < GRID_N; i++) {
        const x = g.x[i]!;
        const d = Math.abs(got[i]! - ref[i]!);
        worstAbs = Math.max(worstAbs, d / Math.max(1, Math.abs(x)));
        if (!(d <= 4e-7 * Math.max(1, Math.abs(x)))) expect.fail(`gelu ${approx}(${x}) = ${got[i]}, expected ${ref[i]} (seed ${RUN_SEED})`);
        if (x <= -1 && Math.abs(ref[i]!) > 1e-30) worstTail = Math.max(worstTail, d / Math.abs(ref[i]!));
      }
      console.log(`      gelu ${approx}: max abs error / max(1,|x|) ${worstAbs.toExponential(3)}, max relative error for x <= -1: ${worstTail.toExponential(3)}`);
      // Computed from erfc (erf form) or as x / (1 + e^-2u) (tanh form), the tail keeps its digits.
      expect(worstTail, `gelu ${approx} relative error in the tail`).to.be.at.most(1e-4);
    });

    it(`${approx} form: odd sizes (1, 3, 7, 33, 127, 7×33), rel L2 <= 1e-5`, async () => {
      for (const shape of [[1], [3], [7], [33], [127], [7, 33], [4], [260]]) {
        const n = shape.reduce((a, b) => a * b, 1);
        const x = randomNormal(n, freshRng(), 3);
        const got = await apply(get(), x, shape, (t) => gelu(get(), t, approx));
        expectClose(got, geluRef(x, approx), 1e-5, `gelu ${approx} [${shape.join(', ')}]`);
      }
    });

    it(`${approx} form: 4096 × 1024, rel L2 <= 1e-5`, async () => {
      const b = bigCase();
      const got = await apply(get(), b.x, [4096, 1024], (t) => gelu(get(), t, approx));
      expectClose(got, approx === 'erf' ? b.erf : b.tanh, 1e-5, `gelu ${approx} 4096×1024`);
    });
  }

  it('large |x| gives x and 0 (no NaN or inf)', async () => {
    const x = new Float32Array([12, 30, 1e4, 1e30, -12, -30, -1e4, -1e30]);
    for (const approx of ['erf', 'tanh'] as const) {
      const got = await apply(get(), x, [x.length], (t) => gelu(get(), t, approx));
      for (let i = 0; i < 4; i++) expect(got[i]! / x[i]! - 1, `${approx}(${x[i]})`).to.be.closeTo(0, 1e-6);
      for (let i = 4; i < 8; i++) expect(Math.abs(got[i]!), `${approx}(${x[i]}) = ${got[i]}`).to.be.below(1e-30);
    }
  });
});
