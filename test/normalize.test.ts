import { expect } from 'chai';
import type { Engine } from '../src/gpu/engine.js';
import { codebookLookup } from '../src/ops/codebook.js';
import type { RowLayout } from '../src/ops/layernorm.js';
import { L2_EPS, l2normalize, l2normalizeBackward } from '../src/ops/normalize.js';
import { describeBackends, expectClose, freshRng, randomNormal, RUN_SEED } from './helpers.js';
import { dot64, finiteDifferences, gatherRowsRef } from './reference/elementwise.js';
import { l2normalizeBackwardRef, l2normalizeRef } from './reference/normalize.js';

interface Case {
  rows: number;
  D: number;
  x: Float32Array;
  dy: Float32Array;
}

function makeCase(rows: number, D: number, std = 2): Case {
  const r = freshRng();
  return { rows, D, x: randomNormal(rows * D, r, std), dy: randomNormal(rows * D, r) };
}

/**
 * Runs forward and backward on the GPU and compares y, norm and dx with the float64 references;
 * `perRow` compares each row on its own (rows of very different scales).
 */
async function check(e: Engine, c: Case, layout: RowLayout | undefined, what: string, perRow = false, tol = 1e-5): Promise<void> {
  const opts = layout ? { layout } : {};
  const tx = e.upload(c.x, [c.rows, c.D]);
  const tdy = e.upload(c.dy, [c.rows, c.D]);
  const { y, norm } = l2normalize(e, tx, opts);
  const dx = l2normalizeBackward(e, tdy, y, norm, opts);
  expect(y.shape).to.deep.equal([c.rows, c.D]);
  expect(norm.shape).to.deep.equal([c.rows]);
  const [gy, gn, gdx] = [await e.readF32(y), await e.readF32(norm), await e.readF32(dx)];
  e.release(tx, tdy, y, norm, dx);
  const ref = l2normalizeRef(c.x, c.rows, c.D);
  const rdx = l2normalizeBackwardRef(c.dy, c.x, c.rows, c.D);
  const parts = perRow ? Array.from({ length: c.rows }, (_, r) => [r, r + 1]) : [[0, c.rows]];
  for (const [r0, r1] of parts) {
    const at = parts.length > 1 ? ` row ${r0}` : '';
    const [a, b] = [r0! * c.D, r1! * c.D];
    expectClose(gy.subarray(a, b), ref.y.subarray(a, b), tol, `${what} y${at}`);
    expectClose(gn.subarray(r0, r1), ref.norm.subarray(r0, r1), tol, `${what} norm${at}`);
    // dx = P·dy / max(‖x‖, eps) with P the projection off y: its f32 error scales with ‖dy‖ / ‖x‖, not
    // with ‖dx‖ (for D = 1, dx is 0 and only rounding is left), so that is the denominator here.
    let num = 0;
    let den = 0;
    for (let i = a; i < b; i++) {
      num += (gdx[i]! - rdx[i]!) ** 2;
      den += (c.dy[i]! / Math.max(ref.norm[Math.floor(i / c.D)]!, L2_EPS)) ** 2;
    }
    const err = Math.sqrt(num / den);
    expect(err, `${what} dx${at}: error ${err.toExponential(2)} of ‖dy / ‖x‖‖ > ${tol} (seed ${RUN_SEED})`).to.be.at.most(tol);
  }
}

describe('l2normalize float64 reference', () => {
  it('backward equals central differences of Σ w·y (rows above and below eps, and a zero row)', () => {
    const r = freshRng();
    const D = 7;
    const rows = 4;
    const x = Float64Array.from(randomNormal(rows * D, r, 2));
    // Row 2 is below the clamp (‖x‖ ≈ 3e-14 < 1e-12); row 3 is zero.
    for (let j = 0; j < D; j++) {
      x[2 * D + j] = x[2 * D + j]! * 1e-14;
      x[3 * D + j] = 0;
    }
    const w = Float64Array.from(randomNormal(rows * D, r));
    const loss = (v: Float64Array) => dot64(w, l2normalizeRef(v, rows, D).y);
    const analytic = l2normalizeBackwardRef(w, x, rows, D);
    // Step sizes well inside each row's smooth region: 1e-6 of unit-scale rows, 1e-17 below eps.
    for (const [r0, h] of [
      [0, 1e-6],
      [D, 1e-6],
      [2 * D, 1e-17],
    ] as const) {
      const at = Array.from({ length: D }, (_, j) => r0 + j);
      const fd = finiteDifferences(loss, x, at, h);
      const want = at.map((i) => analytic[i]!);
      expectClose(fd, want, 1e-6, `rows at ${r0}`);
    }
    // Below eps the map is x / eps: the gradient is w / eps exactly (a zero row included).
    for (let j = 0; j < D; j++) expect(analytic[3 * D + j]).to.equal(w[3 * D + j]! / L2_EPS);
  });
});

