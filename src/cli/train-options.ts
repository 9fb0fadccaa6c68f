/** `tok1d train`'s options, defaults and help (kept apart so the CLI loads the trainer only when it runs). */
import { PRESETS } from '../model/config.js';
import { TITOK_PRESETS } from '../model/titok-config.js';

export const TRAIN_DEFAULTS = {
  preset: 'small',
  steps: 5000,
  batch: 8,
  lr: 1e-3,
  minLr: 1e-5,
  warmup: 200,
  weightDecay: 0.01,
  clip: 1,
  ema: 0,
  mseWeight: 1,
  l1Weight: 0,
  codebookWeight: 1,
  seed: 0,
  cacheMb: 1024,
  minScale: 0.15,
  deadAfter: 100,
  reseedEvery: 50,
  logEvery: 50,
  valEvery: 500,
  ckptEvery: 500,
};

const D = TRAIN_DEFAULTS;

export const TRAIN_USAGE = `Usage: tok1d train <images|folders...> -o RUN_DIR [options]
       tok1d train --resume RUN_DIR [--steps N]

Trains a tokenizer on PNG, JPEG and WebP images (folders scanned recursively): random square
crops at several scales with horizontal flips, MSE (+ optional L1) reconstruction, codebook loss
and β·commitment with the straight-through estimator, AdamW with warm-up and cosine decay,
gradient clipping, optional EMA weights. Dead codes (unused for --dead-after steps) are re-seeded
from encoder outputs. Writes RUN_DIR/model.safetensors (the checkpoint for tokenize/reconstruct),
state.safetensors (exact resume), metrics.jsonl, train.log, val/step-N.png and loss.png.
Checkpoints every --ckpt-every steps and on exit; Ctrl-C or SIGTERM stops after the current step
and saves. '--resume RUN_DIR' continues exactly where the run stopped (same seed, same device:
the same weights as an uninterrupted run); with --steps N it continues on a schedule of N steps
instead (warm-up and cosine recomputed over N: a finished run's rate rises again).

Model:
  --preset NAME         ${Object.keys(PRESETS).join(', ')} (default ${D.preset}), or a TiTok VQ
                        preset: ${Object.entries(TITOK_PRESETS).filter(([, c]) => c.quantizeMode === 'vq').map(([n]) => n).join(', ')}
                        (RUN_DIR/model.safetensors, and the reference's folder RUN_DIR/model/)
  --config FILE         JSON model configuration: a full one, or fields over --preset's
                        (TiTok: TiTokConfig's fields, e.g. {"imageSize": 64, "encoderSize": "tiny"})
  --nested-dropout P    TiTok: decode each image from only its first k tokens with probability P,
                        k uniform in 1..K (coarse-to-fine tokens; default 0, off)
  --vq-warmup N         TiTok: for the first N steps decode from the continuous latents (no
                        quantization, no commitment loss), so that they learn to depend on the
                        image before they are quantized (default 0, off)
  --init-from CKPT      start from a checkpoint's weights instead of random ones: those of the
                        same name and shape (fine-tuning); for a TiTok model from a patch-token
                        checkpoint, its transformer blocks, patch embedding, positions and pixel
                        head where widths agree (the rest starts random)
Data:
  --val FOLDER          validation images (default: a held-out 5% of the inputs, at least one)
  --cache-mb N          decoded-pixel cache (default ${D.cacheMb}); images beyond it are decoded per use
  --min-scale F         smallest crop side as a fraction of the image's shorter side (default ${D.minScale})
  --no-flip             no horizontal flips
Optimization:
  --steps N             (default ${D.steps})      --batch B          (default ${D.batch})
  --lr X                peak learning rate (default ${D.lr}), --min-lr X (default ${D.minLr})
  --warmup N            linear warm-up steps (default ${D.warmup})
  --weight-decay X      AdamW decoupled decay (default ${D.weightDecay}; none on norms, biases, embeddings)
  --clip X              global gradient-norm clip, 0 off (default ${D.clip})
  --ema X               EMA decay of the weights, 0 off (default ${D.ema}); the checkpoint then holds EMA weights
  --mse-weight X, --l1-weight X, --codebook-weight X
                        loss weights (defaults ${D.mseWeight}, ${D.l1Weight}, ${D.codebookWeight}); the commitment weight is the model's β
  --seed S              initialization, data order and crops (default ${D.seed})
Codebook:
  --no-reseed           do not re-seed dead codes
  --dead-after N        steps without use before a code counts as dead (default ${D.deadAfter})
  --reseed-every N      steps between re-seedings (default ${D.reseedEvery})
Output:
  -o, --out DIR         run folder (must be empty or absent)
  --log-every N         a log line every N steps (default ${D.logEvery})
  --val-every N         validation PSNR and image grid every N steps (default ${D.valEvery})
  --ckpt-every N        checkpoint every N steps (default ${D.ckptEvery})
  --export-dtype T      f32 or f16 storage for model.safetensors (default f32)
  --resume DIR          continue a stopped run (other options come from the run, except --steps)`;

export const TRAIN_OPTIONS = {
  out: { type: 'string', short: 'o' },
  resume: { type: 'string' },
  preset: { type: 'string' },
  config: { type: 'string' },
  val: { type: 'string' },
  'cache-mb': { type: 'string' },
  'min-scale': { type: 'string' },
  'no-flip': { type: 'boolean' },
  steps: { type: 'string' },
  batch: { type: 'string' },
  lr: { type: 'string' },
  'min-lr': { type: 'string' },
  warmup: { type: 'string' },
  'weight-decay': { type: 'string' },
  clip: { type: 'string' },
  ema: { type: 'string' },
  'mse-weight': { type: 'string' },
  'l1-weight': { type: 'string' },
  'codebook-weight': { type: 'string' },
  seed: { type: 'string' },
  'no-reseed': { type: 'boolean' },
  'dead-after': { type: 'string' },
  'reseed-every': { type: 'string' },
  'log-every': { type: 'string' },
  'val-every': { type: 'string' },
  'ckpt-every': { type: 'string' },
  'export-dtype': { type: 'string' },
  'nested-dropout': { type: 'string' },
  'vq-warmup': { type: 'string' },
  'init-from': { type: 'string' },
} as const;

