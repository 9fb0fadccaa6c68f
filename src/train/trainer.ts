import * as F from '../autograd/functions.js';
import { Tape } from '../autograd/tape.js';
import type { ForwardResult, TokenizerModel } from '../model/model.js';
import { paramSpecs } from '../model/config.js';
import type { Tensor } from '../tensor.js';
import { AdamW, decayFor } from './optim.js';
import { lrAt } from './schedule.js';

export interface TrainerOptions {
  /** Peak learning rate. */
  lr: number;
  warmup: number;
  /** Steps of the whole run (the cosine schedule ends there). */
  totalSteps: number;
  minLr?: number;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  /** Global gradient-norm clip (0: off). */
  clip?: number;
  /** Loss weights: MSE reconstruction (default 1), L1 reconstruction (default 0: not computed), codebook (default 1); the commitment weight is the model's β. */
  weights?: { mse?: number; l1?: number; codebook?: number };
}

export interface StepOptions {
  /** Also return a copy of the encoder output z (for re-seeding dead codes). */
  keepZ?: boolean;
}

/** Loss values of one step, as [1] tensors still on the GPU (read them only when needed). */
export interface StepLosses {
  recon: Tensor;
  codebook: Tensor;
  commitment: Tensor;
  /** mean |x − x̂| when the L1 weight is non-zero. */
  l1: Tensor | null;
  gradNorm: Tensor | null;
  indices: Tensor;
  /** The encoder output [B·T, codeDim] when asked for (StepOptions.keepZ). */
  z: Tensor | null;
}

/**
 * One training step: forward on the tape, backward from recon + codebook + β·commitment, the global
 * gradient norm and AdamW (clipping fused into the update), all recorded without any read-back. The
 * returned tensors belong to the caller (release them, or call releaseLosses). Matmuls use the
 * device's tuned kernel choices once they are loaded: await tuneModel(engine, config, batch,
 * { training: true }) before the first step (runTraining does).
 */
export class Trainer {
  readonly tape: Tape;
  readonly optimizer: AdamW;

  constructor(
    readonly model: TokenizerModel,
    readonly options: TrainerOptions,
  ) {
    const e = model.engine;
    this.tape = new Tape(e);
    const params = paramSpecs(model.config).map((s) => ({ name: s.name, tensor: model.p(s.name), decay: decayFor(s.name) }));
    this.tape.watch(...params.map((p) => p.tensor));
    this.optimizer = new AdamW(e, params, {
      lr: options.lr,
      weightDecay: options.weightDecay ?? 0.01,
      beta1: options.beta1 ?? 0.9,
      beta2: options.beta2 ?? 0.99,
    });
  }

  get stepCount(): number {
    return this.optimizer.stepCount;
  }

  step(images: Tensor, so: StepOptions = {}): StepLosses {
    const e = this.model.engine;
    const o = this.options;
    const ctx = { engine: e, tape: this.tape };
    const r: ForwardResult = this.model.forward(ctx, images);
    const w = o.weights ?? {};
    const l1 = w.l1 ? F.l1Loss(ctx, r.reconstruction, images) : null;
    let z: Tensor | null = null;
    if (so.keepZ && r.z) {
      z = e.empty(r.z.shape);
      e.copy(r.z, z);
    }
    const keep = [r.recon, r.codebookLoss, r.commitmentLoss, r.indices, ...(l1 ? [l1] : [])];
    const terms = [
      { loss: r.recon, weight: w.mse ?? 1 },
      { loss: r.codebookLoss, weight: w.codebook ?? 1 },
      { loss: r.commitmentLoss, weight: this.model.config.beta },
      ...(l1 ? [{ loss: l1, weight: w.l1! }] : []),
    ];
    const grads = this.tape.backward(terms, keep);
    const lr = lrAt(this.optimizer.stepCount + 1, { base: o.lr, warmup: o.warmup, total: o.totalSteps, minLr: o.minLr ?? 0 });
    let norm: Tensor | null = null;
    if (o.clip && o.clip > 0) norm = this.optimizer.stepClipped(grads, lr, o.clip);
    else this.optimizer.step(grads, lr);
    for (const g of grads.values()) e.release(g);
    return { recon: r.recon, codebook: r.codebookLoss, commitment: r.commitmentLoss, l1, gradNorm: norm, indices: r.indices, z };
  }

  releaseLosses(l: StepLosses): void {
    this.model.engine.release(l.recon, l.codebook, l.commitment, l.l1, l.gradNorm, l.indices, l.z);
  }
}
