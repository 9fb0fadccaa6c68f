/**
 * Codebook health during training: per-step usage and perplexity, dead codes (not chosen by any
 * token for `deadAfter` steps), and re-seeding of dead codes from recent encoder outputs, the usual
 * remedy for codebook collapse.
 */
import { permutation } from './data.js';

export interface StepUsage {
  /** Distinct codes chosen in this step's batch. */
  used: number;
  /** exp(entropy) of this step's code histogram (K when every code is equally used). */
  perplexity: number;
  /** Codes not chosen for more than deadAfter steps. */
  dead: number;
}

export class CodeUsage {
  /** Step at which each code was last chosen (the starting step for never-chosen codes). */
  readonly lastUsed: Float64Array;

  constructor(
    readonly codes: number,
    readonly deadAfter: number,
    start = 0,
  ) {
    this.lastUsed = new Float64Array(codes).fill(start);
  }

  /** Records one step's token ids and returns its statistics. */
  update(step: number, ids: Uint32Array): StepUsage {
    const counts = new Uint32Array(this.codes);
    for (const id of ids) counts[id]!++;
    let used = 0;
    let h = 0;
    for (let k = 0; k < this.codes; k++) {
      const c = counts[k]!;
      if (!c) continue;
      used++;
      this.lastUsed[k] = step;
      const p = c / ids.length;
      h -= p * Math.log(p);
    }
    return { used, perplexity: Math.exp(h), dead: this.deadCodes(step).length };
  }

  deadCodes(step: number): number[] {
    const out: number[] = [];
    for (let k = 0; k < this.codes; k++) if (step - this.lastUsed[k]! > this.deadAfter) out.push(k);
    return out;
  }

  /**
   * Replaces dead codes' rows of `codebook` ([K, D], modified in place) with encoder outputs drawn
   * from `z` ([N, D]) in a seeded order (seed, step), each row used once: at most N codes per call
   * (the rest wait for the next call, so codes are never seeded as copies of one vector). Reseeded
   * codes count as used at `step`. Returns the reseeded code ids.
   */
  reseed(step: number, codebook: Float32Array, z: Float32Array, dim: number, seed: number): number[] {
    const rows = z.length / dim;
    const dead = this.deadCodes(step).slice(0, rows);
    const order = permutation(rows, (seed ^ 0x5eed) >>> 0, step);
    dead.forEach((k, i) => {
      const r = order[i]!;
      codebook.set(z.subarray(r * dim, (r + 1) * dim), k * dim);
      this.lastUsed[k] = step;
    });
    return dead;
  }

  /** Codes chosen at least once in a set of ids, as a fraction of the codebook. */
  static coverage(ids: Uint32Array, codes: number): number {
    return new Set(ids).size / codes;
  }
}
