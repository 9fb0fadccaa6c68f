import type { BenchCase } from '../case.js';
import { codebookNorms, codebookSearch, type CodebookVariant } from '../../src/ops/codebook.js';
import { randomF32, rng } from '../../test/reference/util.js';
import { checkSearch, firstQueries, searchReference, type SearchReference } from '../../test/reference/codebook.js';

/** Queries × codes × dims: one image's tokens (16) and a batch of 16 images (256), K 8192, D 1024. */
export const CODEBOOK_SHAPES: [number, number, number][] = [
  [16, 8192, 1024],
  [256, 8192, 1024],
];

const MAX_N = Math.max(...CODEBOOK_SHAPES.map((s) => s[0]));

/** Inputs per seed (the first N query rows serve every shape) and the largest reference computed. */
const inputs = new Map<number, { z: Float32Array; codebook: Float32Array; ref?: SearchReference }>();

function data(seed: number, k: number, d: number): { z: Float32Array; codebook: Float32Array; ref?: SearchReference } {
  let v = inputs.get(seed);
  if (!v) {
    const r = rng(seed);
    v = { z: randomF32(MAX_N * d, r), codebook: randomF32(k * d, r) };
    inputs.set(seed, v);
  }
  return v;
}

/** The float64 reference of the first n queries (computed once per seed for the largest n asked). */
function reference(seed: number, n: number, k: number, d: number): SearchReference {
  const v = data(seed, k, d);
  if (!v.ref || v.ref.n < n) v.ref = searchReference(v.z, v.codebook, n, k, d);
  return firstQueries(v.ref, n);
}

function codebookCase(variant: CodebookVariant, [n, k, d]: [number, number, number]): BenchCase {
  return {
    kernel: 'codebook',
    variant,
    shape: [n, k, d],
    // FLOPs 2·N·K·D: the dot products of pass 1 (pass 2 adds 3·N·D). Bytes: z, codebook and norms
    // read once, indices and distances written. The codebook is a constant weight with its norms
    // given (as in inference): the texture variant packs it once, not per run.
    flops: 2 * n * k * d,
    bytes: 4 * (n * d + k * d + k) + 8 * n,
    async setup(engine, seed) {
      const { z, codebook } = data(seed, k, d);
      const zt = engine.upload(z.subarray(0, n * d), [n, d]);
      const ct = engine.upload(codebook, [k, d]);
      ct.constant = true;
      const norms = codebookNorms(engine, ct);
      return {
        run() {
          const { indices, distances } = codebookSearch(engine, zt, ct, { norms, variant });
          engine.release(indices, distances);
        },
        async check() {
          const { indices, distances } = codebookSearch(engine, zt, ct, { norms, variant });
          const idx = await engine.readU32(indices);
          const dist = await engine.readF32(distances);
          engine.release(indices, distances);
          const res = checkSearch(reference(seed, n, k, d), idx, dist);
          if (res.error) return res.error;
          return res.nearTies > Math.max(2, Math.ceil(0.02 * n)) ? `${res.nearTies} near ties in ${n} queries` : null;
        },
        dispose() {
          engine.release(zt, ct, norms);
        },
      };
    },
  };
}

export const cases: BenchCase[] = (['texture', 'storage'] as CodebookVariant[]).flatMap((v) => CODEBOOK_SHAPES.map((s) => codebookCase(v, s)));
