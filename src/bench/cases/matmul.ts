import { benchCase, type BenchCase } from '../case.js';
import { checkHalfTextures, matmul, parsePlan } from '../../ops/matmul.js';
import { f16ToF32, f32ToF16 } from '../../io/safetensors.js';
import { randomF32 } from '../../check/util.js';
import { matmulRef } from '../../check/matmul.js';

/** The reference model's matmuls (M×N×K): patch embed, qkv, MLP up, MLP down; and 1024³. */
export const MATMUL_SHAPES: [number, number, number][] = [
  [16, 1024, 12288],
  [16, 3072, 1024],
  [16, 4096, 1024],
  [16, 1024, 4096],
  [1024, 1024, 1024],
];

/**
 * One plan (src/ops/matmul.ts: "texture", "storage", "texture.n32", "texture.split4", …) on one
 * shape. The variant name is the plan name.
 */
const matmulCase = (plan: string, [M, N, K]: [number, number, number], half = false): BenchCase => {
  const splits = parsePlan(plan)?.splits ?? 1;
  const c = benchCase({
    kernel: 'matmul',
    variant: half ? `${plan}+f16w` : plan,
    shape: [M, N, K],
    // 2·M·N·K; B is a constant weight (packed once, as in inference), A is packed every run.
    flops: 2 * M * N * K,
    // Inputs read and the output written once; a split-K plan also writes and reads its
    // splits·M·N partial sums.
    bytes: 4 * (M * K + K * N + M * N) + (splits > 1 ? 8 * splits * M * N : 0),
    // With half (variant "+f16w"), B's values are float16 ones, marked f16-exact: a large B then
    // sits in an rgba16float texture (ops/matmul.ts, HALF_TEXTURE_MIN), as the weights of an f16
    // checkpoint do.
    inputs: (r) => ({ a: randomF32(M * K, r), b: half ? Float32Array.from(randomF32(K * N, r), (x) => f16ToF32(f32ToF16(x))) : randomF32(K * N, r) }),
    tensors: (engine, { a, b }) => {
      const ta = engine.upload(a, [M, K]);
      const tb = engine.upload(b, [K, N]);
      tb.constant = true;
      tb.f16Exact = half;
      return [ta, tb, engine.empty([M, N])];
    },
    // Writes into the case's own `out` (kept between runs).
    run: (engine, [ta, tb, out]) => matmul(engine, ta, tb, { out, plan }),
    reference: ({ a, b }) => matmulRef(a, b, { M, N, K }),
    tol: 1e-5,
  });
  // Half textures are used once the engine's start-up check passed.
  return half ? { ...c, setup: async (engine, seed) => (await checkHalfTextures(engine), c.setup(engine, seed)) } : c;
};

const skinny = MATMUL_SHAPES.filter(([M]) => M <= 16);

export const cases: BenchCase[] = [
  ...['texture', 'storage', 'texture.n32'].flatMap((v) => MATMUL_SHAPES.map((s) => matmulCase(v, s))),
  // B as stored: its K rows are texture rows, within the 8192 that WebGPU guarantees.
  ...MATMUL_SHAPES.filter(([, , K]) => K <= 8192).map((s) => matmulCase('texture.kn', s)),
  ...MATMUL_SHAPES.filter(([, , K]) => K <= 8192).map((s) => matmulCase('texture.kn', s, true)),
  // Split-K: the skinny (batch-1) shapes with a long K.
  ...['texture.split4', 'texture.n32.split4', 'storage.split16'].flatMap((v) => skinny.map((s) => matmulCase(v, s))),
];
