import { expect } from 'chai';
import type { Engine } from '../src/gpu/engine.js';
import {
  attention,
  attentionBackward,
  attentionBackwardLayout,
  attentionBackwardWithPlan,
  planAttentionBackward,
  maxAttentionChunk,
  maxAttentionKvChunk,
  type AttentionOptions,
  type AttentionPlan,
} from '../src/ops/attention.js';
import { describeBackends, expectClose, freshRng, randomF32, randomNormal, relL2, RUN_SEED } from './helpers.js';
import { dot64, finiteDifferences } from './reference/elementwise.js';
import { attentionBackwardRef, attentionRef, UNROLLED_CASES } from './reference/attention.js';

interface Case {
  o: AttentionOptions;
  qkv: Float32Array;
  dOut: Float32Array;
  /** float64 dqkv of L = Σ out ⊙ dOut. */
  ref: Float64Array;
  /** Keys per sequence (AttentionOptions.keys), uploaded by check(). */
  keys?: number[];
}

/** Random qkv in [-1, 1) (q and k × `qkScale`) and a standard normal upstream gradient. */
function makeCase(o: AttentionOptions, qkScale = 1, keys?: number[]): Case {
  const D = o.heads * o.headDim;
  const r = freshRng();
  const qkv = randomF32(o.batch * o.seq * 3 * D, r);
  if (qkScale !== 1) for (let t = 0; t < o.batch * o.seq; t++) for (let c = 0; c < 2 * D; c++) qkv[t * 3 * D + c] *= qkScale;
  const dOut = randomNormal(o.batch * o.seq * D, r);
  return { o, qkv, dOut, ref: attentionBackwardRef(qkv, dOut, o, keys), keys };
}

// Large references are computed once and shared by both backends.
const shared = new Map<string, Case>();
function sharedCase(key: string, make: () => Case): Case {
  let c = shared.get(key);
  if (!c) shared.set(key, (c = make()));
  return c;
}

/**
 * GPU forward (its out and lse are what the backward gets in training), then the backward twice:
 * within `tol` of the float64 backward, and bit-identical between the runs.
 */
async function check(engine: Engine, c: Case, plan: Partial<AttentionPlan> | null, what: string, tol = 1e-4, twice = true): Promise<void> {
  const { batch, seq, heads, headDim } = c.o;
  const D = heads * headDim;
  const qkv = engine.upload(c.qkv, [batch, seq, 3 * D]);
  const dOut = engine.upload(c.dOut, [batch, seq, D]);
  const keys = c.keys ? engine.upload(Uint32Array.from(c.keys), [batch], 'u32') : undefined;
  const o = { ...c.o, keys };
  const { out, lse } = attention(engine, qkv, o);
  const run = (): ReturnType<typeof attentionBackward> =>
    plan ? attentionBackwardWithPlan(engine, dOut, qkv, out, lse, o, plan) : attentionBackward(engine, dOut, qkv, out, lse, o);
  const g1 = run();
  const g2 = twice ? run() : null;
  expect(g1.shape).to.deep.equal([batch, seq, 3 * D]);
  const a = await engine.readF32(g1);
  const b = g2 ? await engine.readF32(g2) : a;
  engine.release(qkv, dOut, keys ?? null, out, lse, g1, g2);
  expectClose(a, c.ref, tol, what);
  const ua = new Uint32Array(a.buffer);
  const ub = new Uint32Array(b.buffer);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) expect.fail(`${what}: element ${i} differs between two runs`);
}

/**
 * A long sequence whose tokens repeat with period m (seq = N·m), under a random dOut: its exact float64
 * gradients follow from the m-token problem at O(seq·m·headDim + seq·headDim²) cost. With i' = i mod m,
 * P_ij = Pm_i'j' / N and out_i = outm_i', so
 *   dK_j, dV_j = (1/N) · the m-problem's dK_j', dV_j' under the upstream G_i' = Σ_{i ≡ i'} dOut_i;
 *   dQ_i = M_i' · dOut_i with M_i' = scale Σ_j' Pm_i'j' k_j' (v_j' − outm_i')ᵀ (headDim × headDim).
 * Batch 1, one head (the default scale).
 */
