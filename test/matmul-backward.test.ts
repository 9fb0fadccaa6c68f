import { expect } from 'chai';
import { fusesColumnSums, matmulBackward } from '../src/ops/matmul.js';
import { describeBackends, expectClose, freshRng, randomF32 } from './helpers.js';
import { matmulBackwardRef, matmulRef, type MatmulRefSpec } from './reference/matmul.js';

const CASES: MatmulRefSpec[] = [
  { M: 7, N: 5, K: 3 },
  { M: 7, N: 5, K: 3, transA: true },
  { M: 7, N: 5, K: 3, transB: true },
  { M: 7, N: 5, K: 3, transA: true, transB: true, alpha: 0.5 },
  { M: 33, N: 17, K: 65, transB: true },
  { M: 9, N: 20, K: 12, batchA: 3, batchB: 3 },
  { M: 5, N: 7, K: 33, batchA: 4, batchB: 1, transB: true },
];

/** The reference model's linear layers (qkv, MLP down) for one image's 16 tokens. */
const REAL: MatmulRefSpec[] = [
  { M: 16, N: 3072, K: 1024 },
  { M: 16, N: 1024, K: 4096 },
];

function label(s: MatmulRefSpec): string {
  return `${s.transA ? 'Aᵀ' : 'A'}·${s.transB ? 'Bᵀ' : 'B'} ${s.M}×${s.N}×${s.K}${s.batchA ? ` batch ${s.batchA}/${s.batchB}` : ''}`;
}

describe('matmul backward reference', () => {
  for (const s of CASES) {
    it(`matches central finite differences: ${label(s)}`, () => {
      const r = freshRng();
      const a = Float64Array.from(randomF32((s.batchA ?? 1) * s.M * s.K, r));
      const b = Float64Array.from(randomF32((s.batchB ?? 1) * s.K * s.N, r));
      const g = Float64Array.from(randomF32(Math.max(s.batchA ?? 1, s.batchB ?? 1) * s.M * s.N, r));
      const loss = () => matmulRef(a, b, s).reduce((acc, v, i) => acc + v * g[i]!, 0);
      const { dA, dB } = matmulBackwardRef(g, a, b, s);
      const h = 1e-6;
      for (const [x, dx] of [
        [a, dA],
        [b, dB],
      ] as const) {
        for (let t = 0; t < Math.min(60, x.length); t++) {
          const i = Math.floor(r() * x.length);
          const x0 = x[i]!;
          x[i] = x0 + h;
          const up = loss();
          x[i] = x0 - h;
          const down = loss();
          x[i] = x0;
          const fd = (up - down) / (2 * h);
          expect(Math.abs(fd - dx[i]!), `element ${i}`).to.be.at.most(1e-6 * Math.max(1, Math.abs(fd)));
        }
      }
    });
  }
});

describeBackends('matmul backward', (get) => {
  for (const s of [...CASES, ...REAL]) {
    it(`dA and dB equal the float64 reference: ${label(s)}`, async () => {
      const e = get();
      const r = freshRng();
      const a = randomF32((s.batchA ?? 1) * s.M * s.K, r);
      const b = randomF32((s.batchB ?? 1) * s.K * s.N, r);
      const batch = Math.max(s.batchA ?? 1, s.batchB ?? 1);
      const g = randomF32(batch * s.M * s.N, r);
      const want = matmulBackwardRef(g, a, b, s);
      const aShape = s.transA ? [s.K, s.M] : [s.M, s.K];
      const bShape = s.transB ? [s.N, s.K] : [s.K, s.N];
      const ta = e.upload(a, (s.batchA ?? 1) > 1 ? [s.batchA!, ...aShape] : aShape);
      const tb = e.upload(b, (s.batchB ?? 1) > 1 ? [s.batchB!, ...bShape] : bShape);
      const tg = e.upload(g, batch > 1 ? [batch, s.M, s.N] : [s.M, s.N]);
      const { dA, dB, dBias } = matmulBackward(e, tg, ta, tb, { transA: s.transA, transB: s.transB, alpha: s.alpha, needBias: true });
      expectClose(await e.readF32(dA!), want.dA, 1e-4, `${label(s)} dA`);
      expectClose(await e.readF32(dB!), want.dB, 1e-4, `${label(s)} dB`);
      // The bias gradient: column sums of dC over every row (of every batch item), not scaled by alpha.
      const wantBias = new Float64Array(s.N);
      for (let i = 0; i < g.length; i++) wantBias[i % s.N] += g[i]!;
      expectClose(await e.readF32(dBias!), wantBias, 1e-5, `${label(s)} dBias`);
      const again = matmulBackward(e, tg, ta, tb, { transA: s.transA, transB: s.transB, alpha: s.alpha });
      expect(Buffer.from((await e.readF32(again.dB!)).buffer).equals(Buffer.from((await e.readF32(dB!)).buffer)), 'deterministic dB').to.equal(true);
      e.release(ta, tb, tg, dA, dB, dBias, again.dA, again.dB);
    });
  }

  it('sums the bias gradient in the weight gradient\'s pass where the texture variant runs Aᵀ·B', async () => {
    const e = get();
    const r = freshRng();
    const [M, N, K] = [37, 21, 10];
    const x = e.upload(randomF32(M * K, r), [M, K]);
    const g = e.upload(randomF32(M * N, r), [M, N]);
    // dW = xᵀ·g: fused on the texture variant (one pass, no split), not on the storage variant.
    expect(fusesColumnSums(e, x, g, { transA: true, variant: 'texture' })).to.equal(true);
    expect(fusesColumnSums(e, x, g, { transA: true, variant: 'storage' })).to.equal(false);
    expect(fusesColumnSums(e, x, g, { transA: true, plan: 'texture.split2' })).to.equal(false);
    expect(fusesColumnSums(e, x, x, { transB: true, variant: 'texture' })).to.equal(false);
    e.release(x, g);
  });
});
