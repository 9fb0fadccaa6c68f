import type { BenchCase } from '../case.js';
import { gelu, geluBackward } from '../../src/ops/gelu.js';
import type { Tensor } from '../../src/tensor.js';
import { randomNormal, relL2, rng } from '../../test/reference/util.js';
import { geluBackwardRef, geluRef } from '../../test/reference/gelu.js';

const ROWS = 4096;
const COLS = 1024;

function geluCase(approx: 'erf' | 'tanh'): BenchCase {
  return {
    kernel: 'gelu',
    variant: approx,
    shape: [ROWS, COLS],
    // Memory-bound: GB/s is the measure (about 30 (erf) or 10 (tanh) FLOPs per element not counted).
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
          last = gelu(engine, tx, approx);
        },
        async check() {
          if (!last) return 'no run recorded';
          const e = relL2(await engine.readF32(last), geluRef(x, approx));
          return e <= 1e-5 ? null : `relative L2 error ${e.toExponential(2)} > 1e-5`;
        },
        dispose() {
          engine.release(last, tx);
        },
      };
    },
  };
}

function geluBackwardCase(approx: 'erf' | 'tanh'): BenchCase {
  return {
    kernel: 'gelu',
    variant: `backward-${approx}`,
    shape: [ROWS, COLS],
    // Memory-bound: about 35 (erf) or 20 (tanh) FLOPs per element not counted.
    flops: 0,
    // x and dy read once, dx written once.
    bytes: 12 * ROWS * COLS,
    async setup(engine, seed) {
      const r = rng(seed);
      const x = randomNormal(ROWS * COLS, r, 3);
      const dy = randomNormal(ROWS * COLS, r);
      const tx = engine.upload(x, [ROWS, COLS]);
      const tdy = engine.upload(dy, [ROWS, COLS]);
      let last: Tensor | null = null;
      return {
        run() {
          engine.release(last);
          last = geluBackward(engine, tdy, tx, approx);
        },
        async check() {
          if (!last) return 'no run recorded';
          const e = relL2(await engine.readF32(last), geluBackwardRef(dy, x, approx));
          return e <= 1e-4 ? null : `relative L2 error ${e.toExponential(2)} > 1e-4`;
        },
        dispose() {
          engine.release(last, tx, tdy);
        },
      };
    },
  };
}

export const cases: BenchCase[] = [geluCase('erf'), geluCase('tanh'), geluBackwardCase('erf'), geluBackwardCase('tanh')];
