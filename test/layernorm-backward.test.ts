import { expect } from 'chai';
import type { Engine } from '../src/gpu/engine.js';
import { layernorm, layernormBackward, type LayernormBackwardOptions, type RowLayout } from '../src/ops/layernorm.js';
import { describeBackends, expectClose, freshRng, randomF32, randomNormal, relL2, RUN_SEED } from './helpers.js';
import { dot64, finiteDifferences } from './reference/elementwise.js';
import { layernormBackwardRef, layernormRef, type LayernormBackwardRef } from './reference/layernorm.js';

const EPS = 1e-5;

interface Case {
  rows: number;
  D: number;
  x: Float32Array;
  g: Float32Array;
  b: Float32Array;
  dy: Float32Array;
  ref: LayernormBackwardRef;
}

function makeCase(rows: number, D: number): Case {
  const r = freshRng();
  const x = randomNormal(rows * D, r, 2);
  const g = randomF32(D, r, 0.5, 1.5);
  const b = randomF32(D, r, -0.5, 0.5);
  const dy = randomNormal(rows * D, r);
  return { rows, D, x, g, b, dy, ref: layernormBackwardRef(dy, x, g, rows, D, EPS) };
}

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

/**
 * Forward on the GPU (its mean and rstd are what the backward gets in training), backward twice:
 * both runs must agree bit for bit and match the float64 reference backward.
 */
async function check(engine: Engine, c: Case, layout: RowLayout | undefined, what: string, chunk?: number): Promise<void> {
  const tx = engine.upload(c.x, [c.rows, c.D]);
  const tg = engine.upload(c.g, [c.D]);
  const tb = engine.upload(c.b, [c.D]);
  const tdy = engine.upload(c.dy, [c.rows, c.D]);
  const opts: LayernormBackwardOptions = { ...(layout ? { layout } : {}), ...(chunk ? { chunk } : {}) };
  const fwd = layernorm(engine, tx, tg, tb, EPS, opts);
  const g1 = layernormBackward(engine, tdy, tx, tg, fwd.mean, fwd.rstd, opts);
  const g2 = layernormBackward(engine, tdy, tx, tg, fwd.mean, fwd.rstd, opts);
  expect(g1.dx.shape).to.deep.equal([c.rows, c.D]);
  expect(g1.dgamma.shape).to.deep.equal([c.D]);
  expect(g1.dbeta.shape).to.deep.equal([c.D]);
  const got: Float32Array[] = [];
  for (const t of [g1.dx, g1.dgamma, g1.dbeta, g2.dx, g2.dgamma, g2.dbeta]) got.push(await engine.readF32(t));
  engine.release(tx, tg, tb, tdy, fwd.y, fwd.mean, fwd.rstd, g1.dx, g1.dgamma, g1.dbeta, g2.dx, g2.dgamma, g2.dbeta);
  expectClose(got[0]!, c.ref.dx, 1e-4, `${what} dx`);
  expectClose(got[1]!, c.ref.dgamma, 1e-4, `${what} dgamma`);
  expectClose(got[2]!, c.ref.dbeta, 1e-4, `${what} dbeta`);
  ['dx', 'dgamma', 'dbeta'].forEach((name, i) => {
    expect(Array.from(bits(got[i + 3]!)), `${what} ${name}: bit-identical across runs`).to.deep.equal(Array.from(bits(got[i]!)));
  });
}

describe('layernorm backward reference (float64, against central finite differences)', () => {
  for (const [rows, D] of [[3, 7], [2, 33], [1, 6], [4, 5]] as const) {
    it(`${rows} × ${D}: dx, dgamma, dbeta of Σ w·layernorm(x, gamma, beta)`, () => {
      const r = freshRng();
      const x = Float64Array.from(randomNormal(rows * D, r, 2));
      const g = Float64Array.from(randomF32(D, r, 0.5, 1.5));
      const b = Float64Array.from(randomF32(D, r, -0.5, 0.5));
      const w = randomNormal(rows * D, r);
      const ref = layernormBackwardRef(w, x, g, rows, D, EPS);
      const pairs: [string, Float64Array, Float64Array][] = [
        ['dx', finiteDifferences((v) => dot64(w, layernormRef(v, g, b, rows, D, EPS).y), x), ref.dx],
        ['dgamma', finiteDifferences((v) => dot64(w, layernormRef(x, v, b, rows, D, EPS).y), g), ref.dgamma],
        ['dbeta', finiteDifferences((v) => dot64(w, layernormRef(x, g, v, rows, D, EPS).y), b), ref.dbeta],
      ];
      for (const [name, fd, analytic] of pairs) {
        const e = relL2(fd, analytic);
        expect(e, `${name} ${rows}×${D}: relative L2 ${e.toExponential(2)} (seed ${RUN_SEED})`).to.be.at.most(1e-6);
      }
    });
  }
});

