import { expect } from 'chai';
import { conv3x3 } from '../src/ops/conv.js';
import { affine, unpatchify } from '../src/ops/elementwise.js';
import { view } from '../src/tensor.js';
import { rowsFrom, rowsInto, type RowSource } from '../src/ops/sequence.js';
import { describeBackends, expectClose, freshRng, randomF32 } from './helpers.js';
import { conv3x3Ref, pixelShuffleNchwRef, rowsFromRef, rowsIntoRef } from './reference/sequence.js';

describeBackends('TiTok kernels', (get) => {
  // Odd widths take the scalar entries, multiples of 4 the vec4 ones; sizes are not tile multiples.
  for (const D of [3, 12, 36, 1024]) {
    it(`rowsInto writes one segment per image (class, mask, latents, patches), D=${D}`, async () => {
      const e = get();
      const r = freshRng();
      const B = 3;
      const L = 11;
      const shape: [number, number, number] = [B, L, D];
      const cases: { offset: number; rows: number; source: RowSource; posOffset?: number }[] = [
        { offset: 0, rows: 1, source: 'repeat' },
        { offset: 1, rows: 6, source: 'repeat', posOffset: 1 },
        { offset: 7, rows: 4, source: 'perImage' },
        { offset: 2, rows: 5, source: 'shared', posOffset: 3 },
      ];
      for (const c of cases) {
        const srcRows = c.source === 'perImage' ? B * c.rows : c.source === 'shared' ? c.rows : 1;
        const src = randomF32(srcRows * D, r);
        const pos = randomF32(9 * D, r);
        // x starts poisoned (NaN): rows outside the segment must stay untouched.
        const x = e.empty([B * L, D]);
        e.fill(x, Number.NaN);
        const ts = e.upload(src, [srcRows, D]);
        const tp = e.upload(pos, [9, D]);
        const xs = view(x, shape);
        rowsInto(e, xs, ts, tp, c);
        const got = await e.readF32(x);
        const want = rowsIntoRef(new Float32Array(B * L * D).fill(Number.NaN), shape, src, pos, c);
        for (let i = 0; i < got.length; i++) {
          if (Number.isNaN(want[i]!)) expect(Number.isNaN(got[i]!), `element ${i} outside the segment was written`).to.equal(true);
          else expect(Math.abs(got[i]! - want[i]!), `element ${i} (${JSON.stringify(c)})`).to.be.at.most(1e-6 * (1 + Math.abs(want[i]!)));
        }
        e.release(x, ts, tp);
      }
    });

    it(`rowsFrom keeps a segment, D=${D}`, async () => {
      const e = get();
      const r = freshRng();
      const shape: [number, number, number] = [2, 13, D];
      const data = randomF32(2 * 13 * D, r);
      const x = e.upload(data, shape);
      for (const [offset, rows] of [
        [0, 1],
        [1, 9],
        [5, 8],
      ] as const) {
        const y = rowsFrom(e, x, offset, rows);
        expect(y.shape).to.deep.equal([2, rows, D]);
        expect(Array.from(await e.readF32(y))).to.deep.equal(Array.from(rowsFromRef(data, shape, offset, rows)));
        e.release(y);
      }
      e.release(x);
    });
  }

  it('rowsInto and rowsFrom refuse segments outside the sequence and mis-sized sources', () => {
    const e = get();
    const x = e.empty([2, 5, 4]);
    const src = e.empty([3, 4]);
    const pos = e.empty([5, 4]);
    expect(() => rowsInto(e, x, src, pos, { offset: 3, rows: 3, source: 'shared' })).to.throw(/outside the sequence/);
    expect(() => rowsInto(e, x, src, pos, { offset: 0, rows: 2, source: 'perImage' })).to.throw(/not 4 rows/);
    expect(() => rowsInto(e, x, src, pos, { offset: 0, rows: 3, source: 'shared', posOffset: 3 })).to.throw(/no rows/);
    expect(() => rowsFrom(e, x, 4, 2)).to.throw(/outside the sequence/);
    e.release(x, src, pos);
  });

  // Up to 4 channels in and out: conv3x3_small (rows in runs of 32 pixels: 70 = 2 runs + 6, 33 =
  // 1 + 1); more: the generic kernel (5 → 2, 3 → 6).
  for (const [B, H, W, cin, cout] of [
    [1, 1, 1, 3, 3],
    [2, 7, 5, 3, 3],
    [1, 3, 70, 4, 1],
    [3, 5, 33, 1, 4],
    [1, 2, 37, 2, 3],
    [1, 9, 13, 5, 2],
    [2, 6, 35, 3, 6],
    [2, 256, 256, 3, 3],
  ] as const) {
    it(`conv3x3 (zero padding) against float64, ${B}×${H}×${W}×${cin} → ${cout}`, async () => {
      const e = get();
      const r = freshRng();
      const x = randomF32(B * H * W * cin, r);
      const w = randomF32(cout * cin * 9, r);
      const b = randomF32(cout, r);
      const tx = e.upload(x, [B, H, W, cin]);
      const tw = e.upload(w, [cout, cin, 3, 3]);
      const tb = e.upload(b, [cout]);
      const y = conv3x3(e, tx, tw, tb);
      expect(y.shape).to.deep.equal([B, H, W, cout]);
      const got = await e.readF32(y);
      expect(got.every(Number.isFinite), 'every output written').to.equal(true);
      expectClose(got, conv3x3Ref(x, [B, H, W, cin], w, b, cout), 1e-6, 'conv3x3');
      e.release(tx, tw, tb, y);
    });
  }

  it('conv3x3 refuses a weight of the wrong shape', () => {
    const e = get();
    const x = e.empty([1, 4, 4, 3]);
    const w = e.empty([3, 2, 3, 3]);
    const b = e.empty([3]);
    expect(() => conv3x3(e, x, w, b)).to.throw(/not \[cout, 3, 3, 3\]/);
    e.release(x, w, b);
  });

  for (const n of [1, 7, 4096 + 3, 4096]) {
    it(`affine maps value ranges, n=${n}`, async () => {
      const e = get();
      const a = randomF32(n, freshRng());
      const t = e.upload(a, [n]);
      const y = affine(e, t, 0.5, 0.5);
      expectClose(await e.readF32(y), Array.from(a, (v) => 0.5 * v + 0.5), 1e-7, 'affine');
      e.release(t, y);
    });
  }

  for (const [P, G] of [
    [8, 8],
    [16, 3],
    [2, 5],
  ] as const) {
    it(`unpatchify is the reference decoder's pixel shuffle (P ${P}, grid ${G})`, async () => {
      const e = get();
      const B = 2;
      const C = P * P * 3;
      // The decoder's ffn output: rows are grid positions (h, w), columns (p1, p2, c).
      const rows = randomF32(B * G * G * C, freshRng());
      const t = e.upload(rows, [B * G * G, C]);
      const img = unpatchify(e, t, { batch: B, height: G * P, width: G * P, patch: P });
      const got = await e.readF32(img);
      // The same data as the reference holds it (NCHW [B, C, G, G]) through its einops pattern.
      const nchw = new Float64Array(B * C * G * G);
      for (let b = 0; b < B; b++) for (let s = 0; s < G * G; s++) for (let ch = 0; ch < C; ch++) nchw[(b * C + ch) * G * G + s] = rows[(b * G * G + s) * C + ch]!;
      const ref = pixelShuffleNchwRef(nchw, B, P, G);
      const S = G * P;
      for (let b = 0; b < B; b++)
        for (let y = 0; y < S; y++)
          for (let x = 0; x < S; x++)
            for (let c = 0; c < 3; c++) expect(got[((b * S + y) * S + x) * 3 + c]).to.equal(ref[((b * 3 + c) * S + y) * S + x]);
      e.release(t, img);
    });
  }
});
