import { Engine } from '../gpu/engine.js';
import { Tensor, numel, shapeStr } from '../tensor.js';

export type Activation = 'none' | 'gelu' | 'gelu_tanh';
export type MatmulVariant = 'storage' | 'texture';

export interface MatmulOptions {
  /** A is stored [.., K, M] (use Aᵀ). */
  transA?: boolean;
  /** B is stored [.., N, K] (use Bᵀ). */
  transB?: boolean;
  /** [N], added to every row before the activation. */
  bias?: Tensor;
  act?: Activation;
  /** C = act(alpha·A·B + bias) + beta·C. */
  alpha?: number;
  /** With `out`, accumulate: C = … + beta·C. */
  beta?: number;
  /** Write into this tensor instead of a new one. */
  out?: Tensor;
  /** Force a variant (default: chosen per device and shape). */
  variant?: MatmulVariant;
  /** Force the storage variant's tile: rows and vec4 columns per invocation, workgroup shape. */
  tile?: { tm: number; tn4: number; wgx: number; wgy: number };
}

const ACT_CODE: Record<Activation, number> = { none: 0, gelu: 1, gelu_tanh: 2 };

interface Dims {
  batch: number;
  M: number;
  N: number;
  K: number;
  batchA: number;
  batchB: number;
}

function dims(a: Tensor, b: Tensor, o: MatmulOptions): Dims {
  if (a.shape.length < 2 || b.shape.length < 2) throw new Error(`matmul: operands need rank ≥ 2, got ${shapeStr(a.shape)} and ${shapeStr(b.shape)}`);
  const ar = a.shape.length;
  const br = b.shape.length;
  const [M, Ka] = o.transA ? [a.shape[ar - 1]!, a.shape[ar - 2]!] : [a.shape[ar - 2]!, a.shape[ar - 1]!];
  const [Kb, N] = o.transB ? [b.shape[br - 1]!, b.shape[br - 2]!] : [b.shape[br - 2]!, b.shape[br - 1]!];
  if (Ka !== Kb) throw new Error(`matmul: inner dimensions differ: ${shapeStr(a.shape)}${o.transA ? 'ᵀ' : ''} · ${shapeStr(b.shape)}${o.transB ? 'ᵀ' : ''}`);
  const batchA = numel(a.shape.slice(0, -2));
  const batchB = numel(b.shape.slice(0, -2));
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) throw new Error(`matmul: batch sizes ${batchA} and ${batchB} differ`);
  return { batch: Math.max(batchA, batchB), M, N, K: Ka, batchA, batchB };
}

interface Operand {
  resource: GPUBuffer | GPUTextureView | Tensor;
  done: () => void;
}

/** Packed textures of constant tensors, per engine: tensor id + layout → texture at a version. */
const textureCache = new WeakMap<Engine, Map<string, { version: number; texture: GPUTexture }>>();

function packDispatch(engine: Engine, src: Tensor, rows: number, cols: number, rowsOut: number, trans: boolean, batches: number, target: GPUTextureView | Tensor): void {
  const cols4 = Math.ceil(cols / 4);
  const toBuffer = target instanceof Tensor;
  engine.dispatch('pack', toBuffer ? 'to_buffer' : 'to_texture', toBuffer ? [src, null, target] : [src, target], { u: [rows, cols, rowsOut, cols4, trans ? 1 : 0, rows * cols, batches] }, [Math.ceil(cols4 / 8), Math.ceil((rowsOut * batches) / 8), 1]);
}

/**
 * One operand in packed vec4 layout: [batches][rowsOut][ceil(cols/4)], logical [rows, cols]
 * (stored transposed when trans). Binds the tensor itself when it already has that layout.
 */
function operand(engine: Engine, t: Tensor, rows: number, cols: number, rowsOut: number, trans: boolean, batches: number, variant: MatmulVariant): Operand {
  const cols4 = Math.ceil(cols / 4);
  if (variant === 'storage') {
    if (!trans && cols % 4 === 0 && rowsOut === rows) return { resource: t, done: () => {} };
    const packed = engine.empty([batches * rowsOut * cols4 * 4]);
    packDispatch(engine, t, rows, cols, rowsOut, trans, batches, packed);
    return { resource: packed, done: () => engine.release(packed) };
  }
  const key = `${t.id}:${trans ? 1 : 0}:${rowsOut}`;
  let cache = textureCache.get(engine);
  if (t.constant) {
    if (!cache) textureCache.set(engine, (cache = new Map()));
    const hit = cache.get(key);
    if (hit && hit.version === t.version) return { resource: hit.texture.createView(), done: () => {} };
    if (hit) engine.deferDestroy(hit.texture);
  }
  const texture = engine.device.createTexture({
    label: 'matmul operand',
    size: [cols4, rowsOut * batches],
    format: 'rgba32float',
    usage: GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.TEXTURE_BINDING,
  });
  packDispatch(engine, t, rows, cols, rowsOut, trans, batches, texture.createView());
  if (t.constant) {
    cache!.set(key, { version: t.version, texture });
    return { resource: texture.createView(), done: () => {} };
  }
  return { resource: texture.createView(), done: () => engine.deferDestroy(texture) };
}