// Real sizes: seed encoder outputs (16 tokens × batch 1 and 16, width 1024), small (64 tokens ×
// batch 16, code dim 32). References computed once, shared by both backends.
const realCases = new Map<string, Case>();
const realCase = (rows: number, D: number): Case => {
  const key = `${rows}x${D}`;
  let c = realCases.get(key);
  if (!c) realCases.set(key, (c = makeCase(rows, D)));
  return c;
};

describeBackends('l2normalize', (get, backend) => {
  for (const layout of ['row', 'workgroup'] as const) {
    it(`odd shapes, ${layout} layout (rows 1, 7, 33 × D 1, 3, 7, 33, 127)`, async () => {
      for (const rows of [1, 7, 33]) for (const D of [1, 3, 7, 33, 127]) await check(get(), makeCase(rows, D), layout, `${layout} ${rows}×${D}`);
    });

    it(`D a multiple of 4 (vec4 path), ${layout} layout`, async () => {
      for (const [rows, D] of [
        [5, 4],
        [3, 8],
        [9, 260],
      ] as const)
        await check(get(), makeCase(rows, D), layout, `${layout} ${rows}×${D}`);
    });

    it(`model sizes, ${layout} layout (16 × 1024, 256 × 1024, 1024 × 32, 32 × 64)`, async () => {
      for (const [rows, D] of [
        [16, 1024],
        [256, 1024],
        [1024, 32],
        [32, 64],
      ] as const)
        await check(get(), realCase(rows, D), layout, `${layout} ${rows}×${D}`);
    });

    it(`a zero row, a row below eps and a large row, ${layout} layout`, async () => {
      for (const D of [7, 8]) {
        const c = makeCase(3, D);
        for (let j = 0; j < D; j++) {
          c.x[j] = 0;
          c.x[D + j] = c.x[D + j]! * 1e-14;
          c.x[2 * D + j] = c.x[2 * D + j]! * 1e15;
        }
        await check(get(), c, layout, `${layout} special rows D ${D}`, true);
        // The zero row stays zero and its gradient is dy / eps (checked above against the
        // reference); the y of a row below eps is x / eps.
        const tx = get().upload(c.x, [3, D]);
        const { y, norm } = l2normalize(get(), tx, { layout });
        const gy = await get().readF32(y);
        get().release(tx, y, norm);
        for (let j = 0; j < D; j++) expect(gy[j]).to.equal(0);
      }
    });
  }

  it('default layout: long scalar rows (D 4095) and rows past the per-invocation loop budget (D 30001)', async () => {
    // 2 × 30001 loop trips would pass the row layout's budget (llvmpipe's 65535 cap): the op switches.
    await check(get(), makeCase(3, 4095), undefined, 'default 3×4095');
    await check(get(), makeCase(2, 30001), 'row', "'row' requested, 2×30001");
  });

  it('65537 rows (the workgroup layout splits its grid over y)', async function () {
    // 65537 barrier-synchronised workgroups take over a minute on SwiftShader; the grid split is
    // the op's and the same on every backend, so llvmpipe checks it.
    if (backend === 'swiftshader') this.skip();
    await check(get(), realCase(65537, 3), 'workgroup', 'workgroup 65537×3');
  });

  it('codebookLookup: code rows for token ids, l2-normalized in cosine mode (ids past K give zeros)', async () => {
    const e = get();
    for (const [K, D] of [
      [64, 64],
      [33, 7],
    ] as const) {
      const r = freshRng();
      const codebook = randomNormal(K * D, r, 3);
      const ids = Uint32Array.from({ length: 37 }, (_, i) => (i === 5 ? K + 2 : Math.floor(r() * K)));
      const tc = e.upload(codebook, [K, D]);
      const ti = e.upload(ids, [ids.length], 'u32');
      const plain = codebookLookup(e, tc, ti);
      const cos = codebookLookup(e, tc, ti, { cosine: true });
      const [gp, gc] = [await e.readF32(plain), await e.readF32(cos)];
      e.release(tc, ti, plain, cos);
      const rows = gatherRowsRef(codebook, K, D, ids);
      expectClose(gp, rows, 0, `plain ${K}×${D}`);
      expectClose(gc, l2normalizeRef(rows, ids.length, D).y, 1e-6, `cosine ${K}×${D}`);
      for (let j = 0; j < D; j++) expect(gc[5 * D + j]).to.equal(0);
    }
  });

  it('rejects mismatched backward inputs and a bad eps', () => {
    const e = get();
    const tx = e.upload(new Float32Array(12).fill(1), [3, 4]);
    const tn = e.upload(new Float32Array(2).fill(1), [2]);
    expect(() => l2normalizeBackward(e, tx, tx, tn)).to.throw(/norm/);
    expect(() => l2normalize(e, tx, { eps: 0 })).to.throw(/eps/);
    e.release(tx, tn);
  });
});
