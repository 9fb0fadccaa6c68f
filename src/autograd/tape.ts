import type { Engine } from '../gpu/engine.js';
import { add } from '../ops/elementwise.js';
import type { Tensor } from '../tensor.js';

/** A gradient that already includes the input's prior gradient (the tape replaces instead of adding). */
export interface Summed {
  summed: Tensor;
}

/**
 * An op's backward: the gradients of its outputs, and the gradients its inputs have gathered so far
 * from ops recorded later (null: none yet), in; the gradients of its inputs out. An input's
 * gradient may come back as { summed } where the op added the prior one itself (in the same pass).
 */
export type BackwardFn = (gradOutputs: (Tensor | null)[], prior: (Tensor | null)[]) => (Tensor | Summed | null)[];

interface OpRecord {
  name: string;
  inputs: Tensor[];
  outputs: Tensor[];
  /** Tensors the backward reads besides inputs/outputs (e.g. mean/rstd, lse, indices). */
  saved: Tensor[];
  backward: BackwardFn;
}

/**
 * Autograd-lite. Ops run eagerly on the GPU; while recording, each differentiable op pushes a record
 * (inputs, outputs, saved tensors, backward). `backward(loss)` walks the records in reverse (they
 * are already in topological order: an op records after its inputs exist), sums gradients of a
 * tensor used more than once, and returns the gradients of the leaves that require them.
 *
 * Memory: the tape owns every tensor an op produced while recording (activations, saved
 * statistics). During backward each is released to the pool right after the last record that reads
 * it has run; gradients are released once consumed. Tensors the caller keeps (e.g. to read the
 * loss) are named in `keep` and survive.
 */
export class Tape {
  private records: OpRecord[] = [];
  private owned = new Set<Tensor>();
  /** Watched leaves (parameters, inputs). */
  private leaves = new Set<Tensor>();
  /** Leaves and every recorded output that depends on one: gradients flow through these. */
  private tracked = new Set<Tensor>();
  private paused = 0;
  private seeds = new Map<Tensor, number>();

  constructor(readonly engine: Engine) {}

  /** Whether ops should record (false inside noGrad). */
  get recording(): boolean {
    return this.paused === 0;
  }

  /** Marks leaves (parameters, inputs) whose gradient backward() should return. */
  watch(...ts: Tensor[]): void {
    for (const t of ts) {
      this.leaves.add(t);
      this.tracked.add(t);
    }
  }

  requiresGrad(t: Tensor): boolean {
    return this.tracked.has(t);
  }

  /** Runs fn without recording and without keeping saved tensors (inference). */
  noGrad<T>(fn: () => T): T {
    this.paused++;
    try {
      return fn();
    } finally {
      this.paused--;
    }
  }

  /** Whether record() would record an op with these inputs (ops that save extra tensors only then). */
  wouldRecord(inputs: readonly Tensor[]): boolean {
    return this.recording && inputs.some((t) => this.tracked.has(t));
  }

  /**
   * Records an op; the tape then owns its outputs and saved tensors. Returns false (and records
   * nothing) when no input requires a gradient or the tape is paused: the caller keeps ownership
   * and releases the saved tensors itself.
   */
  record(name: string, inputs: Tensor[], outputs: Tensor[], saved: Tensor[], backward: BackwardFn): boolean {
    if (!this.wouldRecord(inputs)) return false;
    for (const o of outputs) {
      this.tracked.add(o);
      this.owned.add(o);
    }
    for (const s of saved) this.owned.add(s);
    this.records.push({ name, inputs, outputs, saved, backward });
    return true;
  }

  /** Hands the tape tensors made outside recorded ops that records read (e.g. patchified inputs). */
  adopt(...ts: Tensor[]): void {
    for (const t of ts) this.owned.add(t);
  }

  /** Number of records (for tests and profiles). */
  get size(): number {
    return this.records.length;
  }

  /** Numeric value of a seed gradient made by backward() (losses scale their gradient by it). */
  seedValue(g: Tensor | null): number | undefined {
    return g ? this.seeds.get(g) : undefined;
  }

