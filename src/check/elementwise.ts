import type { Engine } from '../gpu/engine.js';
import {
  add,
  columnSum,
  gatherRows,
  gatherRowsBackward,
  l1,
  l1Backward,
  mse,
  mseBackward,
  patchify,
  patchifyBackward,
  scale,
  unpatchify,
} from '../ops/elementwise.js';
import { freshRng, randomF32, relL2 } from './util.js';

/** alpha·a + beta·b in float64. */
export function addRef(a: ArrayLike<number>, b: ArrayLike<number>, alpha = 1, beta = 1): Float64Array {
  const y = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) y[i] = alpha * a[i]! + beta * b[i]!;
  return y;
}

export function scaleRef(a: ArrayLike<number>, s: number): Float64Array {
  const y = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) y[i] = s * a[i]!;
  return y;
}

/** Rows of table [K, D] picked by indices; an index ≥ K gives zeros. */
export function gatherRowsRef(table: ArrayLike<number>, K: number, D: number, indices: ArrayLike<number>): Float64Array {
  const y = new Float64Array(indices.length * D);
  for (let r = 0; r < indices.length; r++) {
    const k = indices[r]!;
    if (k >= K) continue;
    for (let j = 0; j < D; j++) y[r * D + j] = table[k * D + j]!;
  }
  return y;
}

/**
 * Patchify's order, independent of the kernel: calls fn(o, i) for each patch element o (rows
 * (b, py, px), columns (y, x, channel)) with i the NHWC index of the pixel value it holds.
 */
export function forEachPatchElement(B: number, H: number, W: number, P: number, fn: (o: number, i: number) => void): void {
  let o = 0;
  for (let b = 0; b < B; b++)
    for (let py = 0; py < H / P; py++)
      for (let px = 0; px < W / P; px++)
        for (let y = 0; y < P; y++)
          for (let x = 0; x < P; x++)
            for (let c = 0; c < 3; c++) fn(o++, ((b * H + py * P + y) * W + px * P + x) * 3 + c);
}

/**
 * NHWC images [B, H, W, 3] to patches [B·(H/P)·(W/P), P·P·3], written as the nested loops over
 * (b, py, px) rows and (y, x, channel) columns.
 */
export function patchifyRef(img: ArrayLike<number>, B: number, H: number, W: number, P: number): Float64Array {
  const out = new Float64Array(B * H * W * 3);
  forEachPatchElement(B, H, W, P, (o, i) => (out[o] = img[i]!));
  return out;
}

/** The inverse of patchifyRef, by the same loops with source and destination swapped. */
export function unpatchifyRef(patches: ArrayLike<number>, B: number, H: number, W: number, P: number): Float64Array {
  const out = new Float64Array(B * H * W * 3);
  forEachPatchElement(B, H, W, P, (o, i) => (out[i] = patches[o]!));
  return out;
}

/** mean((a − b)²) in float64. */
export function mseRef(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return s / a.length;
}

/** d/da of dLoss·mean((a − b)²) in float64: 2·dLoss·(a − b)/n. */
export function mseBackwardRef(a: ArrayLike<number>, b: ArrayLike<number>, dLoss = 1): Float64Array {
  const g = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) g[i] = (2 * dLoss * (a[i]! - b[i]!)) / a.length;
  return g;
}

/** mean(|a − b|) in float64. */
export function l1Ref(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}

/** d/da of dLoss·mean(|a − b|) in float64: dLoss·sign(a − b)/n, 0 where a = b. */
export function l1BackwardRef(a: ArrayLike<number>, b: ArrayLike<number>, dLoss = 1): Float64Array {
  const g = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) g[i] = (dLoss * Math.sign(a[i]! - b[i]!)) / a.length;
  return g;
}

/**
 * The adjoint of patchify, written as a scatter-add over patchify's loops: dImages[pixel] +=
 * dPatches[o]. It equals unpatchify only because patchify is a permutation (each pixel is read
 * exactly once); a pixel read twice or never would show here as a doubled or zero value.
 */
export function patchifyBackwardRef(dPatches: ArrayLike<number>, B: number, H: number, W: number, P: number): Float64Array {
  const out = new Float64Array(B * H * W * 3);
  forEachPatchElement(B, H, W, P, (o, i) => (out[i] += dPatches[o]!));
  return out;
}

/**
 * The adjoint of unpatchify as a gather over unpatchify's loops: dPatches[o] = Σ of dImages over
 * the pixels patch element o was written to (exactly one, unpatchify being a permutation).
 */
export function unpatchifyBackwardRef(dImages: ArrayLike<number>, B: number, H: number, W: number, P: number): Float64Array {
  const out = new Float64Array(B * H * W * 3);
  forEachPatchElement(B, H, W, P, (o, i) => (out[o] += dImages[i]!));
  return out;
}

