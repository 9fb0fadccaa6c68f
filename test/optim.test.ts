import { expect } from 'chai';
import type { Engine } from '../src/gpu/engine.js';
import type { Tensor } from '../src/tensor.js';
import { normalTable, ones, randomBits, seedFor, truncNormal, zeros } from '../src/train/init.js';
import { truncNormalTensor } from '../src/ops/random.js';
import { AdamW, Ema, clipGradNorm, decayFor, gradNorm, type AdamWParam } from '../src/train/optim.js';
import { lrAt } from '../src/train/schedule.js';
import { describeBackends, expectClose, freshRng, randomF32, randomNormal, relL2 } from './helpers.js';
import { adamwRef, clipFactorRef, emaRef, f32ErrorRatio, globalNormRef, updateErrorRatio, type AdamWRef } from './reference/optim.js';

// ---------------------------------------------------------------- pure functions

describe('lrAt (warm-up + cosine)', () => {
  const s = { base: 1e-3, warmup: 100, total: 1100, minLr: 1e-5 };
  it('warms up linearly from 0 to base', () => {
    expect(lrAt(0, s)).to.equal(0);
    expect(lrAt(1, s)).to.be.closeTo(1e-5, 1e-18);
    expect(lrAt(50, s)).to.be.closeTo(5e-4, 1e-18);
    expect(lrAt(100, s)).to.be.closeTo(1e-3, 1e-18);
  });
  it('decays along a cosine to minLr at total, then stays there', () => {
    expect(lrAt(600, s)).to.be.closeTo((1e-3 + 1e-5) / 2, 1e-15);
    expect(lrAt(350, s)).to.be.closeTo(1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + Math.cos(Math.PI / 4)), 1e-15);
    expect(lrAt(1100, s)).to.equal(1e-5);
    expect(lrAt(5000, s)).to.equal(1e-5);
    let prev = Infinity;
    for (let t = 100; t <= 1100; t += 7) {
      const lr = lrAt(t, s);
      expect(lr).to.be.at.most(prev);
      prev = lr;
    }
  });
  it('minLr defaults to 0; warmup 0 starts at base', () => {
    expect(lrAt(1100, { base: 2, warmup: 100, total: 1100 })).to.equal(0);
    expect(lrAt(0, { base: 2, warmup: 0, total: 10 })).to.equal(2);
    expect(lrAt(5, { base: 2, warmup: 0, total: 10 })).to.be.closeTo(1, 1e-15);
  });
  it('rejects bad arguments', () => {
    expect(() => lrAt(-1, s)).to.throw(/step/);
    expect(() => lrAt(1, { base: 1, warmup: 10, total: 5 })).to.throw(/warmup/);
    expect(() => lrAt(1, { base: 1, warmup: 1, total: 5, minLr: 2 })).to.throw(/minLr/);
  });
});

describe('init (seeded truncated normal)', () => {
  it('gives fixed values for a fixed seed', () => {
    // Golden values: any change to the generator changes them (and every checkpoint's init).
    const a = truncNormal(6, 1, 1234);
    expect(Array.from(a)).to.deep.equal(GOLDEN_1234);
    expect(Array.from(truncNormal(6, 1, 1234))).to.deep.equal(GOLDEN_1234);
  });
  it('value i depends only on (seed, i); seeds and names give distinct streams', () => {
    const long = truncNormal(1000, 0.02, 7);
    expect(Array.from(truncNormal(10, 0.02, 7))).to.deep.equal(Array.from(long.subarray(0, 10)));
    const other = truncNormal(1000, 0.02, 8);
    expect(relL2(other, long)).to.be.greaterThan(1);
    expect(seedFor(7, 'blocks.0.attn.qkv.weight')).to.not.equal(seedFor(7, 'blocks.1.attn.qkv.weight'));
    expect(seedFor(7, 'a')).to.not.equal(seedFor(8, 'a'));
  });
  it('has the truncated normal statistics and nothing beyond ±2 std', () => {
    const std = 0.02;
    const n = 1 << 20;
    const a = truncNormal(n, std, 99);
    let s = 0;
    let q = 0;
    let inside1 = 0;
    let max = 0;
    for (const x of a) {
      s += x;
      q += x * x;
      if (Math.abs(x) <= std) inside1++;
      max = Math.max(max, Math.abs(x));
    }
    const mean = s / n;
    const sd = Math.sqrt(q / n - mean * mean);
    // N(0, 1) truncated to [−2, 2]: sd = sqrt(1 − 4 φ(2) / (Φ(2) − Φ(−2))) = 0.87962; P(|z| ≤ 1) = 0.68269 / 0.95450.
    expect(Math.abs(mean)).to.be.below(0.005 * std); // 5 standard errors (0.88 std / 1024)
    expect(sd / std).to.be.closeTo(0.87962, 0.004);
    expect(inside1 / n).to.be.closeTo(0.68269 / 0.9545, 0.003);
    expect(max).to.be.at.most(Math.fround(2 * std));
    expect(max).to.be.above(1.99 * std);
  });
  it('ones and zeros', () => {
    expect(Array.from(ones(3))).to.deep.equal([1, 1, 1]);
    expect(Array.from(zeros(2))).to.deep.equal([0, 0]);
  });
});

