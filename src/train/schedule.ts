/** A warm-up + cosine learning-rate schedule. */
export interface LrSchedule {
  /** Peak learning rate, reached at the end of warm-up. */
  base: number;
  /** Steps of linear warm-up from 0 to base (0: none). */
  warmup: number;
  /** Step at which the cosine decay reaches minLr; the rate stays at minLr afterwards. */
  total: number;
  /** Final learning rate (default 0). */
  minLr?: number;
}

/**
 * The learning rate at `step` (a real number ≥ 0):
 *   step ≤ warmup:          base · step / warmup                          (0 at step 0)
 *   warmup ≤ step ≤ total:  minLr + (base − minLr) · ½ (1 + cos(π (step − warmup) / (total − warmup)))
 *   step ≥ total:           minLr
 * Continuous when total > warmup, with lrAt(warmup) = base. Training loops usually pass the 1-based number of the
 * update about to be made (AdamW.stepCount + 1), so the first update gets base / warmup.
 */
export function lrAt(step: number, s: LrSchedule): number {
  const { base, warmup, total, minLr = 0 } = s;
  if (!(step >= 0) || !Number.isFinite(step)) throw new Error(`lrAt: step must be finite and ≥ 0, got ${step}`);
  if (!(base >= 0) || !Number.isFinite(base)) throw new Error(`lrAt: base must be finite and ≥ 0, got ${base}`);
  if (!(minLr >= 0 && minLr <= base)) throw new Error(`lrAt: minLr must lie in [0, base], got ${minLr}`);
  if (!(warmup >= 0 && total >= warmup) || !Number.isFinite(total)) throw new Error(`lrAt: need 0 ≤ warmup ≤ total, got warmup ${warmup}, total ${total}`);
  if (step < warmup) return (base * step) / warmup;
  if (step >= total) return minLr;
  const progress = (step - warmup) / (total - warmup);
  return minLr + (base - minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
}
