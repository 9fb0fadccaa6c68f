import type { Engine } from '../../src/gpu/engine.js';
import { attention, attentionWithPlan, type AttentionOptions } from '../../src/ops/attention.js';
import { freshRng, randomF32, relL2 } from './util.js';

export interface AttentionRef {
  /** [batch, seq, heads·headDim]; rows not asked for stay NaN. */
  out: Float64Array;
  /** [batch, heads, seq]; rows not asked for stay NaN. */
  lse: Float64Array;
}

/**
 * float64 attention over the fused qkv [batch, seq, 3D]: the full score row, its maximum, then
 * softmax and P·V (two passes, no online rescaling). `queries` restricts the work to some query
 * positions (in every batch and head), for long sequences.
 */
export function attentionRef(qkv: ArrayLike<number>, o: AttentionOptions, queries?: readonly number[]): AttentionRef {
  const { batch, seq, heads, headDim: hd } = o;
  const D = heads * hd;
  const scale = o.scale ?? 1 / Math.sqrt(hd);
  const out = new Float64Array(batch * seq * D).fill(Number.NaN);
  const lse = new Float64Array(batch * heads * seq).fill(Number.NaN);
  const rows = queries ?? Array.from({ length: seq }, (_, i) => i);
  const s = new Float64Array(seq);
  const q = new Float64Array(hd);
  const acc = new Float64Array(hd);
  for (let b = 0; b < batch; b++) {
    const tok = b * seq;
    for (let h = 0; h < heads; h++) {
      for (const i of rows) {
        for (let d = 0; d < hd; d++) q[d] = qkv[(tok + i) * 3 * D + h * hd + d]!;
        let m = -Infinity;
        for (let j = 0; j < seq; j++) {
          const k = (tok + j) * 3 * D + D + h * hd;
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += q[d]! * qkv[k + d]!;
          s[j] = scale * dot;
          if (s[j]! > m) m = s[j]!;
        }
        let sum = 0;
        acc.fill(0);
        for (let j = 0; j < seq; j++) {
          const w = Math.exp(s[j]! - m);
          sum += w;
          const v = (tok + j) * 3 * D + 2 * D + h * hd;
          for (let d = 0; d < hd; d++) acc[d] += w * qkv[v + d]!;
        }
        for (let d = 0; d < hd; d++) out[(tok + i) * D + h * hd + d] = acc[d]! / sum;
        lse[(b * heads + h) * seq + i] = m + Math.log(sum);
      }
    }
  }
  return { out, lse };
}

/** doctor: attention on odd shapes (one pass and split key ranges) against float64. */
export async function selfTest(engine: Engine): Promise<string | null> {
  const r = freshRng();
  const o: AttentionOptions = { batch: 2, seq: 37, heads: 3, headDim: 36 };
  const data = randomF32(o.batch * o.seq * 3 * o.heads * o.headDim, r);
  const want = attentionRef(data, o);
  const qkv = engine.upload(data, [o.batch, o.seq, 3 * o.heads * o.headDim]);
  try {
    for (const [name, run] of [
      ['one pass', () => attention(engine, qkv, o)],
      ['split keys', () => attentionWithPlan(engine, qkv, o, { chunk: 16, rows: 3 })],
    ] as const) {
      const { out, lse } = run();
      const gotOut = await engine.readF32(out);
      const gotLse = await engine.readF32(lse);
      engine.release(out, lse);
      const eo = relL2(gotOut, want.out);
      const el = relL2(gotLse, want.lse);
      if (!(eo <= 1e-5)) return `${name}: out relative L2 error ${eo.toExponential(2)}`;
      if (!(el <= 1e-5)) return `${name}: lse relative L2 error ${el.toExponential(2)}`;
    }
    return null;
  } finally {
    engine.release(qkv);
  }
}
