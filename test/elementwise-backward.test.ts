import { expect } from 'chai';
import type { Engine } from '../src/gpu/engine.js';
import {
  columnSum,
  gatherRowsBackward,
  l1,
  l1Backward,
  mseBackward,
  patchify,
  patchifyBackward,
  unpatchify,
  unpatchifyBackward,
} from '../src/ops/elementwise.js';
import type { Tensor } from '../src/tensor.js';
import { describeBackends, expectClose, freshRng, randomF32, randomNormal, relL2, RUN_SEED } from './helpers.js';
import {
  columnSumRef,
  dot64,
  finiteDifferences,
  gatherRowsBackwardRef,
  gatherRowsRef,
  l1BackwardRef,
  l1Ref,
  mseBackwardRef,
  mseRef,
  patchifyBackwardRef,
  patchifyRef,
  unpatchifyBackwardRef,
  unpatchifyRef,
} from './reference/elementwise.js';

const ODD_SIZES = [1, 3, 7, 33, 127, 7 * 33];

/** Reads f32 tensors in order. */
async function read(engine: Engine, ...ts: Tensor[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const t of ts) out.push(await engine.readF32(t));
  return out;
}

/** Bit-identical f32 arrays (NaN payloads and signed zeros included). */
function expectSameBits(a: Float32Array, b: Float32Array, what: string): void {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  expect(ua.length, what).to.equal(ub.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) expect.fail(`${what}: element ${i} differs between runs (${a[i]} vs ${b[i]})`);
}

/** Every coordinate of a small input, or ≥ 60 random ones of a larger one. */
function someIndices(n: number, r: () => number, count = 60): number[] {
  if (n <= count) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: count }, () => Math.floor(r() * n));
}

function expectGradMatch(fd: Float64Array, analytic: ArrayLike<number>, at: readonly number[], what: string): void {
  const picked = at.map((i) => analytic[i]!);
  const e = relL2(fd, picked);
  expect(e, `${what}: finite differences vs analytic gradient, relative L2 ${e.toExponential(2)} (seed ${RUN_SEED})`).to.be.at.most(1e-6);
}