  /**
   * Back-propagates from scalar losses, each seeded with its weight (d total / d loss), and returns
   * the gradients of the watched leaves (owned by the caller). Afterwards the tape is empty and
   * every tensor it owned, except `keep`, is back in the pool.
   */
  backward(losses: { loss: Tensor; weight?: number }[], keep: Tensor[] = []): Map<Tensor, Tensor> {
    const e = this.engine;
    const keepSet = new Set(keep);
    const leaves = this.leaves;
    const grads = new Map<Tensor, Tensor>();
    // Gradient tensors may be shared (an op may pass its output gradient through to several inputs):
    // each is released when its last holder lets go.
    const refs = new Map<Tensor, number>();
    const hold = (g: Tensor) => refs.set(g, (refs.get(g) ?? 0) + 1);
    const drop = (g: Tensor) => {
      const n = (refs.get(g) ?? 1) - 1;
      if (n > 0) refs.set(g, n);
      else {
        refs.delete(g);
        e.release(g);
      }
    };
    const accumulate = (t: Tensor, g: Tensor) => {
      const prev = grads.get(t);
      if (!prev) {
        grads.set(t, g);
        hold(g);
        return;
      }
      const sum = add(e, prev, g);
      grads.set(t, sum);
      hold(sum);
      drop(prev);
    };
    for (const { loss, weight = 1 } of losses) {
      const seed = e.upload(new Float32Array([weight]), [1]);
      this.seeds.set(seed, weight);
      hold(seed);
      accumulate(loss, seed);
      drop(seed);
    }
    // The earliest record that reads each owned tensor: it can go once that record has run.
    const lastUse = new Map<Tensor, number>();
    this.records.forEach((r, i) => {
      for (const t of [...r.inputs, ...r.outputs, ...r.saved]) if (!lastUse.has(t)) lastUse.set(t, i);
    });
    for (let i = this.records.length - 1; i >= 0; i--) {
      const r = this.records[i]!;
      const gOut = r.outputs.map((o) => grads.get(o) ?? null);
      if (gOut.some((g) => g !== null)) {
        const prior = r.inputs.map((t) => grads.get(t) ?? null);
        const out = r.backward(gOut, prior);
        const gIn = out.map((g) => (g && 'summed' in g ? g.summed : (g ?? null)));
        for (const g of gIn) if (g) hold(g);
        r.inputs.forEach((t, j) => {
          const g = gIn[j];
          if (!g || !this.tracked.has(t)) return;
          const o = out[j];
          if (o && 'summed' in o) {
            // Replaces the prior gradient, which the op has added in.
            const prev = grads.get(t);
            grads.set(t, g);
            hold(g);
            if (prev) drop(prev);
          } else accumulate(t, g);
        });
        for (const g of gIn) if (g) drop(g);
      }
      for (const o of r.outputs) {
        const g = grads.get(o);
        if (g && !leaves.has(o)) {
          grads.delete(o);
          drop(g);
        }
      }
      for (const t of [...r.inputs, ...r.outputs, ...r.saved]) {
        if (lastUse.get(t) === i && this.owned.has(t) && !keepSet.has(t) && !leaves.has(t)) {
          e.release(t);
          this.owned.delete(t);
        }
      }
    }
    const out = new Map<Tensor, Tensor>();
    for (const [t, g] of grads) {
      if (leaves.has(t)) out.set(t, g);
      else drop(g);
    }
    this.seeds.clear();
    this.reset(keepSet);
    return out;
  }

  /** Drops all records and releases every owned tensor except `keep` (e.g. after an inference pass). */
  reset(keep: Set<Tensor> = new Set()): void {
    for (const t of this.owned) if (!keep.has(t)) this.engine.release(t);
    this.owned.clear();
    this.records = [];
    this.tracked = new Set(this.leaves);
  }

  /** Forgets the watched leaves too. */
  unwatchAll(): void {
    this.leaves.clear();
    this.tracked.clear();
  }
}
