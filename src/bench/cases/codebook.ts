import { benchCase, type BenchCase } from '../case.js';
import { codebookNorms, codebookSearch, type CodebookVariant } from '../../ops/codebook.js';
import { randomF32, rng } from '../../check/util.js';
import { checkSearch, firstQueries, searchReference, type SearchReference } from '../../check/codebook.js';

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

const codebookCase = (variant: CodebookVariant, [n, k, d]: [number, number, number]): BenchCase =>
  benchCase({
    kernel: 'codebook',
    variant,
    shape: [n, k, d],
    // FLOPs 2·N·K·D: the dot products of pass 1 (pass 2 adds 3·N·D). Bytes: z, codebook and norms
    // read once, indices and distances written. The codebook is a constant weight with its norms
    // given (as in inference): the texture variant packs it once, not per run.
    flops: 2 * n * k * d,
    bytes: 4 * (n * d + k * d + k) + 8 * n,
    inputs: (_, seed) => ({ seed, ...data(seed, k, d) }),
    tensors: (engine, { z, codebook }) => {
      const zt = engine.upload(z.subarray(0, n * d), [n, d]);
      const ct = engine.upload(codebook, [k, d]);
      ct.constant = true;
      return [zt, ct, codebookNorms(engine, ct)];
    },
    run: (engine, [zt, ct, norms]) => {
      const { indices, distances } = codebookSearch(engine, zt, ct, { norms, variant });
      return [indices, distances];
    },
    check: ([idx, dist], { seed }) => {
      const res = checkSearch(reference(seed, n, k, d), new Uint32Array(idx.buffer), dist as Float32Array);
      if (res.error) return res.error;
      return res.nearTies > Math.max(2, Math.ceil(0.02 * n)) ? `${res.nearTies} near ties in ${n} queries` : null;
    },
  });

export const cases: BenchCase[] = (['texture', 'storage'] as CodebookVariant[]).flatMap((v) => CODEBOOK_SHAPES.map((s) => codebookCase(v, s)));
