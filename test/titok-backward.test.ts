import { expect } from 'chai';
import * as F from '../src/autograd/functions.js';
import { Tape } from '../src/autograd/tape.js';
import { conv3x3Backward } from '../src/ops/conv.js';
import { rowsFromBackward, rowsIntoBackward, type RowSource } from '../src/ops/sequence.js';
import type { Tensor } from '../src/tensor.js';
import { describeBackends, expectClose, freshRng, randomF32, relL2, RUN_SEED } from './helpers.js';
import { dot64, finiteDifferences, mseRef, unpatchifyRef } from './reference/elementwise.js';
import { conv3x3BackwardRef, conv3x3Ref, rowsFromBackwardRef, rowsFromRef, rowsIntoBackwardRef, rowsIntoRef } from './reference/sequence.js';

type Role = RowSource | 'position';
const ROLES: Role[] = ['perImage', 'shared', 'repeat', 'position'];

function expectFd(fd: Float64Array, analytic: ArrayLike<number>, what: string, tol = 1e-6): void {
  const e = relL2(fd, analytic);
  expect(e, `${what}: finite differences vs analytic gradient, relative L2 ${e.toExponential(2)} (seed ${RUN_SEED})`).to.be.at.most(tol);
}

/** The rows one table holds for a segment of `rows` rows of `B` images in a given role (plus `extra` rows the segment does not read). */
function tableRows(role: Role, B: number, rows: number, extra: number): number {
  return (role === 'perImage' ? B * rows : role === 'repeat' ? 1 : rows) + extra;
}

describe('TiTok backward references (float64, against central finite differences)', () => {
  for (const role of ROLES) {
    it(`rowsInto: the gradient of a ${role} table`, () => {
      const r = freshRng();
      const [B, L, D] = [3, 9, 5];
      const o = { offset: 2, rows: 4 };
      const extra = role === 'position' ? 3 : 0;
      const tableOffset = role === 'position' ? 2 : 0;
      const srcSource: RowSource = role === 'position' ? 'shared' : role;
      const n = tableRows(role, B, o.rows, extra);
      const table = Float64Array.from(randomF32(n * D, r));
      const other = Float64Array.from(randomF32((role === 'position' ? o.rows : o.rows + tableOffset + 1) * D, r));
      const x0 = randomF32(B * L * D, r);
      const w = randomF32(B * L * D, r);
      const f = (t: Float64Array) =>
        dot64(w, role === 'position' ? rowsIntoRef(x0, [B, L, D], other, t, { ...o, source: srcSource, posOffset: tableOffset }) : rowsIntoRef(x0, [B, L, D], t, other, { ...o, source: srcSource }));
      expectFd(finiteDifferences(f, table), rowsIntoBackwardRef(w, [B, L, D], n, { ...o, source: role, tableOffset }), role);
    });
  }

  it('rowsFrom: the gradient scattered into zeros', () => {
    const r = freshRng();
    const shape: [number, number, number] = [2, 7, 3];
    const x = Float64Array.from(randomF32(2 * 7 * 3, r));
    const w = randomF32(2 * 4 * 3, r);
    expectFd(finiteDifferences((v) => dot64(w, rowsFromRef(v, shape, 2, 4)), x), rowsFromBackwardRef(w, shape, 2, 4), 'rowsFrom');
  });

  for (const [B, H, W, cin, cout] of [
    [1, 1, 1, 3, 3],
    [2, 4, 3, 3, 3],
    [1, 5, 6, 2, 4],
  ] as const) {
    it(`conv3x3: dx, dw, db, ${B}×${H}×${W}×${cin} → ${cout}`, () => {
      const r = freshRng();
      const shape: [number, number, number, number] = [B, H, W, cin];
      const x = Float64Array.from(randomF32(B * H * W * cin, r));
      const wt = Float64Array.from(randomF32(cout * cin * 9, r));
      const b = Float64Array.from(randomF32(cout, r));
      const dy = randomF32(B * H * W * cout, r);
      const ref = conv3x3BackwardRef(dy, x, shape, wt, cout);
      expectFd(finiteDifferences((v) => dot64(dy, conv3x3Ref(v, shape, wt, b, cout)), x), ref.dx, 'dx');
      expectFd(finiteDifferences((v) => dot64(dy, conv3x3Ref(x, shape, v, b, cout)), wt), ref.dw, 'dw');
      expectFd(finiteDifferences((v) => dot64(dy, conv3x3Ref(x, shape, wt, v, cout)), b), ref.db, 'db');
    });
  }
});

