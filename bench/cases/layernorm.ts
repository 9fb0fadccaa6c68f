import type { BenchCase } from '../case.js';
import { layernorm, layernormBackward, type RowLayout } from '../../src/ops/layernorm.js';
import type { Tensor } from '../../src/tensor.js';
import { randomF32, randomNormal, relL2, rng } from '../../test/reference/util.js';
import { layernormBackwardRef, layernormRef } from '../../test/reference/layernorm.js';

const ROWS = 4096;
const D = 1024;

function layernormCase(layout: RowLayout): BenchCase {
  return {
    kernel: 'layernorm',
    variant: layout,
    shape: [ROWS, D],
    // Memory-bound: GB/s is the measure (about 10 FLOPs per element are not counted).
    flops: 0,
    // x read once, y written once, gamma and beta read, mean and rstd written.
    bytes: 4 * (2 * ROWS * D + 2 * D + 2 * ROWS),
    async setup(engine, seed) {
      const r = rng(seed);
      const x = randomNormal(ROWS * D, r, 2);
      const g = randomF32(D, r, 0.5, 1.5);
      const b = randomF32(D, r, -0.5, 0.5);
      const tx = engine.upload(x, [ROWS, D]);
      const tg = engine.upload(g, [D]);
      const tb = engine.upload(b, [D]);
      let last: { y: Tensor; mean: Tensor; rstd: Tensor } | null = null;
      const drop = () => {
        if (last) engine.release(last.y, last.mean, last.rstd);
      };
      return {
        run() {
          drop();
          last = layernorm(engine, tx, tg, tb, 1e-5, { layout });
        },
        async check() {
          if (!last) return 'no run recorded';
          const ref = layernormRef(x, g, b, ROWS, D);
          const y = await engine.readF32(last.y);
          const mean = await engine.readF32(last.mean);
          const rstd = await engine.readF32(last.rstd);
          // The mean is compared in units of each row's standard deviation (means are near 0).
          let meanErr = 0;
          for (let i = 0; i < ROWS; i++) meanErr = Math.max(meanErr, Math.abs(mean[i]! - ref.mean[i]!) * ref.rstd[i]!);
          const e = Math.max(relL2(y, ref.y), relL2(rstd, ref.rstd), meanErr);
          return e <= 1e-5 ? null : `error ${e.toExponential(2)} > 1e-5`;
        },
        dispose() {
          drop();
          engine.release(tx, tg, tb);
        },
      };
    },
  };
}

function layernormBackwardCase(layout: RowLayout): BenchCase {
  return {
    kernel: 'layernorm',
    variant: `backward-${layout}`,
    shape: [ROWS, D],
    // Memory-bound: about 15 FLOPs per element (dx 11, dgamma and dbeta 4) not counted.
    flops: 0,
    // dy and x read, dx written (rows·D each); gamma read, dgamma and dbeta written (D each);
    // mean and rstd read (rows each). The run reads dy and x twice (dx pass, column pass).
    bytes: 4 * (3 * ROWS * D + 3 * D + 2 * ROWS),
    async setup(engine, seed) {
      const r = rng(seed);
      const x = randomNormal(ROWS * D, r, 2);
      const g = randomF32(D, r, 0.5, 1.5);
      const b = randomF32(D, r, -0.5, 0.5);
      const dy = randomNormal(ROWS * D, r);
      const tx = engine.upload(x, [ROWS, D]);
      const tg = engine.upload(g, [D]);
      const tb = engine.upload(b, [D]);
      const tdy = engine.upload(dy, [ROWS, D]);
      const fwd = layernorm(engine, tx, tg, tb, 1e-5, { layout });
      engine.release(fwd.y);
      let last: { dx: Tensor; dgamma: Tensor; dbeta: Tensor } | null = null;
      const drop = () => {
        if (last) engine.release(last.dx, last.dgamma, last.dbeta);
      };
      return {
        run() {
          drop();
          last = layernormBackward(engine, tdy, tx, tg, fwd.mean, fwd.rstd, { layout });
        },
        async check() {
          if (!last) return 'no run recorded';
          const ref = layernormBackwardRef(dy, x, g, ROWS, D);
          const e = Math.max(
            relL2(await engine.readF32(last.dx), ref.dx),
            relL2(await engine.readF32(last.dgamma), ref.dgamma),
            relL2(await engine.readF32(last.dbeta), ref.dbeta),
          );
          return e <= 1e-4 ? null : `error ${e.toExponential(2)} > 1e-4`;
        },
        dispose() {
          drop();
          engine.release(tx, tg, tb, tdy, fwd.mean, fwd.rstd);
        },
      };
    },
  };
}

export const cases: BenchCase[] = [
  layernormCase('row'),
  layernormCase('workgroup'),
  layernormBackwardCase('row'),
  layernormBackwardCase('workgroup'),
];
