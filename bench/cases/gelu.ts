import type { BenchCase } from '../case.js';
import { gelu } from '../../src/ops/gelu.js';
import type { Tensor } from '../../src/tensor.js';
import { randomNormal, relL2, rng } from '../../test/reference/util.js';
import { geluRef } from '../../test/reference/gelu.js';

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

export const cases: BenchCase[] = [geluCase('erf'), geluCase('tanh')];
