import { expect } from 'chai';
import type { Engine } from '../src/gpu/engine.js';
import { attention, attentionForwardKernel, attentionWithPlan, maxAttentionChunk, planAttention, type AttentionOptions, type AttentionPlan } from '../src/ops/attention.js';
import { describeBackends, expectClose, freshRng, randomF32 } from './helpers.js';
import { attentionRef, UNROLLED_CASES, type AttentionRef } from './reference/attention.js';

interface Case {
  o: AttentionOptions;
  data: Float32Array;
  ref: AttentionRef;
  /** Query positions the reference covers (all when undefined). */
  queries?: number[];
  /** Keys per sequence (AttentionOptions.keys), uploaded by check(). */
  keys?: number[];
}

/** Random qkv in [-1, 1); q and k multiplied by `qkScale` (large scores). */
function makeCase(o: AttentionOptions, qkScale = 1, queries?: number[], keys?: number[]): Case {
  const D = o.heads * o.headDim;
  const data = randomF32(o.batch * o.seq * 3 * D, freshRng());
  if (qkScale !== 1) for (let t = 0; t < o.batch * o.seq; t++) for (let c = 0; c < 2 * D; c++) data[t * 3 * D + c] *= qkScale;
  return { o, data, ref: attentionRef(data, o, queries, keys), queries, keys };
}

/** The positions of `a` where the reference was computed (all of it when every row was). */
function pick(a: ArrayLike<number>, ref: Float64Array): [number[], number[]] {
  const got: number[] = [];
  const want: number[] = [];
  for (let i = 0; i < ref.length; i++) {
    if (!Number.isNaN(ref[i]!)) {
      got.push(a[i]!);
      want.push(ref[i]!);
    }
  }
  return [got, want];
}

async function check(engine: Engine, c: Case, plan: Partial<AttentionPlan> | null, what: string, tol = 1e-5): Promise<void> {
  const { batch, seq, heads, headDim } = c.o;
  const qkv = engine.upload(c.data, [batch, seq, 3 * heads * headDim]);
  const keys = c.keys ? engine.upload(Uint32Array.from(c.keys), [batch], 'u32') : undefined;
  const o = { ...c.o, keys };
  const r = plan ? attentionWithPlan(engine, qkv, o, plan) : attention(engine, qkv, o);
  expect(r.out.shape).to.deep.equal([batch, seq, heads * headDim]);
  expect(r.lse.shape).to.deep.equal([batch, heads, seq]);
  const out = await engine.readF32(r.out);
  const lse = await engine.readF32(r.lse);
  engine.release(qkv, keys ?? null, r.out, r.lse);
  if (c.queries) {
    expectClose(...pick(out, c.ref.out), tol, `${what} out`);
    expectClose(...pick(lse, c.ref.lse), tol, `${what} lse`);
  } else {
    expectClose(out, c.ref.out, tol, `${what} out`);
    expectClose(lse, c.ref.lse, tol, `${what} lse`);
  }
}

// Large references are computed once and shared by both backends.
const shared = new Map<string, Case>();
function sharedCase(key: string, make: () => Case): Case {
  let c = shared.get(key);
  if (!c) shared.set(key, (c = make()));
  return c;
}