describe('elementwise backward references (float64, against central finite differences)', () => {
  it('mse: d/da of dLoss·mean((a − b)²)', () => {
    const r = freshRng();
    const n = 37;
    const a = Float64Array.from(randomF32(n, r));
    const b = Float64Array.from(randomF32(n, r));
    const dLoss = 0.75;
    const at = someIndices(n, r);
    const fd = finiteDifferences((x) => dLoss * mseRef(x, b), a, at);
    expectGradMatch(fd, mseBackwardRef(a, b, dLoss), at, 'mse');
  });

  it('l1: d/da of dLoss·mean(|a − b|), including a = b (subgradient 0)', () => {
    const r = freshRng();
    const n = 41;
    const a = Float64Array.from(randomF32(n, r));
    const b = Float64Array.from(randomF32(n, r));
    for (let i = 0; i < n; i += 5) b[i] = a[i]!; // kinks: the central difference there is 0 too
    // Keep the other elements at least 1e-4 from the kink, so a step of 1e-6 cannot cross it.
    for (let i = 0; i < n; i++) if (i % 5 !== 0 && Math.abs(a[i]! - b[i]!) < 1e-4) b[i] = a[i]! + 0.5;
    const at = someIndices(n, r);
    const fd = finiteDifferences((x) => 2 * l1Ref(x, b), a, at);
    expectGradMatch(fd, l1BackwardRef(a, b, 2), at, 'l1');
    expect(l1BackwardRef(a, b)[5]).to.equal(0);
  });

  it('gatherRows: d/dtable of Σ w·gatherRows(table) (repeated indices, an index past the table)', () => {
    const r = freshRng();
    const K = 9;
    const D = 5;
    const idx = new Uint32Array([3, 0, 3, 8, 3, 11, 1, 0]);
    const N = idx.length;
    const table = Float64Array.from(randomF32(K * D, r));
    const w = randomNormal(N * D, r);
    const fd = finiteDifferences((t) => dot64(w, gatherRowsRef(t, K, D, idx)), table);
    const all = Array.from({ length: K * D }, (_, i) => i);
    expectGradMatch(fd, gatherRowsBackwardRef(w, N, D, idx, K), all, 'gatherRows');
  });

  it('patchify and unpatchify: adjoints by finite differences; both are permutations', () => {
    const r = freshRng();
    const [B, H, W, P] = [2, 6, 9, 3];
    const n = B * H * W * 3;
    const img = Float64Array.from(randomF32(n, r));
    const w = randomNormal(n, r);
    const all = Array.from({ length: n }, (_, i) => i);
    expectGradMatch(finiteDifferences((x) => dot64(w, patchifyRef(x, B, H, W, P)), img, all), patchifyBackwardRef(w, B, H, W, P), all, 'patchify');
    expectGradMatch(finiteDifferences((x) => dot64(w, unpatchifyRef(x, B, H, W, P)), img, all), unpatchifyBackwardRef(w, B, H, W, P), all, 'unpatchify');
    // Permutations: the adjoint (scatter-add) is the inverse, exactly, and a ramp maps onto itself.
    expect(Array.from(patchifyBackwardRef(w, B, H, W, P))).to.deep.equal(Array.from(unpatchifyRef(w, B, H, W, P)));
    expect(Array.from(unpatchifyBackwardRef(w, B, H, W, P))).to.deep.equal(Array.from(patchifyRef(w, B, H, W, P)));
    const ramp = Float64Array.from({ length: n }, (_, i) => i);
    expect(Array.from(patchifyRef(ramp, B, H, W, P)).sort((x, y) => x - y)).to.deep.equal(Array.from(ramp));
  });
});

// Big shared inputs and references, made once for both backends.
let bigAB: { a: Float32Array; b: Float32Array; mse: Float64Array; l1: number; l1g: Float64Array } | undefined;
function bigLoss(): NonNullable<typeof bigAB> {
  if (!bigAB) {
    const r = freshRng();
    const a = randomNormal(4096 * 1024, r);
    const b = randomNormal(4096 * 1024, r);
    for (let i = 0; i < a.length; i += 1001) b[i] = a[i]!;
    bigAB = { a, b, mse: mseBackwardRef(a, b, 3), l1: l1Ref(a, b), l1g: l1BackwardRef(a, b, 3) };
  }
  return bigAB;
}

const colCache = new Map<string, { x: Float32Array; ref: Float64Array }>();
function colCase(rows: number, cols: number): { x: Float32Array; ref: Float64Array } {
  const key = `${rows}x${cols}`;
  let c = colCache.get(key);
  if (!c) {
    const x = randomNormal(rows * cols, freshRng());
    c = { x, ref: columnSumRef(x, rows, cols) };
    colCache.set(key, c);
  }
  return c;
}

interface GatherCase {
  N: number;
  K: number;
  D: number;
  dOut: Float32Array;
  idx: Uint32Array;
  ref: Float64Array;
  ref32: Float64Array;
}

const gatherCache = new Map<string, GatherCase>();
/** dOut [N, D] with indices into K codes; `pick` chooses each token's code. */
function gatherCase(name: string, N: number, K: number, D: number, pick: (t: number, r: () => number) => number): GatherCase {
  let c = gatherCache.get(name);
  if (!c) {
    const r = freshRng();
    const dOut = randomNormal(N * D, r);
    const idx = Uint32Array.from({ length: N }, (_, t) => pick(t, r));
    c = { N, K, D, dOut, idx, ref: gatherRowsBackwardRef(dOut, N, D, idx, K), ref32: gatherRowsBackwardRef(dOut, N, D, idx, K, true) };
    gatherCache.set(name, c);
  }
  return c;
}

