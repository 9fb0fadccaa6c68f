import { benchCase, type BenchCase } from '../case.js';
import { gelu, geluBackward } from '../../ops/gelu.js';
import { randomNormal } from '../../check/util.js';
import { geluBackwardRef, geluRef } from '../../check/gelu.js';

const ROWS = 4096;
const COLS = 1024;
const SHAPE = [ROWS, COLS];

const geluCase = (approx: 'erf' | 'tanh'): BenchCase =>
  benchCase({
    kernel: 'gelu',
    variant: approx,
    shape: SHAPE,
    // Memory-bound: GB/s is the measure (about 30 (erf) or 10 (tanh) FLOPs per element not counted).
    flops: 0,
    // x read once, y written once.
    bytes: 8 * ROWS * COLS,
    inputs: (r) => randomNormal(ROWS * COLS, r, 3),
    tensors: (engine, x) => [engine.upload(x, SHAPE)],
    run: (engine, [tx]) => gelu(engine, tx, approx),
    reference: (x) => geluRef(x, approx),
    tol: 1e-5,
  });

const geluBackwardCase = (approx: 'erf' | 'tanh'): BenchCase =>
  benchCase({
    kernel: 'gelu',
    variant: `backward-${approx}`,
    shape: SHAPE,
    // Memory-bound: about 35 (erf) or 20 (tanh) FLOPs per element not counted.
    flops: 0,
    // x and dy read once, dx written once.
    bytes: 12 * ROWS * COLS,
    inputs: (r) => ({ x: randomNormal(ROWS * COLS, r, 3), dy: randomNormal(ROWS * COLS, r) }),
    tensors: (engine, { x, dy }) => [engine.upload(x, SHAPE), engine.upload(dy, SHAPE)],
    run: (engine, [tx, tdy]) => geluBackward(engine, tdy, tx, approx),
    reference: ({ x, dy }) => geluBackwardRef(dy, x, approx),
    tol: 1e-4,
  });

export const cases: BenchCase[] = [geluCase('erf'), geluCase('tanh'), geluBackwardCase('erf'), geluBackwardCase('tanh')];
