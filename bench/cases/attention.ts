import type { BenchCase } from '../case.js';
import { attention, attentionBackward, type AttentionOptions } from '../../src/ops/attention.js';
import type { Tensor } from '../../src/tensor.js';
import { randomF32, randomNormal, relL2, rng } from '../../test/reference/util.js';
import { attentionBackwardRef, attentionRef } from '../../test/reference/attention.js';

/** [batch, heads, seq, headDim]: the model's 16 heads × 64 dims at 16, 256 and 1024 tokens. */
export const ATTENTION_SHAPES: [number, number, number, number][] = [
  [1, 16, 16, 64],
  [1, 16, 256, 64],
  [1, 16, 1024, 64],
];

/** Query rows checked against the float64 reference (all of them up to this sequence length). */
const FULL_CHECK_SEQ = 256;

function attentionCase([batch, heads, seq, headDim]: [number, number, number, number]): BenchCase {
  const o: AttentionOptions = { batch, seq, heads, headDim };
  const D = heads * headDim;
  return {
    kernel: 'attention',
    variant: 'flash',
    shape: [batch, heads, seq, headDim],
    // FLOPs 4·batch·heads·seq²·headDim: QKᵀ and P·V, an FMA counted as 2 (the exp per score not
    // counted). Bytes: qkv read once (12·batch·seq·D), out (4·batch·seq·D) and lse (4·batch·heads·seq)
    // written once; the key-split partials of some plans are extra traffic, not counted.
    flops: 4 * batch * heads * seq * seq * headDim,
    bytes: 12 * batch * seq * D + 4 * batch * seq * D + 4 * batch * heads * seq,
    async setup(engine, seed) {
      const data = randomF32(batch * seq * 3 * D, rng(seed));
      const qkv = engine.upload(data, [batch, seq, 3 * D]);
      return {
        run() {
          const { out, lse } = attention(engine, qkv, o);
          engine.release(out, lse);
        },
        async check() {
          const { out, lse } = attention(engine, qkv, o);
          const gotOut = await engine.readF32(out);
          const gotLse = await engine.readF32(lse);
          engine.release(out, lse);
          // Long sequences: every batch and head, a sample of query rows (first, last, spread).
          const queries = seq <= FULL_CHECK_SEQ ? undefined : [0, 1, 7, 8, 63, 64, 255, 511, 777, seq - 2, seq - 1];
          const want = attentionRef(data, o, queries);
          const idx = (ref: Float64Array): number[] => [...ref.keys()].filter((i) => !Number.isNaN(ref[i]!));
          const io = idx(want.out);
          const il = idx(want.lse);
          const eo = relL2(io.map((i) => gotOut[i]!), io.map((i) => want.out[i]!));
          const el = relL2(il.map((i) => gotLse[i]!), il.map((i) => want.lse[i]!));
          if (!(eo <= 1e-5)) return `out: relative L2 error ${eo.toExponential(2)}`;
          if (!(el <= 1e-5)) return `lse: relative L2 error ${el.toExponential(2)}`;
          return null;
        },
        dispose() {
          engine.release(qkv);
        },
      };
    },
  };
}

/** Backward shapes: the forward's, plus the training batch of 16 images × 16 tokens. */
export const ATTENTION_BACKWARD_SHAPES: [number, number, number, number][] = [[16, 16, 16, 64], ...ATTENTION_SHAPES];

function attentionBackwardCase([batch, heads, seq, headDim]: [number, number, number, number]): BenchCase {
  const o: AttentionOptions = { batch, seq, heads, headDim };
  const D = heads * headDim;
  return {
    kernel: 'attention',
    variant: 'backward',
    shape: [batch, heads, seq, headDim],
    // FLOPs 10·batch·heads·seq²·headDim (2.5× the forward): the FlashAttention-2 count of five
    // seq²·headDim products (S recomputed once, dP, dV, dQ, dK), an FMA counted as 2. The kernels
    // execute 14·… (S and dP are computed in both attn_bwd_q and attn_bwd_kv); exp2 not counted.
    // Bytes: qkv (12·batch·seq·D), dOut and out (8·batch·seq·D), lse (4·batch·heads·seq) read once,
    // dqkv (12·batch·seq·D) written once; the small stats array and split partials are not counted.
    flops: 10 * batch * heads * seq * seq * headDim,
    bytes: 32 * batch * seq * D + 4 * batch * heads * seq,
    async setup(engine, seed) {
      const r = rng(seed);
      const data = randomF32(batch * seq * 3 * D, r);
      const g = randomNormal(batch * seq * D, r);
      const qkv = engine.upload(data, [batch, seq, 3 * D]);
      const dOut = engine.upload(g, [batch, seq, D]);
      const { out, lse } = attention(engine, qkv, o);
      let last: Tensor | null = null;
      return {
        run() {
          engine.release(last);
          last = attentionBackward(engine, dOut, qkv, out, lse, o);
        },
        async check() {
          const dqkv = attentionBackward(engine, dOut, qkv, out, lse, o);
          const got = await engine.readF32(dqkv);
          engine.release(dqkv);
          const e = relL2(got, attentionBackwardRef(data, g, o));
          return e <= 1e-4 ? null : `dqkv: relative L2 error ${e.toExponential(2)} > 1e-4`;
        },
        dispose() {
          engine.release(last, qkv, dOut, out, lse);
        },
      };
    },
  };
}

export const cases: BenchCase[] = [...ATTENTION_SHAPES.map(attentionCase), ...ATTENTION_BACKWARD_SHAPES.map(attentionBackwardCase)];
