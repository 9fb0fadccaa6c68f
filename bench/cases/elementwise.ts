import type { BenchCase, BenchInstance } from '../case.js';
import type { Engine } from '../../src/gpu/engine.js';
import { add, gatherRows, mse, patchify } from '../../src/ops/elementwise.js';
import type { Tensor } from '../../src/tensor.js';
import { randomF32, randomNormal, relL2, rng } from '../../test/helpers.js';
import { addRef, gatherRowsRef, mseRef, patchifyRef } from '../../test/reference/elementwise.js';

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
];