/** truncNormal(6, 1, 1234), recorded once. */
const GOLDEN_1234 = [1.3605581521987915, 0.5440434217453003, 0.2073250561952591, 0.06387732923030853, 0.49329614639282227, -0.5649049878120422];

describe('decayFor', () => {
  it('decays weight matrices and embeddings, not biases, norms, positions or the codebook', () => {
    for (const n of ['blocks.0.attn.qkv.weight', 'blocks.3.mlp.fc1.weight', 'patch_embed.weight', 'head.weight', 'token_embed'])
      expect(decayFor(n), n).to.equal(true);
    for (const n of ['blocks.0.attn.qkv.bias', 'blocks.0.ln1.weight', 'blocks.0.ln_1.bias', 'ln_f.weight', 'encoder.norm.weight', 'blocks.2.norm2.weight', 'pos_embed', 'decoder.position_embedding', 'quantizer.codebook', 'bias'])
      expect(decayFor(n), n).to.equal(false);
  });
});

// ---------------------------------------------------------------- GPU

/** Sizes not multiples of the tile (or of 4: scalar path) and a vec4 one. */
const SIZES = [1, 7, 1000, 33 * 65, 260];
const DECAY = [true, false, true, true, false];
const LRS = [0.05, 0.04, 0.03, 0.06, 0.02];
const WD = 0.1;

interface Case {
  p0: Float32Array[];
  grads: Float32Array[][]; // [step][param]
}

function makeCase(sizes: readonly number[], steps: number): Case {
  const r = freshRng();
  return {
    p0: sizes.map((n) => randomF32(n, r)),
    grads: Array.from({ length: steps }, (_, s) => sizes.map((n) => randomNormal(n, r, 0.5 + s))),
  };
}

/** Uploads parameters; the caller releases them. */
function uploadParams(e: Engine, c: Case, decays: readonly boolean[]): AdamWParam[] {
  return c.p0.map((a, i) => ({ name: `p${i}`, tensor: e.upload(a, [a.length]), decay: decays[i]! }));
}

function uploadAll(e: Engine, arrays: readonly Float32Array[]): Tensor[] {
  return arrays.map((a) => e.upload(a, [a.length]));
}

// Real size: a 1024 × 4096 weight (decay) and its 4096 bias (no decay), 3 steps, shared by the backends.
const BIG_STEPS = 3;
const BIG_LRS = [1e-2, 8e-3, 6e-3];
let big: { c: Case; refs: AdamWRef[]; norms: number[] } | undefined;
function bigCase(): NonNullable<typeof big> {
  if (!big) {
    const c = makeCase([1024 * 4096, 4096], BIG_STEPS);
    const refs = [0, 1].map((i) => adamwRef(c.p0[i]!, c.grads.map((g) => g[i]!), { lrs: BIG_LRS, decay: i === 0, weightDecay: WD }));
    big = { c, refs, norms: c.grads.map((g) => globalNormRef(g)) };
  }
  return big;
}

/** truncNormal's value i, written from its definition: float32(std) × table[randomBits(seed, i, 0) >>> 16], rounded once. */
function truncNormalAt(seed: number, std: number, i: number): number {
  return Math.fround(Math.fround(std) * normalTable()[randomBits(seed, i, 0) >>> 16]!);
}

