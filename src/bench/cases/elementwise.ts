import { benchCase, type BenchCase } from '../case.js';
import type { Engine } from '../../gpu/engine.js';
import { add, columnSum, gatherRows, gatherRowsBackward, l1, l1Backward, mse, mseBackward, patchify, patchifyBackward } from '../../ops/elementwise.js';
import type { Tensor } from '../../tensor.js';
import { randomF32, randomNormal } from '../../check/util.js';
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
} from '../../check/elementwise.js';

const SHAPE = [4096, 1024];
const N = 4096 * 1024;

type Pair = { a: Float32Array; b: Float32Array };

/** A binary op on two random normal [4096, 1024] operands. */
function pairCase(
  kernel: string,
  variant: string,
  flops: number,
  bytes: number,
  op: (engine: Engine, a: Tensor, b: Tensor) => Tensor,
  reference: (p: Pair) => ArrayLike<number>,
  tol: number,
): BenchCase {
  return benchCase({
    kernel,
    variant,
    shape: SHAPE,
    flops,
    bytes,
    inputs: (r): Pair => ({ a: randomNormal(N, r), b: randomNormal(N, r) }),
    tensors: (engine, { a, b }) => [engine.upload(a, SHAPE), engine.upload(b, SHAPE)],
    run: (engine, [ta, tb]) => op(engine, ta, tb),
    reference,
    tol,
  });
}

/** Rows of a [8192, 1024] table at n random indices: the gradient scattered back (gather backward). */
function gatherBackwardCase(variant: string, n: number): BenchCase {
  return benchCase({
    kernel: 'gather',
    variant,
    shape: [n, 1024, 8192],
    flops: 0,
    // dOut (N·D) and indices (N) read, the whole [K, D] table gradient written (zeros included).
    bytes: 4 * (n * 1024 + n + 8192 * 1024),
    inputs: (r) => ({ dOut: randomNormal(n * 1024, r), idx: Uint32Array.from({ length: n }, () => Math.floor(r() * 8192)) }),
    tensors: (engine, { dOut, idx }) => [engine.upload(dOut, [n, 1024]), engine.upload(idx, [n], 'u32')],
    run: (engine, [td, ti]) => gatherRowsBackward(engine, td, ti, 8192),
    reference: ({ dOut, idx }) => gatherRowsBackwardRef(dOut, n, 1024, idx, 8192),
    tol: 1e-6,
  });
}

const PATCHIFY_SHAPE = [16, 256, 256, 3];

export const cases: BenchCase[] = [
  // add: memory-bound, 3 FLOPs per element (alpha·a + beta·b) not counted; a and b read, y written.
  pairCase('add', 'vec4', 0, 12 * N, (e, a, b) => add(e, a, b, 0.5, 2), ({ a, b }) => addRef(a, b, 0.5, 2), 1e-6),
  benchCase({
    kernel: 'gather',
    variant: 'rows',
    shape: [256, 1024, 8192],
    flops: 0,
    bytes: 4 * (2 * 256 * 1024 + 256), // 256 rows read and written, 256 indices read
    inputs: (r) => ({ table: randomF32(8192 * 1024, r), idx: Uint32Array.from({ length: 256 }, () => Math.floor(r() * 8192)) }),
    tensors: (engine, { table, idx }) => [engine.upload(table, [8192, 1024]), engine.upload(idx, [256], 'u32')],
    run: (engine, [tt, ti]) => gatherRows(engine, tt, ti),
    reference: ({ table, idx }) => gatherRowsRef(table, 8192, 1024, idx),
    tol: 0,
  }),
  // mse: memory-bound, 3 FLOPs per element not counted; a and b read (the partial sums are a few KiB).
  pairCase('mse', 'two-pass', 0, 8 * N, mse, ({ a, b }) => [mseRef(a, b)], 1e-5),
  benchCase({
    kernel: 'patchify',
    variant: 'P16',
    shape: PATCHIFY_SHAPE,
    flops: 0,
    bytes: 8 * 16 * 256 * 256 * 3, // images read once, patches written once
    inputs: (r) => randomF32(16 * 256 * 256 * 3, r),
    tensors: (engine, img) => [engine.upload(img, PATCHIFY_SHAPE)],
    run: (engine, [ti]) => patchify(engine, ti, 16),
    reference: (img) => patchifyRef(img, 16, 256, 256, 16),
    tol: 0,
  }),
  benchCase({
    kernel: 'patchify',
    variant: 'backward-P16',
    shape: PATCHIFY_SHAPE,
    flops: 0,
    bytes: 8 * 16 * 256 * 256 * 3, // patch gradients read once, image gradients written once
    inputs: (r) => randomF32(16 * 256 * 256 * 3, r),
    tensors: (engine, g) => [engine.upload(g, [16 * 16 * 16, 16 * 16 * 3])],
    run: (engine, [tg]) => patchifyBackward(engine, tg, { batch: 16, height: 256, width: 256, patch: 16 }),
    reference: (g) => patchifyBackwardRef(g, 16, 256, 256, 16),
    tol: 0,
  }),
  // mse backward: memory-bound, 2 FLOPs per element not counted; a and b read, the gradient written.
  pairCase('mse', 'backward', 0, 12 * N, (e, a, b) => mseBackward(e, a, b, 0.5), ({ a, b }) => mseBackwardRef(a, b, 0.5), 1e-6),
  // l1: memory-bound, 2 FLOPs per element not counted; a and b read (the partial sums are a few KiB).
  pairCase('l1', 'two-pass', 0, 8 * N, l1, ({ a, b }) => [l1Ref(a, b)], 1e-5),
  // l1 backward: memory-bound, 2 FLOPs per element not counted; a and b read, the gradient written.
  pairCase('l1', 'backward', 0, 12 * N, l1Backward, ({ a, b }) => l1BackwardRef(a, b), 1e-6),
  benchCase({
    kernel: 'colsum',
    variant: 'tree',
    shape: SHAPE,
    flops: 0, // memory-bound: one addition per element not counted
    bytes: 4 * (N + 1024), // x read once, the column sums written (the partials are 1/16 to 1/32 of x)
    inputs: (r) => randomNormal(N, r),
    tensors: (engine, x) => [engine.upload(x, SHAPE)],
    run: (engine, [tx]) => columnSum(engine, tx),
    reference: (x) => columnSumRef(x, 4096, 1024),
    tol: 1e-5,
  }),
  // Memory-bound: N·D additions not counted; the rank pass compares N² index pairs.
  gatherBackwardCase('backward', 256),
  // The rank pass at its largest realistic size: 4096² index comparisons (not counted).
  gatherBackwardCase('backward-N4096', 4096),
];
