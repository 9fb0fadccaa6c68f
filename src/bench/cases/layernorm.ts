import { benchCase, subgroupVariant, type BenchCase } from '../case.js';
import type { Engine } from '../../gpu/engine.js';
import { layernorm, layernormBackward, type RowLayout } from '../../ops/layernorm.js';
import { randomF32, randomNormal, relL2 } from '../../check/util.js';
import { layernormBackwardRef, layernormRef } from '../../check/layernorm.js';

const ROWS = 4096;
const D = 1024;

/** x, gamma and beta, drawn in this order. */
function inputs(r: () => number) {
  return { x: randomNormal(ROWS * D, r, 2), g: randomF32(D, r, 0.5, 1.5), b: randomF32(D, r, -0.5, 0.5) };
}

function upload(engine: Engine, { x, g, b }: ReturnType<typeof inputs>) {
  return [engine.upload(x, [ROWS, D]), engine.upload(g, [D]), engine.upload(b, [D])] as const;
}

const layernormCase = (layout: RowLayout): BenchCase =>
  benchCase({
    kernel: 'layernorm',
    variant: layout,
    shape: [ROWS, D],
    // Memory-bound: GB/s is the measure (about 10 FLOPs per element are not counted).
    flops: 0,
    // x read once, y written once, gamma and beta read, mean and rstd written.
    bytes: 4 * (2 * ROWS * D + 2 * D + 2 * ROWS),
    inputs,
    tensors: (engine, data) => [...upload(engine, data)],
    run: (engine, [tx, tg, tb]) => {
      const { y, mean, rstd } = layernorm(engine, tx, tg, tb, 1e-5, { layout });
      return [y, mean, rstd];
    },
    check: ([y, mean, rstd], { x, g, b }) => {
      const ref = layernormRef(x, g, b, ROWS, D);
      // The mean is compared in units of each row's standard deviation (means are near 0).
      let meanErr = 0;
      for (let i = 0; i < ROWS; i++) meanErr = Math.max(meanErr, Math.abs(mean[i]! - ref.mean[i]!) * ref.rstd[i]!);
      const e = Math.max(relL2(y, ref.y), relL2(rstd, ref.rstd), meanErr);
      return e <= 1e-5 ? null : `error ${e.toExponential(2)} > 1e-5`;
    },
  });

const layernormBackwardCase = (layout: RowLayout): BenchCase =>
  benchCase({
    kernel: 'layernorm',
    variant: `backward-${layout}`,
    shape: [ROWS, D],
    // Memory-bound: about 15 FLOPs per element (dx 11, dgamma and dbeta 4) not counted.
    flops: 0,
    // dy and x read, dx written (rows·D each); gamma read, dgamma and dbeta written (D each);
    // mean and rstd read (rows each). The run reads dy and x twice (dx pass, column pass).
    bytes: 4 * (3 * ROWS * D + 3 * D + 2 * ROWS),
    inputs: (r) => ({ ...inputs(r), dy: randomNormal(ROWS * D, r) }),
    tensors: (engine, data) => {
      const [tx, tg, tb] = upload(engine, data);
      const tdy = engine.upload(data.dy, [ROWS, D]);
      const fwd = layernorm(engine, tx, tg, tb, 1e-5, { layout });
      engine.release(fwd.y);
      return [tx, tg, tb, tdy, fwd.mean, fwd.rstd];
    },
    run: (engine, [tx, tg, , tdy, mean, rstd]) => {
      const { dx, dgamma, dbeta } = layernormBackward(engine, tdy, tx, tg, mean, rstd, { layout });
      return [dx, dgamma, dbeta];
    },
    reference: ({ dy, x, g }) => {
      const ref = layernormBackwardRef(dy, x, g, ROWS, D);
      return [ref.dx, ref.dgamma, ref.dbeta];
    },
    tol: 1e-4,
    names: ['dx', 'dgamma', 'dbeta'],
  });

export const cases: BenchCase[] = [
  layernormCase('row'),
  layernormCase('workgroup'),
  layernormBackwardCase('row'),
  layernormBackwardCase('workgroup'),
  subgroupVariant(layernormCase('workgroup')),
  subgroupVariant(layernormBackwardCase('workgroup')),
];
