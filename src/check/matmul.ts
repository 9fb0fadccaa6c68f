import type { Engine } from '../gpu/engine.js';
import { matmul, type MatmulShape, type MatmulVariant } from '../ops/matmul.js';
import { gelu64 } from './gelu.js';
import { freshRng, randomF32, relL2 } from './util.js';

export interface MatmulRefSpec {
  M: number;
  N: number;
  K: number;
  batchA?: number;
  batchB?: number;
  transA?: boolean;
  transB?: boolean;
  bias?: ArrayLike<number>;
  alpha?: number;
}

/** A matmul test case: the shape and options of one call, as the tuner describes one (operands are random). */
export interface MatmulCase extends Omit<MatmulShape, 'constB' | 'accumulate'> {
  alpha?: number;
  /** Accumulate into a random C with this beta. */
  beta?: number;
}

export interface PreparedMatmulCase {
  a: Float32Array;
  b: Float32Array;
  bias?: Float32Array;
  /** The C accumulated into (with beta). */
  c0?: Float32Array;
  want: Float64Array;
}

const prepared = new Map<string, PreparedMatmulCase>();

/** Inputs and float64 result of a case, built once per run and shared by backends, variants and test files. */
export function prepareMatmulCase(c: MatmulCase): PreparedMatmulCase {
  const key = JSON.stringify(c);
  let p = prepared.get(key);
  if (!p) {
    const r = freshRng();
    const batch = Math.max(c.batchA ?? 1, c.batchB ?? 1);
    const a = randomF32((c.batchA ?? 1) * c.M * c.K, r);
    const b = randomF32((c.batchB ?? 1) * c.K * c.N, r);
    const bias = c.bias ? randomF32(c.N, r) : undefined;
    const c0 = c.beta ? randomF32(batch * c.M * c.N, r) : undefined;
    const want = matmulRef(a, b, { ...c, bias });
    if (c.act && c.act !== 'none') for (let i = 0; i < want.length; i++) want[i] = gelu64(want[i]!, c.act === 'gelu' ? 'erf' : 'tanh');
    if (c0) for (let i = 0; i < want.length; i++) want[i] = want[i]! + c.beta! * c0[i]!;
    p = { a, b, bias, c0, want };
    prepared.set(key, p);
  }
  return p;
}

/** "Aᵀ·B 7×5×3 batch 2/2 +bias α=0.5 gelu +0.75·C". */
export function matmulCaseLabel(c: MatmulCase): string {
  const t = `${c.transA ? 'Aᵀ' : 'A'}·${c.transB ? 'Bᵀ' : 'B'}`;
  const batch = c.batchA || c.batchB ? ` batch ${c.batchA ?? 1}/${c.batchB ?? 1}` : '';
  return `${t} ${c.M}×${c.N}×${c.K}${batch}${c.bias ? ' +bias' : ''}${c.alpha ? ` α=${c.alpha}` : ''}${c.act ? ` ${c.act}` : ''}${c.beta ? ` +${c.beta}·C` : ''}`;
}

/** float64 C[b] = alpha·op(A[b])·op(B[b]) + bias, with batch-1 operands broadcast. */
export function matmulRef(a: ArrayLike<number>, b: ArrayLike<number>, s: MatmulRefSpec): Float64Array {
  const { M, N, K } = s;
  const batchA = s.batchA ?? 1;
  const batchB = s.batchB ?? 1;
  const batch = Math.max(batchA, batchB);
  const alpha = s.alpha ?? 1;
  const out = new Float64Array(batch * M * N);
  const at = new Float64Array(K);
  for (let bi = 0; bi < batch; bi++) {
    const ao = (batchA === 1 ? 0 : bi) * M * K;
    const bo = (batchB === 1 ? 0 : bi) * K * N;
    for (let i = 0; i < M; i++) {
      for (let k = 0; k < K; k++) at[k] = s.transA ? a[ao + k * M + i]! : a[ao + i * K + k]!;
      for (let j = 0; j < N; j++) {
        let acc = 0;
        if (s.transB) {
          const base = bo + j * K;
          for (let k = 0; k < K; k++) acc += at[k]! * b[base + k]!;
        } else {
          for (let k = 0; k < K; k++) acc += at[k]! * b[bo + k * N + j]!;
        }
        out[(bi * M + i) * N + j] = alpha * acc + (s.bias ? s.bias[j]! : 0);
      }
    }
  }
  return out;
}

/** doctor: each matmul variant this device can run, on an odd shape with bias, against float64. */
export async function selfTest(engine: Engine): Promise<string | null> {
  const r = freshRng();
  const M = 13;
  const N = 22;
  const K = 37;
  const a = randomF32(M * K, r);
  const b = randomF32(N * K, r);
  const bias = randomF32(N, r);
  const want = matmulRef(a, b, { M, N, K, transB: true, bias });
  const ta = engine.upload(a, [M, K]);
  const tb = engine.upload(b, [N, K]);
  const tbias = engine.upload(bias, [N]);
  try {
    for (const variant of ['storage', 'texture'] as MatmulVariant[]) {
      const c = matmul(engine, ta, tb, { transB: true, bias: tbias, variant });
      const got = await engine.readF32(c);
      engine.release(c);
      const err = relL2(got, want);
      if (!(err <= 1e-5)) return `${variant}: relative L2 error ${err.toExponential(2)}`;
    }
    return null;
  } finally {
    engine.release(ta, tb, tbias);
  }
}

/**
 * float64 gradients of L = Σ C ⊙ G with C = alpha·op(A)·op(B) (G = dC), by the textbook formulas
 * written as loops: dOpA = alpha·G·op(B)ᵀ, dOpB = alpha·op(A)ᵀ·G, each stored in its operand's layout;
 * a batch-broadcast B sums over the batch.
 */
export function matmulBackwardRef(g: ArrayLike<number>, a: ArrayLike<number>, b: ArrayLike<number>, s: MatmulRefSpec): { dA: Float64Array; dB: Float64Array } {
  const { M, N, K } = s;
  const batchA = s.batchA ?? 1;
  const batchB = s.batchB ?? 1;
  const batch = Math.max(batchA, batchB);
  const alpha = s.alpha ?? 1;
  const dA = new Float64Array(batchA * M * K);
  const dB = new Float64Array(batchB * K * N);
  const aAt = (bi: number, i: number, k: number) => (batchA === 1 ? 0 : bi) * M * K + (s.transA ? k * M + i : i * K + k);
  const bAt = (bi: number, k: number, j: number) => (batchB === 1 ? 0 : bi) * K * N + (s.transB ? j * K + k : k * N + j);
  for (let bi = 0; bi < batch; bi++) {
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        const gij = alpha * g[(bi * M + i) * N + j]!;
        for (let k = 0; k < K; k++) {
          dA[aAt(bi, i, k)] += gij * b[bAt(bi, k, j)]!;
          dB[bAt(bi, k, j)] += gij * a[aAt(bi, i, k)]!;
        }
      }
    }
  }
  return { dA, dB };
}
