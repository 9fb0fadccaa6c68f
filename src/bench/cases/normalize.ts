import { benchCase, type BenchCase } from '../case.js';
import type { RowLayout } from '../../ops/layernorm.js';
import { l2normalize, l2normalizeBackward } from '../../ops/normalize.js';
import { randomNormal } from '../../check/util.js';
import { l2normalizeBackwardRef, l2normalizeRef } from '../../check/normalize.js';

/**
 * Shapes: 256 × 1024 are the seed model's code vectors at batch 16 (what the cosine quantizer
 * normalizes per step, twice: z and the chosen codes); 8192 × 1024 is the whole seed codebook.
 */
const SHAPES: [number, number][] = [
  [256, 1024],
  [8192, 1024],
];

const forwardCase = (rows: number, D: number, layout: RowLayout): BenchCase =>
  benchCase({
    kernel: 'normalize',
    variant: layout,
    shape: [rows, D],
    // Memory-bound: GB/s is the measure (3 FLOPs per element not counted).
    flops: 0,
    // x read once, y written once, norm written (rows).
    bytes: 4 * (2 * rows * D + rows),
    inputs: (r) => randomNormal(rows * D, r, 2),
    tensors: (engine, x) => [engine.upload(x, [rows, D])],
    run: (engine, [tx]) => {
      const { y, norm } = l2normalize(engine, tx, { layout });
      return [y, norm];
    },
    reference: (x) => {
      const ref = l2normalizeRef(x, rows, D);
      return [ref.y, ref.norm];
    },
    tol: 1e-5,
    names: ['y', 'norm'],
  });

const backwardCase = (rows: number, D: number, layout: RowLayout): BenchCase =>
  benchCase({
    kernel: 'normalize',
    variant: `backward-${layout}`,
    shape: [rows, D],
    // Memory-bound: 5 FLOPs per element not counted.
    flops: 0,
    // dy and y read, dx written (rows·D each), norm read (rows).
    bytes: 4 * (3 * rows * D + rows),
    inputs: (r) => ({ x: randomNormal(rows * D, r, 2), dy: randomNormal(rows * D, r) }),
    tensors: (engine, { x, dy }) => {
      const tx = engine.upload(x, [rows, D]);
      const { y, norm } = l2normalize(engine, tx, { layout });
      engine.release(tx);
      return [engine.upload(dy, [rows, D]), y, norm];
    },
    run: (engine, [tdy, ty, tn]) => l2normalizeBackward(engine, tdy, ty, tn, { layout }),
    reference: ({ x, dy }) => l2normalizeBackwardRef(dy, x, rows, D),
    tol: 1e-5,
  });

export const cases: BenchCase[] = SHAPES.flatMap(([rows, D]) => [
  forwardCase(rows, D, 'row'),
  forwardCase(rows, D, 'workgroup'),
  backwardCase(rows, D, 'row'),
  backwardCase(rows, D, 'workgroup'),
]);
