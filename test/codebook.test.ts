import { expect } from 'chai';
import { codebookNorms, codebookSearch, type CodebookVariant } from '../src/ops/codebook.js';
import type { Tensor } from '../src/tensor.js';
import { describeBackends, expectClose, freshRng, randomF32, randomNormal, RUN_SEED } from './helpers.js';
import { firstQueries, rowNormsReference, runAndCheck, searchReference, type SearchCheck, type SearchReference } from './reference/codebook.js';

const VARIANTS: CodebookVariant[] = ['storage', 'texture'];
const MODES = [false, true];
const modeName = (cosine: boolean): string => (cosine ? 'cosine' : 'L2');

/** Near ties (either code accepted) must stay rare: at most 2, or 2% of the queries. */
function expectPass(res: SearchCheck, n: number, what: string): void {
  if (res.error) expect.fail(`${what}: ${res.error} (seed ${RUN_SEED})`);
  expect(res.nearTies, `${what}: near ties`).to.be.at.most(Math.max(2, Math.ceil(0.02 * n)));
}

// The model sizes: 256 queries × 8192 codes × 1024 dims. The float64 references are computed once
// per run and shared by both backends (the 256-query L2 search is a few seconds of plain JS).
const BIG = { n: 256, k: 8192, d: 1024 };
let bigData: { z: Float32Array; codebook: Float32Array } | undefined;
const bigRefs = new Map<string, SearchReference>();

function big(): { z: Float32Array; codebook: Float32Array } {
  if (!bigData) {
    const r = freshRng();
    bigData = { z: randomF32(BIG.n * BIG.d, r), codebook: randomF32(BIG.k * BIG.d, r) };
  }
  return bigData;
}

function bigRef(n: number, cosine: boolean): SearchReference {
  const key = modeName(cosine);
  let ref = bigRefs.get(key);
  if (!ref || ref.n < n) {
    const { z, codebook } = big();
    ref = searchReference(z, codebook, cosine ? n : BIG.n, BIG.k, BIG.d, cosine);
    bigRefs.set(key, ref);
  }
  return firstQueries(ref, n);
}

