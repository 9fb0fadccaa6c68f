import type { BenchCase } from '../case.js';
import type { RowLayout } from '../../src/ops/layernorm.js';
import { softmax, softmaxBackward } from '../../src/ops/softmax.js';
import type { Tensor } from '../../src/tensor.js';
import { randomNormal, relL2, rng } from '../../test/reference/util.js';
import { softmaxBackwardRef, softmaxRef } from '../../test/reference/softmax.js';

const ROWS = 4096;
const COLS = 1024;

function softmaxCase(layout: RowLayout): BenchCase {
  return {
    kernel: 'softmax',
    variant: layout,
    shape: [ROWS, COLS],
    // Memory-bound: GB/s is the measure (two exp and about 3 more FLOPs per element not counted).
    flops: 0,
    // x read once, y written once.
    bytes: 8 * ROWS * COLS,
    async setup(engine, seed) {
      const x = randomNormal(ROWS * COLS, rng(seed), 3);
      const tx = engine.upload(x, [ROWS, COLS]);
      let last: Tensor | null = null;
      return {
        run() {
          engine.release(last);
          last = softmax(engine, tx, { layout });
        },
        async check() {
          if (!last) return 'no run recorded';
          const e = relL2(await engine.readF32(last), softmaxRef(x, ROWS, COLS));
          return e <= 1e-5 ? null : `relative L2 error ${e.toExponential(2)} > 1e-5`;
        },
        dispose() {
          engine.release(last, tx);
        },
      };
    },
  };
}

function softmaxBackwardCase(layout: RowLayout): BenchCase {
  return {
    kernel: 'softmax',
    variant: `backward-${layout}`,
    shape: [ROWS, COLS],
    // Memory-bound: 4 FLOPs per element not counted.
    flops: 0,
    // dy and y read once, dx written once.
    bytes: 12 * ROWS * COLS,
    async setup(engine, seed) {
      const r = rng(seed);
      const y = Float32Array.from(softmaxRef(randomNormal(ROWS * COLS, r, 3), ROWS, COLS));
      const dy = randomNormal(ROWS * COLS, r);
      const ty = engine.upload(y, [ROWS, COLS]);
      const tdy = engine.upload(dy, [ROWS, COLS]);
      let last: Tensor | null = null;
      return {
        run() {
          engine.release(last);
          last = softmaxBackward(engine, tdy, ty, { layout });
        },
        async check() {
          if (!last) return 'no run recorded';
          const e = relL2(await engine.readF32(last), softmaxBackwardRef(dy, y, ROWS, COLS));
          return e <= 1e-4 ? null : `relative L2 error ${e.toExponential(2)} > 1e-4`;
        },
        dispose() {
          engine.release(last, ty, tdy);
        },
      };
    },
  };
}

export const cases: BenchCase[] = [softmaxCase('row'), softmaxCase('workgroup'), softmaxBackwardCase('row'), softmaxBackwardCase('workgroup')];
