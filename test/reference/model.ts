/**
 * Float64 CPU reference of the whole tokenizer (encoder → vector quantizer → decoder → losses), used
 * to check the GPU model's forward values and, by finite differences, its gradients.
 *
 * The model (all arrays Float64Array, parameters keyed by the paramSpecs names):
 *   patches = patchify(images)            [B·T, P·P·3], rows (b, py, px), columns (y, x, channel)
 *   x = patches·enc.patch.w + enc.patch.b + enc.pos[t]
 *   encoderDepth × pre-norm block: x += proj(attn(LN1(x))); x += fc2(GELU_erf(fc1(LN2(x))))
 *   z = enc.ln(x) (·enc.proj when codeDim ≠ width)                        [B·T, C]
 *   idx = argmin_k ‖z − e_k‖² (ties → lowest k), e = vq.codebook[idx]
 *   zq = z + sg(e − z)                    (value e; straight-through)
 *   y = zq·dec.embed.w + dec.embed.b + dec.pos[t] → decoderDepth blocks → dec.ln → ·dec.out.w + dec.out.b
 *   reconstruction = unpatchify(y)        [B, H, W, 3]
 *   total = mean((rec − images)²) + mean((sg(z) − e)²) + β·mean((z − sg(e))²)
 * Cosine mode (config.cosine, the l2-normalized codebook): the quantizer works on ẑ = z/max(‖z‖, ε)
 * and ê = e_k/max(‖e_k‖, ε) per row (ε = 1e-12): idx = argmin_k ‖ẑ − ê_k‖² (= argmax cosine), zq =
 * ẑ + sg(ê − ẑ) (value ê), and both losses use ẑ and ê in place of z and e; gradients reach z and the
 * codebook through the normalizations.
 * Attention: qkv [T, 3D] per image, q/k/v = columns [0, D), [D, 2D), [2D, 3D), head h = columns
 * h·Dh..(h+1)·Dh of each; softmax(q·kᵀ/√Dh)·v, bidirectional, heads written back in q's layout.
 * LayerNorm uses the biased variance.
 *
 * Gradients by finite differences: the loss is piecewise smooth in θ (the argmin jumps), and the
 * gradient the model trains with is not the derivative of the loss anyway but the straight-through
 * one. Both are handled by a frozen surrogate: with Frozen = {indices, z0, e0} taken at the base
 * point θ0 (z0 = z(θ0), e0 = e_idx(θ0)),
 *   zq(θ) = z(θ) + (e0 − z0),  codebook(θ) = mean((z0 − e_idx(θ))²),  commitment(θ) = mean((z(θ) − e0)²),
 * with idx held fixed (cosine mode: z0 = ẑ(θ0), e0 = ê_idx(θ0), and ẑ(θ), ê_idx(θ) in place of z(θ),
 * e_idx(θ)). At θ0 every value equals the normal forward (zq = e0, the same expressions on
 * the same numbers, so the equality is exact), and its derivative there is exactly the
 * straight-through gradient: zq moves with z (∂zq/∂z = I, the stop-gradient term being constant),
 * the codebook term differentiates only through e (z0 constant), the commitment term only through
 * z (e0 constant), and no term differentiates through the argmin. Central differences of this
 * smooth function are what finiteDifferenceGrads returns.
 */
import { paramSpecs, tokensPerImage, type ModelConfig } from '../../src/model/config.js';
import { attentionRef } from '../../src/check/attention.js';
import { addRef, finiteDifferences, gatherRowsRef, mseRef, patchifyRef, unpatchifyRef } from '../../src/check/elementwise.js';
import { geluRef } from '../../src/check/gelu.js';
import { layernormRef } from '../../src/check/layernorm.js';
import { matmulRef } from '../../src/check/matmul.js';
import { l2normalizeRef } from '../../src/check/normalize.js';
import { randomNormal, rng } from '../../src/check/util.js';

export type Params = Map<string, Float64Array>;

/**
 * The unperturbed code indices and the stop-gradient values z0 = z(θ0), e0 = e_idx(θ0) ([B·T, C]
 * each); in cosine mode the normalized ones, ẑ(θ0) and ê_idx(θ0).
 */
export interface Frozen {
  indices: Uint32Array;
  z0: Float64Array;
  e0: Float64Array;
}

export interface ModelForward {
  total: number;
  recon: number;
  codebook: number;
  commitment: number;
  /** [B·T] code per token (the frozen ones when a Frozen was given). */
  indices: Uint32Array;
  /** Encoder output [B·T, C] (before any normalization). */
  z: Float64Array;
  /** [B, H, W, 3]. */
  reconstruction: Float64Array;
  /** This forward's own stop-gradient values, or the Frozen that was given. */
  frozen: Frozen;
}