describeBackends('TiTok backward kernels', (get) => {
  // Odd widths take the scalar entries, multiples of 4 the vec4 ones.
  for (const D of [3, 12, 36]) {
    for (const role of ROLES) {
      it(`rowsIntoBackward: ${role} table, D=${D}`, async () => {
        const e = get();
        const r = freshRng();
        const [B, L] = [3, 11];
        const o = { offset: 3, rows: 5 };
        const extra = 2;
        const tableOffset = role === 'position' ? 1 : role === 'repeat' ? 2 : 0;
        const n = tableRows(role, B, o.rows, extra);
        const dx = randomF32(B * L * D, r);
        const t = e.upload(dx, [B, L, D]);
        // The output comes from a poisoning engine (NaN): rows outside the segment must be written as 0.
        const g = rowsIntoBackward(e, t, n, { ...o, source: role, tableOffset });
        const got = await e.readF32(g);
        expect(got.every(Number.isFinite), 'every element written').to.equal(true);
        expectClose(got, rowsIntoBackwardRef(dx, [B, L, D], n, { ...o, source: role, tableOffset }), 1e-6, role);
        e.release(t, g);
      });
    }

    it(`rowsIntoBackward sums in passes when the loop cap is low (shared, position, repeat), D=${D}`, async () => {
      const e = get();
      const r = freshRng();
      const [B, L] = [5, 11];
      const o = { offset: 3, rows: 4 };
      const dx = randomF32(B * L * D, r);
      const t = e.upload(dx, [B, L, D]);
      // repeat: 4 rows per image, 9 trips → 2 images per pass (3 passes); shared/position: 2 images per pass.
      for (const [role, maxTrips] of [['shared', 2], ['position', 2], ['repeat', 9]] as const) {
        const tableOffset = role === 'position' ? 1 : role === 'repeat' ? 2 : 0;
        const n = tableRows(role, B, o.rows, 2);
        const g = rowsIntoBackward(e, t, n, { ...o, source: role, tableOffset, maxTrips });
        const got = await e.readF32(g);
        expect(got.every(Number.isFinite), 'every element written').to.equal(true);
        expectClose(got, rowsIntoBackwardRef(dx, [B, L, D], n, { ...o, source: role, tableOffset }), 1e-6, `${role}, ${maxTrips} trips per pass`);
        e.release(g);
      }
      expect(() => rowsIntoBackward(e, t, 4, { ...o, source: 'repeat', maxTrips: 3 })).to.throw(/4 repeated rows exceed 3 terms/);
      e.release(t);
    });

    it(`rowsIntoBackward adds a second segment of the same table in place, D=${D}`, async () => {
      const e = get();
      const r = freshRng();
      const [B, L] = [2, 10];
      const dx = randomF32(B * L * D, r);
      const t = e.upload(dx, [B, L, D]);
      // A position table read by a class row (row 0 → position 0) and 6 patch rows (rows 1..6 → positions 1..6).
      const g = rowsIntoBackward(e, t, 8, { offset: 0, rows: 1, source: 'position' });
      const same = rowsIntoBackward(e, t, 8, { offset: 1, rows: 6, source: 'position', tableOffset: 1 }, g);
      expect(same).to.equal(g);
      const want = rowsIntoBackwardRef(dx, [B, L, D], 8, { offset: 0, rows: 1, source: 'position' });
      const second = rowsIntoBackwardRef(dx, [B, L, D], 8, { offset: 1, rows: 6, source: 'position', tableOffset: 1 });
      for (let i = 0; i < want.length; i++) want[i] += second[i]!;
      const got = await e.readF32(g);
      expect(got.every(Number.isFinite), 'every element written').to.equal(true);
      expectClose(got, want, 1e-6, 'two segments');
      e.release(t, g);
    });

    it(`rowsFromBackward scatters into zeros, D=${D}`, async () => {
      const e = get();
      const r = freshRng();
      const [B, L, offset, rows] = [3, 13, 4, 7];
      const dy = randomF32(B * rows * D, r);
      const t = e.upload(dy, [B, rows, D]);
      const dx = rowsFromBackward(e, t, L, offset);
      expect(dx.shape).to.deep.equal([B, L, D]);
      expect(Array.from(await e.readF32(dx))).to.deep.equal(Array.from(rowsFromBackwardRef(dy, [B, L, D], offset, rows)));
      e.release(t, dx);
    });
  }

  it('rowsIntoBackward refuses a table too small for its segment', () => {
    const e = get();
    const t = e.empty([2, 5, 4]);
    expect(() => rowsIntoBackward(e, t, 3, { offset: 0, rows: 2, source: 'perImage' })).to.throw(/outside a table/);
    expect(() => rowsIntoBackward(e, t, 3, { offset: 4, rows: 2, source: 'shared' })).to.throw(/outside the sequence/);
    e.release(t);
  });

  // 2·67·67 pixels: three chunks of the weight gradient's first pass. dx: conv3x3_small up to 4
  // channels in and out (runs of 32 pixels), the generic kernel past that (5 → 2, 3 → 6).
  for (const [B, H, W, cin, cout] of [
    [1, 1, 1, 3, 3],
    [2, 7, 5, 3, 3],
    [1, 3, 70, 4, 1],
    [3, 5, 33, 1, 4],
    [1, 2, 37, 2, 3],
    [1, 9, 13, 5, 2],
    [2, 6, 35, 3, 6],
    [2, 67, 67, 3, 3],
  ] as const) {
    it(`conv3x3Backward against float64, ${B}×${H}×${W}×${cin} → ${cout}, deterministic`, async () => {
      const e = get();
      const r = freshRng();
      const x = randomF32(B * H * W * cin, r);
      const w = randomF32(cout * cin * 9, r);
      const dy = randomF32(B * H * W * cout, r);
      const tx = e.upload(x, [B, H, W, cin]);
      const tw = e.upload(w, [cout, cin, 3, 3]);
      const tdy = e.upload(dy, [B, H, W, cout]);
      const ref = conv3x3BackwardRef(dy, x, [B, H, W, cin], w, cout);
      const runs: Float32Array[][] = [];
      for (let k = 0; k < 2; k++) {
        const g = conv3x3Backward(e, tdy, tx, tw);
        expect(g.dWeight!.shape).to.deep.equal([cout, cin, 3, 3]);
        const got = [await e.readF32(g.dx!), await e.readF32(g.dWeight!), await e.readF32(g.dBias!)];
        for (const a of got) expect(a.every(Number.isFinite), 'every element written').to.equal(true);
        expectClose(got[0]!, ref.dx, 1e-6, 'dx');
        expectClose(got[1]!, ref.dw, 1e-5, 'dw');
        // db is a plain sum of B·H·W values of dy per channel, which can cancel to almost nothing:
        // its f32 rounding is bounded by the sum of the magnitudes, not by the result.
        for (let o = 0; o < cout; o++) {
          let mag = 0;
          for (let i = o; i < dy.length; i += cout) mag += Math.abs(dy[i]!);
          expect(Math.abs(got[2]![o]! - ref.db[o]!), `db[${o}] against Σ|dy| = ${mag}`).to.be.at.most(1e-6 * mag + 1e-30);
        }
        runs.push(got);
        e.release(g.dx, g.dWeight, g.dBias);
      }
      for (let j = 0; j < 3; j++) expect(Array.from(runs[1]![j]!), 'the same bits on a second run').to.deep.equal(Array.from(runs[0]![j]!));
      e.release(tx, tw, tdy);
    });
  }

  it('the differentiable wrappers (assembleRows, rowsFrom, unpatchify, conv3x3, affine) against central finite differences', async () => {
    const e = get();
    const r = freshRng();
    // A decoder-like chain: [class (repeat) | patches (per image) | latents (shared)] with
    // positions → the patch rows → pixel shuffle → 3×3 convolution → 2x − 1 → MSE to a target.
    const [B, P, G, K] = [2, 2, 3, 2];
    const D = P * P * 3;
    const seq = 1 + G * G + K;
    const S = G * P;
    const vals = {
      cls: Float64Array.from(randomF32(D, r)),
      patches: Float64Array.from(randomF32(B * G * G * D, r)),
      latents: Float64Array.from(randomF32(K * D, r)),
      pos: Float64Array.from(randomF32((1 + G * G) * D, r)),
      lpos: Float64Array.from(randomF32(K * D, r)),
      w: Float64Array.from(randomF32(81, r)),
      b: Float64Array.from(randomF32(3, r)),
    };
    const target = randomF32(B * S * S * 3, r);
    const forward64 = (v: typeof vals): number => {
      const shape: [number, number, number] = [B, seq, D];
      const x0 = rowsIntoRef(new Float64Array(B * seq * D), shape, v.cls, v.pos, { offset: 0, rows: 1, source: 'repeat' });
      const x1 = rowsIntoRef(x0, shape, v.patches, v.pos, { offset: 1, rows: G * G, source: 'perImage', posOffset: 1 });
      const x = rowsIntoRef(x1, shape, v.latents, v.lpos, { offset: 1 + G * G, rows: K, source: 'shared' });
      const img = conv3x3Ref(unpatchifyRef(rowsFromRef(x, shape, 1, G * G), B, S, S, P), [B, S, S, 3], v.w, v.b, 3);
      return mseRef(
        img.map((a) => 2 * a - 1),
        target,
      );
    };
    const t = Object.fromEntries(Object.entries(vals).map(([k, a]) => [k, e.upload(Float32Array.from(a), k === 'w' ? [3, 3, 3, 3] : [a.length])])) as Record<keyof typeof vals, Tensor>;
    const tt = e.upload(target, [B, S, S, 3]);
    const tape = new Tape(e);
    tape.watch(...Object.values(t));
    const ctx = { engine: e, tape };
    const x = F.assembleRows(ctx, B, seq, D, [
      { src: t.cls, pos: t.pos, offset: 0, rows: 1, source: 'repeat' },
      { src: t.patches, pos: t.pos, offset: 1, rows: G * G, source: 'perImage', posOffset: 1 },
      { src: t.latents, pos: t.lpos, offset: 1 + G * G, rows: K, source: 'shared' },
    ]);
    const grid = F.rowsFrom(ctx, x, B, 1, G * G);
    const img = F.unpatchify(ctx, grid, { batch: B, height: S, width: S, patch: P });
    const img01 = F.conv3x3(ctx, img, t.w, t.b);
    const y = F.affine(ctx, img01, 2, -1);
    const loss = F.mseLoss(ctx, y, tt);
    const grads = tape.backward([{ loss }], [loss]);
    const value = (await e.readF32(loss))[0]!;
    expect(Math.abs(value - forward64(vals)), 'the loss').to.be.at.most(1e-5 * (1 + forward64(vals)));
    for (const k of Object.keys(vals) as (keyof typeof vals)[]) {
      const g = grads.get(t[k]);
      expect(g, `a gradient for ${k}`).to.not.equal(undefined);
      const fd = finiteDifferences((v) => forward64({ ...vals, [k]: v }), vals[k]);
      const got = await e.readF32(g!);
      expect(got.every(Number.isFinite), `${k}: every element written`).to.equal(true);
      expectFd(fd, got, k, 1e-4);
      e.release(g);
    }
    e.release(loss, tt, ...Object.values(t));
  });
});