function periodicCase(m: number, N: number, headDim: number): Case {
  const hd = headDim;
  const seq = m * N;
  const om: AttentionOptions = { batch: 1, seq: m, heads: 1, headDim: hd };
  const r = freshRng();
  const base = randomF32(m * 3 * hd, r);
  const qkv = new Float32Array(seq * 3 * hd);
  for (let n = 0; n < N; n++) qkv.set(base, n * m * 3 * hd);
  const dOut = randomNormal(seq * hd, r);
  const G = new Float64Array(m * hd);
  for (let i = 0; i < seq; i++) for (let d = 0; d < hd; d++) G[(i % m) * hd + d] += dOut[i * hd + d]!;
  const dm = attentionBackwardRef(base, G, om);
  const fm = attentionRef(base, om);
  const scale = 1 / Math.sqrt(hd);
  const M = new Float64Array(m * hd * hd);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let d = 0; d < hd; d++) s += base[i * 3 * hd + d]! * base[j * 3 * hd + hd + d]!;
      const w = scale * Math.exp(scale * s - fm.lse[i]!);
      for (let a = 0; a < hd; a++) {
        const ka = w * base[j * 3 * hd + hd + a]!;
        for (let b = 0; b < hd; b++) M[(i * hd + a) * hd + b] += ka * (base[j * 3 * hd + 2 * hd + b]! - fm.out[i * hd + b]!);
      }
    }
  }
  const ref = new Float64Array(seq * 3 * hd);
  for (let i = 0; i < seq; i++) {
    const ib = i % m;
    for (let a = 0; a < hd; a++) {
      let dq = 0;
      for (let b = 0; b < hd; b++) dq += M[(ib * hd + a) * hd + b]! * dOut[i * hd + b]!;
      ref[i * 3 * hd + a] = dq;
    }
    for (let c = hd; c < 3 * hd; c++) ref[i * 3 * hd + c] = dm[ib * 3 * hd + c]! / N;
  }
  return { o: { batch: 1, seq, heads: 1, headDim: hd }, qkv, dOut, ref };
}

describe('periodic long-sequence reference (used past the loop budget)', () => {
  it('equals the direct float64 backward (period 5 × 7 repeats, headDim 8)', () => {
    const c = periodicCase(5, 7, 8);
    const e = relL2(c.ref, attentionBackwardRef(c.qkv, c.dOut, c.o));
    expect(e, `relative L2 ${e.toExponential(2)} (seed ${RUN_SEED})`).to.be.at.most(1e-12);
  });
});

describe('attention backward reference (float64, against central finite differences)', () => {
  const shapes: [string, AttentionOptions][] = [
    ['batch 2, seq 5, 2 heads × 4', { batch: 2, seq: 5, heads: 2, headDim: 4 }],
    ['batch 1, seq 7, 3 heads × 3, scale 0.8', { batch: 1, seq: 7, heads: 3, headDim: 3, scale: 0.8 }],
    ['batch 1, seq 1, 1 head × 5', { batch: 1, seq: 1, heads: 1, headDim: 5 }],
  ];
  for (const [name, o] of shapes) {
    it(`${name}: every element of dqkv of Σ out ⊙ G`, () => {
      const r = freshRng();
      const D = o.heads * o.headDim;
      // q, k × 2: scores of order 1, so the softmax is neither flat nor one-hot.
      const qkv = Float64Array.from(randomF32(o.batch * o.seq * 3 * D, r), (v, i) => (i % (3 * D) < 2 * D ? 2 * v : v));
      const G = randomNormal(o.batch * o.seq * D, r);
      const fd = finiteDifferences((x) => dot64(G, attentionRef(x, o).out), qkv);
      const analytic = attentionBackwardRef(qkv, G, o);
      const e = relL2(fd, analytic);
      expect(e, `${name}: relative L2 ${e.toExponential(2)} (seed ${RUN_SEED})`).to.be.at.most(1e-6);
    });
  }
});

describe('float64 attention backward with keys per sequence (finite differences)', () => {
  it('batch 3, seq 9, 2 heads × 4, keys [9, 1, 5]: every element, zero past each count', () => {
    const o: AttentionOptions = { batch: 3, seq: 9, heads: 2, headDim: 4 };
    const keys = [9, 1, 5];
    const r = freshRng();
    const D = o.heads * o.headDim;
    const qkv = Float64Array.from(randomF32(o.batch * o.seq * 3 * D, r), (v, i) => (i % (3 * D) < 2 * D ? 2 * v : v));
    const G = randomNormal(o.batch * o.seq * D, r);
    const fd = finiteDifferences((x) => dot64(G, attentionRef(x, o, undefined, keys).out), qkv);
    const analytic = attentionBackwardRef(qkv, G, o, keys);
    const e = relL2(fd, analytic);
    expect(e, `relative L2 ${e.toExponential(2)} (seed ${RUN_SEED})`).to.be.at.most(1e-6);
    // k and v of the keys past a count get nothing; their q still does (they attend to the kept keys).
    for (let b = 0; b < o.batch; b++) {
      for (let t = keys[b]!; t < o.seq; t++) for (let c = D; c < 3 * D; c++) expect(analytic[(b * o.seq + t) * 3 * D + c]).to.equal(0);
    }
    expect(analytic.slice((2 * o.seq + 7) * 3 * D, (2 * o.seq + 7) * 3 * D + D).some((v) => v !== 0)).to.equal(true);
  });
});

