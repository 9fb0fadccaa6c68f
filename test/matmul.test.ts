import { expect } from 'chai';
import { matmul, type MatmulVariant } from '../src/ops/matmul.js';
import { PANEL_COLS, panelLayout } from '../src/ops/matmul/textures.js';
import { describeBackends, expectClose, freshRng, randomF32 } from './helpers.js';
import { gelu64, geluGrad64 } from './reference/gelu.js';
import { matmulCaseLabel, matmulRef, prepareMatmulCase, selfTest, type MatmulCase } from './reference/matmul.js';

const VARIANTS: MatmulVariant[] = ['storage', 'texture'];

type Case = MatmulCase;
const prepare = prepareMatmulCase;
const label = matmulCaseLabel;

const ODD: Case[] = [];
for (const [M, N, K] of [
  [1, 1, 1],
  [7, 5, 3],
  [33, 17, 65],
  [127, 129, 31],
  [3, 130, 257],
]) {
  for (const transA of [false, true]) for (const transB of [false, true]) ODD.push({ M: M!, N: N!, K: K!, transA, transB, bias: transB });
}
ODD.push({ M: 9, N: 20, K: 12, batchA: 3, batchB: 3, bias: true, alpha: 0.5 });
ODD.push({ M: 5, N: 7, K: 33, batchA: 4, batchB: 1, transB: true });
ODD.push({ M: 65, N: 64, K: 64, batchA: 1, batchB: 2 });
// Aᵀ·B with M and N multiples of 4 (the texture variant reads both as stored, no packing), batched,
// broadcast either way, and a K longer than one main_tn chunk (split automatically).
ODD.push({ M: 12, N: 20, K: 7, transA: true, bias: true });
ODD.push({ M: 8, N: 12, K: 9, batchA: 2, batchB: 2, transA: true });
ODD.push({ M: 16, N: 8, K: 5, batchA: 3, batchB: 1, transA: true });
ODD.push({ M: 4, N: 8, K: 6, batchA: 1, batchB: 2, transA: true, alpha: 0.5 });
ODD.push({ M: 20, N: 6, K: 20001, transA: true });
// A·Bᵀ with K a multiple of 64: B's rows are already the texture's rows and are copied, not packed
// (batched: one copy of 2 × 9 rows).
ODD.push({ M: 5, N: 9, K: 64, batchA: 2, batchB: 2, transB: true });
ODD.push({ M: 17, N: 3, K: 192, transB: true, bias: true });

/** The reference model's shapes (M×N×K): patch embed, qkv, MLP up and down, and a square. */
const REAL: Case[] = [
  { M: 16, N: 1024, K: 12288, bias: true },
  { M: 16, N: 3072, K: 1024, bias: true },
  { M: 16, N: 4096, K: 1024, bias: true },
  { M: 16, N: 1024, K: 4096, bias: true },
  { M: 256, N: 1024, K: 1024, transB: true },
  { M: 1024, N: 1024, K: 1024 },
];

