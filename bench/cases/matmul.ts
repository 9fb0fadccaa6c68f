import type { BenchCase } from '../case.js';
import { matmul, type MatmulVariant } from '../../src/ops/matmul.js';
import type { Tensor } from '../../src/tensor.js';
import { randomF32, relL2, rng } from '../../test/reference/util.js';
import { matmulRef } from '../../test/reference/matmul.js';

/** The reference model's matmuls (M×N×K): patch embed, qkv, MLP up, MLP down; and 1024³. */
export const MATMUL_SHAPES: [number, number, number][] = [
  [16, 1024, 12288],
  [16, 3072, 1024],
  [16, 4096, 1024],
  [16, 1024, 4096],
  [1024, 1024, 1024],
];

function matmulCase(variant: MatmulVariant, [M, N, K]: [number, number, number]): BenchCase {
  return {
    kernel: 'matmul',
    variant,
    shape: [M, N, K],
    // 2·M·N·K; B is a constant weight (packed once, as in inference), A is packed every run.
    flops: 2 * M * N * K,
    bytes: 4 * (M * K + K * N + M * N),
    async setup(engine, seed) {
      const r = rng(seed);
      const a = randomF32(M * K, r);
      const b = randomF32(K * N, r);
      const ta = engine.upload(a, [M, K]);
      const tb = engine.upload(b, [K, N]);
      tb.constant = true;
      const out = engine.empty([M, N]);
      return {
        run() {
          matmul(engine, ta, tb, { out, variant });
        },
        async check() {
          matmul(engine, ta, tb, { out, variant });
          const e = relL2(await engine.readF32(out), matmulRef(a, b, { M, N, K }));
          return e <= 1e-5 ? null : `relative L2 error ${e.toExponential(2)} > 1e-5`;
        },
        dispose() {
          engine.release(ta, tb, out);
        },
      };
    },
  };
}

export const cases: BenchCase[] = (['texture', 'storage'] as MatmulVariant[]).flatMap((v) => MATMUL_SHAPES.map((s) => matmulCase(v, s)));
