import { expect } from 'chai';
import type { Engine } from '../src/gpu/engine.js';
import { KernelSources } from '../src/gpu/kernels.js';
import { nodeKernelReader } from '../src/gpu/node.js';
import { l1, mse } from '../src/ops/elementwise.js';
import { layernorm, layernormBackward } from '../src/ops/layernorm.js';
import { l2normalize, l2normalizeBackward } from '../src/ops/normalize.js';
import { checkSubgroupReductions, hasSubgroups, subgroupReductionsDisabled, tuneReductions, withReductions } from '../src/ops/reductions.js';
import { softmax, softmaxBackward } from '../src/ops/softmax.js';
import type { Tensor } from '../src/tensor.js';
import { gradNorm } from '../src/train/optim.js';
import { describeBackends, engineWithPlantedFault, expectClose, freshRng, randomF32, randomNormal, RUN_SEED } from './helpers.js';
import { l1Ref, mseRef } from './reference/elementwise.js';
import { layernormBackwardRef, layernormRef } from './reference/layernorm.js';
import { l2normalizeBackwardRef, l2normalizeRef } from './reference/normalize.js';
import { globalNormRef } from './reference/optim.js';
import { softmaxBackwardRef, softmaxRef } from './reference/softmax.js';

const relErr = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);

describe('workgroup reductions: variant sources', () => {
  const sources = new KernelSources(nodeKernelReader());
  it('"KERNEL+subgroups" includes reduce_subgroups instead of reduce, with enable subgroups first', () => {
    for (const k of ['layernorm', 'softmax', 'normalize', 'elementwise', 'adamw']) {
      expect(sources.includes(k).has('reduce'), k).to.equal(true);
      const plain = sources.get(k);
      const sg = sources.get(`${k}+subgroups`);
      expect(plain, k).to.not.match(/subgroupAdd|^\s*enable /m);
      expect(sg.split('\n')[0], k).to.equal('enable subgroups;');
      expect(sg.match(/^\s*enable /gm)?.length, k).to.equal(1);
      expect(sg, k).to.match(/subgroupAdd/);
      expect(sg, k).to.not.match(/^const RED_WG[^\n]*\n[\s\S]*^const RED_WG/m);
      expect(sg, k).to.not.match(/\/\/!include/);
    }
    expect(sources.includes('matmul_tex').has('reduce')).to.equal(false);
    expect(() => sources.get('layernorm+nonesuch')).to.throw(/unknown variant/);
  });
});