describeBackends('matmul', (get) => {
  for (const variant of VARIANTS) {
    for (const c of ODD) {
      it(`${variant} ${label(c)}`, async () => {
        const e = get();
        const p = prepare(c);
        const aShape = c.transA ? [c.K, c.M] : [c.M, c.K];
        const bShape = c.transB ? [c.N, c.K] : [c.K, c.N];
        const ta = e.upload(p.a, (c.batchA ?? 1) > 1 ? [c.batchA!, ...aShape] : aShape);
        const tb = e.upload(p.b, (c.batchB ?? 1) > 1 ? [c.batchB!, ...bShape] : bShape);
        const tbias = p.bias ? e.upload(p.bias, [c.N]) : undefined;
        const out = matmul(e, ta, tb, { transA: c.transA, transB: c.transB, bias: tbias, alpha: c.alpha, variant });
        expectClose(await e.readF32(out), p.want, 1e-5, label(c));
        e.release(ta, tb, tbias, out);
      });
    }
    for (const c of REAL) {
      it(`${variant} real size ${label(c)}`, async () => {
        const e = get();
        const p = prepare(c);
        const ta = e.upload(p.a, [c.M, c.K]);
        const tb = e.upload(p.b, c.transB ? [c.N, c.K] : [c.K, c.N]);
        const tbias = p.bias ? e.upload(p.bias, [c.N]) : undefined;
        const out = matmul(e, ta, tb, { transB: c.transB, bias: tbias, variant });
        expectClose(await e.readF32(out), p.want, 1e-5, label(c));
        e.release(ta, tb, tbias, out);
      });
    }

    it(`${variant} accumulates C = α·A·B + β·C into an existing tensor`, async () => {
      const e = get();
      const r = freshRng();
      const [M, N, K] = [19, 23, 29];
      const a = randomF32(M * K, r);
      const b = randomF32(K * N, r);
      const c0 = randomF32(M * N, r);
      const ab = matmulRef(a, b, { M, N, K, alpha: 2 });
      const want = ab.map((v, i) => v + 0.75 * c0[i]!);
      const ta = e.upload(a, [M, K]);
      const tb = e.upload(b, [K, N]);
      const tc = e.upload(c0, [M, N]);
      const out = matmul(e, ta, tb, { alpha: 2, beta: 0.75, out: tc, variant });
      expect(out).to.equal(tc);
      expectClose(await e.readF32(tc), want, 1e-5, 'accumulate');
      e.release(ta, tb, tc);
    });

    it(`${variant} sees a constant weight's new contents after it is rewritten`, async () => {
      const e = get();
      const r = freshRng();
      const [M, N, K] = [6, 10, 14];
      const a = randomF32(M * K, r);
      const b1 = randomF32(K * N, r);
      const b2 = randomF32(K * N, r);
      const ta = e.upload(a, [M, K]);
      const tb = e.upload(b1, [K, N]);
      tb.constant = true;
      const c1 = matmul(e, ta, tb, { variant });
      expectClose(await e.readF32(c1), matmulRef(a, b1, { M, N, K }), 1e-5, 'first weights');
      e.write(tb, b2);
      const c2 = matmul(e, ta, tb, { variant });
      expectClose(await e.readF32(c2), matmulRef(a, b2, { M, N, K }), 1e-5, 'rewritten weights');
      e.release(ta, tb, c1, c2);
    });
  }

  // Constant weights' textures in the panel layout (matmul_tex.wgsl's BPANEL): every dot-form tile,
  // N not a multiple of the 32-column panel, K not a multiple of 4, B stored either way, batched
  // weights, split-K, and a weight tall enough that its panels may need 16 column groups per texel row.
  const PANELS: [Case, string][] = [
    [{ M: 37, N: 45, K: 70, bias: true }, 'texture'],
    [{ M: 20, N: 33, K: 29, transB: true }, 'texture.n32'],
    [{ M: 40, N: 70, K: 130, transB: true, bias: true }, 'texture.m32'],
    [{ M: 11, N: 40, K: 36, batchA: 3, batchB: 3 }, 'texture.m32'],
    [{ M: 6, N: 50, K: 1030, transB: true }, 'texture.n32.split4'],
    [{ M: 5, N: 2048, K: 8192, transB: true }, 'texture.m32'],
    // Whole-vec4 rows (packed four texels per invocation by to_block4) into panels, B either way:
    // N past a multiple of 4 (a block of rows cut short) and of 32 (panel rows past N).
    [{ M: 9, N: 45, K: 36, transB: true, bias: true }, 'texture.m32'],
    [{ M: 7, N: 36, K: 44, batchA: 2, batchB: 2 }, 'texture'],
  ];
  for (const [c, plan] of PANELS) {
    it(`texture: a constant weight in the panel layout, ${plan} ${label(c)}`, async () => {
      const e = get();
      if (!e.info.software) return;
      const p = prepare(c);
      const ta = e.upload(p.a, [...(c.batchA ? [c.batchA] : []), c.M, c.K]);
      const tb = e.upload(p.b, [...(c.batchB ? [c.batchB] : []), ...(c.transB ? [c.N, c.K] : [c.K, c.N])]);
      tb.constant = true;
      const tbias = p.bias ? e.upload(p.bias, [c.N]) : undefined;
      const out = e.empty([(c.batchA ?? 1) * c.M * c.N]);
      e.fill(out, Number.NaN);
      matmul(e, ta, tb, { transB: c.transB, bias: tbias, plan, out });
      const keys = [...e.resourcesUnder('matmul weight ')].map(([k]) => k).filter((k) => k.includes(`weight ${tb.id}:`));
      expect(keys, 'the weight has one texture, in the panel layout').to.have.length(1);
      // Shift 4 where the device's texture limit is 8192 (SwiftShader), 3 at 16384 (llvmpipe).
      expect(keys[0]).to.match(new RegExp(`:p${panelLayout(e, c.N, c.K, c.batchB ?? 1)!.shift}:`));
      expectClose(await e.readF32(out), p.want, 1e-5, `${plan} ${label(c)}`);
      e.release(ta, tb, tbias, out);
    });
  }

  it('texture: panel geometry stays within the texture size limit, or declines', () => {
    const fake = (max: number) => ({ limits: { maxTextureDimension2D: max } }) as unknown as Parameters<typeof panelLayout>[0];
    expect(panelLayout(fake(8192), 1024, 4096, 1)).to.deep.equal({ shift: 3, tileRows: 128, batchRows: 4096 });
    // K = 12: three column groups, so four per texel row rather than eight.
    expect(panelLayout(fake(8192), 100, 12, 2)).to.deep.equal({ shift: 2, tileRows: 1, batchRows: 4 });
    expect(panelLayout(fake(8192), 2048, 8192, 1)).to.deep.equal({ shift: 4, tileRows: 128, batchRows: 8192 });
    for (const [rows, cols, batches] of [[33, 1000, 3], [4096, 16384, 1], [8192, 64, 2]] as const) {
      const l = panelLayout(fake(2048), rows, cols, batches);
      if (!l) continue;
      expect(PANEL_COLS << l.shift).to.be.at.most(2048);
      expect(l.batchRows * batches).to.be.at.most(2048);
      expect(l.tileRows << l.shift).to.be.at.least(Math.ceil(cols / 4));
    }
    expect(panelLayout(fake(256), 8192, 8192, 1), 'no shift fits').to.equal(null);
  });

  it('texture: weights rewritten together are repacked together (up to 4 per dispatch), each matmul seeing its new contents', async () => {
    const e = get();
    const r = freshRng();
    const [M, K] = [5, 30];
    const Ns = [6, 7, 9, 10, 11];
    const a = randomF32(M * K, r);
    const ta = e.upload(a, [M, K]);
    const ws = Ns.map((N) => {
      const w = e.upload(randomF32(K * N, r), [K, N]);
      w.constant = true;
      return w;
    });
    for (const w of ws) e.release(matmul(e, ta, w, { variant: 'texture' }));
    const fresh = Ns.map((N) => randomF32(K * N, r));
    ws.forEach((w, i) => e.write(w, fresh[i]!));
    e.profile = new Map();
    const outs = ws.map((w) => matmul(e, ta, w, { variant: 'texture' }));
    const packs = e.profile.get('pack:to_textures4')?.count;
    e.profile = null;
    // The first matmul refreshes its weight and three others; the fifth weight gets its own pass.
    expect(packs).to.equal(2);
    for (let i = 0; i < ws.length; i++) expectClose(await e.readF32(outs[i]!), matmulRef(a, fresh[i]!, { M, N: Ns[i]!, K }), 1e-5, `weight ${i}`);
    e.release(ta, ...ws, ...outs);
  });

  it('Aᵀ·B with M past the texture size limit runs on main_tn (operands from storage), correct', async () => {
    const e = get();
    if (!e.info.software) return;
    const M = e.limits.maxTextureDimension2D + 37;
    const [N, K] = [6, 9];
    const r = freshRng();
    const a = randomF32(K * M, r);
    const b = randomF32(K * N, r);
    const ta = e.upload(a, [K, M]);
    const tb = e.upload(b, [K, N]);
    // The rule for work too big for the quick-to-compile kernels (this shape is small in FLOPs).
    const quick = e.quickCompileFlops;
    e.quickCompileFlops = 0;
    e.profile = new Map();
    const c = matmul(e, ta, tb, { transA: true });
    const ran = [...e.profile.keys()];
    e.profile = null;
    e.quickCompileFlops = quick;
    expect(ran).to.include('matmul_tex:main_tn');
    expectClose(await e.readF32(c), matmulRef(a, b, { M, N, K, transA: true }), 1e-5, `M ${M}`);
    e.release(ta, tb, c);
  });

  it('rejects mismatched inner dimensions with a clear message', () => {
    const e = get();
    const ta = e.empty([3, 4]);
    const tb = e.empty([5, 6]);
    expect(() => matmul(e, ta, tb)).to.throw(/inner dimensions differ/);
    e.release(ta, tb);
  });

  it('self-test passes', async () => {
    expect(await selfTest(get())).to.equal(null);
  });
});

