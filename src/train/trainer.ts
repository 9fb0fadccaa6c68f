import * as F from '../autograd/functions.js';
import { Tape } from '../autograd/tape.js';
import type { ForwardResult, TokenizerModel } from '../model/model.js';
import { anyParamSpecs } from '../model/config.js';
import { TiTokModel } from '../model/titok.js';
import type { Tensor } from '../tensor.js';
import { randomBits } from './init.js';
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
  /**
   * Coarse-to-fine training (TiTok models): each image of a step is decoded from only its first k
   * tokens, with probability `prob` for k uniform in 1..K, else k = K; drawn from (seed, step,
   * image), so a resumed run draws the same. Off when absent.
   */
  nestedDropout?: { prob: number; seed: number };
  /**
   * Quantizer warm-up (TiTok models): for this many first steps the decoder reads the encoder's
   * continuous latents instead of their codes and the commitment loss is off, so the latents learn
   * to depend on the image before they are quantized (at initialization every image gives nearly
   * the same latent per position, and so the same code). The codebook still follows the latents
   * (codebook loss, dead-code re-seeding from them). 0 or absent: off.
   */
  quantizerWarmup?: number;
}

/** A model the trainer can train: the patch-token TokenizerModel or a TiTok VQ model. */
export type TrainableModel = TokenizerModel | TiTokModel;

/** Parameter names of a trainable model, in its spec order. */
export function trainableParamNames(model: TrainableModel): string[] {
  return anyParamSpecs(model.config).map((s) => s.name);
}

/** Token counts per image for a step under nested dropout (see TrainerOptions.nestedDropout). */
export function nestedTokenCounts(o: { prob: number; seed: number }, step: number, batch: number, K: number): number[] {
  return Array.from({ length: batch }, (_, b) => {
    const u = randomBits(o.seed, step, 2 * b) / 2 ** 32;
    if (u >= o.prob) return K;
    return 1 + (randomBits(o.seed, step, 2 * b + 1) % K);
  });
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
    readonly model: TrainableModel,
    readonly options: TrainerOptions,
  ) {
    const e = model.engine;
    this.tape = new Tape(e);
    if (options.nestedDropout && !(model instanceof TiTokModel)) throw new Error('Trainer: nested dropout needs a latent-token (TiTok) model');
    if (options.quantizerWarmup && !(model instanceof TiTokModel)) throw new Error('Trainer: the quantizer warm-up needs a latent-token (TiTok) model');
    const params = trainableParamNames(model).map((name) => ({ name, tensor: model.p(name), decay: decayFor(name) }));
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
    const m = this.model;
    const w = o.weights ?? {};
    let r: ForwardResult;
    let beta: number;
    if (m instanceof TiTokModel) {
      const tokens = o.nestedDropout ? nestedTokenCounts(o.nestedDropout, this.optimizer.stepCount, images.shape[0]!, m.config.tokens) : undefined;
      const continuous = this.optimizer.stepCount < (o.quantizerWarmup ?? 0);
      r = m.forward(ctx, images, { tokens, continuous });
      beta = continuous ? 0 : m.config.commitmentCost;
    } else {
      r = m.forward(ctx, images);
      beta = m.config.beta;
    }
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
      { loss: r.commitmentLoss, weight: beta },
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
