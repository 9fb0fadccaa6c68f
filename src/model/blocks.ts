/**
 * Pieces both model families share: the parameter map check and the pre-LN transformer block
 * (x + attn(LN(x)), then + MLP(LN(·)) with GELU), each family naming its own parameters.
 */
import * as F from '../autograd/functions.js';
import type { Ctx } from '../autograd/functions.js';
import type { Engine } from '../gpu/engine.js';
import { truncNormalTensor } from '../ops/random.js';
import { seedFor } from '../train/init.js';
import type { Tensor } from '../tensor.js';

/** Checks that every spec has a tensor of its size and marks them constant (in-place writers touch them). */
export function adoptParams(params: ReadonlyMap<string, Tensor>, specs: readonly { name: string; shape: readonly number[] }[]): void {
  for (const s of specs) {
    const t = params.get(s.name);
    if (!t) throw new Error(`missing parameter ${s.name}`);
    if (t.size !== s.shape.reduce((a, b) => a * b, 1)) throw new Error(`parameter ${s.name} has ${t.size} values, expected [${s.shape.join(', ')}]`);
    t.constant = true;
  }
}

/** How a parameter starts: truncated normal with this std (its own stream, seedFor(seed, name)), or ones / zeros. */
export type ParamInit = { std: number } | 'ones' | 'zeros';

/** Reproducible random parameters, made on the device (the same bits as truncNormal on the host). */
export function randomParams(engine: Engine, specs: readonly { name: string; shape: readonly number[]; init: ParamInit }[], seed: number): Map<string, Tensor> {
  const params = new Map<string, Tensor>();
  for (const s of specs) {
    let t: Tensor;
    if (typeof s.init === 'object') t = truncNormalTensor(engine, s.shape, s.init.std, seedFor(seed, s.name));
    else {
      t = engine.empty(s.shape);
      engine.fill(t, s.init === 'ones' ? 1 : 0);
    }
    params.set(s.name, t);
  }
  return params;
}

/** A block's parameters: two LayerNorms, the fused qkv and output projections, the MLP's two layers. */
export interface BlockParams {
  ln1: [Tensor, Tensor];
  qkv: [Tensor, Tensor];
  proj: [Tensor, Tensor];
  ln2: [Tensor, Tensor];
  fc1: [Tensor, Tensor];
  fc2: [Tensor, Tensor];
}

/** Releases intermediates in inference; on a tape they belong to it. */
export function releaseUntaped(ctx: Ctx, ...ts: Tensor[]): void {
  if (!ctx.tape) ctx.engine.release(...ts);
}

/**
 * One pre-LN block over x [batch·seq, D] (seq rows per image): qkv [·, 3D] is read as [batch, seq,
 * 3D]; the residual adds run in the projections' epilogues: x1 = x + proj(att), x2 = x1 + mlp(LN(x1)).
 */
export function preLnBlock(ctx: Ctx, p: BlockParams, x: Tensor, o: { batch: number; seq: number; heads: number; eps: number; keys?: Tensor }): Tensor {
  const D = x.shape[x.shape.length - 1]!;
  const h = F.layerNorm(ctx, x, p.ln1[0], p.ln1[1], o.eps);
  const qkv = F.linear(ctx, h, p.qkv[0], p.qkv[1]);
  releaseUntaped(ctx, h);
  const att = F.attention(ctx, qkv, { batch: o.batch, seq: o.seq, heads: o.heads, headDim: D / o.heads, keys: o.keys });
  releaseUntaped(ctx, qkv);
  const x1 = F.linear(ctx, att, p.proj[0], p.proj[1], { residual: x });
  releaseUntaped(ctx, att);
  const h2 = F.layerNorm(ctx, x1, p.ln2[0], p.ln2[1], o.eps);
  const x2 = F.mlp(ctx, h2, p.fc1[0], p.fc1[1], p.fc2[0], p.fc2[1], { residual: x1 });
  releaseUntaped(ctx, h2, x1);
  return x2;
}