/**
 * The epilogue's aux tensor (epilogue.wgsl): `preact` keeps act's input while C gets act of it;
 * `actGradOf` gives pre · act'(h) instead of act(pre). Every path that runs an epilogue: the
 * storage tile, the texture tiles (A·B, A·Bᵀ, Aᵀ·B; the 32×32 tile shares store4 with them and
 * costs llvmpipe a minute per epilogue variant to compile) and the split-K reduce pass of both variants;
 * N not a multiple of 4, so the last vec4 of each row has lanes past N.
 */
const AUX_CASES: { c: Case; plan: string; act: 'gelu' | 'gelu_tanh' }[] = [
  { c: { M: 9, N: 13, K: 20, bias: true, alpha: 0.5 }, plan: 'storage', act: 'gelu' },
  { c: { M: 9, N: 13, K: 20, bias: true }, plan: 'texture', act: 'gelu_tanh' },
  { c: { M: 9, N: 13, K: 22, bias: true }, plan: 'texture.kn', act: 'gelu' },
  { c: { M: 17, N: 35, K: 64, transB: true, bias: true }, plan: 'texture.n32', act: 'gelu' },
  { c: { M: 12, N: 7, K: 30, transA: true }, plan: 'texture', act: 'gelu' },
  { c: { M: 5, N: 11, K: 600, bias: true }, plan: 'texture.split3', act: 'gelu' },
  { c: { M: 5, N: 11, K: 600, bias: true }, plan: 'storage.split5', act: 'gelu_tanh' },
  { c: { M: 6, N: 10, K: 8, batchA: 2, batchB: 2, bias: true }, plan: 'texture', act: 'gelu' },
];

