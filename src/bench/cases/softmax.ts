import { benchCase, subgroupVariant, type BenchCase } from '../case.js';
import type { RowLayout } from '../../ops/layernorm.js';
import { softmax, softmaxBackward } from '../../ops/softmax.js';
import { randomNormal } from '../../check/util.js';
import { softmaxBackwardRef, softmaxRef } from '../../check/softmax.js';

const ROWS = 4096;
const COLS = 1024;
const SHAPE = [ROWS, COLS];

const softmaxCase = (layout: RowLayout): BenchCase =>
  benchCase({
    kernel: 'softmax',
    variant: layout,
    shape: SHAPE,
    // Memory-bound: GB/s is the measure (two exp and about 3 more FLOPs per element not counted).
    flops: 0,
    // x read once, y written once.
    bytes: 8 * ROWS * COLS,
    inputs: (r) => randomNormal(ROWS * COLS, r, 3),
    tensors: (engine, x) => [engine.upload(x, SHAPE)],
    run: (engine, [tx]) => softmax(engine, tx, { layout }),
    reference: (x) => softmaxRef(x, ROWS, COLS),
    tol: 1e-5,
  });

const softmaxBackwardCase = (layout: RowLayout): BenchCase =>
  benchCase({
    kernel: 'softmax',
    variant: `backward-${layout}`,
    shape: SHAPE,
    // Memory-bound: 4 FLOPs per element not counted.
    flops: 0,
    // dy and y read once, dx written once.
    bytes: 12 * ROWS * COLS,
    inputs: (r) => ({ y: Float32Array.from(softmaxRef(randomNormal(ROWS * COLS, r, 3), ROWS, COLS)), dy: randomNormal(ROWS * COLS, r) }),
    tensors: (engine, { y, dy }) => [engine.upload(y, SHAPE), engine.upload(dy, SHAPE)],
    run: (engine, [ty, tdy]) => softmaxBackward(engine, tdy, ty, { layout }),
    reference: ({ y, dy }) => softmaxBackwardRef(dy, y, ROWS, COLS),
    tol: 1e-4,
  });

export const cases: BenchCase[] = [
  softmaxCase('row'),
  softmaxCase('workgroup'),
  softmaxBackwardCase('row'),
  softmaxBackwardCase('workgroup'),
  subgroupVariant(softmaxCase('workgroup')),
  subgroupVariant(softmaxBackwardCase('workgroup')),
];