/** Throws unless params holds exactly the paramSpecs names with their sizes. */
export function checkParams(c: ModelConfig, params: Params): void {
  const specs = paramSpecs(c);
  for (const s of specs) {
    const v = params.get(s.name);
    const n = s.shape.reduce((a, b) => a * b, 1);
    if (!v) throw new Error(`model reference: parameter ${s.name} missing`);
    if (v.length !== n) throw new Error(`model reference: ${s.name} has ${v.length} values, expected ${n} [${s.shape.join(', ')}]`);
  }
  if (params.size !== specs.length) throw new Error(`model reference: ${params.size} parameters given, ${specs.length} expected`);
}

function get(p: Params, name: string): Float64Array {
  const v = p.get(name);
  if (!v) throw new Error(`model reference: parameter ${name} missing`);
  return v;
}

/** x [rows, in] · `${name}.w` [in, out] + `${name}.b`. */
function linear(p: Params, name: string, x: ArrayLike<number>, rows: number, inDim: number, outDim: number): Float64Array {
  return matmulRef(x, get(p, `${name}.w`), { M: rows, N: outDim, K: inDim, bias: get(p, `${name}.b`) });
}

function norm(c: ModelConfig, p: Params, name: string, x: ArrayLike<number>, rows: number): Float64Array {
  return layernormRef(x, get(p, `${name}.g`), get(p, `${name}.b`), rows, c.width, c.eps).y;
}

/** x [B·T, D] + pos [T, D] broadcast over the images, in place. */
function addPositions(x: Float64Array, pos: Float64Array): Float64Array {
  for (let i = 0; i < x.length; i++) x[i] += pos[i % pos.length]!;
  return x;
}

/** One pre-norm transformer block (`prefix` = e.g. 'enc.blocks.0') on x [B·T, D]; returns the new x. */
export function blockRef(c: ModelConfig, p: Params, prefix: string, x: Float64Array, B: number, T: number): Float64Array {
  const D = c.width;
  const rows = B * T;
  const hidden = D * c.mlpRatio;
  const qkv = linear(p, `${prefix}.attn.qkv`, norm(c, p, `${prefix}.ln1`, x, rows), rows, D, 3 * D);
  const att = attentionRef(qkv, { batch: B, seq: T, heads: c.heads, headDim: D / c.heads }).out;
  const x1 = addRef(x, linear(p, `${prefix}.attn.proj`, att, rows, D, D));
  const h = geluRef(linear(p, `${prefix}.mlp.fc1`, norm(c, p, `${prefix}.ln2`, x1, rows), rows, D, hidden), 'erf');
  return addRef(x1, linear(p, `${prefix}.mlp.fc2`, h, rows, hidden, D));
}

/** Encoder: images [B, H, W, 3] → z [B·T, codeDim]. */
export function encodeRef(c: ModelConfig, p: Params, images: ArrayLike<number>, B: number): Float64Array {
  const T = tokensPerImage(c);
  const D = c.width;
  const rows = B * T;
  const patches = patchifyRef(images, B, c.imageSize, c.imageSize, c.patch);
  let x = addPositions(linear(p, 'enc.patch', patches, rows, c.patch * c.patch * 3, D), get(p, 'enc.pos'));
  for (let i = 0; i < c.encoderDepth; i++) x = blockRef(c, p, `enc.blocks.${i}`, x, B, T);
  x = norm(c, p, 'enc.ln', x, rows);
  return c.codeDim !== D ? linear(p, 'enc.proj', x, rows, D, c.codeDim) : x;
}

/** argmin_k Σ_d (z[n, d] − codebook[k, d])² for each of the N rows of z [N, C] (ties → lowest k). */
export function nearestCodes(z: ArrayLike<number>, codebook: ArrayLike<number>, N: number, K: number, C: number): Uint32Array {
  const out = new Uint32Array(N);
  for (let n = 0; n < N; n++) {
    let best = Infinity;
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let d = 0; d < C; d++) s += (z[n * C + d]! - codebook[k * C + d]!) ** 2;
      if (s < best) {
        best = s;
        out[n] = k;
      }
    }
  }
  return out;
}

/** Decoder: zq [B·T, codeDim] → reconstruction [B, H, W, 3]. */
export function decodeRef(c: ModelConfig, p: Params, zq: ArrayLike<number>, B: number): Float64Array {
  const T = tokensPerImage(c);
  const D = c.width;
  const rows = B * T;
  let x = addPositions(linear(p, 'dec.embed', zq, rows, c.codeDim, D), get(p, 'dec.pos'));
  for (let i = 0; i < c.decoderDepth; i++) x = blockRef(c, p, `dec.blocks.${i}`, x, B, T);
  const out = linear(p, 'dec.out', norm(c, p, 'dec.ln', x, rows), rows, D, c.patch * c.patch * 3);
  return unpatchifyRef(out, B, c.imageSize, c.imageSize, c.patch);
}

