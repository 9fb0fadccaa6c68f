import { expect } from 'chai';
import type { Engine } from '../src/gpu/engine.js';
import { add, gatherRows, mse, patchify, scale, unpatchify } from '../src/ops/elementwise.js';
import { describeBackends, expectClose, freshRng, randomF32, randomNormal, relL2, RUN_SEED } from './helpers.js';
import { addRef, gatherRowsRef, mseRef, patchifyRef, scaleRef, unpatchifyRef } from './reference/elementwise.js';

const ODD_SIZES = [1, 3, 7, 33, 127, 7 * 33];

async function read(engine: Engine, ...ts: ReturnType<Engine['empty']>[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const t of ts) out.push(await engine.readF32(t));
  return out;
}

// Big shared inputs, made once for both backends.
let big: { a: Float32Array; b: Float32Array } | undefined;
const bigAB = (): NonNullable<typeof big> => (big ??= { a: randomNormal(4096 * 1024, freshRng()), b: randomNormal(4096 * 1024, freshRng()) });
let table: Float32Array | undefined;
const bigTable = (): Float32Array => (table ??= randomF32(8192 * 1024, freshRng()));
let images: Float32Array | undefined;
const bigImages = (): Float32Array => (images ??= randomF32(16 * 256 * 256 * 3, freshRng()));

