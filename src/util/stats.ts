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