/**
 * gatherRows backward: dTable [K, D] with dTable[k, :] = Σ dOut[t, :] over tokens t with
 * indices[t] = k, in ascending t; indices ≥ K are dropped. Float64 sums, or (float32Order) each
 * addition rounded to float32, which is what a float32 loop over the tokens in order gives.
 */
export function gatherRowsBackwardRef(dOut: ArrayLike<number>, N: number, D: number, indices: ArrayLike<number>, K: number, float32Order = false): Float64Array {
  const out = new Float64Array(K * D);
  for (let t = 0; t < N; t++) {
    const k = indices[t]!;
    if (k >= K) continue;
    for (let j = 0; j < D; j++) {
      const v = out[k * D + j]! + dOut[t * D + j]!;
      out[k * D + j] = float32Order ? Math.fround(v) : v;
    }
  }
  return out;
}

/** Column sums of x [rows, cols] in float64. */
export function columnSumRef(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c] += x[r * cols + c]!;
  return out;
}

/**
 * Central finite differences of a scalar float64 function f at x for the listed coordinates (all
 * when `at` is absent): (f(x + h e_i) − f(x − h e_i)) / 2h. x is restored afterwards.
 */
export function finiteDifferences(f: (x: Float64Array) => number, x: Float64Array, at?: readonly number[], h = 1e-6): Float64Array {
  const idx = at ?? Array.from({ length: x.length }, (_, i) => i);
  const g = new Float64Array(idx.length);
  idx.forEach((i, n) => {
    const v = x[i]!;
    x[i] = v + h;
    const fp = f(x);
    x[i] = v - h;
    const fm = f(x);
    x[i] = v;
    g[n] = (fp - fm) / (2 * h);
  });
  return g;
}

/** Σ w·y in float64: the scalar loss whose gradient with respect to y is w. */
export function dot64(w: ArrayLike<number>, y: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += w[i]! * y[i]!;
  return s;
}

/** add, gatherRows, patchify/unpatchify, mse, l1 and the backward ops on small odd shapes against the float64 references. */
export async function selfTest(engine: Engine): Promise<string | null> {
  const r = freshRng();
  const n = 7 * 33;
  const a = randomF32(n, r);
  const b = randomF32(n, r);
  const img = randomF32(3 * 21 * 14 * 3, r);
  const idx = new Uint32Array([4, 0, 6, 6, 1]);
  const ta = engine.upload(a, [7, 33]);
  const tb = engine.upload(b, [7, 33]);
  const ti = engine.upload(img, [3, 21, 14, 3]);
  const tidx = engine.upload(idx, [idx.length], 'u32');
  const idx7 = new Uint32Array([3, 0, 3, 9, 3, 1, 0]); // repeats, and 9 ≥ K = 5 (dropped)
  const tidx7 = engine.upload(idx7, [idx7.length], 'u32');
  const outs = [
    add(engine, ta, tb, 0.5, -2),
    scale(engine, ta, 3),
    gatherRows(engine, ta, tidx),
    patchify(engine, ti, 7),
    mse(engine, ta, tb),
  ];
  outs.push(unpatchify(engine, outs[3]!, { batch: 3, height: 21, width: 14, patch: 7 }));
  outs.push(mseBackward(engine, ta, tb, 0.5), l1(engine, ta, tb), l1Backward(engine, ta, tb, 2));
  outs.push(gatherRowsBackward(engine, ta, tidx7, 5), columnSum(engine, ta));
  outs.push(patchifyBackward(engine, outs[3]!, { batch: 3, height: 21, width: 14, patch: 7 }));
  try {
    const got = await Promise.all(outs.map((t) => engine.readF32(t)));
    const checks: [string, Float32Array, ArrayLike<number>][] = [
      ['add', got[0]!, addRef(a, b, 0.5, -2)],
      ['scale', got[1]!, scaleRef(a, 3)],
      ['gatherRows', got[2]!, gatherRowsRef(a, 7, 33, idx)],
      ['patchify', got[3]!, patchifyRef(img, 3, 21, 14, 7)],
      ['mse', got[4]!, [mseRef(a, b)]],
      ['unpatchify', got[5]!, img],
      ['mseBackward', got[6]!, mseBackwardRef(a, b, 0.5)],
      ['l1', got[7]!, [l1Ref(a, b)]],
      ['l1Backward', got[8]!, l1BackwardRef(a, b, 2)],
      ['gatherRowsBackward', got[9]!, gatherRowsBackwardRef(a, 7, 33, idx7, 5)],
      ['columnSum', got[10]!, columnSumRef(a, 7, 33)],
      ['patchifyBackward', got[11]!, img],
    ];
    for (const [what, g, ref] of checks) {
      const e = relL2(g, ref);
      if (!(e <= 1e-5)) return `${what}: relative L2 error ${e.toExponential(2)} > 1e-5`;
    }
    return null;
  } finally {
    engine.release(ta, tb, ti, tidx, tidx7, ...outs);
  }
}
