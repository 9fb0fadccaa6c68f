/**
 * Reproducible parameter initialization. Every value is a pure function of (seed, index): a
 * counter-based generator (no state carried between values), so the result does not depend on
 * the order in which parameters are created, and a parameter's seed can be derived from its name
 * (seedFor). Only IEEE-754 basic operations are used (+ − × ÷, exactly rounded by the language, and
 * √, which engines compute with the correctly rounded hardware instruction), with a series logarithm
 * instead of Math.log (whose last bit may differ between JS engines and platforms): the same seed
 * gives the same bits on every machine.
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
  return mix32((x ^ (Math.imul(draw, 0x9e3779b9) + 0x632be5ab)) >>> 0);
}

/** A seed for one named parameter: FNV-1a of the name's UTF-16 units, mixed with the base seed. */
export function seedFor(seed: number, name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return mix32((h ^ mix32(seed >>> 0)) >>> 0);
}

const LN2 = 0.6931471805599453;
const SQRT2 = 1.4142135623730951;

/**
 * ln(s) for s > 0 (finite) with only basic operations: s = f·2^e with f in [√½, √2) by exact
 * scaling, then ln f = 2 atanh(y), y = (f − 1)/(f + 1), |y| < 0.172, summed to y^27 (truncation
 * below 1e-21 relative).
 */
function logBasic(s: number): number {
  let f = s;
  let e = 0;
  while (f >= SQRT2) {
    f *= 0.5;
    e++;
  }
  while (f < SQRT2 / 2) {
    f *= 2;
    e--;
  }
  const y = (f - 1) / (f + 1);
  const y2 = y * y;
  let term = y;
  let sum = 0;
  for (let k = 1; k <= 27; k += 2) {
    sum += term / k;
    term *= y2;
  }
  return e * LN2 + 2 * sum;
}

/** Uniform in (−1, 1), never 0 or ±1, from 32 bits. */
function symmetricUnit(bits: number): number {
  return (bits + 0.5) / 2147483648 - 1;
}

/** Attempts per value before giving up (probability of needing more: about 0.28^64). */
const MAX_ATTEMPTS = 64;

/**
 * One standard normal truncated to [−2, 2] for (seed, index): Marsaglia's polar method on the
 * uniform pair of draws (2a, 2a + 1), attempt a = 0, 1, ..., accepting the first with s in (0, 1)
 * and |z| ≤ 2 (rejection keeps the exact truncated-normal distribution; ~75% accept per attempt).
 */
export function truncNormalAt(seed: number, index: number): number {
  for (let a = 0; a < MAX_ATTEMPTS; a++) {
    const u = symmetricUnit(randomBits(seed, index, 2 * a));
    const v = symmetricUnit(randomBits(seed, index, 2 * a + 1));
    const s = u * u + v * v;
    if (s >= 1) continue;
    const z = u * Math.sqrt((-2 * logBasic(s)) / s);
    if (z >= -2 && z <= 2) return z;
  }
  return 0;
}

/**
 * n values of N(0, std²) truncated at ±2 std (by rejection, so the shape inside is exactly the
 * normal's; the standard deviation of the result is about 0.88 std). Value i depends only on
 * (seed, i). Use seedFor(seed, name) to give each parameter its own stream.
 */
export function truncNormal(n: number, std = 0.02, seed = 0): Float32Array {
  if (!(Number.isInteger(n) && n >= 0 && n <= 2 ** 32)) throw new Error(`truncNormal: bad length ${n}`);
  if (!(std >= 0) || !Number.isFinite(std)) throw new Error(`truncNormal: std must be finite and ≥ 0, got ${std}`);
  const out = new Float32Array(n);
  const s = seed >>> 0;
  for (let i = 0; i < n; i++) out[i] = std * truncNormalAt(s, i);
  return out;
}

export function zeros(n: number): Float32Array {
  return new Float32Array(n);
}

export function ones(n: number): Float32Array {
  return new Float32Array(n).fill(1);
}
