import { benchCase, type BenchCase } from '../case.js';
import { matmul, type MatmulVariant } from '../../src/ops/matmul.js';
import { randomF32 } from '../../test/reference/util.js';
import { matmulRef } from '../../test/reference/matmul.js';

/** The reference model's matmuls (M×N×K): patch embed, qkv, MLP up, MLP down; and 1024³. */
export const MATMUL_SHAPES: [number, number, number][] = [
  [16, 1024, 12288],
  [16, 3072, 1024],
  [16, 4096, 1024],
  [16, 1024, 4096],
  [1024, 1024, 1024],
];

const matmulCase = (variant: MatmulVariant, [M, N, K]: [number, number, number]): BenchCase =>
  benchCase({
    kernel: 'matmul',
    variant,
    shape: [M, N, K],
    // 2·M·N·K; B is a constant weight (packed once, as in inference), A is packed every run.
    flops: 2 * M * N * K,
    bytes: 4 * (M * K + K * N + M * N),
    inputs: (r) => ({ a: randomF32(M * K, r), b: randomF32(K * N, r) }),
    tensors: (engine, { a, b }) => {
      const ta = engine.upload(a, [M, K]);
      const tb = engine.upload(b, [K, N]);
      tb.constant = true;
      return [ta, tb, engine.empty([M, N])];
    },
    // Writes into the case's own `out` (kept between runs).
    run: (engine, [ta, tb, out]) => matmul(engine, ta, tb, { out, variant }),
    reference: ({ a, b }) => matmulRef(a, b, { M, N, K }),
    tol: 1e-5,
  });

export const cases: BenchCase[] = (['texture', 'storage'] as MatmulVariant[]).flatMap((v) => MATMUL_SHAPES.map((s) => matmulCase(v, s)));
