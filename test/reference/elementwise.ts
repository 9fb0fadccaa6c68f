import type { Engine } from '../../src/gpu/engine.js';
import { add, gatherRows, mse, patchify, scale, unpatchify } from '../../src/ops/elementwise.js';
import { freshRng, randomF32, relL2 } from '../helpers.js';

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
 * NHWC images [B, H, W, 3] to patches [B·(H/P)·(W/P), P·P·3], written as the nested loops over
 * (b, py, px) rows and (y, x, channel) columns.
 */
export function patchifyRef(img: ArrayLike<number>, B: number, H: number, W: number, P: number): Float64Array {
  const out = new Float64Array(B * H * W * 3);
  let o = 0;
  for (let b = 0; b < B; b++)
    for (let py = 0; py < H / P; py++)
      for (let px = 0; px < W / P; px++)
        for (let y = 0; y < P; y++)
          for (let x = 0; x < P; x++)
            for (let c = 0; c < 3; c++) out[o++] = img[((b * H + py * P + y) * W + px * P + x) * 3 + c]!;
  return out;
}

/** The inverse of patchifyRef, by the same loops with source and destination swapped. */
export function unpatchifyRef(patches: ArrayLike<number>, B: number, H: number, W: number, P: number): Float64Array {
  const out = new Float64Array(B * H * W * 3);
  let o = 0;
  for (let b = 0; b < B; b++)
    for (let py = 0; py < H / P; py++)
      for (let px = 0; px < W / P; px++)
        for (let y = 0; y < P; y++)
          for (let x = 0; x < P; x++)
            for (let c = 0; c < 3; c++) out[((b * H + py * P + y) * W + px * P + x) * 3 + c] = patches[o++]!;
  return out;
}

/** mean((a − b)²) in float64. */
export function mseRef(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return s / a.length;
}

/** add, gatherRows, patchify/unpatchify and mse on small odd shapes against the float64 references. */
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
  const outs = [
    add(engine, ta, tb, 0.5, -2),
    scale(engine, ta, 3),
    gatherRows(engine, ta, tidx),
    patchify(engine, ti, 7),
    mse(engine, ta, tb),
  ];
  outs.push(unpatchify(engine, outs[3]!, { batch: 3, height: 21, width: 14, patch: 7 }));
  try {
    const got = await Promise.all(outs.map((t) => engine.readF32(t)));
    const checks: [string, Float32Array, ArrayLike<number>][] = [
      ['add', got[0]!, addRef(a, b, 0.5, -2)],
      ['scale', got[1]!, scaleRef(a, 3)],
      ['gatherRows', got[2]!, gatherRowsRef(a, 7, 33, idx)],
      ['patchify', got[3]!, patchifyRef(img, 3, 21, 14, 7)],
      ['mse', got[4]!, [mseRef(a, b)]],
      ['unpatchify', got[5]!, img],
    ];
    for (const [what, g, ref] of checks) {
      const e = relL2(g, ref);
      if (!(e <= 1e-5)) return `${what}: relative L2 error ${e.toExponential(2)} > 1e-5`;
    }
    return null;
  } finally {
    engine.release(ta, tb, ti, tidx, ...outs);
  }
}