describeBackends('codebook', (get) => {
  it('codebookNorms matches ‖e‖² (K 127 × D 33, K 1000 × D 64)', async () => {
    const engine = get();
    const r = freshRng();
    for (const [k, d] of [
      [127, 33],
      [1000, 64],
    ] as const) {
      const data = randomF32(k * d, r);
      const cb = engine.upload(data, [k, d]);
      const norms = codebookNorms(engine, cb);
      expectClose(await engine.readF32(norms), rowNormsReference(data, k, d), 1e-6, `norms K=${k} D=${d}`);
      engine.release(cb, norms);
    }
  });

  for (const variant of VARIANTS) {
    for (const cosine of MODES) {
      it(`${variant}, ${modeName(cosine)}: odd shapes N {1, 7, 33} × K {1, 5, 127, 1000} × D {3, 7, 33, 64}`, async () => {
        const engine = get();
        const r = freshRng();
        for (const n of [1, 7, 33])
          for (const k of [1, 5, 127, 1000])
            for (const d of [3, 7, 33, 64]) {
              const z = randomF32(n * d, r);
              const codebook = randomF32(k * d, r);
              const res = await runAndCheck(engine, z, codebook, searchReference(z, codebook, n, k, d, cosine), variant);
              expectPass(res, n, `N=${n} K=${k} D=${d}`);
            }
      });
    }

    it(`${variant}: duplicated codes give the lowest index (each comparison of the reduction)`, async () => {
      const engine = get();
      const r = freshRng();
      const [k, d] = [1000, 33];
      const codebook = randomNormal(k * d, r);
      // Pass 1 compares 4 scores as (x, y), (z, w), then the two winners; then the 4 blocks of a
      // 16-code tile, then tiles; pass 2 compares chunks. One group of equal codes per comparison:
      const groups = [
        [0, 1], //        x vs y
        [2, 3], //        z vs w
        [5, 6], //        winner (x, y) vs winner (z, w)
        [7, 8], //        block 1 vs block 2 of a tile
        [31, 32], //      last code of tile 1 vs first of tile 2 (two chunks, merged in pass 2)
        [700, 48, 300], // the lowest copy is not the first one written
        [40, 41, 999], // with the last code of the codebook
      ];
      for (const g of groups) for (const j of g.slice(1)) codebook.copyWithin(j * d, g[0]! * d, g[0]! * d + d);
      const perGroup = 3;
      const expected: number[] = [];
      const z = new Float32Array(groups.length * perGroup * d);
      groups.forEach((g, gi) => {
        for (let q = 0; q < perGroup; q++) {
          const row = gi * perGroup + q;
          // q = 0: exactly the duplicated code; otherwise the code plus small noise.
          for (let t = 0; t < d; t++) z[row * d + t] = codebook[g[0]! * d + t]! + (q === 0 ? 0 : 0.02 * (r() - 0.5));
          expected.push(Math.min(...g));
        }
      });
      const zt = engine.upload(z, [expected.length, d]);
      const ct = engine.upload(codebook, [k, d]);
      for (const cosine of MODES) {
        const { indices, distances } = codebookSearch(engine, zt, ct, { cosine, variant });
        expect(Array.from(await engine.readU32(indices)), modeName(cosine)).to.deep.equal(expected);
        const dist = await engine.readF32(distances);
        for (let gi = 0; gi < groups.length; gi++) expect(dist[gi * perGroup], 'distance of an exact match').to.be.at.most(1e-4);
        engine.release(indices, distances);
      }
      engine.release(zt, ct);
    });

    it(`${variant}: queries near their code (small distances stay accurate)`, async () => {
      const engine = get();
      const r = freshRng();
      const [n, k, d] = [33, 1000, 256];
      const codebook = randomNormal(k * d, r);
      const z = new Float32Array(n * d);
      const picks: number[] = [];
      for (let q = 0; q < n; q++) {
        const j = Math.floor(r() * k);
        picks.push(j);
        for (let t = 0; t < d; t++) z[q * d + t] = codebook[j * d + t]! + 0.01 * (r() - 0.5);
      }
      for (const cosine of MODES) {
        const ref = searchReference(z, codebook, n, k, d, cosine);
        expect(Array.from(ref.index), 'reference picks the perturbed code').to.deep.equal(picks);
        expectPass(await runAndCheck(engine, z, codebook, ref, variant), n, modeName(cosine));
      }
    });

    for (const n of [16, 256]) {
      it(`${variant}, L2: ${n} × 8192 × 1024 (model size)`, async () => {
        const { z, codebook } = big();
        expectPass(await runAndCheck(get(), z, codebook, bigRef(n, false), variant), n, `${n} × 8192 × 1024`);
      });
    }

    it(`${variant}, cosine: 16 × 8192 × 1024 (model size)`, async () => {
      const { z, codebook } = big();
      expectPass(await runAndCheck(get(), z, codebook, bigRef(16, true), variant), 16, '16 × 8192 × 1024 cosine');
    });
  }

  it('storage: K = 140001 runs several code tiles per invocation', async () => {
    const engine = get();
    const r = freshRng();
    const [n, k, d] = [7, 140001, 7];
    const z = randomF32(n * d, r);
    const codebook = randomF32(k * d, r);
    for (const cosine of MODES) {
      expectPass(await runAndCheck(engine, z, codebook, searchReference(z, codebook, n, k, d, cosine), 'storage'), n, modeName(cosine));
    }
  });

  it('texture: a constant codebook is packed again after touch() or when replaced; others on every call', async () => {
    const engine = get();
    const r = freshRng();
    const [n, k, d] = [7, 127, 64];
    const z = randomF32(n * d, r);
    const a = randomF32(k * d, r);
    const b = randomF32(k * d, r);
    const zt = engine.upload(z, [n, d]);
    const search = async (t: Tensor): Promise<number[]> => {
      const { indices, distances } = codebookSearch(engine, zt, t, { variant: 'texture' });
      const idx = await engine.readU32(indices);
      engine.release(indices, distances);
      return Array.from(idx);
    };
    const refA = Array.from(searchReference(z, a, n, k, d).index);
    const refB = Array.from(searchReference(z, b, n, k, d).index);
    const allSame = new Array<number>(n).fill(0); // every code equal: ties go to index 0

    const ct = engine.upload(a, [k, d]);
    ct.constant = true;
    expect(await search(ct), 'constant codebook a').to.deep.equal(refA);
    engine.write(ct, b); // in place, through a write that calls touch()
    expect(await search(ct), 'a overwritten with b').to.deep.equal(refB);
    const ct2 = engine.upload(a, [k, d]);
    ct2.constant = true;
    expect(await search(ct2), 'another tensor holding a').to.deep.equal(refA);

    const plain = engine.upload(b, [k, d]);
    expect(await search(plain), 'non-constant codebook b').to.deep.equal(refB);
    engine.fill(plain, 0.5); // in place without touch(): a non-constant tensor is packed anyway
    expect(await search(plain), 'b filled with 0.5').to.deep.equal(allSame);
    engine.release(zt, ct, ct2, plain);
  });

  it('cosine leaves the inputs unchanged; given norms give the same result; temporaries are released', async () => {
    const engine = get();
    const r = freshRng();
    const [n, k, d] = [33, 127, 33];
    const z = randomF32(n * d, r, -3, 3);
    const codebook = randomF32(k * d, r, -3, 3);
    const zt = engine.upload(z, [n, d]);
    const ct = engine.upload(codebook, [k, d]);
    const norms = codebookNorms(engine, ct);
    const ref = searchReference(z, codebook, n, k, d, true);
    for (const variant of VARIANTS) {
      const results: Uint32Array[] = [];
      for (const given of [undefined, norms]) {
        const inUse = engine.pool.stats().inUse;
        const { indices, distances } = codebookSearch(engine, zt, ct, { cosine: true, norms: given, variant });
        results.push(await engine.readU32(indices));
        engine.release(indices, distances);
        expect(engine.pool.stats().inUse, `${variant}: pool buffers in use after releasing the outputs`).to.equal(inUse);
      }
      expect(Array.from(results[0]!), `${variant}: computed norms`).to.deep.equal(Array.from(ref.index));
      expect(Array.from(results[1]!), `${variant}: given norms`).to.deep.equal(Array.from(ref.index));
    }
    expect(Array.from(await engine.readF32(zt)), 'z').to.deep.equal(Array.from(z));
    expect(Array.from(await engine.readF32(ct)), 'codebook').to.deep.equal(Array.from(codebook));
    engine.release(zt, ct, norms);
  });
});
