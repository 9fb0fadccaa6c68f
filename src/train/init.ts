/**
 * Reproducible parameter initialization. Every value is a pure function of (seed, index): a
 * counter-based generator (no state carried between values), so the result does not depend on
 * the order in which parameters are created, and a parameter's seed can be derived from its name
 * (seedFor). Only IEEE-754 basic operations are used (+ − × ÷, exactly rounded by the language), with
 * a series for erf instead of Math functions (whose last bit may differ between JS engines and
 * platforms): the same seed gives the same bits on every machine.
 */

/** lowbias32 (C. Wellons): a bijective 32-bit integer mix with low avalanche bias. */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/**
 * 32 random bits for (seed, index, draw): mix32(mix32(mix32(seed) ^ index) ^ (draw · φ32 + c)).
 * For a fixed seed and draw, index ↦ bits is a bijection on 32-bit values.
 */
export function randomBits(seed: number, index: number, draw: number): number {
  const key = mix32(seed >>> 0);
  const x = mix32((key ^ index) >>> 0);
  return mix32((x ^ (Math.imul(draw, 0x9e3779b9) + NORMAL_SALT)) >>> 0);
}

/** A seed for one named parameter: FNV-1a of the name's UTF-16 units, mixed with the base seed. */
export function seedFor(seed: number, name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return mix32((h ^ mix32(seed >>> 0)) >>> 0);
}

/** Knots of the inverse CDF table: QUANTILE_STEPS intervals of equal probability. */
const QUANTILE_BITS = 12;
const QUANTILE_STEPS = 1 << QUANTILE_BITS;

/** erf(t) for |t| ≤ 1.5 by its Maclaurin series, with basic operations only (error below 1e-16). */
function erfSeries(t: number): number {
  const t2 = t * t;
  let power = t; // (−1)^n t^(2n+1) / n!
  let sum = 0;
  for (let n = 0; n < 40; n++) {
    sum += power / (2 * n + 1);
    power *= -t2 / (n + 1);
  }
  return 1.1283791670955126 * sum; // 2/√π
}

/** Φ(x) of the standard normal, |x| ≤ 2. */
const normalCdf = (x: number) => 0.5 + 0.5 * erfSeries(x * 0.7071067811865476);

let quantiles: Float64Array | null = null;

/**
 * The inverse CDF of N(0, 1) truncated to [−2, 2] at QUANTILE_STEPS + 1 equally spaced
 * probabilities (knot 0 is −2, the last +2), each found by bisection on Φ: built once, with basic
 * operations only, so every JS engine computes the same table.
 */
function quantileTable(): Float64Array {
  if (quantiles) return quantiles;
  const lo = normalCdf(-2);
  const hi = normalCdf(2);
  const q = new Float64Array(QUANTILE_STEPS + 1);
  q[0] = -2;
  q[QUANTILE_STEPS] = 2;
  for (let k = 1; k < QUANTILE_STEPS; k++) {
    const p = lo + ((hi - lo) * k) / QUANTILE_STEPS;
    let a = k === 1 ? -2 : q[k - 1]!;
    let b = 2;
    for (let it = 0; it < 60; it++) {
      const m = 0.5 * (a + b);
      if (normalCdf(m) < p) a = m;
      else b = m;
    }
    q[k] = 0.5 * (a + b);
  }
  return (quantiles = q);
}

/** Entries of the value table: one per interval of equal probability, read by the top bits. */
export const NORMAL_TABLE_BITS = 16;
/** The salt of the draw-0 stream of randomBits, hoisted where values are made in bulk. */
export const NORMAL_SALT = 0x632be5ab;

let table: Float32Array | null = null;

/**
 * The 2^NORMAL_TABLE_BITS values a standard normal truncated to [−2, 2] takes here: entry j is the
 * inverse CDF at the middle of the j-th of as many intervals of equal probability (linearly between
 * the quantile knots, in float64), rounded to float32. Built once from basic operations only.
 */
export function normalTable(): Float32Array {
  if (table) return table;
  const q = quantileTable();
  const per = 1 << (NORMAL_TABLE_BITS - QUANTILE_BITS);
  const t = new Float32Array(1 << NORMAL_TABLE_BITS);
  for (let j = 0; j < t.length; j++) {
    const k = Math.floor(j / per);
    const f = ((j % per) + 0.5) / per;
    t[j] = q[k]! + (q[k + 1]! - q[k]!) * f;
  }
  return (table = t);
}

/**
 * n values of N(0, std²) truncated at ±2 std (the shape inside is the normal's; the standard
 * deviation of the result is about 0.88 std). Value i depends only on (seed, i): it is
 * float32(std) × normalTable()[randomBits(seed, i, 0) >>> 16], one float32 product, so the device
 * kernel (kernels/init.wgsl, ops/random.ts) gives the same bits. Use seedFor(seed, name) to give
 * each parameter its own stream.
 */
export function truncNormal(n: number, std = 0.02, seed = 0): Float32Array {
  if (!(Number.isInteger(n) && n >= 0 && n <= 2 ** 32)) throw new Error(`truncNormal: bad length ${n}`);
  if (!(std >= 0) || !Number.isFinite(std)) throw new Error(`truncNormal: std must be finite and ≥ 0, got ${std}`);
  const out = new Float32Array(n);
  const t = normalTable();
  const s = Math.fround(std);
  const shift = 32 - NORMAL_TABLE_BITS;
  // randomBits(seed, i, 0) with the per-seed part hoisted out of the loop. The product of two
  // float32 values is exact in float64, so storing it rounds once, as a float32 multiply does.
  const key = mix32(seed >>> 0);
  for (let i = 0; i < n; i++) out[i] = s * t[mix32((mix32((key ^ i) >>> 0) ^ NORMAL_SALT) >>> 0) >>> shift]!;
  return out;
}

export function zeros(n: number): Float32Array {
  return new Float32Array(n);
}

export function ones(n: number): Float32Array {
  return new Float32Array(n).fill(1);
}