describeBackends('attention', (get, backend) => {
  for (const headDim of [32, 64, 128]) {
    it(`seq 1, 7, 33, 127 × headDim ${headDim}, odd head counts`, async () => {
      // seq 1 with 5 heads × 2 batches: lse is then q·k of each token with itself, and one such
      // value alone can be near 0, where a relative error says nothing.
      for (const [seq, heads, batch] of [[1, 5, 2], [7, 3, 2], [33, 5, 1], [127, 3, 2]] as const) {
        await check(get(), makeCase({ batch, seq, heads, headDim }), null, `b${batch} s${seq} h${heads} d${headDim}`);
      }
    });
  }

  it('unrolled attn_fwd (attention_unrolled.wgsl) for headDim 16 and 32, and attention.wgsl\'s for the same cases', async () => {
    const cases = UNROLLED_CASES;
    for (const o of cases) {
      const c = makeCase(o);
      for (const unrolled of [true, false]) {
        const plan = { ...planAttention(get(), o), rows: 8, chunk: 1 << 20, unrolled };
        expect(attentionForwardKernel(plan, o.headDim).entry).to.equal(unrolled ? `attn_fwd_h${o.headDim / 4}` : 'attn_fwd');
        await check(get(), c, plan, `b${o.batch} s${o.seq} h${o.heads} d${o.headDim} unrolled ${unrolled}`);
      }
    }
    // Large scores (near one-hot rows): the online softmax's rescaling at work.
    await check(get(), makeCase({ batch: 1, seq: 45, heads: 2, headDim: 32 }, 12), { rows: 8, chunk: 1 << 20, unrolled: true }, 'unrolled, scores × 144', 1e-4);
    expect(attentionForwardKernel({ ...planAttention(get(), cases[0]!), rows: 4, unrolled: true }, 32).entry).to.equal('attn_fwd');
    expect(attentionForwardKernel({ ...planAttention(get(), cases[0]!), rows: 8, unrolled: true }, 64).entry).to.equal('attn_fwd');
  });

  it('forced plans: rows 1..8, short key splits, constant or uniform loop bounds', async () => {
    const c = makeCase({ batch: 2, seq: 77, heads: 3, headDim: 64 });
    const plans: Partial<AttentionPlan>[] = [
      { rows: 8, chunk: 8, staticLoops: false },
      { rows: 8, chunk: 40, staticLoops: false },
      { rows: 3, chunk: 24, staticLoops: false },
      { rows: 1, chunk: 1000, staticLoops: true },
      { rows: 2, chunk: 16, staticLoops: true },
    ];
    for (const p of plans) await check(get(), c, p, `plan ${JSON.stringify(p)}`);
  });

  it('headDim 36 and 100 (multiples of 4 that are not powers of two)', async () => {
    await check(get(), makeCase({ batch: 1, seq: 21, heads: 2, headDim: 36 }), null, 'd36');
    await check(get(), makeCase({ batch: 1, seq: 21, heads: 1, headDim: 100 }), { rows: 8, chunk: 8 }, 'd100 split');
  });

  it('small heads: headDim 4, 8, 16 (the tiny preset: 4 heads × 16, seq 16)', async () => {
    for (const [batch, seq, heads, headDim] of [[2, 7, 3, 4], [1, 33, 2, 8], [3, 16, 4, 16], [1, 127, 1, 16]] as const) {
      await check(get(), makeCase({ batch, seq, heads, headDim }), null, `b${batch} s${seq} h${heads} d${headDim}`);
    }
    await check(get(), makeCase({ batch: 2, seq: 45, heads: 3, headDim: 16 }), { chunk: 16, rows: 3 }, 'd16 split');
  });

  it('keys per sequence: each sequence attends to a prefix of its keys, on every kernel and plan', async () => {
    // Counts at 1, at seq, on and off the 8-key step; batch groups start past batch 0 (kbase).
    const c = makeCase({ batch: 5, seq: 77, heads: 3, headDim: 64 }, 1, undefined, [77, 1, 40, 9, 64]);
    const plans: Partial<AttentionPlan>[] = [
      {},
      { rows: 8, chunk: 8, staticLoops: false },
      { rows: 3, chunk: 24, staticLoops: false },
      { rows: 2, chunk: 16, staticLoops: true },
      { maxBindingBytes: 400_000, chunk: 1 << 20 },
      { maxBindingBytes: 400_000, chunk: 16, rows: 5 },
    ];
    for (const p of plans) await check(get(), c, p, `masked, plan ${JSON.stringify(p)}`);
    for (const o of [{ batch: 3, seq: 45, heads: 2, headDim: 32 }, { batch: 4, seq: 16, heads: 4, headDim: 16 }]) {
      const u = makeCase(o, 1, undefined, o.seq === 45 ? [45, 13, 1] : [16, 3, 8, 9]);
      for (const unrolled of [true, false]) await check(get(), u, { rows: 8, chunk: 1 << 20, unrolled }, `masked d${o.headDim} unrolled ${unrolled}`);
    }
    // A count equal to seq for every sequence is the unmasked result.
    const full = makeCase({ batch: 2, seq: 33, heads: 2, headDim: 32 });
    await check(get(), { ...full, keys: [33, 33] }, null, 'keys = seq');
  });

  it('explicit scale', async () => {
    await check(get(), makeCase({ batch: 1, seq: 19, heads: 2, headDim: 32, scale: 0.37 }), null, 'scale 0.37');
  });

  it('batch groups under a small binding limit (bindings at aligned offsets)', async () => {
    // One batch of qkv is 33·3·5·36·4 = 71280 bytes; a 200000-byte limit gives groups of 2 batches,
    // bound from offsets that are not multiples of the batch size.
    const c = makeCase({ batch: 5, seq: 33, heads: 5, headDim: 36 });
    await check(get(), c, { maxBindingBytes: 200_000 }, 'groups, one pass');
    await check(get(), c, { maxBindingBytes: 200_000, chunk: 8, rows: 3 }, 'groups, split keys');
  });

  it('reference size: 16 heads × 64 dims, seq 16 (batch 2) and seq 256 (batch 1, 2)', async () => {
    const s16 = sharedCase('s16', () => makeCase({ batch: 2, seq: 16, heads: 16, headDim: 64 }));
    await check(get(), s16, null, 'b2 s16');
    const s256 = sharedCase('s256', () => makeCase({ batch: 2, seq: 256, heads: 16, headDim: 64 }));
    await check(get(), s256, null, 'b2 s256');
    await check(get(), s256, { chunk: 64 }, 'b2 s256, 4 key splits');
    const s256b1 = sharedCase('s256b1', () => makeCase({ batch: 1, seq: 256, heads: 16, headDim: 64 }));
    await check(get(), s256b1, null, 'b1 s256');
  });

  it('seq 1024 × headDim 128: one pass over all keys per invocation, and split keys', async () => {
    // One invocation scanning 1024 keys at headDim 128 runs 128 steps × 65 + ~300 loop trips: far
    // below llvmpipe's 65535 (a 1-row, 1-key-per-trip loop would need 1024 × 64 > 65535).
    const c = sharedCase('s1024', () => makeCase({ batch: 1, seq: 1024, heads: 1, headDim: 128 }));
    await check(get(), c, { chunk: 1024 }, 's1024 one pass');
    await check(get(), c, null, 's1024 default plan');
  });

  it('large scores (q, k × 30: |s| up to ~1200) do not overflow the online softmax', async () => {
    const c = makeCase({ batch: 1, seq: 65, heads: 2, headDim: 64 }, 30);
    let maxLse = 0;
    for (const v of c.ref.lse) maxLse = Math.max(maxLse, Math.abs(v));
    expect(maxLse, 'the test must reach scores where exp() overflows f32').to.be.above(200);
    await check(get(), c, null, '×30 one pass');
    await check(get(), c, { chunk: 16 }, '×30 split keys');
  });

  if (backend === 'opengl') {
    it('seq past the one-invocation loop budget (llvmpipe only: the 65535-trip cap is its own)', async () => {
      // One invocation scanning all 8200 keys at headDim 128 would run 1025 steps × 65 > 65535 loop
      // trips and stop early without an error; the op must split the range (at maxAttentionChunk keys)
      // even when asked for one pass. Only sampled query rows are checked (reference cost seq·rows).
      const seq = 8200;
      expect(maxAttentionChunk(128)).to.be.below(seq);
      const queries = [0, 1, 2, 3, 4, 5, 6, 7, 3001, seq - 9, seq - 1];
      const c = sharedCase('long', () => makeCase({ batch: 1, seq, heads: 1, headDim: 128 }, 1, queries));
      await check(get(), c, { chunk: seq }, `s${seq}`);
    });
  }

  it('loop budget arithmetic: every headDim and row count stays under 65535 trips', () => {
    for (let hd = 32; hd <= 128; hd += 4) {
      for (let rows = 1; rows <= 8; rows++) {
        const hd4 = hd / 4;
        const trips = hd4 + (maxAttentionChunk(hd, rows) / 8) * (2 * hd4 + 1) + rows * (hd4 + 1) + 1;
        expect(trips, `headDim ${hd}, rows ${rows}`).to.be.below(65535);
      }
    }
  });

  it('rejects bad shapes with clear errors', () => {
    const e = get();
    const t = e.upload(new Float32Array(2 * 3 * 96), [1, 2, 3 * 96]);
    try {
      expect(() => attention(e, t, { batch: 1, seq: 2, heads: 1, headDim: 64 })).to.throw(/qkv has shape/);
      expect(() => attention(e, t, { batch: 1, seq: 2, heads: 3, headDim: 30 })).to.throw(/headDim must be a multiple of 4 in \[4, 128\]/);
      expect(() => attention(e, t, { batch: 1, seq: 2, heads: 2, headDim: 48, scale: Number.NaN })).to.throw(/scale/);
      expect(() => attention(e, t, { batch: 1, seq: 0, heads: 2, headDim: 48 })).to.throw(/seq must be a positive integer/);
      expect(() => attentionWithPlan(e, t, { batch: 1, seq: 2, heads: 2, headDim: 48 }, { rows: 9 })).to.throw(/rows/);
      const k = e.upload(new Float32Array(1), [1]);
      expect(() => attention(e, t, { batch: 1, seq: 2, heads: 2, headDim: 48, keys: k })).to.throw(/keys must be a u32 tensor of 1 counts/);
      e.release(k);
      const big = e.upload(new Float32Array(4 * 3 * 132), [1, 4, 3 * 132]);
      expect(() => attention(e, big, { batch: 1, seq: 4, heads: 1, headDim: 132 })).to.throw(/headDim/);
      e.release(big);
    } finally {
      e.release(t);
    }
  });
});