/** Whether the texture variant can hold these operands on this device (both K-major). */
function texturesFit(engine: Engine, d: Dims): boolean {
  const max = engine.limits.maxTextureDimension2D;
  return Math.ceil(d.K / 4) <= max && d.M * d.batchA <= max && d.N * d.batchB <= max;
}

/**
 * The variant for this device: the 16×16 texture tile on CPU executors (measured 4× faster than the
 * storage variant on llvmpipe and 7× on SwiftShader), the storage variant on GPUs.
 */
export function defaultMatmulVariant(engine: Engine, d?: Dims): MatmulVariant {
  const wantTexture = engine.info.software;
  return wantTexture && (!d || texturesFit(engine, d)) ? 'texture' : 'storage';
}

/** Storage variant tile: 8×16 outputs per invocation; fewer rows per workgroup for skinny M. */
export function matmulTile(d: { M: number; N: number }): { tm: number; tn4: number; wgx: number; wgy: number } {
  const tm = d.M <= 4 ? Math.max(1, d.M) : 8;
  const tn4 = 4;
  const rowsOfInv = Math.ceil(d.M / tm);
  const wgy = rowsOfInv >= 8 ? 8 : rowsOfInv >= 4 ? 4 : rowsOfInv >= 2 ? 2 : 1;
  const wgx = Math.max(1, Math.min(64 / wgy, 16));
  return { tm, tn4, wgx, wgy };
}

/** Texture variant workgroup width: the widest that still gives at least 8 workgroups. */
function textureWorkgroup(d: Dims): number {
  const colTiles = Math.ceil(d.N / 16);
  const others = Math.ceil(d.M / 16) * d.batch;
  for (const wg of [64, 32, 16]) if (Math.ceil(colTiles / wg) * others >= 8) return wg;
  return 8;
}

const dummyBias = new WeakMap<Engine, Tensor>();

/**
 * C = act(alpha · op(A) · op(B) + bias) (+ beta · C), batched over leading dimensions (a batch of 1
 * broadcasts). A: [.., M, K] or [.., K, M] (transA); B: [.., K, N] or [.., N, K] (transB).
 * Result: [batch.., M, N] (leading dims of the larger-batch operand).
 */
