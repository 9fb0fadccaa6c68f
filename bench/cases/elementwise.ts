import type { BenchCase, BenchInstance } from '../case.js';
import type { Engine } from '../../src/gpu/engine.js';
import { add, columnSum, gatherRows, gatherRowsBackward, l1, l1Backward, mse, mseBackward, patchify, patchifyBackward } from '../../src/ops/elementwise.js';
import type { Tensor } from '../../src/tensor.js';
import { randomF32, randomNormal, relL2, rng } from '../../test/reference/util.js';
import {
  addRef,
  columnSumRef,
  gatherRowsBackwardRef,
  gatherRowsRef,
  l1BackwardRef,
  l1Ref,
  mseBackwardRef,
  mseRef,
  patchifyBackwardRef,
  patchifyRef,
} from '../../test/reference/elementwise.js';

/**
 * An instance that keeps the latest output (released at the next run and at dispose) and
 * compares it with `ref()` at check.
 */
function instance(engine: Engine, inputs: Tensor[], op: () => Tensor, ref: () => ArrayLike<number>, tol = 1e-6): BenchInstance {
  let last: Tensor | null = null;
  return {
    run() {
      engine.release(last);
      last = op();
    },
    async check() {
      if (!last) return 'no run recorded';
      const e = relL2(await engine.readF32(last), ref());
      return e <= tol ? null : `relative L2 error ${e.toExponential(2)} > ${tol}`;
    },
    dispose() {
      engine.release(last, ...inputs);
    },
  };
}

const N = 4096 * 1024;

