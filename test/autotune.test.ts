import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryTuneStore, Tuner, deviceKey, type TuneCandidate, type TuneHost } from '../src/gpu/autotune.js';
import { FileTuneStore } from '../src/gpu/autotune-node.js';
import type { DeviceInfo, Engine } from '../src/gpu/engine.js';
import { f16ToF32, f32ToF16 } from '../src/io/safetensors.js';
import type { Tensor } from '../src/tensor.js';
import { PRESETS } from '../src/model/config.js';
import { modelMatmuls } from '../src/model/tune.js';
import {
  checkHalfTextures,
  checkMatmulFastPaths,
  wantsHalfTexture,
  matmul,
  matmulCandidates,
  matmulShapeClass,
  parsePlan,
  planName,
  shapeClass,
  tuneMatmul,
  type MatmulPlan,
} from '../src/ops/matmul.js';
import { describeBackends, engineWithPlantedFault, expectClose, freshRng, randomF32 } from './helpers.js';
import { matmulCaseLabel, prepareMatmulCase, type MatmulCase } from './reference/matmul.js';

const INFO: DeviceInfo = {
  backend: 'opengl',
  featureLevel: 'compatibility',
  adapter: 'test adapter',
  vendor: '',
  architecture: '',
  description: 'driver 1.0',
  software: true,
};

/** A tuner host without a device: fake candidates are timed through an injected measure. */
const host = (info: DeviceInfo = INFO): TuneHost => ({ info, sync: async () => {} });

const fake = (name: string): TuneCandidate => ({ name, run: () => {} });

