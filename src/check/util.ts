/** Random inputs and error measures shared by the tests, the references, doctor and the bench (no test-framework imports). */

/** Seeded generator (mulberry32). Seeds are fresh each run unless TOK1D_TEST_SEED is set. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const RUN_SEED = process.env.TOK1D_TEST_SEED ? Number(process.env.TOK1D_TEST_SEED) : (Date.now() ^ (process.pid << 8)) >>> 0;
let seedCounter = 0;
/** A fresh stream for each call, derived from the run's seed (printed once, to reproduce). */
export function freshRng(): () => number {
  return rng(RUN_SEED + 0x9e3779b9 * ++seedCounter);
}

/** Uniform in [lo, hi), never exactly zero-filled. */
export function randomF32(n: number, r: () => number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r();
  return a;
}

/** Standard normal (Box–Muller). */
export function randomNormal(n: number, r: () => number, std = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = std * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  return a;
}

/** The relative L2 error every check uses (src/util/stats.ts). */
export { relL2 } from '../util/stats.js';

