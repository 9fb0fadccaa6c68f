/**
 * The summary statistics tok1d reports and checks with: one median for every timing (tuner, bench)
 * and one relative error for every comparison (start-up parity checks, doctor's self-tests, the
 * bench's checks, the tests).
 */

/** The middle value of `xs`; for an even count, the mean of the two middle values. NaN when empty. */
export function median(xs: readonly number[]): number {
  if (!xs.length) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

/** The arithmetic mean of `xs`; NaN when empty. */
export function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN;
}

/**
 * Relative L2 error ‖actual − expected‖ / ‖expected‖ over expected's length; the absolute error
 * ‖actual − expected‖ when expected is all zeros. Infinity when actual is shorter or holds a
 * non-finite value where expected is finite (a NaN never passes a tolerance).
 */
export function relL2(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length < expected.length) return Infinity;
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    if (!Number.isFinite(a) && Number.isFinite(expected[i]!)) return Infinity;
    const d = a - expected[i]!;
    num += d * d;
    den += expected[i]! * expected[i]!;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

/** The q-quantile of `xs` (0 ≤ q ≤ 1) by linear interpolation between order statistics. NaN when empty. */
export function quantile(xs: readonly number[], q: number): number {
  if (!xs.length) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const at = Math.min(1, Math.max(0, q)) * (s.length - 1);
  const lo = Math.floor(at);
  const hi = Math.min(s.length - 1, lo + 1);
  return s[lo]! + (at - lo) * (s[hi]! - s[lo]!);
}

/** P(X ≤ k) for X ~ Binomial(n, 1/2). */
function binomialHalfCdf(k: number, n: number): number {
  let term = 2 ** -n; // C(n, 0) / 2^n
  let sum = term;
  for (let i = 1; i <= k; i++) {
    term = (term * (n - i + 1)) / i;
    sum += term;
  }
  return sum;
}

/**
 * Distribution-free confidence interval of the median: the order statistics s[j] and s[n−1−j]
 * with the largest j whose coverage 1 − 2·P(Binomial(n, ½) ≤ j) is still at least `level`. It
 * assumes only independent runs from one distribution. Null when n is too small for the level
 * (6 runs are the fewest for 95%: min to max covers 1 − 2/64 of the time).
 */
export function medianInterval(xs: readonly number[], level = 0.95): [number, number] | null {
  const n = xs.length;
  const s = [...xs].sort((a, b) => a - b);
  let j = -1;
  for (let k = 0; k < n / 2; k++) {
    if (1 - 2 * binomialHalfCdf(k, n) >= level) j = k;
    else break;
  }
  return j < 0 ? null : [s[j]!, s[n - 1 - j]!];
}
