import type { BenchCase } from '../case.js';
import { attention, type AttentionOptions } from '../../src/ops/attention.js';
import { randomF32, relL2, rng } from '../../test/reference/util.js';
import { attentionRef } from '../../test/reference/attention.js';

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

export const cases: BenchCase[] = ATTENTION_SHAPES.map(attentionCase);