describeBackends('matmul epilogue aux', (get) => {
  for (const { c, plan, act } of AUX_CASES) {
    it(`${plan} ${act} ${label(c)}: preact and actGradOf against float64`, async () => {
      const e = get();
      const p = prepare(c);
      const r = freshRng();
      const approx = act === 'gelu' ? 'erf' : 'tanh';
      const aShape = c.transA ? [c.K, c.M] : [c.M, c.K];
      const bShape = c.transB ? [c.N, c.K] : [c.K, c.N];
      const ta = e.upload(p.a, (c.batchA ?? 1) > 1 ? [c.batchA!, ...aShape] : aShape);
      const tb = e.upload(p.b, (c.batchB ?? 1) > 1 ? [c.batchB!, ...bShape] : bShape);
      const tbias = p.bias ? e.upload(p.bias, [c.N]) : undefined;
      const n = p.want.length;
      const pre = e.empty([n]);
      e.fill(pre, Number.NaN);
      const y = matmul(e, ta, tb, { transA: c.transA, transB: c.transB, bias: tbias, alpha: c.alpha, act, preact: pre, plan });
      expectClose(await e.readF32(pre), p.want, 1e-5, `${plan} preact`);
      expectClose(await e.readF32(y), Float64Array.from(p.want, (v) => gelu64(v, approx)), 1e-5, `${plan} act(pre)`);
      // h spans the activation's curved part; the result is pre · act'(h).
      const h = randomF32(n, r, -3, 3);
      const th = e.upload(h, [n]);
      const g = matmul(e, ta, tb, { transA: c.transA, transB: c.transB, bias: tbias, alpha: c.alpha, act, actGradOf: th, plan });
      expectClose(await e.readF32(g), Float64Array.from(p.want, (v, i) => v * geluGrad64(h[i]!, approx)), 1e-5, `${plan} pre·act'(h)`);
      expect(Array.from(await e.readF32(th)), 'actGradOf is only read').to.deep.equal(Array.from(h));
      e.release(ta, tb, tbias, pre, y, th, g);
    });
  }

  it('rejects aux tensors without an activation, of the wrong size, or both at once', () => {
    const e = get();
    const a = e.empty([3, 4]);
    const b = e.empty([4, 5]);
    const t = e.empty([15]);
    expect(() => matmul(e, a, b, { preact: t })).to.throw(/needs an activation/);
    expect(() => matmul(e, a, b, { act: 'gelu', actGradOf: e.empty([14]) })).to.throw(/14 values, expected 15/);
    expect(() => matmul(e, a, b, { act: 'gelu', preact: t, actGradOf: t })).to.throw(/exclude each other/);
    e.release(a, b, t);
  });
});
