import type { BenchCase, BenchInstance } from '../case.js';
import type { Engine } from '../../gpu/engine.js';
import { AdamW, decayFor, gradNorm, type AdamWParam } from '../../train/optim.js';
import { randomF32, randomNormal, relL2, rng } from '../../check/util.js';
import { adamwRef, clipFactorRef, globalNormRef } from '../../check/optim.js';

/** The parameters of one transformer block of the reference model (D = 1024, MLP 4096): 12,596,224. */
const D = 1024;
const BLOCK: [string, number[]][] = [
  ['ln1.weight', [D]],
  ['ln1.bias', [D]],
  ['attn.qkv.weight', [D, 3 * D]],
  ['attn.qkv.bias', [3 * D]],
  ['attn.proj.weight', [D, D]],
  ['attn.proj.bias', [D]],
  ['ln2.weight', [D]],
  ['ln2.bias', [D]],
  ['mlp.fc1.weight', [D, 4 * D]],
  ['mlp.fc1.bias', [4 * D]],
  ['mlp.fc2.weight', [4 * D, D]],
  ['mlp.fc2.bias', [D]],
];
const SIZES = BLOCK.map(([, s]) => s.reduce((a, b) => a * b, 1));
const N = SIZES.reduce((a, b) => a + b, 0);
const LR = 1e-3;
const WD = 0.05;

/**
 * AdamW over one block; `clip` fuses clipping (gradNorm + the update reading the norm). Each run
 * is one optimizer step with the same gradients; check() compares the weights after the runs so
 * far (one, when the harness checks) with the float64 reference.
 */
async function setup(engine: Engine, seed: number, clip: boolean): Promise<BenchInstance> {
  const r = rng(seed);
  const p0 = SIZES.map((n) => randomF32(n, r, -0.05, 0.05));
  const g = SIZES.map((n) => randomNormal(n, r, 1e-3));
  const params: AdamWParam[] = BLOCK.map(([name, shape], i) => ({ name, tensor: engine.upload(p0[i]!, shape), decay: decayFor(name) }));
  const grads = g.map((a, i) => engine.upload(a, BLOCK[i]![1]));
  const opt = new AdamW(engine, params, { lr: LR, weightDecay: WD });
  const norm = globalNormRef(g);
  const maxNorm = norm / 2;
  let lastNorm: ReturnType<Engine['empty']> | null = null;
  return {
    run() {
      engine.release(lastNorm);
      lastNorm = null;
      if (clip) {
        lastNorm = gradNorm(engine, grads);
        opt.step(grads, LR, { norm: lastNorm, maxNorm });
      } else opt.step(grads, LR);
    },
    async check() {
      const steps = opt.stepCount;
      if (steps === 0) return 'no run recorded';
      const lrs = new Array<number>(steps).fill(LR);
      const scales = new Array<number>(steps).fill(clip ? clipFactorRef(norm, maxNorm) : 1);
      for (let i = 0; i < params.length; i++) {
        const got = await engine.readF32(params[i]!.tensor);
        const ref = adamwRef(p0[i]!, new Array(steps).fill(g[i]!), { lrs, decay: params[i]!.decay, weightDecay: WD, scales });
        const e = relL2(got, ref.p);
        if (!(e <= 1e-5)) return `${params[i]!.name}: relative L2 error ${e.toExponential(2)} > 1e-5`;
      }
      return null;
    },
    dispose() {
      opt.dispose();
      engine.release(lastNorm, ...grads, ...params.map((p) => p.tensor));
    },
  };
}

export const cases: BenchCase[] = [
  {
    kernel: 'adamw',
    variant: 'block',
    shape: [N],
    flops: 0, // memory-bound: ~14 FLOPs per element not counted
    bytes: 28 * N, // per element: parameter, m, v read and written (24 B), gradient read (4 B)
    setup: (engine, seed) => setup(engine, seed, false),
  },
  {
    kernel: 'adamw',
    variant: 'block+clip',
    shape: [N],
    flops: 0,
    bytes: 32 * N, // the update's 28 B per element + the norm's read of the gradient (partials: a few KiB)
    setup: (engine, seed) => setup(engine, seed, true),
  },
];