describeBackends('workgroup reductions: subgroup variant', (get, backend) => {
  before(function () {
    if (!hasSubgroups(get())) {
      console.log(`      skipped: ${backend} has no 'subgroups' feature`);
      this.skip();
    }
  });

  it('engine.reductions picks the source of kernels that include reduce.wgsl, and only theirs', () => {
    const e = get();
    withReductions(e, 'subgroups', () => {
      expect(e.kernelSource('layernorm')).to.equal('layernorm+subgroups');
      expect(e.kernelSource('matmul_tex')).to.equal('matmul_tex');
    });
    expect(e.kernelSource('layernorm')).to.equal('layernorm');
  });

  /** Runs fn under subgroups and checks each named output against its float64 value. */
  async function under(e: Engine, fn: () => Tensor[]): Promise<Float32Array[]> {
    const ts = withReductions(e, 'subgroups', fn);
    const out: Float32Array[] = [];
    for (const t of ts) out.push(await e.readF32(t));
    e.release(...ts);
    return out;
  }

  // Rows shorter than a subgroup, than the workgroup, a workgroup ± 1, several per invocation.
  const SHAPES: [number, number][] = [[1, 1], [7, 3], [33, 37], [5, 255], [3, 256], [4, 257], [9, 1000]];

  it(`layernorm forward and backward, workgroup layout, odd shapes and 512 × 1024, against float64`, async () => {
    const e = get();
    for (const [rows, D] of [...SHAPES, [512, 1024] as [number, number]]) {
      const r = freshRng();
      const x = randomNormal(rows * D, r, 2);
      for (let i = 0; i < x.length; i++) x[i] = x[i]! + 3;
      const dy = randomNormal(rows * D, r, 1);
      const g = randomF32(D, r, 0.5, 1.5);
      const b = randomF32(D, r, -0.5, 0.5);
      const [tx, tdy, tg, tb] = [e.upload(x, [rows, D]), e.upload(dy, [rows, D]), e.upload(g, [D]), e.upload(b, [D])];
      const [y, rstd, dx, dgamma, dbeta] = await under(e, () => {
        const f = layernorm(e, tx, tg, tb, 1e-5, { layout: 'workgroup' });
        const bw = layernormBackward(e, tdy, tx, tg, f.mean, f.rstd, { layout: 'workgroup' });
        e.release(f.mean);
        return [f.y, f.rstd, bw.dx, bw.dgamma, bw.dbeta];
      });
      e.release(tx, tdy, tg, tb);
      const ref = layernormRef(x, g, b, rows, D);
      const bref = layernormBackwardRef(dy, x, g, rows, D);
      const at = `${rows}×${D}`;
      expectClose(y!, ref.y, 1e-5, `y ${at}`);
      expectClose(rstd!, ref.rstd, 1e-5, `rstd ${at}`);
      if (D > 1) expectClose(dx!, bref.dx, 1e-4, `dx ${at}`);
      expectClose(dgamma!, bref.dgamma, 1e-4, `dgamma ${at}`);
      expectClose(dbeta!, bref.dbeta, 1e-5, `dbeta ${at}`);
    }
  });

  it('softmax forward and backward (maximum and sums), workgroup layout, odd shapes and 512 × 1024, against float64', async () => {
    const e = get();
    for (const [rows, D] of [...SHAPES, [512, 1024] as [number, number]]) {
      const r = freshRng();
      const x = randomNormal(rows * D, r, 4);
      // Each row's largest value somewhere else: in the first subgroup, later ones, the last slot.
      for (let i = 0; i < rows; i++) x[i * D + ((i * 37) % D)] = 12;
      // The backward on a softer row (a nearly one-hot y amplifies the forward's own rounding).
      const xb = randomNormal(rows * D, r, 1);
      const dy = randomNormal(rows * D, r, 1);
      const [tx, txb, tdy] = [e.upload(x, [rows, D]), e.upload(xb, [rows, D]), e.upload(dy, [rows, D])];
      const [y, yb, dx] = await under(e, () => {
        const s = softmax(e, tx, { layout: 'workgroup' });
        const sb = softmax(e, txb, { layout: 'workgroup' });
        return [s, sb, softmaxBackward(e, tdy, sb, { layout: 'workgroup' })];
      });
      e.release(tx, txb, tdy);
      const at = `${rows}×${D}`;
      expectClose(y!, softmaxRef(x, rows, D), 1e-5, `y ${at}`);
      expectClose(yb!, softmaxRef(xb, rows, D), 1e-5, `y (backward's) ${at}`);
      // Against the float64 backward of the GPU's own y.
      if (D > 1) expectClose(dx!, softmaxBackwardRef(dy, yb!, rows, D), 1e-4, `dx ${at}`);
    }
  });

  it('l2normalize forward and backward, workgroup layout, against float64', async () => {
    const e = get();
    for (const [rows, D] of SHAPES) {
      const r = freshRng();
      const x = randomNormal(rows * D, r, 1);
      const dy = randomNormal(rows * D, r, 1);
      const [tx, tdy] = [e.upload(x, [rows, D]), e.upload(dy, [rows, D])];
      const [y, norm, dx] = await under(e, () => {
        const n = l2normalize(e, tx, { layout: 'workgroup' });
        return [n.y, n.norm, l2normalizeBackward(e, tdy, n.y, n.norm, { layout: 'workgroup' })];
      });
      e.release(tx, tdy);
      const ref = l2normalizeRef(x, rows, D);
      const at = `${rows}×${D}`;
      expectClose(y!, ref.y, 1e-5, `y ${at}`);
      expectClose(norm!, ref.norm, 1e-5, `norm ${at}`);
      // (With D = 1, dx is 0 in exact arithmetic: a relative error means nothing there.)
      if (D > 1) expectClose(dx!, l2normalizeBackwardRef(dy, x, rows, D), 1e-4, `dx ${at}`);
    }
  });

  it('mse, l1 and the gradient norm (workgroup partials, then one workgroup), against float64', async () => {
    const e = get();
    for (const n of [1, 3, 255, 257, 4099, 1 << 20]) {
      const r = freshRng();
      const a = randomNormal(n, r, 1);
      const b = randomNormal(n, r, 1);
      const c = randomNormal(37, r, 1);
      const [ta, tb, tc] = [e.upload(a, [n]), e.upload(b, [n]), e.upload(c, [37])];
      const [m, l, g] = await under(e, () => [mse(e, ta, tb), l1(e, ta, tb), gradNorm(e, [ta, tb, tc], { layout: 'workgroup' })]);
      e.release(ta, tb, tc);
      const what = `n ${n} (seed ${RUN_SEED})`;
      expect(relErr(m![0]!, mseRef(a, b)), `mse ${what}`).to.be.at.most(1e-5);
      expect(relErr(l![0]!, l1Ref(a, b)), `l1 ${what}`).to.be.at.most(1e-5);
      expect(relErr(g![0]!, globalNormRef([a, b, c])), `norm ${what}`).to.be.at.most(1e-5);
    }
  });

  it('deterministic: the same bits on a second run', async () => {
    const e = get();
    const x = e.upload(randomNormal(33 * 1000, freshRng(), 2), [33, 1000]);
    const run = () => under(e, () => [softmax(e, x, { layout: 'workgroup' }), mse(e, x, x)]);
    const [a, b] = [await run(), await run()];
    e.release(x);
    expect(Buffer.from(a[0]!.buffer).equals(Buffer.from(b[0]!.buffer))).to.equal(true);
  });

  it('the start-up parity check passes, and tuning stores a measured choice for the width class', async () => {
    const e = get();
    expect(await checkSubgroupReductions(e)).to.equal(true);
    expect(subgroupReductionsDisabled(e)).to.equal(null);
    const before = e.reductions;
    try {
      const r = await tuneReductions(e, 96, { rows: 16, rounds: 1 });
      expect(r.measured).to.equal(true);
      expect(r.shapeClass).to.equal('D128');
      expect(Object.keys(r.entry!.ms).sort()).to.deep.equal(['subgroups', 'tree']);
      expect(e.reductions).to.equal(r.variant);
      // Stored now: reused without measuring.
      const again = await tuneReductions(e, 128, { rows: 16 });
      expect(again.measured).to.equal(false);
      expect(again.variant).to.equal(r.variant);
      // A forced re-tune (bench --tune over several batch sizes) measures a class once per process.
      expect((await tuneReductions(e, 128, { rows: 16, force: true })).measured).to.equal(false);
      expect((await tuneReductions(e, 1024, { rows: 16, rounds: 1, force: true })).measured).to.equal(true);
    } finally {
      e.reductions = before;
    }
  });

  it('a subgroup variant that disagrees with the tree, or fails to compile, is switched off at start-up', async () => {
    const broken: Record<string, [string, string]> = {
      // Each level reads slot 0 in place of its last slot: sums count one value twice, another never.
      disagrees: ['red[select(0u, i, i < n)]', 'red[select(0u, i, i + 1u < n)]'],
      'fails to compile': ['subgroupAdd(1u)', 'subgroupAdd(1u, 2u)'],
    };
    for (const [what, [find, replace]] of Object.entries(broken)) {
      const e = await engineWithPlantedFault(backend, 'reduce_subgroups', find, replace);
      try {
        expect(await checkSubgroupReductions(e), what).to.equal(false);
        expect(subgroupReductionsDisabled(e), what).to.match(what === 'disagrees' ? /disagrees with the tree/ : /failed/);
        const r = await tuneReductions(e, 128, { rows: 16, rounds: 1 });
        expect(r.variant, what).to.equal('tree');
        expect(e.reductions, what).to.equal('tree');
      } finally {
        e.dispose();
      }
    }
  });
});
