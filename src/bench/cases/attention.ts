import { benchCase, relL2Check, type BenchCase } from '../case.js';
import { attention, attentionBackward, type AttentionOptions } from '../../ops/attention.js';
import { randomF32, randomNormal } from '../../check/util.js';
import { attentionBackwardRef, attentionRef } from '../../check/attention.js';

type Shape = [number, number, number, number];

/** [batch, heads, seq, headDim]: the model's 16 heads × 64 dims at 16, 256 and 1024 tokens. */
export const ATTENTION_SHAPES: Shape[] = [
  [1, 16, 16, 64],
  [1, 16, 256, 64],
  [1, 16, 1024, 64],
];

/** Backward shapes: the forward's, plus the training batch of 16 images × 16 tokens. */
export const ATTENTION_BACKWARD_SHAPES: Shape[] = [[16, 16, 16, 64], ...ATTENTION_SHAPES];

/** Query rows checked against the float64 reference (all of them up to this sequence length). */
const FULL_CHECK_SEQ = 256;

/** got and want at the entries the (sampled) reference computed: the others are NaN. */
function sampled(got: ArrayLike<number>, want: Float64Array): [number[], number[]] {
  const idx = [...want.keys()].filter((i) => !Number.isNaN(want[i]!));
  return [idx.map((i) => got[i]!), idx.map((i) => want[i]!)];
}

function attentionCase([batch, heads, seq, headDim]: Shape, backward: boolean): BenchCase {
  const o: AttentionOptions = { batch, seq, heads, headDim };
  const D = heads * headDim;
  const common = { kernel: 'attention', shape: [batch, heads, seq, headDim] };
  // qkv, [batch, seq, 3·D], first from the case's generator.
  const qkvData = (r: () => number) => randomF32(batch * seq * 3 * D, r);
  if (!backward)
    return benchCase({
      ...common,
      variant: 'flash',
      // FLOPs 4·batch·heads·seq²·headDim: QKᵀ and P·V, an FMA counted as 2 (the exp per score not
      // counted). Bytes: qkv read once (12·batch·seq·D), out (4·batch·seq·D) and lse (4·batch·heads·seq)
      // written once; the key-split partials of some plans are extra traffic, not counted.
      flops: 4 * batch * heads * seq * seq * headDim,
      bytes: 12 * batch * seq * D + 4 * batch * seq * D + 4 * batch * heads * seq,
      inputs: qkvData,
      tensors: (engine, data) => [engine.upload(data, [batch, seq, 3 * D])],
      run: (engine, [qkv]) => {
        const { out, lse } = attention(engine, qkv, o);
        return [out, lse];
      },
      check: ([out, lse], data) => {
        // Long sequences: every batch and head, a sample of query rows (first, last, spread).
        const queries = seq <= FULL_CHECK_SEQ ? undefined : [0, 1, 7, 8, 63, 64, 255, 511, 777, seq - 2, seq - 1];
        const want = attentionRef(data, o, queries);
        const [gotOut, wantOut] = sampled(out, want.out);
        const [gotLse, wantLse] = sampled(lse, want.lse);
        return relL2Check([gotOut, gotLse], [wantOut, wantLse], 1e-5, ['out', 'lse']);
      },
    });
  return benchCase({
    ...common,
    variant: 'backward',
    // FLOPs 10·batch·heads·seq²·headDim (2.5× the forward): the FlashAttention-2 count of five
    // seq²·headDim products (S recomputed once, dP, dV, dQ, dK), an FMA counted as 2. The kernels
    // execute 14·… (S and dP are computed in both attn_bwd_q and attn_bwd_kv); exp2 not counted.
    // Bytes: qkv (12·batch·seq·D), dOut and out (8·batch·seq·D), lse (4·batch·heads·seq) read once,
    // dqkv (12·batch·seq·D) written once; the small stats array and split partials are not counted.
    flops: 10 * batch * heads * seq * seq * headDim,
    bytes: 32 * batch * seq * D + 4 * batch * heads * seq,
    inputs: (r) => ({ data: qkvData(r), g: randomNormal(batch * seq * D, r) }),
    tensors: (engine, { data, g }) => {
      const qkv = engine.upload(data, [batch, seq, 3 * D]);
      const dOut = engine.upload(g, [batch, seq, D]);
      const { out, lse } = attention(engine, qkv, o);
      return [qkv, dOut, out, lse];
    },
    run: (engine, [qkv, dOut, out, lse]) => attentionBackward(engine, dOut, qkv, out, lse, o),
    reference: ({ data, g }) => attentionBackwardRef(data, g, o),
    tol: 1e-4,
    names: ['dqkv'],
  });
}

export const cases: BenchCase[] = [
  ...ATTENTION_SHAPES.map((s) => attentionCase(s, false)),
  ...ATTENTION_BACKWARD_SHAPES.map((s) => attentionCase(s, true)),
];