/**
 * The whole forward and the three losses for images [B, H, W, 3]. With `frozen`, the frozen
 * surrogate described at the top of this file (indices from frozen, stop-gradient terms at its values).
 */
export function forwardModel(c: ModelConfig, params: Params, images: ArrayLike<number>, B: number, frozen?: Frozen): ModelForward {
  checkParams(c, params);
  const N = B * tokensPerImage(c);
  const C = c.codeDim;
  if (images.length !== B * c.imageSize * c.imageSize * 3) throw new Error(`model reference: ${images.length} image values for B = ${B}`);
  if (frozen && (frozen.indices.length !== N || frozen.z0.length !== N * C || frozen.e0.length !== N * C))
    throw new Error('model reference: frozen values do not match the batch');
  const K = c.codebookSize;
  const raw = get(params, 'vq.codebook');
  const encoded = encodeRef(c, params, images, B);
  // Cosine mode: the quantizer sees normalized rows (the whole codebook is normalized for the
  // search; row-wise, so gathering the normalized rows equals normalizing the gathered ones).
  const z = c.cosine ? l2normalizeRef(encoded, N, C).y : encoded;
  const codebook = c.cosine ? l2normalizeRef(raw, K, C).y : raw;
  const indices = frozen ? frozen.indices : nearestCodes(z, codebook, N, K, C);
  const e = gatherRowsRef(codebook, K, C, indices);
  const z0 = frozen ? frozen.z0 : z;
  const e0 = frozen ? frozen.e0 : e;
  const zq = new Float64Array(N * C);
  for (let i = 0; i < zq.length; i++) zq[i] = z[i]! + (e0[i]! - z0[i]!);
  const reconstruction = decodeRef(c, params, zq, B);
  const recon = mseRef(reconstruction, images);
  const codebookLoss = mseRef(z0, e);
  const commitment = mseRef(z, e0);
  return {
    total: recon + codebookLoss + c.beta * commitment,
    recon,
    codebook: codebookLoss,
    commitment,
    indices,
    z: encoded,
    reconstruction,
    frozen: frozen ?? { indices, z0: z, e0: e },
  };
}

/**
 * Central differences (f(θ + h) − f(θ − h)) / 2h of `total` under the frozen surrogate (frozen at
 * the unperturbed θ), for each sampled element; the straight-through gradient up to O(h²).
 * Returns, per parameter name, the values in the order that name's entries appear in `sample`.
 * The parameter arrays are perturbed in place and restored.
 */
export function finiteDifferenceGrads(
  c: ModelConfig,
  params: Params,
  images: ArrayLike<number>,
  B: number,
  sample: readonly { name: string; index: number }[],
  h = 1e-5,
): Map<string, number[]> {
  const { frozen } = forwardModel(c, params, images, B);
  const at = new Map<string, number[]>();
  for (const { name, index } of sample) {
    const n = get(params, name).length;
    if (!(Number.isInteger(index) && index >= 0 && index < n)) throw new Error(`finiteDifferenceGrads: ${name}[${index}] out of range (${n})`);
    at.set(name, [...(at.get(name) ?? []), index]);
  }
  const grads = new Map<string, number[]>();
  for (const [name, idx] of at) {
    const f = (): number => forwardModel(c, params, images, B, frozen).total;
    grads.set(name, Array.from(finiteDifferences(f, get(params, name), idx, h)));
  }
  return grads;
}

/**
 * Random parameters in which every parameter moves the loss, each value exactly representable in
 * float32 (so a float32 model can be given identical ones): weights, embeddings and positions
 * N(0, std²); LayerNorm gains 1 + N(0, 0.1²), biases N(0, 0.02²); codebook rows N(0, s²) with s the
 * scale of the encoder output (1 after enc.ln; std·√width after enc.proj), so tokens spread over
 * many codes. One stream per seed, consumed in paramSpecs order.
 */
export function randomParams(c: ModelConfig, seed: number, std = 0.02): Params {
  const r = rng(seed);
  const zScale = c.codeDim === c.width ? 1 : std * Math.sqrt(c.width);
  const params: Params = new Map();
  for (const s of paramSpecs(c)) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    let v: Float64Array;
    if (s.name === 'vq.codebook') v = Float64Array.from(randomNormal(n, r, zScale));
    else if (s.init === 'ones') v = Float64Array.from(randomNormal(n, r, 0.1), (x) => Math.fround(1 + x));
    else if (s.init === 'zeros') v = Float64Array.from(randomNormal(n, r, 0.02));
    else v = Float64Array.from(randomNormal(n, r, std));
    params.set(s.name, v);
  }
  return params;
}