// Model-size cases, computed once and shared by both backends.
const bigCases = new Map<string, Case>();
function bigCase(rows: number, D: number): Case {
  const key = `${rows}x${D}`;
  let c = bigCases.get(key);
  if (!c) bigCases.set(key, (c = makeCase(rows, D)));
  return c;
}

describeBackends('layernorm backward', (get) => {
  for (const layout of ['row', 'workgroup'] as const) {
    it(`odd shapes, ${layout} layout (rows 1, 7, 33 × D 1, 3, 7, 33, 127)`, async () => {
      for (const rows of [1, 7, 33]) for (const D of [1, 3, 7, 33, 127]) await check(get(), makeCase(rows, D), layout, `${layout} ${rows}×${D}`);
    });

    it(`D a multiple of 4 (vec4 path), ${layout} layout`, async () => {
      for (const [rows, D] of [[5, 4], [3, 8], [9, 260], [67, 12]] as const) await check(get(), makeCase(rows, D), layout, `${layout} ${rows}×${D}`);
    });

    it(`256 × 1024 (model size: 16 tokens × batch 16), ${layout} layout`, async () => {
      await check(get(), bigCase(256, 1024), layout, `${layout} 256×1024`);
    });
  }

  for (const layout of ['row', 'workgroup'] as const) {
    it(`addTo: dx comes out as the given gradient plus LayerNorm's own (${layout} layout, vec4 and scalar rows)`, async () => {
      const e = get();
      for (const [rows, D] of [[9, 260], [7, 33]] as const) {
        const c = makeCase(rows, D);
        const prior = randomNormal(rows * D, freshRng());
        const tx = e.upload(c.x, [rows, D]);
        const tg = e.upload(c.g, [D]);
        const tb = e.upload(c.b, [D]);
        const tdy = e.upload(c.dy, [rows, D]);
        const tp = e.upload(prior, [rows, D]);
        const fwd = layernorm(e, tx, tg, tb, EPS, { layout });
        const g = layernormBackward(e, tdy, tx, tg, fwd.mean, fwd.rstd, { layout, addTo: tp });
        expectClose(await e.readF32(g.dx), Float64Array.from(c.ref.dx, (v, i) => v + prior[i]!), 1e-5, `${layout} ${rows}×${D} dx + prior`);
        expectClose(await e.readF32(g.dbeta), c.ref.dbeta, 1e-4, `${layout} ${rows}×${D} dbeta unchanged`);
        expect(Array.from(await e.readF32(tp)), 'addTo is only read').to.deep.equal(Array.from(prior));
        e.release(tx, tg, tb, tdy, tp, fwd.y, fwd.mean, fwd.rstd, g.dx, g.dgamma, g.dbeta);
      }
    });
  }

  it('4096 × 1024 (16 images of 256 patches), default layout', async () => {
    // The workgroup layout at this size is barrier-bound on software executors (25 s on
    // SwiftShader); it is covered at 256 × 1024 above.
    await check(get(), bigCase(4096, 1024), undefined, 'default 4096×1024');
  });

  it('dgamma and dbeta over 65537 rows (a tree of column passes), default chunks and the GPU and smallest ones', async () => {
    for (const chunk of [undefined, 8, 2]) {
      await check(get(), bigCase(65537, 3), undefined, `default 65537×3 chunk ${chunk ?? 'default'}`, chunk);
      await check(get(), bigCase(20000, 8), undefined, `default 20000×8 chunk ${chunk ?? 'default'}`, chunk);
    }
    await check(get(), bigCase(4096, 1024), 'row', 'row 4096×1024 chunk 8 (the GPU default)', 8);
  });

  it('default layout: rows past the per-invocation loop budget (D 30001)', async () => {
    await check(get(), makeCase(2, 30001), undefined, 'default 2×30001');
    await check(get(), makeCase(2, 30001), 'row', "'row' requested, 2×30001");
  });

  it('rejects mismatched shapes', () => {
    const e = get();
    const x = e.empty([3, 5]);
    const dy = e.empty([3, 4]);
    const g = e.empty([5]);
    const m = e.empty([3]);
    expect(() => layernormBackward(e, dy, x, g, m, m)).to.throw(/differ in size/);
    expect(() => layernormBackward(e, x, x, m, m, m)).to.throw(/gamma/);
    e.release(x, dy, g, m);
  });
});