describeBackends('elementwise', (get) => {
  it('fill writes the value (f32 and u32)', async () => {
    const e = get();
    const t = e.empty([37]);
    e.fill(t, -2.5);
    const u = e.empty([5], 'u32');
    e.fill(u, 0xdeadbeef);
    expect(Array.from(await e.readF32(t))).to.deep.equal(new Array(37).fill(-2.5));
    expect(Array.from(await e.readU32(u))).to.deep.equal(new Array(5).fill(0xdeadbeef));
    e.release(t, u);
  });

  it('add and scale: odd sizes and vec4 sizes, with alpha and beta', async () => {
    const e = get();
    for (const n of [...ODD_SIZES, 4, 8, 260]) {
      const r = freshRng();
      const a = randomF32(n, r);
      const b = randomF32(n, r);
      const ta = e.upload(a, [n]);
      const tb = e.upload(b, [n]);
      const outs = [add(e, ta, tb), add(e, ta, tb, 0.5, -1.75), scale(e, ta, -3.5)];
      const [y1, y2, y3] = await read(e, ...outs);
      expectClose(y1!, addRef(a, b), 1e-6, `add n=${n}`);
      expectClose(y2!, addRef(a, b, 0.5, -1.75), 1e-6, `add α β n=${n}`);
      expectClose(y3!, scaleRef(a, -3.5), 1e-6, `scale n=${n}`);
      e.release(ta, tb, ...outs);
    }
  });

  it('add and scale: 4096 × 1024', async () => {
    const e = get();
    const { a, b } = bigAB();
    const ta = e.upload(a, [4096, 1024]);
    const tb = e.upload(b, [4096, 1024]);
    const outs = [add(e, ta, tb, 0.25, 2), scale(e, tb, 0.1)];
    expect(outs[0]!.shape).to.deep.equal([4096, 1024]);
    const [y1, y2] = await read(e, ...outs);
    expectClose(y1!, addRef(a, b, 0.25, 2), 1e-6, 'add 4096×1024');
    expectClose(y2!, scaleRef(b, 0.1), 1e-6, 'scale 4096×1024');
    e.release(ta, tb, ...outs);
  });

  it('scale over more than 65535 workgroups (grid split over y)', async () => {
    const e = get();
    const n = 65535 * 256 + 259; // scalar path: 65537 workgroups of 256
    const a = randomF32(n, freshRng());
    const ta = e.upload(a, [n]);
    const y = scale(e, ta, 2);
    const got = await e.readF32(y);
    e.release(ta, y);
    for (let i = 0; i < n; i++) if (got[i] !== 2 * a[i]!) expect.fail(`element ${i}: ${got[i]} != ${2 * a[i]!}`);
  });

  it('add rejects different sizes', () => {
    const e = get();
    const ta = e.empty([3, 4]);
    const tb = e.empty([13]);
    expect(() => add(e, ta, tb)).to.throw(/differ in size/);
    e.release(ta, tb);
  });

  it('gatherRows: 16 and 256 rows of an 8192 × 1024 table', async () => {
    const e = get();
    const t = bigTable();
    const tt = e.upload(t, [8192, 1024]);
    for (const N of [16, 256]) {
      const r = freshRng();
      const idx = Uint32Array.from({ length: N }, () => Math.floor(r() * 8192));
      idx[0] = 0;
      idx[N - 1] = 8191;
      idx[1] = idx[2]!; // a repeated index
      const ti = e.upload(idx, [N], 'u32');
      const y = gatherRows(e, tt, ti);
      expect(y.shape).to.deep.equal([N, 1024]);
      const [got] = await read(e, y);
      expect(relL2(got!, gatherRowsRef(t, 8192, 1024, idx)), `gather ${N}`).to.equal(0);
      e.release(ti, y);
    }
    e.release(tt);
  });

  it('gatherRows: odd row widths, and an index past the table gives zeros', async () => {
    const e = get();
    for (const [K, D] of [[1, 1], [7, 3], [33, 7], [5, 33], [9, 127], [6, 4]] as const) {
      const r = freshRng();
      const t = randomF32(K * D, r);
      const idx = Uint32Array.from({ length: 11 }, () => Math.floor(r() * K));
      idx[5] = K; // out of range
      idx[6] = 0xffffffff;
      const tt = e.upload(t, [K, D]);
      const ti = e.upload(idx, [idx.length], 'u32');
      const y = gatherRows(e, tt, ti);
      const [got] = await read(e, y);
      const ref = gatherRowsRef(t, K, D, idx);
      expect(Array.from(got!), `gather K=${K} D=${D}`).to.deep.equal(Array.from(ref));
      e.release(tt, ti, y);
    }
  });

  it('patchify / unpatchify: 2 × 256 × 256 images, patch 64 (vec4 path), and 16 × 256 × 256, patch 16', async () => {
    const e = get();
    const all = bigImages();
    for (const [B, P] of [[2, 64], [16, 16]] as const) {
      const img = all.subarray(0, B * 256 * 256 * 3);
      const ti = e.upload(img.slice(), [B, 256, 256, 3]);
      const pt = patchify(e, ti, P);
      expect(pt.shape).to.deep.equal([(B * 256 * 256) / (P * P), P * P * 3]);
      const back = unpatchify(e, pt, { batch: B, height: 256, width: 256, patch: P });
      expect(back.shape).to.deep.equal([B, 256, 256, 3]);
      const [gotP, gotB] = await read(e, pt, back);
      expect(relL2(gotP!, patchifyRef(img, B, 256, 256, P)), `patchify B=${B} P=${P}`).to.equal(0);
      expect(relL2(gotB!, img), `round trip B=${B} P=${P}`).to.equal(0);
      e.release(ti, pt, back);
    }
  });

  it('patchify / unpatchify: odd sizes (3 × 21 × 14, patch 7; 1 × 3 × 3, patch 1; 2 × 6 × 9, patch 3)', async () => {
    const e = get();
    for (const [B, H, W, P] of [[3, 21, 14, 7], [1, 3, 3, 1], [2, 6, 9, 3], [1, 8, 4, 4]] as const) {
      const img = randomF32(B * H * W * 3, freshRng());
      const ti = e.upload(img, [B, H, W, 3]);
      const pt = patchify(e, ti, P);
      const back = unpatchify(e, pt, { batch: B, height: H, width: W, patch: P });
      // unpatchify on its own, from patches made on the CPU.
      const pref = patchifyRef(img, B, H, W, P);
      const tp = e.upload(Float32Array.from(pref), [(B * H * W) / (P * P), P * P * 3]);
      const back2 = unpatchify(e, tp, { batch: B, height: H, width: W, patch: P });
      const [gotP, gotB, gotB2] = await read(e, pt, back, back2);
      expect(Array.from(gotP!), `patchify ${B}×${H}×${W} P=${P}`).to.deep.equal(Array.from(pref));
      expect(Array.from(gotB!), `round trip ${B}×${H}×${W} P=${P}`).to.deep.equal(Array.from(img));
      expect(Array.from(gotB2!), `unpatchify ${B}×${H}×${W} P=${P}`).to.deep.equal(Array.from(unpatchifyRef(pref, B, H, W, P)));
      e.release(ti, pt, back, tp, back2);
    }
    const bad = e.empty([1, 10, 10, 3]);
    expect(() => patchify(e, bad, 4)).to.throw(/whole number/);
    e.release(bad);
  });

  async function checkMse(e: Engine, a: Float32Array, b: Float32Array, shape: number[], what: string): Promise<void> {
    const ta = e.upload(a, shape);
    const tb = e.upload(b, shape);
    const y1 = mse(e, ta, tb);
    const y2 = mse(e, ta, tb);
    expect(y1.shape).to.deep.equal([1]);
    const [g1, g2] = await read(e, y1, y2);
    const ref = mseRef(a, b);
    const rel = Math.abs(g1![0]! - ref) / ref;
    expect(rel, `${what}: mse ${g1![0]} vs ${ref} (seed ${RUN_SEED})`).to.be.at.most(1e-5);
    expect(g2![0], `${what}: deterministic`).to.equal(g1![0]);
    e.release(ta, tb, y1, y2);
  }

  it('mse: odd sizes and vec4 sizes', async () => {
    for (const n of [...ODD_SIZES, 4, 260, 256 * 512 * 4 + 3]) {
      const r = freshRng();
      await checkMse(get(), randomF32(n, r), randomF32(n, r), [n], `n=${n}`);
    }
  });

  it('mse: 4096 × 1024 and 16 × 256 × 256 × 3, deterministic', async () => {
    const { a, b } = bigAB();
    await checkMse(get(), a, b, [4096, 1024], '4096×1024');
    const img = bigImages();
    const r = freshRng();
    const other = new Float32Array(img.length);
    for (let i = 0; i < img.length; i++) other[i] = img[i]! + 0.01 * (r() - 0.5);
    await checkMse(get(), other, img, [16, 256, 256, 3], '16×256×256×3');
  });
});
