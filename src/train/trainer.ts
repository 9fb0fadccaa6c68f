import { Tape } from '../autograd/tape.js';
import type { ForwardResult, TokenizerModel } from '../model/model.js';
import { paramSpecs } from '../model/config.js';
import type { Tensor } from '../tensor.js';
import { AdamW, decayFor, gradNorm } from './optim.js';
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
}

/** Loss values of one step, as [1] tensors still on the GPU (read them only when needed). */
export interface StepLosses {
  recon: Tensor;
  codebook: Tensor;
  commitment: Tensor;
  gradNorm: Tensor | null;
  indices: Tensor;
}

/**
 * One training step: forward on the tape, backward from recon + codebook + β·commitment, the global
 * gradient norm and AdamW (clipping fused into the update), all recorded without any read-back. The
 * returned tensors belong to the caller (release them, or call releaseLosses).
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

  step(images: Tensor): StepLosses {
    const e = this.model.engine;
    const o = this.options;
    const r: ForwardResult = this.model.forward({ engine: e, tape: this.tape }, images);
    const keep = [r.recon, r.codebookLoss, r.commitmentLoss, r.indices];
    const grads = this.tape.backward(this.model.lossTerms(r), keep);
    const lr = lrAt(this.optimizer.stepCount + 1, { base: o.lr, warmup: o.warmup, total: o.totalSteps, minLr: o.minLr ?? 0 });
    let norm: Tensor | null = null;
    if (o.clip && o.clip > 0) norm = gradNorm(e, [...grads.values()]);
    this.optimizer.step(grads, lr, norm ? { norm, maxNorm: o.clip! } : undefined);
    for (const g of grads.values()) e.release(g);
    return { recon: r.recon, codebook: r.codebookLoss, commitment: r.commitmentLoss, gradNorm: norm, indices: r.indices };
  }

  releaseLosses(l: StepLosses): void {
    this.model.engine.release(l.recon, l.codebook, l.commitment, l.gradNorm, l.indices);
  }
}