describeBackends('attention backward', (get, backend) => {
  it('keys per sequence: dqkv on every kernel and plan (zeros for the keys past each count)', async () => {
    const c = makeCase({ batch: 5, seq: 77, heads: 3, headDim: 64 }, 1, [77, 1, 40, 9, 64]);
    const plans: Partial<AttentionPlan>[] = [
      {},
      { rows: 8, chunk: 1 << 20, storeDs: true, unrolled: false },
      { rows: 8, chunk: 1 << 20, storeDs: false },
      { rows: 8, chunk: 16, staticLoops: false },
      { rows: 3, chunk: 24, staticLoops: true },
      { rows: 8, chunk: 1 << 20, storeDs: true, maxBindingBytes: 600_000 },
    ];
    for (const p of plans) await check(get(), c, p, `masked, plan ${JSON.stringify(p)}`);
    for (const o of [{ batch: 3, seq: 45, heads: 2, headDim: 32 }, { batch: 4, seq: 16, heads: 4, headDim: 16 }]) {
      const u = makeCase(o, 1, o.seq === 45 ? [45, 13, 1] : [16, 3, 8, 9]);
      for (const storeDs of [true, false]) await check(get(), u, { rows: 8, chunk: 1 << 20, storeDs, unrolled: true }, `masked d${o.headDim} unrolled, storeDs ${storeDs}`);
    }
  });


  for (const headDim of [32, 36, 64, 128]) {
    it(`seq 1, 7, 33, 127 × headDim ${headDim}, odd head counts, batch 1-3`, async () => {
      for (const [seq, heads, batch] of [[1, 5, 2], [7, 3, 3], [33, 5, 1], [127, 3, 2]] as const) {
        await check(get(), makeCase({ batch, seq, heads, headDim }), null, `b${batch} s${seq} h${heads} d${headDim}`);
      }
    });
  }

  it('small heads: headDim 4, 8, 16 (the tiny preset: 4 heads × 16, seq 16, batch 8)', async () => {
    for (const [batch, seq, heads, headDim] of [[2, 7, 3, 4], [1, 33, 2, 8], [8, 16, 4, 16], [1, 127, 1, 16]] as const) {
      await check(get(), makeCase({ batch, seq, heads, headDim }), null, `b${batch} s${seq} h${heads} d${headDim}`);
    }
    await check(get(), makeCase({ batch: 2, seq: 45, heads: 3, headDim: 16 }), { chunk: 16, rows: 3 }, 'd16 split');
  });

  it('forced plans: rows 1..8, split ranges (partials + sum), constant or uniform loop bounds', async () => {
    const c = makeCase({ batch: 2, seq: 77, heads: 3, headDim: 64 });
    const plans: Partial<AttentionPlan>[] = [
      { rows: 8, chunk: 8, staticLoops: false },
      { rows: 8, chunk: 40, staticLoops: false },
      { rows: 3, chunk: 24, staticLoops: false },
      { rows: 5, chunk: 1000, staticLoops: false },
      { rows: 1, chunk: 1000, staticLoops: true },
      { rows: 2, chunk: 16, staticLoops: true },
    ];
    for (const p of plans) await check(get(), c, p, `plan ${JSON.stringify(p)}`);
  });

  it('stored dS (attn_bwd_kv writes it, attn_bwd_q reads it): the small preset\'s shape, odd seq, tiny heads', async () => {
    // Each case runs with and without the stored dS; the layout confirms which path ran.
    const cases: AttentionOptions[] = [
      { batch: 8, seq: 64, heads: 4, headDim: 32 },
      { batch: 2, seq: 61, heads: 3, headDim: 32 },
      { batch: 3, seq: 5, heads: 2, headDim: 8 },
      { batch: 1, seq: 130, heads: 2, headDim: 64 },
    ];
    for (const o of cases) {
      const c = makeCase(o);
      for (const storeDs of [true, false]) {
        const plan = { ...planAttentionBackward(get(), o), rows: 8, chunk: 1 << 20, storeDs, unrolled: false };
        expect(attentionBackwardLayout(get(), o, plan).useDs, `${JSON.stringify(o)} storeDs ${storeDs}`).to.equal(storeDs);
        await check(get(), c, plan, `b${o.batch} s${o.seq} h${o.heads} d${o.headDim} storeDs ${storeDs}`);
      }
    }
    // Not used where rows is not 8 or a range is split.
    const o = cases[1]!;
    const base = planAttentionBackward(get(), o);
    expect(attentionBackwardLayout(get(), o, { ...base, rows: 4, chunk: 1 << 20, storeDs: true }).useDs).to.equal(false);
    expect(attentionBackwardLayout(get(), o, { ...base, rows: 8, chunk: 16, storeDs: true }).useDs).to.equal(false);
  });

  it('unrolled attn_bwd_kv and attn_bwd_q (attention_unrolled.wgsl) for headDim 16 and 32, with and without stored dS', async () => {
    const cases = UNROLLED_CASES;
    for (const o of cases) {
      const c = makeCase(o);
      for (const storeDs of [true, false]) {
        const plan = { ...planAttentionBackward(get(), o), rows: 8, chunk: 1 << 20, storeDs, unrolled: true };
        const layout = attentionBackwardLayout(get(), o, plan);
        expect(layout.kv.entry, JSON.stringify(o)).to.equal(`attn_bwd_kv_h${o.headDim / 4}`);
        expect(layout.q.entry, JSON.stringify(o)).to.equal(storeDs ? `attn_bwd_q_ds_h${o.headDim / 4}` : 'attn_bwd_q');
        await check(get(), c, plan, `b${o.batch} s${o.seq} h${o.heads} d${o.headDim} unrolled, storeDs ${storeDs}`);
      }
    }
    // Other head sizes, other row counts and split query ranges keep attention.wgsl's kernel.
    const o = { batch: 1, seq: 40, heads: 2, headDim: 64 };
    const base = { ...planAttentionBackward(get(), o), unrolled: true };
    expect(attentionBackwardLayout(get(), o, { ...base, rows: 8, chunk: 1 << 20 }).kv.entry).to.equal('attn_bwd_kv');
    const o32 = { ...o, headDim: 32 };
    expect(attentionBackwardLayout(get(), o32, { ...base, rows: 4, chunk: 1 << 20 }).kv.entry).to.equal('attn_bwd_kv');
    expect(attentionBackwardLayout(get(), o32, { ...base, rows: 8, chunk: 16 }).kv.entry).to.equal('attn_bwd_kv');
  });

  it('explicit scale, headDim 100', async () => {
    await check(get(), makeCase({ batch: 1, seq: 19, heads: 2, headDim: 32, scale: 0.37 }), null, 'scale 0.37');
    await check(get(), makeCase({ batch: 2, seq: 21, heads: 1, headDim: 100 }), { rows: 8, chunk: 8 }, 'd100 split');
  });

  it('batch groups under a small binding limit (bindings at aligned offsets)', async () => {
    // One batch of qkv (and dqkv) is 33·3·5·36·4 = 71280 bytes: a 200000-byte limit gives groups of 2
    // batches. Split 3 ways, one batch of partials is 5·3·33·2·36·4 = 142560 bytes: groups of 2 under
    // 300000, 1 under 200000. Bindings start at offsets that are not multiples of the batch size.
    const c = makeCase({ batch: 5, seq: 33, heads: 5, headDim: 36 });
    await check(get(), c, { maxBindingBytes: 200_000 }, 'groups of 2, one pass');
    await check(get(), c, { maxBindingBytes: 300_000, chunk: 16, rows: 3 }, 'groups of 2, split');
    await check(get(), c, { maxBindingBytes: 200_000, chunk: 16 }, 'groups of 1, split');
    // 5 splits: 237600 bytes of partials per batch do not fit; the error says so.
    const e = get();
    const { batch, seq, heads, headDim } = c.o;
    const qkv = e.upload(c.qkv, [batch, seq, 3 * heads * headDim]);
    const g = e.upload(c.dOut, [batch, seq, heads * headDim]);
    const lse = e.upload(new Float32Array(batch * heads * seq).fill(1), [batch, heads, seq]);
    try {
      expect(() => attentionBackwardWithPlan(e, g, qkv, g, lse, c.o, { maxBindingBytes: 200_000, chunk: 8 })).to.throw(/partials/);
    } finally {
      e.release(qkv, g, lse);
    }
  });

  it('reference size: 16 heads × 64 dims, seq 16 × batch 16 and seq 256 × batch 2', async () => {
    await check(get(), sharedCase('s16', () => makeCase({ batch: 16, seq: 16, heads: 16, headDim: 64 })), null, 'b16 s16');
    const s256 = sharedCase('s256', () => makeCase({ batch: 2, seq: 256, heads: 16, headDim: 64 }));
    await check(get(), s256, null, 'b2 s256');
    await check(get(), s256, { chunk: 64 }, 'b2 s256, 4 splits');
  });

  it('seq 1024 × headDim 128: one pass over all 1024 keys / queries per invocation, and split', async () => {
    // One invocation over 1024 keys (queries) at headDim 128 runs 128 steps × 65 (attn_bwd_q) or
    // × 97 (attn_bwd_kv) + ~300 loop trips: under llvmpipe's 65535; one key per trip would not be.
    const c = sharedCase('s1024', () => makeCase({ batch: 1, seq: 1024, heads: 1, headDim: 128 }));
    await check(get(), c, { chunk: 1024 }, 's1024 one pass');
    await check(get(), c, { chunk: 128 }, 's1024 8 splits');
    if (backend === 'opengl') await check(get(), c, null, 's1024 default plan');
  });

  if (backend === 'opengl') {
    it('seq 8200 × headDim 128, past the one-invocation loop budget (llvmpipe only: the cap is its own)', async () => {
      // One invocation over all 8200 keys (attn_bwd_q) or queries (attn_bwd_kv) would run 1025 steps ×
      // 65 (97) > 65535 loop trips and stop early without an error: the op must split the ranges even
      // when asked for one pass.
      // Tokens repeat with period 41 (odd: split boundaries fall mid-period), so the exact reference is cheap.
      expect(maxAttentionChunk(128)).to.be.below(8200);
      expect(maxAttentionKvChunk(128)).to.be.below(8200);
      const c = sharedCase('periodic', () => periodicCase(41, 200, 128));
      await check(get(), c, { chunk: 8200 }, 's8200', 1e-4, false);
    });
  }

  it('large scores (q, k × 16: |s| up to ~300)', async () => {
    // Near one-hot rows. P = exp2(s − lse₂) from a recomputed f32 score carries a relative error of
    // about |s|·2⁻²⁴, so the gradient error grows with |s|: measured ~1.4e-5 at × 16 and ~4e-5 at × 30.
    const c = makeCase({ batch: 1, seq: 65, heads: 2, headDim: 64 }, 16);
    const lse = attentionRef(c.qkv, c.o).lse;
    expect(Math.max(...Array.from(lse, Math.abs)), 'the test must reach scores where exp() overflows f32').to.be.above(100);
    await check(get(), c, null, '×16 one pass');
    await check(get(), c, { chunk: 16 }, '×16 split');
  });

  it('loop budget arithmetic: both kernels and the sum stay under 65535 trips', () => {
    for (let hd = 32; hd <= 128; hd += 4) {
      const hd4 = hd / 4;
      for (let rows = 1; rows <= 8; rows++) {
        const tripsQ = hd4 + (maxAttentionChunk(hd, rows) / 8) * (2 * hd4 + 1) + rows * (hd4 + 1) + 1;
        const tripsKV = hd4 + (maxAttentionKvChunk(hd, rows) / 8) * (3 * hd4 + 1) + rows * (hd4 + 1) + 1;
        expect(tripsQ, `attn_bwd_q: headDim ${hd}, rows ${rows}`).to.be.below(65535);
        expect(tripsKV, `attn_bwd_kv: headDim ${hd}, rows ${rows}`).to.be.below(65535);
      }
      const maxSplits = Math.floor((60000 - 8) / (2 * hd4)) - 1;
      expect(2 * hd4 * (maxSplits + 1) + 3, `sum, headDim ${hd}`).to.be.below(65535);
    }
  });

  it('rejects mismatched shapes with clear errors', () => {
    const e = get();
    const o: AttentionOptions = { batch: 1, seq: 2, heads: 1, headDim: 32 };
    const qkv = e.upload(new Float32Array(2 * 96).fill(0.5), [1, 2, 96]);
    const g = e.upload(new Float32Array(2 * 32).fill(0.5), [1, 2, 32]);
    const lse = e.upload(new Float32Array(2).fill(0.5), [1, 1, 2]);
    const bad = e.upload(new Float32Array(3).fill(0.5), [3]);
    try {
      expect(() => attentionBackward(e, bad, qkv, g, lse, o)).to.throw(/dOut/);
      expect(() => attentionBackward(e, g, qkv, bad, lse, o)).to.throw(/out/);
      expect(() => attentionBackward(e, g, qkv, g, bad, o)).to.throw(/lse/);
      expect(() => attentionBackward(e, g, bad, g, lse, o)).to.throw(/qkv has shape/);
      expect(() => attentionBackwardWithPlan(e, g, qkv, g, lse, o, { rows: 0 })).to.throw(/rows/);
    } finally {
      e.release(qkv, g, lse, bad);
    }
  });
});
