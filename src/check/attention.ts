import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../tensor.js';
import { attention, attentionBackwardWithPlan, attentionWithPlan, type AttentionOptions } from '../ops/attention.js';
import { freshRng, randomF32, randomNormal, relL2 } from './util.js';

export interface AttentionRef {
  /** [batch, seq, heads·headDim]; rows not asked for stay NaN. */
  out: Float64Array;
  /** [batch, heads, seq]; rows not asked for stay NaN. */
  lse: Float64Array;
}

/**
 * Shapes for the tests of the unrolled kernels (attention_unrolled.wgsl: headDim 16 and 32): the
 * small preset's attention, odd sequence lengths, the tiny preset's heads, an explicit scale, seq 1.
 */
export const UNROLLED_CASES: readonly AttentionOptions[] = [
  { batch: 8, seq: 64, heads: 4, headDim: 32 },
  { batch: 2, seq: 61, heads: 3, headDim: 32 },
  { batch: 8, seq: 16, heads: 4, headDim: 16 },
  { batch: 1, seq: 37, heads: 5, headDim: 16, scale: 0.3 },
  { batch: 2, seq: 1, heads: 2, headDim: 32 },
];

/**
 * float64 attention over the fused qkv [batch, seq, 3D]: the full score row, its maximum, then
 * softmax and P·V (two passes, no online rescaling). `queries` restricts the work to some query
 * positions (in every batch and head), for long sequences. `keys` (AttentionOptions.keys as numbers):
 * sequence b's queries see keys [0, keys[b]) only.
 */
export function attentionRef(qkv: ArrayLike<number>, o: AttentionOptions, queries?: readonly number[], keys?: readonly number[]): AttentionRef {
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
    const L = keys?.[b] ?? seq;
    for (let h = 0; h < heads; h++) {
      for (const i of rows) {
        for (let d = 0; d < hd; d++) q[d] = qkv[(tok + i) * 3 * D + h * hd + d]!;
        let m = -Infinity;
        for (let j = 0; j < L; j++) {
          const k = (tok + j) * 3 * D + D + h * hd;
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += q[d]! * qkv[k + d]!;
          s[j] = scale * dot;
          if (s[j]! > m) m = s[j]!;
        }
        let sum = 0;
        acc.fill(0);
        for (let j = 0; j < L; j++) {
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

/**
 * float64 attention backward: dqkv [batch, seq, 3D] (layout of qkv) of L = Σ out ⊙ dOut. Per batch and
 * head it materializes S = scale·QKᵀ and P = softmax(S) (seq × seq), then dV = Pᵀ·dO, dP = dO·Vᵀ,
 * dS = P ⊙ (dP − rowsum(P ⊙ dP)), dQ = scale·dS·K, dK = scale·dSᵀ·Q. `keys` as attentionRef's: P and
 * dS are 0 for the keys past a sequence's count.
 */
export function attentionBackwardRef(qkv: ArrayLike<number>, dOut: ArrayLike<number>, o: AttentionOptions, keys?: readonly number[]): Float64Array {
  const { batch, seq: S, heads, headDim: hd } = o;
  const D = heads * hd;
  const scale = o.scale ?? 1 / Math.sqrt(hd);
  const dqkv = new Float64Array(batch * S * 3 * D);
  const P = new Float64Array(S * S);
  const dS = new Float64Array(S * S);
  // Element d of token t's q (part 0), k (1) or v (2) for head h, and of dOut.
  const at = (b: number, t: number, part: number, h: number): number => ((b * S + t) * 3 + part) * D + h * hd;
  const go = (b: number, t: number, h: number): number => (b * S + t) * D + h * hd;
  for (let b = 0; b < batch; b++) {
    const L = keys?.[b] ?? S;
    for (let h = 0; h < heads; h++) {
      P.fill(0);
      dS.fill(0);
      for (let i = 0; i < S; i++) {
        let m = -Infinity;
        for (let j = 0; j < L; j++) {
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += qkv[at(b, i, 0, h) + d]! * qkv[at(b, j, 1, h) + d]!;
          P[i * S + j] = scale * dot;
          m = Math.max(m, scale * dot);
        }
        let sum = 0;
        for (let j = 0; j < L; j++) sum += P[i * S + j] = Math.exp(P[i * S + j]! - m);
        let rowDot = 0;
        for (let j = 0; j < L; j++) {
          P[i * S + j] /= sum;
          let dp = 0;
          for (let d = 0; d < hd; d++) dp += dOut[go(b, i, h) + d]! * qkv[at(b, j, 2, h) + d]!;
          dS[i * S + j] = dp;
          rowDot += P[i * S + j]! * dp;
        }
        for (let j = 0; j < L; j++) dS[i * S + j] = P[i * S + j]! * (dS[i * S + j]! - rowDot);
      }
      for (let i = 0; i < S; i++) {
        for (let j = 0; j < S; j++) {
          const p = P[i * S + j]!;
          const ds = scale * dS[i * S + j]!;
          const qi = at(b, i, 0, h);
          const kj = at(b, j, 1, h);
          const vj = at(b, j, 2, h);
          const gi = go(b, i, h);
          for (let d = 0; d < hd; d++) {
            dqkv[qi + d] += ds * qkv[kj + d]!;
            dqkv[kj + d] += ds * qkv[qi + d]!;
            dqkv[vj + d] += p * dOut[gi + d]!;
          }
        }
      }
    }
  }
  return dqkv;
}

/** doctor: attention forward and backward on odd shapes (one pass and split ranges) against float64. */
export async function selfTest(engine: Engine): Promise<string | null> {
  const r = freshRng();
  const o: AttentionOptions = { batch: 2, seq: 37, heads: 3, headDim: 36 };
  const D = o.heads * o.headDim;
  const data = randomF32(o.batch * o.seq * 3 * D, r);
  const g = randomNormal(o.batch * o.seq * D, r);
  const want = attentionRef(data, o);
  const wantGrad = attentionBackwardRef(data, g, o);
  const qkv = engine.upload(data, [o.batch, o.seq, 3 * D]);
  const dOut = engine.upload(g, [o.batch, o.seq, D]);
  const saved: Tensor[] = [];
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
    const fwd = attention(engine, qkv, o);
    saved.push(fwd.out, fwd.lse);
    for (const [name, plan] of [
      ['backward, one pass', {}],
      ['backward, split ranges', { chunk: 16, rows: 3 }],
    ] as const) {
      const dqkv = attentionBackwardWithPlan(engine, dOut, qkv, fwd.out, fwd.lse, o, plan);
      const got = await engine.readF32(dqkv);
      engine.release(dqkv);
      const e = relL2(got, wantGrad);
      if (!(e <= 1e-4)) return `${name}: dqkv relative L2 error ${e.toExponential(2)}`;
    }
    return null;
  } finally {
    engine.release(qkv, dOut, ...saved);
  }
}