describeBackends('init on the device', (get) => {
  it('gives truncNormal bit for bit (odd sizes, a real-size weight, fresh seeds)', async () => {
    const e = get();
    const r = freshRng();
    for (const [n, std] of [[1, 1], [7, 0.02], [1000, 0.5], [33 * 65 + 1, 0.02], [1024 * 4096, 0.02]] as const) {
      const seed = Math.floor(r() * 2 ** 32);
      const t = truncNormalTensor(e, [n], std, seed);
      const got = await e.readF32(t);
      e.release(t);
      const cpu = truncNormal(n, std, seed);
      let bad = -1;
      for (let i = 0; i < n; i++) if (got[i] !== cpu[i] || (i % 997 === 0 && cpu[i] !== truncNormalAt(seed, std, i))) {
        bad = i;
        break;
      }
      expect(bad, `n=${n} seed=${seed}: value ${bad} is ${got[bad]} on the device, ${cpu[bad]} on the host, ${truncNormalAt(seed, std, bad)} by definition`).to.equal(-1);
    }
  });
});

describeBackends('optim', (get) => {
  it('AdamW matches the float64 reference over 5 steps (odd sizes, mixed decay)', async () => {
    const e = get();
    const c = makeCase(SIZES, LRS.length);
    const params = uploadParams(e, c, DECAY);
    const opt = new AdamW(e, params, { lr: 1, weightDecay: WD });
    const owned: Tensor[] = [];
    const versions = params.map((p) => p.tensor.version);
    for (let s = 0; s < LRS.length; s++) {
      const g = uploadAll(e, c.grads[s]!);
      owned.push(...g);
      // Alternate the two ways of passing gradients.
      opt.step(s % 2 ? new Map(params.map((p, i) => [p.tensor, g[i]!])) : g, LRS[s]);
    }
    expect(opt.stepCount).to.equal(5);
    const st = await opt.state();
    for (let i = 0; i < SIZES.length; i++) {
      const ref = adamwRef(c.p0[i]!, c.grads.map((g) => g[i]!), { lrs: LRS, decay: DECAY[i]!, weightDecay: WD });
      const got = await e.readF32(params[i]!.tensor);
      const what = `n=${SIZES[i]} decay=${DECAY[i]}`;
      const err = updateErrorRatio(got, c.p0[i]!, ref, LRS.length);
      expect(err, `${what}: update error ${err.toFixed(2)}× the f32 bound`).to.be.at.most(1);
      const mErr = f32ErrorRatio(st.m[`p${i}`]!, ref.m, { steps: LRS.length, peak: ref.peakM });
      expect(mErr, `${what} m: error ${mErr.toFixed(2)}× the f32 bound`).to.be.at.most(1);
      // v is a sum of squares: no cancellation, relative error alone.
      expectClose(st.v[`p${i}`]!, ref.v, 1e-5, `${what} v`);
      // The test can tell: a flipped decay flag puts the result far outside the bound.
      const flipped = adamwRef(c.p0[i]!, c.grads.map((g) => g[i]!), { lrs: LRS, decay: !DECAY[i]!, weightDecay: WD });
      expect(updateErrorRatio(got, c.p0[i]!, flipped, LRS.length), `${what}: decay flag has no visible effect`).to.be.above(10);
      expect(params[i]!.tensor.version).to.equal(versions[i]! + 5);
    }
    opt.dispose();
    e.release(...owned, ...params.map((p) => p.tensor));
  });

  it('AdamW on 1024 × 4096 + 4096 (3 steps) and the norm of those gradients', async () => {
    const e = get();
    const { c, refs, norms } = bigCase();
    const params = uploadParams(e, c, [true, false]);
    const opt = new AdamW(e, params, { lr: 1, weightDecay: WD });
    const owned: Tensor[] = [];
    for (let s = 0; s < BIG_STEPS; s++) {
      const g = uploadAll(e, c.grads[s]!);
      owned.push(...g);
      const n = gradNorm(e, g);
      owned.push(n);
      const got = (await e.readF32(n))[0]!;
      expect(Math.abs(got - norms[s]!) / norms[s]!, `norm step ${s}`).to.be.at.most(1e-5);
      opt.step(g, BIG_LRS[s]);
    }
    for (let i = 0; i < 2; i++) {
      const got = await e.readF32(params[i]!.tensor);
      const err = updateErrorRatio(got, c.p0[i]!, refs[i]!, BIG_STEPS);
      expect(err, `param ${i}: update error ${err.toFixed(2)}× the f32 bound`).to.be.at.most(1);
    }
    opt.dispose();
    e.release(...owned, ...params.map((p) => p.tensor));
  });

  for (const layout of ['lane', 'workgroup'] as const) {
    it(`clipGradNorm (${layout} layout): clipped, unclipped, many tensors, one large`, async () => {
      const e = get();
      const r = freshRng();
      const manySizes = Array.from({ length: 40 }, () => 1 + Math.floor(r() * 3000));
      for (const [label, sizes, factor] of [
        ['clip', SIZES, 0.3],
        ['no clip', SIZES, 2],
        ['many tensors', manySizes, 0.5],
        ['large', [1024 * 1024 + 3, 3 * 1024 * 1024], 0.5],
      ] as const) {
        const gs = sizes.map((n) => randomNormal(n, r));
        const ref = globalNormRef(gs);
        const maxNorm = ref * factor;
        const ts = uploadAll(e, gs);
        const versions = ts.map((t) => t.version);
        const norm = clipGradNorm(e, ts, maxNorm, { layout });
        const got = (await e.readF32(norm))[0]!;
        expect(Math.abs(got - ref) / ref, `${label}: norm ${got} vs ${ref}`).to.be.at.most(1e-5);
        const f = clipFactorRef(ref, maxNorm);
        for (let i = 0; i < ts.length; i++) {
          const g = await e.readF32(ts[i]!);
          if (factor > 1) expect(Array.from(g), `${label}: tensor ${i} changed`).to.deep.equal(Array.from(gs[i]!));
          else expectClose(g, Array.from(gs[i]!, (x) => x * f), 1e-5, `${label}: tensor ${i} (n=${sizes[i]})`);
          expect(ts[i]!.version).to.equal(versions[i]! + 1);
        }
        e.release(norm, ...ts);
      }
    });
  }

  it('AdamW with fused clipping equals clipping then stepping, and leaves the gradients as they were', async () => {
    const e = get();
    const c = makeCase(SIZES, 3);
    const params = uploadParams(e, c, DECAY);
    const opt = new AdamW(e, params, { lr: 0.05, weightDecay: WD });
    const owned: Tensor[] = [];
    const scales: number[] = [];
    const maxNorm = globalNormRef(c.grads[0]!) * 0.4; // clips the first steps; the later, larger grads more
    for (let s = 0; s < 3; s++) {
      const g = uploadAll(e, c.grads[s]!);
      const norm = gradNorm(e, g);
      owned.push(...g, norm);
      opt.step(g, undefined, { norm, maxNorm });
      scales.push(clipFactorRef(globalNormRef(c.grads[s]!), maxNorm));
    }
    expect(Math.max(...scales)).to.be.below(0.5);
    const st = await opt.state();
    for (let i = 0; i < SIZES.length; i++) {
      const ref = adamwRef(c.p0[i]!, c.grads.map((g) => g[i]!), { lrs: [0.05, 0.05, 0.05], decay: DECAY[i]!, weightDecay: WD, scales });
      const got = await e.readF32(params[i]!.tensor);
      const err = updateErrorRatio(got, c.p0[i]!, ref, 3);
      expect(err, `n=${SIZES[i]}: update error ${err.toFixed(2)}× the f32 bound`).to.be.at.most(1);
      const mErr = f32ErrorRatio(st.m[`p${i}`]!, ref.m, { steps: 3, peak: ref.peakM });
      expect(mErr, `n=${SIZES[i]} m (clipped): error ${mErr.toFixed(2)}× the f32 bound`).to.be.at.most(1);
    }
    for (let i = 0; i < SIZES.length; i++) expect(Array.from(await e.readF32(owned[i]!))).to.deep.equal(Array.from(c.grads[0]![i]!));
    opt.dispose();
    e.release(...owned, ...params.map((p) => p.tensor));
  });

  it('is deterministic: the same inputs give the same bits', async () => {
    const e = get();
    const sizes = [...SIZES, 64 * 1024 + 3];
    const c = makeCase(sizes, 3);
    const decays = sizes.map((_, i) => i % 2 === 0);
    const run = async (): Promise<Float32Array[]> => {
      const params = uploadParams(e, c, decays);
      const opt = new AdamW(e, params, { lr: 0.01 });
      const owned: Tensor[] = [];
      const norms: Tensor[] = [];
      for (let s = 0; s < 3; s++) {
        const g = uploadAll(e, c.grads[s]!);
        const norm = clipGradNorm(e, g, 10, { layout: s === 1 ? 'workgroup' : 'lane' });
        owned.push(...g, norm);
        norms.push(norm);
        opt.step(g);
      }
      const out = [...(await Promise.all(params.map((p) => e.readF32(p.tensor)))), ...(await Promise.all(norms.map((n) => e.readF32(n))))];
      opt.dispose();
      e.release(...owned, ...params.map((p) => p.tensor));
      return out;
    };
    const a = await run();
    const b = await run();
    for (let i = 0; i < a.length; i++) expect(Buffer.from(a[i]!.buffer).equals(Buffer.from(b[i]!.buffer)), `output ${i} differs`).to.equal(true);
  });

  for (const flat of [false, true]) {
    it(`records without submitting: step, gradNorm and clipGradNorm read nothing back (${flat ? 'flat' : 'per-parameter'} layout)`, async () => {
      const e = get();
      const c = makeCase(SIZES, 1);
      const params = uploadParams(e, c, DECAY);
      const g = uploadAll(e, c.grads[0]!);
      const opt = new AdamW(e, params, { lr: 0.01, flat });
      await e.sync();
      const submits = e.counters.submits;
      const dispatches = e.counters.dispatches;
      const norm = gradNorm(e, g);
      opt.step(g, 0.02, { norm, maxNorm: 1 });
      const norm2 = clipGradNorm(e, g, 1);
      opt.step(g);
      expect(e.counters.submits).to.equal(submits);
      // Per step: one dispatch per parameter, or per decay group in the flat layout (the rest are
      // copies); the norm: one per tensor + 1; clipping: one per tensor; a poisoning engine also
      // fills the two buffers each norm allocates.
      const perStep = flat ? new Set(DECAY).size : SIZES.length;
      const fills = e.options.poison ? 4 : 0;
      expect(e.counters.dispatches - dispatches).to.equal(2 * perStep + 2 * (SIZES.length + 1) + SIZES.length + fills);
      await e.sync();
      opt.dispose();
      e.release(norm, norm2, ...g, ...params.map((p) => p.tensor));
    });
  }

  it('the flat layout updates exactly as the per-parameter one; stepClipped computes the same norm', async () => {
    const e = get();
    const c = makeCase(SIZES, 3);
    const a = uploadParams(e, c, DECAY);
    const b = uploadParams(e, c, DECAY);
    const optA = new AdamW(e, a, { lr: 0.03, weightDecay: WD, flat: false });
    const optB = new AdamW(e, b, { lr: 0.03, weightDecay: WD, flat: true });
    const owned: Tensor[] = [];
    for (let s = 0; s < 3; s++) {
      const g = uploadAll(e, c.grads[s]!);
      owned.push(...g);
      const norm = gradNorm(e, g);
      owned.push(norm);
      if (s < 2) {
        optA.step(g, 0.03, { norm, maxNorm: 0.5 });
        optB.step(g, 0.03, { norm, maxNorm: 0.5 });
      } else {
        optA.step(g, 0.03, { norm, maxNorm: 0.5 });
        const nb = optB.stepClipped(g, 0.03, 0.5);
        owned.push(nb);
        const [x, y] = [(await e.readF32(norm))[0]!, (await e.readF32(nb))[0]!];
        expect(Math.abs(x - y) / x, `norm ${x} vs ${y}`).to.be.at.most(1e-6);
      }
    }
    const [sa, sb] = [await optA.state(), await optB.state()];
    for (let i = 0; i < SIZES.length; i++) {
      const [pa, pb] = [await e.readF32(a[i]!.tensor), await e.readF32(b[i]!.tensor)];
      expectClose(pb, pa, 1e-6, `param ${i}`);
      expectClose(sb.m[`p${i}`]!, sa.m[`p${i}`]!, 1e-6, `m ${i}`);
      expectClose(sb.v[`p${i}`]!, sa.v[`p${i}`]!, 1e-6, `v ${i}`);
    }
    optA.dispose();
    optB.dispose();
    e.release(...owned, ...a.map((p) => p.tensor), ...b.map((p) => p.tensor));
  });

  it('state() / loadState() resume the same trajectory', async () => {
    const e = get();
    const c = makeCase(SIZES, 3);
    const a = uploadParams(e, c, DECAY);
    const g = c.grads.map((gs) => uploadAll(e, gs));
    const optA = new AdamW(e, a, { lr: 0.03, weightDecay: WD });
    optA.step(g[0]!);
    optA.step(g[1]!);
    const saved = await optA.state();
    expect(saved.step).to.equal(2);
    // A second optimizer over copies of the weights after two steps, resumed from the state.
    const weights = await Promise.all(a.map((p) => e.readF32(p.tensor)));
    const b = a.map((p, i) => ({ ...p, tensor: e.upload(weights[i]!, p.tensor.shape) }));
    const optB = new AdamW(e, b, { lr: 0.03, weightDecay: WD });
    optB.loadState(saved);
    expect(optB.stepCount).to.equal(2);
    optA.step(g[2]!);
    optB.step(g[2]!);
    for (let i = 0; i < SIZES.length; i++) expect(Array.from(await e.readF32(b[i]!.tensor))).to.deep.equal(Array.from(await e.readF32(a[i]!.tensor)));
    expect(() => optB.loadState({ step: 1, m: {}, v: {} })).to.throw(/no m/);
    optA.dispose();
    optB.dispose();
    e.release(...g.flat(), ...a.map((p) => p.tensor), ...b.map((p) => p.tensor));
  });

  it('rejects mismatched gradients and duplicate parameters', () => {
    const e = get();
    const p = e.upload(randomF32(8, freshRng()), [8]);
    const wrong = e.upload(randomF32(7, freshRng()), [7]);
    const opt = new AdamW(e, [{ name: 'w', tensor: p, decay: true }], { lr: 0.1 });
    expect(() => opt.step([wrong])).to.throw(/does not match/);
    expect(() => opt.step([])).to.throw(/0 gradients for 1/);
    expect(() => new AdamW(e, [{ name: 'w', tensor: p, decay: true }, { name: 'w', tensor: wrong, decay: true }], { lr: 0.1 })).to.throw(/duplicate/);
    expect(opt.stepCount).to.equal(0);
    opt.dispose();
    e.release(p, wrong);
  });

  it('Ema: update, swapIn / swapOut, copyTo', async () => {
    const e = get();
    const r = freshRng();
    const sizes = [7, 1000, 33 * 65];
    const w0 = sizes.map((n) => randomF32(n, r));
    const ws = [1, 2, 3].map(() => sizes.map((n) => randomF32(n, r)));
    const params = uploadAll(e, w0);
    const ema = new Ema(e, params, 0.8);
    for (const w of ws) {
      params.forEach((t, i) => e.write(t, w[i]!));
      ema.update();
    }
    const refs = sizes.map((_, i) => emaRef(w0[i]!, ws.map((w) => w[i]!), 0.8));
    const last = ws[2]!;
    ema.swapIn();
    for (let i = 0; i < sizes.length; i++) expectClose(await e.readF32(params[i]!), refs[i]!, 1e-6, `ema n=${sizes[i]}`);
    ema.swapOut();
    for (let i = 0; i < sizes.length; i++) expect(Array.from(await e.readF32(params[i]!))).to.deep.equal(Array.from(last[i]!));
    const targets = sizes.map((n) => e.empty([n]));
    ema.copyTo(targets);
    for (let i = 0; i < sizes.length; i++) expectClose(await e.readF32(targets[i]!), refs[i]!, 1e-6, `ema copyTo n=${sizes[i]}`);
    ema.dispose();
    e.release(...params, ...targets);
  });
});