export const cases: BenchCase[] = [
  {
    kernel: 'add',
    variant: 'vec4',
    shape: [4096, 1024],
    flops: 0, // memory-bound: 3 FLOPs per element (alpha·a + beta·b) not counted
    bytes: 12 * N, // a and b read, y written
    async setup(engine, seed) {
      const r = rng(seed);
      const a = randomNormal(N, r);
      const b = randomNormal(N, r);
      const ta = engine.upload(a, [4096, 1024]);
      const tb = engine.upload(b, [4096, 1024]);
      return instance(engine, [ta, tb], () => add(engine, ta, tb, 0.5, 2), () => addRef(a, b, 0.5, 2));
    },
  },
  {
    kernel: 'gather',
    variant: 'rows',
    shape: [256, 1024, 8192],
    flops: 0,
    bytes: 4 * (2 * 256 * 1024 + 256), // 256 rows read and written, 256 indices read
    async setup(engine, seed) {
      const r = rng(seed);
      const table = randomF32(8192 * 1024, r);
      const idx = Uint32Array.from({ length: 256 }, () => Math.floor(r() * 8192));
      const tt = engine.upload(table, [8192, 1024]);
      const ti = engine.upload(idx, [256], 'u32');
      return instance(engine, [tt, ti], () => gatherRows(engine, tt, ti), () => gatherRowsRef(table, 8192, 1024, idx), 0);
    },
  },
  {
    kernel: 'mse',
    variant: 'two-pass',
    shape: [4096, 1024],
    flops: 0, // memory-bound: 3 FLOPs per element not counted
    bytes: 8 * N, // a and b read (the partial sums are a few KiB)
    async setup(engine, seed) {
      const r = rng(seed);
      const a = randomNormal(N, r);
      const b = randomNormal(N, r);
      const ta = engine.upload(a, [4096, 1024]);
      const tb = engine.upload(b, [4096, 1024]);
      return instance(engine, [ta, tb], () => mse(engine, ta, tb), () => [mseRef(a, b)], 1e-5);
    },
  },
  {
    kernel: 'patchify',
    variant: 'P16',
    shape: [16, 256, 256, 3],
    flops: 0,
    bytes: 8 * 16 * 256 * 256 * 3, // images read once, patches written once
    async setup(engine, seed) {
      const img = randomF32(16 * 256 * 256 * 3, rng(seed));
      const ti = engine.upload(img, [16, 256, 256, 3]);
      return instance(engine, [ti], () => patchify(engine, ti, 16), () => patchifyRef(img, 16, 256, 256, 16), 0);
    },
  },
  {
    kernel: 'patchify',
    variant: 'backward-P16',
    shape: [16, 256, 256, 3],
    flops: 0,
    bytes: 8 * 16 * 256 * 256 * 3, // patch gradients read once, image gradients written once
    async setup(engine, seed) {
      const g = randomF32(16 * 256 * 256 * 3, rng(seed));
      const tg = engine.upload(g, [16 * 16 * 16, 16 * 16 * 3]);
      const geo = { batch: 16, height: 256, width: 256, patch: 16 };
      return instance(engine, [tg], () => patchifyBackward(engine, tg, geo), () => patchifyBackwardRef(g, 16, 256, 256, 16), 0);
    },
  },
  {
    kernel: 'mse',
    variant: 'backward',
    shape: [4096, 1024],
    flops: 0, // memory-bound: 2 FLOPs per element not counted
    bytes: 12 * N, // a and b read, the gradient written
    async setup(engine, seed) {
      const r = rng(seed);
      const a = randomNormal(N, r);
      const b = randomNormal(N, r);
      const ta = engine.upload(a, [4096, 1024]);
      const tb = engine.upload(b, [4096, 1024]);
      return instance(engine, [ta, tb], () => mseBackward(engine, ta, tb, 0.5), () => mseBackwardRef(a, b, 0.5), 1e-6);
    },
  },
  {
    kernel: 'l1',
    variant: 'two-pass',
    shape: [4096, 1024],
    flops: 0, // memory-bound: 2 FLOPs per element not counted
    bytes: 8 * N, // a and b read (the partial sums are a few KiB)
    async setup(engine, seed) {
      const r = rng(seed);
      const a = randomNormal(N, r);
      const b = randomNormal(N, r);
      const ta = engine.upload(a, [4096, 1024]);
      const tb = engine.upload(b, [4096, 1024]);
      return instance(engine, [ta, tb], () => l1(engine, ta, tb), () => [l1Ref(a, b)], 1e-5);
    },
  },
  {
    kernel: 'l1',
    variant: 'backward',
    shape: [4096, 1024],
    flops: 0, // memory-bound: 2 FLOPs per element not counted
    bytes: 12 * N, // a and b read, the gradient written
    async setup(engine, seed) {
      const r = rng(seed);
      const a = randomNormal(N, r);
      const b = randomNormal(N, r);
      const ta = engine.upload(a, [4096, 1024]);
      const tb = engine.upload(b, [4096, 1024]);
      return instance(engine, [ta, tb], () => l1Backward(engine, ta, tb), () => l1BackwardRef(a, b), 1e-6);
    },
  },
  {
    kernel: 'colsum',
    variant: 'tree',
    shape: [4096, 1024],
    flops: 0, // memory-bound: one addition per element not counted
    bytes: 4 * (N + 1024), // x read once, the column sums written (the partials are 1/16 to 1/32 of x)
    async setup(engine, seed) {
      const x = randomNormal(N, rng(seed));
      const tx = engine.upload(x, [4096, 1024]);
      return instance(engine, [tx], () => columnSum(engine, tx), () => columnSumRef(x, 4096, 1024), 1e-5);
    },
  },
  {
    kernel: 'gather',
    variant: 'backward',
    shape: [256, 1024, 8192],
    // Memory-bound: N·D additions not counted; the rank pass compares N² index pairs.
    flops: 0,
    // dOut (N·D) and indices (N) read, the whole [K, D] table gradient written (zeros included).
    bytes: 4 * (256 * 1024 + 256 + 8192 * 1024),
    async setup(engine, seed) {
      const r = rng(seed);
      const dOut = randomNormal(256 * 1024, r);
      const idx = Uint32Array.from({ length: 256 }, () => Math.floor(r() * 8192));
      const td = engine.upload(dOut, [256, 1024]);
      const ti = engine.upload(idx, [256], 'u32');
      return instance(engine, [td, ti], () => gatherRowsBackward(engine, td, ti, 8192), () => gatherRowsBackwardRef(dOut, 256, 1024, idx, 8192), 1e-6);
    },
  },
  {
    kernel: 'gather',
    variant: 'backward-N4096',
    shape: [4096, 1024, 8192],
    // The rank pass at its largest realistic size: 4096² index comparisons (not counted).
    flops: 0,
    bytes: 4 * (4096 * 1024 + 4096 + 8192 * 1024),
    async setup(engine, seed) {
      const r = rng(seed);
      const dOut = randomNormal(4096 * 1024, r);
      const idx = Uint32Array.from({ length: 4096 }, () => Math.floor(r() * 8192));
      const td = engine.upload(dOut, [4096, 1024]);
      const ti = engine.upload(idx, [4096], 'u32');
      return instance(engine, [td, ti], () => gatherRowsBackward(engine, td, ti, 8192), () => gatherRowsBackwardRef(dOut, 4096, 1024, idx, 8192), 1e-6);
    },
  },
];