export function matmul(engine: Engine, a: Tensor, b: Tensor, o: MatmulOptions = {}): Tensor {
  const d = dims(a, b, o);
  const { batch, M, N, K } = d;
  const variant = o.variant ?? defaultMatmulVariant(engine, d);
  if (variant === 'texture' && !texturesFit(engine, d)) throw new Error(`matmul: shape too large for the texture variant on this device`);
  if (o.bias && o.bias.size !== N) throw new Error(`matmul: bias has ${o.bias.size} values, expected ${N}`);
  const lead = (d.batchA >= d.batchB ? a.shape.slice(0, -2) : b.shape.slice(0, -2));
  const outShape = [...lead, M, N];
  if (o.out && o.out.size !== numel(outShape)) throw new Error(`matmul: out has shape ${shapeStr(o.out.shape)}, expected ${shapeStr(outShape)}`);
  const accumulate = o.beta !== undefined && o.beta !== 0;
  if (accumulate && !o.out) throw new Error('matmul: beta needs an out tensor to accumulate into');
  const out = o.out ?? engine.empty(outShape);

  const K4 = Math.ceil(K / 4);
  let bias = o.bias;
  if (!bias) {
    bias = dummyBias.get(engine);
    if (!bias) {
      bias = engine.upload(new Float32Array([0]), [1]);
      bias.constant = true;
      dummyBias.set(engine, bias);
    }
  }
  const act = ACT_CODE[o.act ?? 'none'];
  const f = [o.alpha ?? 1, o.beta ?? 0];
  let opA: Operand;
  let opB: Operand;
  if (variant === 'texture') {
    // Both operands K-major: A as [M, K], B as Bᵀ [N, K].
    opA = operand(engine, a, M, K, M, !!o.transA, d.batchA, variant);
    opB = operand(engine, b, N, K, N, !o.transB, d.batchB, variant);
    const wg = textureWorkgroup(d);
    engine.dispatch(
      'matmul_tex',
      'main',
      [opA.resource, opB.resource, bias, out],
      { u: [M, N, K4, d.batchA === 1 ? 0 : M, d.batchB === 1 ? 0 : N, o.bias ? 1 : 0, accumulate ? 1 : 0], f },
      [Math.ceil(Math.ceil(N / 16) / wg), Math.ceil(M / 16), batch],
      { WG: wg, ACT: act },
    );
  } else {
    const Kp = K4 * 4;
    opA = operand(engine, a, M, K, M, !!o.transA, d.batchA, variant);
    opB = operand(engine, b, K, N, Kp, !!o.transB, d.batchB, variant);
    const t = o.tile ?? matmulTile(d);
    const N4 = Math.ceil(N / 4);
    engine.dispatch(
      'matmul',
      'main',
      [opA.resource, opB.resource, bias, out],
      { u: [M, N, K4, N4, d.batchA === 1 ? 0 : M, d.batchB === 1 ? 0 : Kp, o.bias ? 1 : 0, accumulate ? 1 : 0], f },
      [Math.ceil(N4 / (t.tn4 * t.wgx)), Math.ceil(M / (t.tm * t.wgy)), batch],
      { TM: t.tm, TN4: t.tn4, WGX: t.wgx, WGY: t.wgy, ACT: act },
    );
  }
  opA.done();
  opB.done();
  out.touch();
  return out;
}

export interface MatmulGrads {
  dA?: Tensor;
  dB?: Tensor;
}

/**
 * Gradients of C = alpha · op(A) · op(B) (no activation; bias gradients are column sums of dC).
 * dA = alpha · dC · op(B)ᵀ and dB = alpha · op(A)ᵀ · dC, each written in the operand's stored layout
 * through the transposed matmul forms, so no transpose kernel runs. A B broadcast over A's batch
 * (a weight shared by every batch item) gets the sum over the batch: A's batch is folded into M.
 */
export function matmulBackward(
  engine: Engine,
  dC: Tensor,
  a: Tensor,
  b: Tensor,
  o: { transA?: boolean; transB?: boolean; alpha?: number; needA?: boolean; needB?: boolean } = {},
): MatmulGrads {
  const d = dims(a, b, o);
  const alpha = o.alpha ?? 1;
  const tA = !!o.transA;
  const tB = !!o.transB;
  const grads: MatmulGrads = {};
  if (o.needA ?? true) {
    // dOpA [M, K] = dC · op(B)ᵀ; stored transposed (Aᵀ) it is op(B) · dCᵀ.
    grads.dA = tA
      ? matmul(engine, b, dC, { transA: tB, transB: true, alpha })
      : matmul(engine, dC, b, { transB: !tB, alpha });
    if (grads.dA.size !== a.size) throw new Error('matmulBackward: dA shape mismatch');
  }
  if (o.needB ?? true) {
    let A = a;
    let G = dC;
    if (d.batchB === 1 && d.batchA > 1) {
      if (tA) throw new Error('matmulBackward: a broadcast B with a transposed, batched A is not supported');
      // Fold A's batch into M: the sum over the batch of op(A)ᵀ·dC is one matmul over all rows.
      A = view(a, [d.batchA * d.M, d.K]);
      G = view(dC, [d.batchA * d.M, d.N]);
    }
    // dOpB [K, N] = op(A)ᵀ · dC; stored transposed (Bᵀ) it is dCᵀ · op(A).
    grads.dB = tB
      ? matmul(engine, G, A, { transA: true, transB: tA, alpha })
      : matmul(engine, A, G, { transA: !tA, alpha });
    if (grads.dB.size !== b.size) throw new Error('matmulBackward: dB shape mismatch');
  }
  return grads;
}

/** The same buffer seen with another shape of equal size (not pooled: releasing it is a no-op). */
export function view(t: Tensor, shape: readonly number[]): Tensor {
  if (numel(shape) !== t.size) throw new Error(`view: ${shapeStr(t.shape)} cannot be seen as ${shapeStr(shape)}`);
  const v = new Tensor(t.buffer, shape, t.dtype, false);
  v.version = t.version;
  return v;
}
