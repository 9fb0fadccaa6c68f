/** Matmul gradients through the transposed forms (no transpose kernel). */
import { Engine } from '../../gpu/engine.js';
import { Tensor, view } from '../../tensor.js';
import { columnSum } from '../elementwise.js';
import { matmul } from './dispatch.js';
import { type MatmulOptions, dims, fusesColumnSums } from './plan.js';

export interface MatmulGrads {
  dA?: Tensor;
  dB?: Tensor;
  /** With needBias: the gradient of a bias added to C (column sums of dC, not scaled by alpha). */
  dBias?: Tensor;
}

/**
 * Gradients of C = alpha · op(A) · op(B) (no activation). With needBias also the gradient of a bias
 * added to C, the column sums of dC: in dB's own pass where fusesColumnSums allows, else by columnSum.
 * dA = alpha · dC · op(B)ᵀ and dB = alpha · op(A)ᵀ · dC, each written in the operand's stored layout
 * through the transposed matmul forms, so no transpose kernel runs. A B broadcast over A's batch
 * (a weight shared by every batch item) gets the sum over the batch: A's batch is folded into M.
 */
export function matmulBackward(
  engine: Engine,
  dC: Tensor,
  a: Tensor,
  b: Tensor,
  o: { transA?: boolean; transB?: boolean; alpha?: number; needA?: boolean; needB?: boolean; needBias?: boolean } = {},
): MatmulGrads {
  const d = dims(a, b, o);
  const alpha = o.alpha ?? 1;
  const tA = !!o.transA;
  const tB = !!o.transB;
  const grads: MatmulGrads = {};
  if (o.needA ?? true) {
    // dOpA [M, K] = dC · op(B)ᵀ; stored transposed (Aᵀ) it is op(B) · dCᵀ.
    grads.dA = tA
      ? matmul(engine, b, dC, { transA: tB, transB: true, alpha })
      : matmul(engine, dC, b, { transB: !tB, alpha });
    if (grads.dA.size !== a.size) throw new Error('matmulBackward: dA shape mismatch');
  }
  if (o.needB ?? true) {
    let A = a;
    let G = dC;
    if (d.batchB === 1 && d.batchA > 1) {
      if (tA) throw new Error('matmulBackward: a broadcast B with a transposed, batched A is not supported');
      // Fold A's batch into M: the sum over the batch of op(A)ᵀ·dC is one matmul over all rows.
      A = view(a, [d.batchA * d.M, d.K]);
      G = view(dC, [d.batchA * d.M, d.N]);
    }
    // dOpB [K, N] = op(A)ᵀ · dC; stored transposed (Bᵀ) it is dCᵀ · op(A). As op(A)ᵀ · dC on the
    // texture variant it can sum dC's columns (the bias gradient) in the same pass.
    if (tB) grads.dB = matmul(engine, G, A, { transA: true, transB: tA, alpha });
    else {
      const opts: MatmulOptions = { transA: !tA, alpha };
      if (o.needBias && fusesColumnSums(engine, A, G, opts)) opts.colSums = grads.dBias = engine.empty([d.N]);
      grads.dB = matmul(engine, A, G, opts);
    }
    if (grads.dB.size !== b.size) throw new Error('matmulBackward: dB shape mismatch');
  }
  if (o.needBias && !grads.dBias) grads.dBias = columnSum(engine, dC);
  return grads;
}