describeBackends('elementwise backward', (get) => {
  it('mseBackward and l1Backward: odd sizes and vec4 sizes, with dLoss', async () => {
    const e = get();
    for (const n of [...ODD_SIZES, 4, 260]) {
      const r = freshRng();
      const a = randomF32(n, r);
      const b = randomF32(n, r);
      if (n > 1) b[0] = a[0]!; // a = b: the l1 gradient is 0 there
      const ta = e.upload(a, [n]);
      const tb = e.upload(b, [n]);
      const outs = [mseBackward(e, ta, tb), mseBackward(e, ta, tb, -0.5), l1Backward(e, ta, tb), l1Backward(e, ta, tb, 4), l1(e, ta, tb)];
      expect(outs[0]!.shape).to.deep.equal([n]);
      const [m1, m2, g1, g2, loss] = await read(e, ...outs);
      expectClose(m1!, mseBackwardRef(a, b), 1e-6, `mseBackward n=${n}`);
      expectClose(m2!, mseBackwardRef(a, b, -0.5), 1e-6, `mseBackward dLoss n=${n}`);
      expectClose(g1!, l1BackwardRef(a, b), 1e-6, `l1Backward n=${n}`);
      expectClose(g2!, l1BackwardRef(a, b, 4), 1e-6, `l1Backward dLoss n=${n}`);
      if (n > 1) expect(g1![0], 'l1Backward at a = b').to.equal(0);
      const ref = l1Ref(a, b);
      expect(Math.abs(loss![0]! - ref) / ref, `l1 n=${n}: ${loss![0]} vs ${ref}`).to.be.at.most(1e-5);
      e.release(ta, tb, ...outs);
    }
  });

  it('mseBackward, l1Backward, l1: 4096 × 1024, deterministic', async () => {
    const e = get();
    const c = bigLoss();
    const ta = e.upload(c.a, [4096, 1024]);
    const tb = e.upload(c.b, [4096, 1024]);
    const outs = [mseBackward(e, ta, tb, 3), l1Backward(e, ta, tb, 3), l1(e, ta, tb), l1(e, ta, tb)];
    const [m, g, l1a, l1b] = await read(e, ...outs);
    expectClose(m!, c.mse, 1e-6, 'mseBackward 4096×1024');
    expectClose(g!, c.l1g, 1e-6, 'l1Backward 4096×1024');
    expect(Math.abs(l1a![0]! - c.l1) / c.l1, `l1 4096×1024: ${l1a![0]} vs ${c.l1}`).to.be.at.most(1e-5);
    expect(l1b![0], 'l1 deterministic').to.equal(l1a![0]);
    e.release(ta, tb, ...outs);
  });

  it('mseBackward keeps its digits when a is close to b (a − b formed first)', async () => {
    const e = get();
    const r = freshRng();
    const n = 1000;
    const a = randomF32(n, r, 100, 200);
    const b = new Float32Array(n);
    for (let i = 0; i < n; i++) b[i] = a[i]! + (r() - 0.5) * 1e-3;
    const ta = e.upload(a, [n]);
    const tb = e.upload(b, [n]);
    const y = mseBackward(e, ta, tb);
    const [got] = await read(e, y);
    // a − b of two f32 within a factor 2 is exact (Sterbenz), so only the final scaling rounds.
    expectClose(got!, mseBackwardRef(a, b), 1e-6, 'mseBackward near a = b');
    e.release(ta, tb, y);
  });

  for (const [B, H, W, P] of [[3, 21, 14, 7], [1, 3, 3, 1], [2, 6, 9, 3], [1, 8, 4, 4], [16, 256, 256, 16]] as const) {
    it(`patchifyBackward / unpatchifyBackward are exact permutations: ${B}×${H}×${W}, patch ${P}`, async () => {
      const e = get();
      const n = B * H * W * 3;
      const geo = { batch: B, height: H, width: W, patch: P };
      const rows = (B * H * W) / (P * P);
      // A ramp (integers are exact in f32 up to 2^24) and random values.
      const ramp = Float32Array.from({ length: n }, (_, i) => i);
      const rnd = randomF32(n, freshRng());
      for (const [name, v] of [['ramp', ramp], ['random', rnd]] as const) {
        const tp = e.upload(v, [rows, P * P * 3]);
        const ti = e.upload(v, [B, H, W, 3]);
        const dImg = patchifyBackward(e, tp, geo);
        const dPat = unpatchifyBackward(e, ti, geo);
        expect(dImg.shape).to.deep.equal([B, H, W, 3]);
        expect(dPat.shape).to.deep.equal([rows, P * P * 3]);
        // Round trips: backward of patchify after patchify is the identity, and the other way round.
        const fwdP = patchify(e, ti, P);
        const back1 = patchifyBackward(e, fwdP, geo);
        const fwdU = unpatchify(e, tp, geo);
        const back2 = unpatchifyBackward(e, fwdU, geo);
        const [gImg, gPat, gBack1, gBack2] = await read(e, dImg, dPat, back1, back2);
        const what = `${B}×${H}×${W} P=${P} ${name}`;
        expect(relL2(gImg!, patchifyBackwardRef(v, B, H, W, P)), `patchifyBackward ${what}`).to.equal(0);
        expect(relL2(gPat!, unpatchifyBackwardRef(v, B, H, W, P)), `unpatchifyBackward ${what}`).to.equal(0);
        expectSameBits(gBack1!, v, `patchifyBackward ∘ patchify ${what}`);
        expectSameBits(gBack2!, v, `unpatchifyBackward ∘ unpatchify ${what}`);
        if (name === 'ramp') {
          // Every source element lands exactly once.
          const seen = new Uint8Array(n);
          for (const x of gImg!) seen[x]!++;
          expect(seen.every((s) => s === 1), `patchifyBackward ${what}: not a permutation`).to.equal(true);
        }
        e.release(tp, ti, dImg, dPat, fwdP, back1, fwdU, back2);
      }
      const bad = e.empty([B, H, W + P, 3]);
      expect(() => unpatchifyBackward(e, bad, geo)).to.throw(/expected dImages/);
      e.release(bad);
    });
  }

  /**
   * tol: against the float64 sums. A float32 sum of m rows in order has a rounding error growing
   * about like √m ulp, so 1e-6 holds for the model's shapes (tens of tokens per code); a code
   * chosen by thousands of tokens is held to 1e-5, and to bit equality with the float32 loop.
   */
  async function checkGather(e: Engine, c: GatherCase, what: string, tol = 1e-6, rankChunk?: number): Promise<void> {
    const td = e.upload(c.dOut, [c.N, c.D]);
    const ti = e.upload(c.idx, [c.N], 'u32');
    const opts = rankChunk ? { rankChunk } : {};
    const y1 = gatherRowsBackward(e, td, ti, c.K, opts);
    const y2 = gatherRowsBackward(e, td, ti, c.K, opts);
    expect(y1.shape).to.deep.equal([c.K, c.D]);
    const [g1, g2] = await read(e, y1, y2);
    e.release(td, ti, y1, y2);
    expectClose(g1!, c.ref, tol, `${what} vs float64`);
    // Summed in ascending token order: equal, bit for bit, to a float32 loop over the tokens.
    expectSameBits(g1!, Float32Array.from(c.ref32), `${what} vs float32 token-order sum`);
    expectSameBits(g2!, g1!, `${what} deterministic`);
  }

  it('gatherRowsBackward: N = 16 and 256 tokens into K = 8192, D = 1024, many tokens on one code', async () => {
    const e = get();
    // N = 16: codes at the table ends, one code chosen by 6 tokens.
    await checkGather(e, gatherCase('16', 16, 8192, 1024, (t, r) => (t % 3 === 0 ? 4321 : t === 1 ? 0 : t === 2 ? 8191 : Math.floor(r() * 8192))), 'N=16');
    // N = 256: half the tokens on code 7, the rest on 20 codes (many collisions).
    await checkGather(e, gatherCase('256', 256, 8192, 1024, (t, r) => (t % 2 === 0 ? 7 : 8000 + Math.floor(r() * 20))), 'N=256');
    // N = 256, uniform random codes.
    await checkGather(e, gatherCase('256u', 256, 8192, 1024, (_t, r) => Math.floor(r() * 8192)), 'N=256 uniform');
  });

  it('gatherRowsBackward: odd shapes, indices past the table dropped', async () => {
    const e = get();
    for (const [N, K, D] of [[1, 1, 1], [7, 3, 3], [33, 5, 7], [127, 33, 33], [5, 9, 127], [11, 4, 4], [300, 2, 6]] as const) {
      const c = gatherCase(`${N}/${K}/${D}`, N, K, D, (t, r) => (t % 7 === 3 ? K + Math.floor(r() * 3) : t % 11 === 5 ? 0xffffffff : Math.floor(r() * K)));
      await checkGather(e, c, `N=${N} K=${K} D=${D}`);
    }
  });

  it('gatherRowsBackward: N = 8192 (rank split over chunks), uniform and all tokens on one code', async () => {
    const e = get();
    await checkGather(e, gatherCase('8192u', 8192, 8192, 4, (_t, r) => Math.floor(r() * 8192)), 'N=8192 uniform');
    await checkGather(e, gatherCase('8192one', 8192, 8192, 5, () => 4095), 'N=8192 one code', 1e-5);
    await checkGather(e, gatherCase('5001few', 5001, 6, 33, (t, r) => (t < 2500 ? 2 : Math.floor(r() * 6))), 'N=5001 K=6 D=33', 1e-5);
  });

  it('gatherRowsBackward: rank chunks of 64 tokens (the GPU default) and of 4', async () => {
    const e = get();
    await checkGather(e, gatherCase('8192u', 8192, 8192, 4, (_t, r) => Math.floor(r() * 8192)), 'N=8192 uniform, rank chunk 64', 1e-6, 64);
    await checkGather(e, gatherCase('5001few', 5001, 6, 33, (t, r) => (t < 2500 ? 2 : Math.floor(r() * 6))), 'N=5001, rank chunk 4', 1e-5, 4);
    await checkGather(e, gatherCase('256', 256, 8192, 1024, (t, r) => (t % 2 === 0 ? 7 : 8000 + Math.floor(r() * 20))), 'N=256, rank chunk 64', 1e-6, 64);
    await checkGather(e, gatherCase('127/33/33', 127, 33, 33, (t, r) => (t % 7 === 3 ? 33 + Math.floor(r() * 3) : Math.floor(r() * 33))), 'N=127, rank chunk 4', 1e-6, 4);
  });

  for (const [rows, cols] of [[4096, 1024], [7, 33], [65537, 3], [1, 5], [9, 4], [1000, 260], [3, 1]] as const) {
    it(`columnSum ${rows} × ${cols}, deterministic; default chunks, 16 (the GPU default), 8 and 2`, async () => {
      const e = get();
      const c = colCase(rows, cols);
      const tx = e.upload(c.x, [rows, cols]);
      for (const chunk of [undefined, 16, 8, 2]) {
        const opts = chunk ? { chunk } : {};
        const y1 = columnSum(e, tx, opts);
        const y2 = columnSum(e, tx, opts);
        expect(y1.shape).to.deep.equal([cols]);
        const [g1, g2] = await read(e, y1, y2);
        e.release(y1, y2);
        const what = `columnSum ${rows}×${cols} chunk ${chunk ?? 'default'}`;
        expectClose(g1!, c.ref, 1e-5, what);
        expectSameBits(g2!, g1!, `${what} deterministic`);
      }
      e.release(tx);
    });
  }
});