describe('autotune: the tuner', () => {
  it('picks the fastest of fake candidates with known costs and records every median', async () => {
    const cost: Record<string, number> = { plain: 5, fast: 2, faster: 1.5, slow: 9 };
    const r = freshRng();
    const tuner = new Tuner(host());
    const seen: number[] = [];
    const entry = await tuner.tune('fake', 'cls', Object.keys(cost).map(fake), {
      // Known cost ± 10% noise per sample; reps reflect the least sample time asked for.
      measure: async (c, reps) => {
        seen.push(reps);
        return cost[c.name]! * (0.9 + 0.2 * r());
      },
      rounds: 5,
      dropFactor: 100,
    });
    expect(entry.choice).to.equal('faster');
    expect(tuner.choice('fake', 'cls')).to.equal('faster');
    expect(Object.keys(entry.ms).sort()).to.deep.equal(['fast', 'faster', 'plain', 'slow']);
    for (const [name, ms] of Object.entries(entry.ms)) expect(ms).to.be.within(0.9 * cost[name]!, 1.1 * cost[name]!);
    expect(Math.max(...seen)).to.be.greaterThan(1);
  });

  it('drops candidates far slower than the best after the first round', async () => {
    const cost: Record<string, number> = { plain: 4, quick: 1, glacial: 50 };
    const timed: string[] = [];
    const entry = await new Tuner(host()).tune('fake', 'cls', Object.keys(cost).map(fake), {
      measure: async (c) => {
        timed.push(c.name);
        return cost[c.name]!;
      },
      rounds: 4,
    });
    expect(entry.choice).to.equal('quick');
    expect(entry.dropped?.glacial).to.match(/slower than 3x/);
    // Warm-up, sizing, and one round only.
    expect(timed.filter((n) => n === 'glacial')).to.have.length(3);
    expect(timed.filter((n) => n === 'quick')).to.have.length(6);
  });

  it('drops a fast path that disagrees with the plain path, however fast it is', async () => {
    const cost: Record<string, number> = { plain: 3, wrong: 0.5, right: 2 };
    const entry = await new Tuner(host()).tune('fake', 'cls', Object.keys(cost).map(fake), {
      measure: async (c) => cost[c.name]!,
      verify: async (c) => (c.name === 'wrong' ? 'disagrees' : null),
    });
    expect(entry.choice).to.equal('right');
    expect(entry.dropped).to.deep.equal({ wrong: 'disagrees' });
    expect(entry.ms).to.not.have.property('wrong');
  });

  it('falls back to the plain path when every other candidate fails', async () => {
    const entry = await new Tuner(host()).tune('fake', 'cls', [fake('plain'), fake('broken')], {
      measure: async (c) => {
        if (c.name === 'broken') throw new Error('no pipeline');
        return 1;
      },
    });
    expect(entry.choice).to.equal('plain');
    expect(entry.dropped?.broken).to.match(/failed: no pipeline/);
  });

  it('round-trips choices through a store, keyed by adapter and driver', async () => {
    const store = new MemoryTuneStore();
    const a = new Tuner(host(), store);
    await a.load();
    await a.tune('matmul', 'M16.N1024', [fake('texture'), fake('texture.n32')], { measure: async (c) => (c.name === 'texture' ? 2 : 1) });
    await a.save();

    const same = new Tuner(host(), store);
    await same.load();
    expect(same.choice('matmul', 'M16.N1024')).to.equal('texture.n32');
    expect(same.entry('matmul', 'M16.N1024')?.ms).to.deep.equal({ texture: 2, 'texture.n32': 1 });

    const otherDriver = new Tuner(host({ ...INFO, description: 'driver 2.0' }), store);
    const otherAdapter = new Tuner(host({ ...INFO, adapter: 'another adapter' }), store);
    await otherDriver.load();
    await otherAdapter.load();
    expect(otherDriver.choice('matmul', 'M16.N1024')).to.equal(undefined);
    expect(otherAdapter.choice('matmul', 'M16.N1024')).to.equal(undefined);

    // Another device's choices land in their own section; the first device's stay.
    otherAdapter.record('matmul', 'M16.N1024', { choice: 'storage', ms: { storage: 1 } });
    await otherAdapter.save();
    const doc = JSON.parse((await store.read())!) as { devices: Record<string, { choices: Record<string, { choice: string }> }> };
    expect(Object.keys(doc.devices).sort()).to.deep.equal([deviceKey({ ...INFO, adapter: 'another adapter' }), deviceKey(INFO)].sort());
    expect(doc.devices[deviceKey(INFO)]!.choices['matmul|M16.N1024']!.choice).to.equal('texture.n32');
  });

  it('keeps the cache in a JSON file (cacheDir()/autotune.json in Node) and survives a damaged one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tok1d-autotune-'));
    try {
      const path = join(dir, 'sub', 'autotune.json');
      const t1 = new Tuner(host(), new FileTuneStore(path));
      await t1.load();
      t1.record('matmul', 'cls', { choice: 'texture.split4', ms: { texture: 3, 'texture.split4': 2 } });
      await t1.save();
      expect(JSON.parse(readFileSync(path, 'utf8')).devices[deviceKey(INFO)].choices['matmul|cls'].choice).to.equal('texture.split4');
      const t2 = new Tuner(host(), new FileTuneStore(path));
      await t2.load();
      expect(t2.choice('matmul', 'cls')).to.equal('texture.split4');

      writeFileSync(path, '{ not json');
      const t3 = new Tuner(host(), new FileTuneStore(path));
      await t3.load();
      expect(t3.choice('matmul', 'cls')).to.equal(undefined);
      t3.record('matmul', 'cls', { choice: 'texture', ms: { texture: 1 } });
      await t3.save();
      expect(JSON.parse(readFileSync(path, 'utf8')).version).to.equal(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('autotune: matmul plans and shape classes', () => {
  it('plan names round-trip, and foreign names are refused', () => {
    const plans: MatmulPlan[] = [
      { variant: 'texture' },
      { variant: 'texture', cols: 32 },
      { variant: 'texture', rows: 32, cols: 32 },
      { variant: 'texture', wg: 16 },
      { variant: 'texture', cols: 32, splits: 4 },
      { variant: 'texture', kn: true },
      { variant: 'texture', kn: true, splits: 3 },
      { variant: 'storage' },
      { variant: 'storage', tm: 4, tn4: 4 },
      { variant: 'storage', splits: 16 },
    ];
    for (const p of plans) expect(parsePlan(planName(p)), planName(p)).to.deep.equal(p);
    for (const bad of ['', 'cuda', 'texture.n64', 'storage.t99x9', 'texture.split1', 'texture.split65', 'texture.wg7', 'texture.n32.kn', 'storage.kn']) expect(parsePlan(bad), bad).to.equal(null);
  });

  it('buckets shapes into classes: powers of two, transposes, broadcast, epilogue', () => {
    const base = shapeClass({ M: 16, N: 3072, K: 1024, bias: true });
    expect(base).to.equal('M16.N4096.K1024.nn.b1.e1');
    expect(shapeClass({ M: 13, N: 4096, K: 1000, bias: true })).to.equal(base);
    expect(shapeClass({ M: 16, N: 3072, K: 1024 })).to.not.equal(base);
    expect(shapeClass({ M: 16, N: 3072, K: 1024, bias: true, transB: true })).to.not.equal(base);
    expect(shapeClass({ M: 16, N: 3072, K: 1024, act: 'gelu' })).to.equal('M16.N4096.K1024.nn.b1.e2');
    // A batched activation times a shared weight is one matmul over all rows.
    expect(shapeClass({ M: 16, N: 1024, K: 1024, batchA: 16, bias: true })).to.equal(shapeClass({ M: 256, N: 1024, K: 1024, bias: true }));
    expect(shapeClass({ M: 16, N: 16, K: 64, batchA: 4, batchB: 4 })).to.equal('M16.N16.K64.nn.b4AB.e0');
  });

  it('lists the seed model matmuls once per class, with the training gradients on request', () => {
    const inference = modelMatmuls(PRESETS.seed!, 1);
    // fc1 (GELU in its epilogue) and the projections (residual added in theirs: proj, fc2) have
    // classes of their own; dec.embed (1024 × 1024 + bias) shares proj's shape but not its epilogue.
    expect(inference.map((m) => m.what)).to.deep.equal(['enc.patch', 'attn.qkv', 'attn.proj', 'mlp.fc1', 'mlp.fc2', 'dec.embed', 'dec.out']);
    expect(inference[0]!.shape).to.deep.include({ M: 16, N: 1024, K: 12288, bias: true, constB: true });
    expect(inference[2]!.shape).to.deep.include({ accumulate: true });
    expect(inference[3]!.shape).to.deep.include({ act: 'gelu' });
    const training = modelMatmuls(PRESETS.small!, 8, { training: true });
    expect(training.some((m) => m.shape.transA && m.shape.K === 512)).to.equal(true);
    expect(new Set(training.map((m) => shapeClass(m.shape))).size).to.equal(training.length);
  });
});

type Case = MatmulCase;
const prepare = prepareMatmulCase;
const label = matmulCaseLabel;

/** Whether the texture variant's operands fit this device's 2D textures (both K-major; kn: B's [K, N] rows). */
function texturesFit(e: Engine, c: Case, plan: string): boolean {
  const max = e.limits.maxTextureDimension2D;
  if (plan.includes('.kn')) return Math.ceil(c.N / 4) <= max && c.K * (c.batchB ?? 1) <= max;
  return Math.ceil(c.K / 4) <= max && c.M * (c.batchA ?? 1) <= max && c.N * (c.batchB ?? 1) <= max;
}

/** Runs one case with a plan and compares with float64 (skips texture plans that cannot fit). */
async function runCase(ctx: Mocha.Context, e: Engine, c: Case, plan: string): Promise<void> {
  if (plan.startsWith('texture') && !texturesFit(e, c, plan)) {
    console.log(`      skipped: ${c.M}×${c.N}×${c.K} exceeds maxTextureDimension2D ${e.limits.maxTextureDimension2D}`);
    ctx.skip();
  }
  const p = prepare(c);
  const batch = Math.max(c.batchA ?? 1, c.batchB ?? 1);
  const aShape = c.transA ? [c.K, c.M] : [c.M, c.K];
  const bShape = c.transB ? [c.N, c.K] : [c.K, c.N];
  const ta = e.upload(p.a, (c.batchA ?? 1) > 1 ? [c.batchA!, ...aShape] : aShape);
  const tb = e.upload(p.b, (c.batchB ?? 1) > 1 ? [c.batchB!, ...bShape] : bShape);
  const tbias = p.bias ? e.upload(p.bias, [c.N]) : undefined;
  const tc = p.c0 ? e.upload(p.c0, batch > 1 ? [batch, c.M, c.N] : [c.M, c.N]) : undefined;
  try {
    const out = matmul(e, ta, tb, { transA: c.transA, transB: c.transB, bias: tbias, alpha: c.alpha, act: c.act, beta: c.beta, out: tc, plan });
    expectClose(await e.readF32(out), p.want, 1e-5, `${plan} ${label(c)}`);
    if (out !== tc) e.release(out);
  } finally {
    e.release(ta, tb, tbias, tc);
  }
}

/**
 * The variants this file adds: the 16×32 and 32×32 texture tiles, the 16×16 tile over B as stored
 * (kn: A·B only), and split-K on both variants.
 */
const NEW_PLANS: string[] = ['texture.n32', 'texture.m32', 'texture.kn', 'texture.split3', 'texture.n32.split4', 'texture.m32.split2', 'texture.kn.split3', 'storage.split5', 'storage.t4x4.split2'];

/** Whether a plan runs this case: kn plans need A·B with neither operand transposed. */
const runs = (plan: string, c: Case) => !plan.includes('.kn') || (!c.transA && !c.transB);

const ODD: Case[] = [
  { M: 1, N: 1, K: 1 },
  { M: 7, N: 33, K: 65, bias: true },
  { M: 33, N: 31, K: 257, transA: true, transB: true, bias: true },
  { M: 17, N: 47, K: 129, transB: true, alpha: 0.5 },
  { M: 3, N: 70, K: 301, transA: true, act: 'gelu' },
  { M: 9, N: 20, K: 61, batchA: 3, batchB: 3, bias: true, act: 'gelu_tanh' },
  { M: 5, N: 37, K: 133, batchA: 4, batchB: 1, bias: true },
  { M: 6, N: 35, K: 99, batchA: 1, batchB: 2, transB: true },
  { M: 19, N: 23, K: 203, alpha: 2, beta: 0.75 },
  // B batched over a shared A, and N = 128: B's rows go to its texture by a copy, not a pack.
  { M: 6, N: 35, K: 99, batchA: 1, batchB: 2 },
  { M: 20, N: 128, K: 70, bias: true },
  // Aᵀ·B (main_tn*): M and N past a tile's multiple, batched.
  { M: 37, N: 45, K: 70, transA: true, bias: true },
  { M: 9, N: 20, K: 33, transA: true, batchA: 2, batchB: 2 },
];

/**
 * Real model shapes: seed batch 1 (skinny, long K; 12288 wide), seed batch 16 (fc1), and a
 * weight gradient of small at batch 8 (Aᵀ·B).
 */
const REAL: Case[] = [
  { M: 16, N: 1024, K: 12288, bias: true },
  { M: 16, N: 12288, K: 1024, bias: true },
  { M: 16, N: 1024, K: 4096, bias: true },
  { M: 128, N: 384, K: 512, transA: true },
];
const REAL_BIG: Case = { M: 256, N: 4096, K: 1024, bias: true };

describeBackends('autotune: matmul variants against float64', (get) => {
  for (const plan of NEW_PLANS) {
    // The 32×32 tile shares store4 (activation, accumulation) with the others, tested through them;
    // each epilogue variant of that tile costs llvmpipe 15-90 s to compile the first time.
    const cases = (plan.includes('m32') ? ODD.filter((c) => !c.act && !c.beta) : ODD).filter((c) => runs(plan, c));
    for (const c of cases) it(`${plan} ${label(c)}`, function () {
      return runCase(this, get(), c, plan);
    });
  }
  for (const c of REAL) {
    for (const plan of ['texture.n32', 'texture.m32', 'texture.kn', 'texture.n32.split4', 'texture.split2', 'storage.split4'].filter((p) => runs(p, c))) {
      it(`${plan} real size ${label(c)}`, function () {
        return runCase(this, get(), c, plan);
      });
    }
  }
  for (const plan of ['texture.n32', 'texture.m32', 'texture.kn']) {
    it(`${plan} real size ${label(REAL_BIG)}`, function () {
      return runCase(this, get(), REAL_BIG, plan);
    });
  }
  // Weight and bias gradients in one pass: dW = Xᵀ·dY and dY's column sums, on every Aᵀ·B tile.
  for (const plan of ['texture', 'texture.n32', 'texture.m32']) {
    it(`${plan} Aᵀ·B with column sums (main_tn*_colsums): odd and real sizes against float64`, async () => {
      const e = get();
      for (const [M, N, R] of [[37, 45, 70], [128, 384, 512]] as const) {
        const r = freshRng();
        const x = randomF32(R * M, r);
        const g = randomF32(R * N, r);
        const tx = e.upload(x, [R, M]);
        const tg = e.upload(g, [R, N]);
        const sums = e.empty([N]);
        const dw = matmul(e, tx, tg, { transA: true, colSums: sums, plan });
        const want = new Float64Array(M * N);
        const wantSums = new Float64Array(N);
        for (let k = 0; k < R; k++)
          for (let n = 0; n < N; n++) {
            const gv = g[k * N + n]!;
            wantSums[n] += gv;
            for (let m = 0; m < M; m++) want[m * N + n] += x[k * M + m]! * gv;
          }
        expectClose(await e.readF32(dw), want, 1e-5, `${plan} ${M}×${N}×${R} dW`);
        expectClose(await e.readF32(sums), wantSums, 1e-5, `${plan} ${M}×${N}×${R} column sums`);
        e.release(tx, tg, sums, dw);
      }
    });
  }
});

describeBackends('autotune: matmul on a device', (get) => {
  afterEach(() => {
    // The engine is shared with other test files: leave no choices or switched-off paths behind.
    const t = get().tuner;
    t.clear();
    t.disabled.clear();
  });

  it('start-up parity checks pass for every plan family (nothing switched off)', async () => {
    const e = get();
    for (const k of [...e.tuner.checked]) if (k.startsWith('matmul:')) e.tuner.checked.delete(k);
    await checkMatmulFastPaths(e);
    const nn = [...e.tuner.checked].filter((k) => k.startsWith('matmul:')).length;
    expect(nn).to.be.at.least(4);
    // Aᵀ·B: the texture tiles run main_tn* there, families of their own.
    await checkMatmulFastPaths(e, undefined, true);
    const tn = [...e.tuner.checked].filter((k) => k.startsWith('matmul:') && k.includes('.tn'));
    expect(tn).to.include.members(['matmul:texture.n32.tn', 'matmul:texture.m32.tn']);
    expect([...e.tuner.disabled.entries()]).to.deep.equal([]);
  });

  it('matmul() follows the stored choice for its class, unless that family was switched off', async () => {
    const e = get();
    const c: Case = { M: 16, N: 40, K: 1030, bias: true };
    const p = prepare(c);
    const ta = e.upload(p.a, [c.M, c.K]);
    const tb = e.upload(p.b, [c.K, c.N]);
    const tbias = e.upload(p.bias!, [c.N]);
    /** Runs the matmul, checks it, and returns whether the split-K reduction ran. */
    const split = async () => {
      const used = new Map<string, { ms: number; count: number }>();
      e.profile = used;
      let out;
      try {
        out = matmul(e, ta, tb, { bias: tbias });
      } finally {
        e.profile = null;
      }
      expectClose(await e.readF32(out), p.want, 1e-5, label(c));
      e.release(out);
      return used.has('matmul_splitk:reduce');
    };
    try {
      expect(await split()).to.equal(false);
      const cls = matmulShapeClass(ta, tb, { bias: tbias });
      e.tuner.record('matmul', cls, { choice: 'texture.split4', ms: {} });
      expect(await split()).to.equal(true);
      e.tuner.disabled.set('matmul:texture.split', 'test');
      expect(await split()).to.equal(false);
      e.tuner.disabled.clear();
      e.tuner.record('matmul', cls, { choice: 'from-another-version', ms: {} });
      expect(await split()).to.equal(false);
    } finally {
      e.release(ta, tb, tbias);
    }
  });

  it('tuneMatmul times every candidate, picks the fastest, and reuses the choice without measuring', async () => {
    const e = get();
    const shape = { M: 16, N: 64, K: 2048, bias: true };
    const r = await tuneMatmul(e, shape, { rounds: 1 });
    expect(r.measured).to.equal(true);
    const names = matmulCandidates(e, { batch: 1, batchA: 1, batchB: 1, M: 16, N: 64, K: 2048, nn: true }).map(planName);
    expect(names.length).to.be.greaterThan(3);
    expect(names).to.include('texture.split4');
    expect(Object.keys(r.entry.ms).sort()).to.deep.equal([...names].sort());
    expect(r.entry.dropped ?? {}).to.satisfy((d: Record<string, string>) => Object.values(d).every((why) => why.startsWith('slower')));
    const live = Object.entries(r.entry.ms).filter(([n]) => !r.entry.dropped?.[n]);
    expect(r.entry.ms[r.entry.choice]).to.equal(Math.min(...live.map(([, ms]) => ms)));
    expect(e.tuner.choice('matmul', r.shapeClass)).to.equal(r.entry.choice);
    const again = await tuneMatmul(e, shape);
    expect(again.measured).to.equal(false);
    expect(again.entry).to.equal(r.entry);
  });

  it('tuneMatmul of an accumulating shape (a residual epilogue): every candidate agrees from a zeroed C', async () => {
    const e = get();
    const shape = { M: 20, N: 40, K: 1100, bias: true, accumulate: true };
    const r = await tuneMatmul(e, shape, { rounds: 1 });
    expect(r.shapeClass).to.match(/\.e9$/);
    // A candidate that disagreed would be dropped with a reason other than being slower.
    expect(r.entry.dropped ?? {}).to.satisfy((d: Record<string, string>) => Object.values(d).every((why) => why.startsWith('slower')));
    expect(Object.keys(r.entry.ms).length).to.be.greaterThan(2);
  });

  it('drops a disagreeing fast path measured on the device', async () => {
    const e = get();
    const r = freshRng();
    const [M, N, K] = [16, 48, 512];
    const ta = e.upload(randomF32(M * K, r), [M, K]);
    const tb = e.upload(randomF32(K * N, r), [K, N]);
    const out = e.empty([M, N]);
    const candidate = (name: string, alpha: number, plan: string): TuneCandidate => ({ name, run: () => void matmul(e, ta, tb, { out, alpha, plan }) });
    const read = async (c: TuneCandidate): Promise<Float32Array> => {
      c.run();
      return e.readF32(out);
    };
    try {
      const plain = candidate('plain', 1, 'texture');
      const want = await read(plain);
      // "Fast" is the same work with a wrong scale: it must never be chosen.
      const entry = await e.tuner.tune('matmul-test', 'cls', [plain, candidate('fast', 1.001, 'texture.split2'), candidate('split', 1, 'texture.split2')], {
        rounds: 1,
        verify: async (c) => {
          const got = await read(c);
          let worst = 0;
          for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / (Math.abs(want[i]!) + 1e-3));
          return worst <= 1e-4 ? null : `disagrees (${worst.toExponential(1)})`;
        },
      });
      expect(entry.dropped?.fast).to.match(/^disagrees/);
      expect(entry.choice).to.be.oneOf(['plain', 'split']);
    } finally {
      e.release(ta, tb, out);
    }
  });
});

describeBackends('matmul: half-precision textures of f16-exact weights', (get, backend) => {
  const M = 7;
  const K = 1031;
  const N = 1021; // K·N past HALF_TEXTURE_MIN; K and N off multiples of 4
  const texFormats = (e: Engine, fn: () => void): string[] => {
    const formats: string[] = [];
    const create = e.device.createTexture.bind(e.device);
    e.device.createTexture = (d: GPUTextureDescriptor) => {
      formats.push(String(d.format));
      return create(d);
    };
    try {
      fn();
    } finally {
      e.device.createTexture = create;
    }
    return formats;
  };

  it('the start-up check passes; large f16-exact constant weights get rgba16float textures and the same products, bit for bit', async () => {
    const e = get();
    await checkHalfTextures(e);
    expect(e.tuner.disabled.has('matmul:texture.f16')).to.equal(false);
    const r = freshRng();
    const a = e.upload(randomF32(M * K, r), [M, K]);
    const values = Float32Array.from(randomF32(K * N, r), (x) => f16ToF32(f32ToF16(x)));
    for (const plan of ['texture', 'texture.kn']) {
      const out: Float32Array[] = [];
      for (const exact of [false, true]) {
        const b = e.upload(values, [K, N]);
        b.constant = true;
        b.f16Exact = exact;
        expect(wantsHalfTexture(b)).to.equal(exact);
        let c: Tensor | undefined;
        const formats = texFormats(e, () => (c = matmul(e, a, b, { plan })));
        expect(formats, `${plan} exact ${exact}`).to.deep.equal([exact ? 'rgba16float' : 'rgba32float']);
        out.push(await e.readF32(c!));
        e.release(b, c!);
      }
      expect(Buffer.from(out[1]!.buffer).equals(Buffer.from(out[0]!.buffer)), `${plan}: half and f32 textures give the same bits`).to.equal(true);
      // And both are the product (float64 reference of the same values).
      const want = new Float64Array(M * N);
      const av = await e.readF32(a);
      for (let i = 0; i < M; i++) for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) want[i * N + j] += av[i * K + k]! * values[k * N + j]!;
      expectClose(out[1]!, want, 1e-5, `${plan} against float64`);
    }
    e.release(a);
  });

  it('small weights, weights that are not f16-exact, and a weight written since (touch) keep f32 textures', async () => {
    const e = get();
    await checkHalfTextures(e);
    const r = freshRng();
    const small = e.upload(Float32Array.from(randomF32(64 * 32, r), (x) => f16ToF32(f32ToF16(x))), [64, 32]);
    small.f16Exact = true;
    expect(wantsHalfTexture(small)).to.equal(false);
    const values = Float32Array.from(randomF32(K * N, r), (x) => f16ToF32(f32ToF16(x)));
    const b = e.upload(values, [K, N]);
    b.constant = true;
    b.f16Exact = true;
    const a = e.upload(randomF32(M * K, r), [M, K]);
    const first = texFormats(e, () => e.release(matmul(e, a, b, { plan: 'texture.kn' })));
    expect(first).to.deep.equal(['rgba16float']);
    // An in-place write (as an optimizer step does) makes the values arbitrary f32 again.
    e.fill(b, 0.1);
    b.touch();
    expect(b.f16Exact).to.equal(false);
    let c: Tensor | undefined;
    const after = texFormats(e, () => (c = matmul(e, a, b, { plan: 'texture.kn' })));
    expect(after).to.deep.equal(['rgba32float']);
    const av = await e.readF32(a);
    const got = await e.readF32(c!);
    // 0.1 is not an f16 value: the f32 texture must carry it exactly.
    for (let i = 0; i < M; i++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += av[i * K + k]! * Math.fround(0.1);
      expect(Math.abs(got[i * N]! - s), `row ${i}`).to.be.at.most(1e-4 * Math.max(1, Math.abs(s)));
    }
    e.release(small, a, b, c!);
  });

  it('a half-texture path that disagrees is switched off at start-up, and f16-exact weights keep f32 textures', async () => {
    // The half pack writes every texel doubled.
    const e = await engineWithPlantedFault(backend, 'pack', ', job0_texel(gid));', ', 2.0 * job0_texel(gid));');
    try {
      await checkHalfTextures(e);
      expect(e.tuner.disabled.get('matmul:texture.f16')).to.match(/disagree/);
      const b = e.upload(new Float32Array(K * N).fill(0.5), [K, N]);
      b.constant = true;
      b.f16Exact = true;
      const a = e.upload(new Float32Array(M * K).fill(1), [M, K]);
      let c: Tensor | undefined;
      expect(texFormats(e, () => (c = matmul(e, a, b, { plan: 'texture.kn' })))).to.deep.equal(['rgba32float']);
      expect((await e.readF32(c!))[0]).to.equal(0.5 * K);
    } finally {
      e.dispose();
    }
  });
});
