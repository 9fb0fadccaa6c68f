/**
 * Differentiable ops: each runs its forward kernel eagerly and, while the tape records, leaves a
 * record whose backward calls the op's backward kernels. Without a recording tape (inference) the
 * saved tensors are released at once and the caller owns the outputs.
 */
import type { Engine } from '../gpu/engine.js';
import { attention as attentionOp, attentionBackward, type AttentionOptions } from '../ops/attention.js';
import { codebookSearch } from '../ops/codebook.js';
import { conv3x3 as conv3x3Op, conv3x3Backward } from '../ops/conv.js';
import {
  add as addOp,
  addRows as addRowsOp,
  affine as affineOp,
  scale as scaleOp,
  columnSumRows,
  gatherRows as gatherRowsOp,
  gatherRowsBackward,
  l1 as l1Op,
  l1Backward,
  mse as mseOp,
  mseBackward,
  unpatchifyBackward,
  unpatchify as unpatchifyOp,
} from '../ops/elementwise.js';
import { layernorm as layernormOp, layernormBackward } from '../ops/layernorm.js';
import { matmul, matmulBackward } from '../ops/matmul.js';
import { l2normalize as l2normalizeOp, l2normalizeBackward } from '../ops/normalize.js';
import { rowsFrom as rowsFromOp, rowsFromBackward, rowsInto, rowsIntoBackward, type RowSource } from '../ops/sequence.js';
import { shapeStr, Tensor, view } from '../tensor.js';
import type { BackwardFn, Tape } from './tape.js';

/** The engine and, when training, the tape ops record on. */
export interface Ctx {
  engine: Engine;
  tape: Tape | null;
}

function recordOrRelease(ctx: Ctx, name: string, inputs: Tensor[], outputs: Tensor[], saved: Tensor[], backward: BackwardFn): void {
  const recorded = ctx.tape?.record(name, inputs, outputs, saved, backward) ?? false;
  if (!recorded) ctx.engine.release(...saved);
}

/**
 * out = x·W + b, or r + x·W + b (shaped like r) with a residual r: then out starts as a copy of r
 * and the matmul adds into it (its beta epilogue), so the residual costs no pass of its own.
 */
function linearForward(e: Engine, x: Tensor, w: Tensor, b: Tensor, residual: Tensor | undefined): Tensor {
  if (!residual) return matmul(e, x, w, { bias: b });
  const size = (x.size / x.shape[x.shape.length - 1]!) * w.shape[w.shape.length - 1]!;
  if (residual.size !== size) throw new Error(`linear: residual has ${residual.size} values, expected ${size}`);
  // The sum takes the residual stream's shape.
  const out = e.empty(residual.shape);
  e.copy(residual, out);
  return matmul(e, x, w, { bias: b, out, beta: 1 });
}

/** y = x·W + b for x [rows, in], W [in, out], b [out]; with a residual r (x's rows × out), r + x·W + b. */
export function linear(ctx: Ctx, x: Tensor, w: Tensor, b: Tensor, o: { residual?: Tensor } = {}): Tensor {
  const e = ctx.engine;
  const y = linearForward(e, x, w, b, o.residual);
  const inputs = o.residual ? [x, w, b, o.residual] : [x, w, b];
  recordOrRelease(ctx, 'linear', inputs, [y], [], ([dy]) => {
    const need = (t: Tensor) => ctx.tape!.requiresGrad(t);
    // Gradients match their tensor in size; the matmul needs y's shape (a transient view).
    const { dA, dB, dBias } = matmulBackward(e, view(dy!, y.shape), x, w, { needA: need(x), needB: need(w), needBias: need(b) });
    return [dA ?? null, dB ?? null, dBias ?? null, dy!];
  });
  return y;
}

/**
 * The transformer MLP, GELU(x·W1 + b1)·W2 + b2 (+ a residual r), with GELU in fc1's epilogue (which
 * also keeps its input when recording) and GELU's backward in the epilogue of the matmul that
 * forms its output's gradient: dPre = (dy·W2ᵀ) ⊙ GELU'(pre). No GELU pass of its own either way.
 */
export function mlp(ctx: Ctx, x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor, o: { residual?: Tensor } = {}): Tensor {
  const e = ctx.engine;
  const inputs = o.residual ? [x, w1, b1, w2, b2, o.residual] : [x, w1, b1, w2, b2];
  const keep = ctx.tape?.wouldRecord(inputs) ?? false;
  const pre = keep ? e.empty([...x.shape.slice(0, -1), w1.shape[w1.shape.length - 1]!]) : undefined;
  const g = matmul(e, x, w1, { bias: b1, act: 'gelu', preact: pre });
  const y = linearForward(e, g, w2, b2, o.residual);
  if (!keep) {
    e.release(g);
    return y;
  }
  recordOrRelease(ctx, 'mlp', inputs, [y], [pre!, g], ([dy]) => {
    const need = (t: Tensor) => ctx.tape!.requiresGrad(t);
    const dY = view(dy!, y.shape);
    const second = matmulBackward(e, dY, g, w2, { needA: false, needB: need(w2), needBias: need(b2) });
    const dPre = matmul(e, dY, w2, { transB: true, act: 'gelu', actGradOf: pre! });
    const first = matmulBackward(e, dPre, x, w1, { needA: need(x), needB: need(w1), needBias: need(b1) });
    e.release(dPre);
    return [first.dA ?? null, first.dB ?? null, first.dBias ?? null, second.dB ?? null, second.dBias ?? null, dy!];
  });
  return y;
}

/** x + r with r repeated over x (x.size a multiple of r.size): position embeddings over a batch. */
export function addRows(ctx: Ctx, x: Tensor, r: Tensor): Tensor {
  const e = ctx.engine;
  const y = addRowsOp(e, x, r);
  recordOrRelease(ctx, 'addRows', [x, r], [y], [], ([dy]) => {
    const dr = ctx.tape!.requiresGrad(r) ? columnSumRows(e, dy!, x.size / r.size, r.size) : null;
    return [dy!, dr];
  });
  return y;
}

export function layerNorm(ctx: Ctx, x: Tensor, g: Tensor, b: Tensor, eps: number): Tensor {
  const e = ctx.engine;
  const { y, mean, rstd } = layernormOp(e, x, g, b, eps);
  recordOrRelease(ctx, 'layernorm', [x, g, b], [y], [mean, rstd], ([dy], [prior]) => {
    // x usually also feeds a residual whose gradient is already in: add it in the same pass.
    const r = layernormBackward(e, dy!, x, g, mean, rstd, { addTo: prior ?? undefined });
    return [prior ? { summed: r.dx } : r.dx, r.dgamma, r.dbeta];
  });
  return y;
}

/** Fused multi-head attention over qkv [batch, seq, 3D] → [batch, seq, D]. */
export function attention(ctx: Ctx, qkv: Tensor, opts: AttentionOptions): Tensor {
  const e = ctx.engine;
  const { out, lse } = attentionOp(e, qkv, opts);
  recordOrRelease(ctx, 'attention', [qkv], [out], [lse], ([dOut]) => [attentionBackward(e, dOut!, qkv, out, lse, opts)]);
  return out;
}

/** Patches [B·(H/P)·(W/P), P·P·3] → images [B, H, W, 3]. */
export function unpatchify(ctx: Ctx, patches: Tensor, geom: { batch: number; height: number; width: number; patch: number }): Tensor {
  const e = ctx.engine;
  const y = unpatchifyOp(e, patches, geom);
  recordOrRelease(ctx, 'unpatchify', [patches], [y], [], ([dy]) => [unpatchifyBackward(e, dy!, geom)]);
  return y;
}

/** α·x + β elementwise (value-range maps); the gradient is α·dy. */
export function affine(ctx: Ctx, x: Tensor, alpha: number, beta: number): Tensor {
  const e = ctx.engine;
  const y = affineOp(e, x, alpha, beta);
  recordOrRelease(ctx, 'affine', [x], [y], [], ([dy]) => [scaleOp(e, dy!, alpha)]);
  return y;
}

/** 3×3 convolution (stride 1, zero padding 1) over NHWC images; weight [cout, cin, 3, 3]. */
export function conv3x3(ctx: Ctx, x: Tensor, w: Tensor, b: Tensor): Tensor {
  const e = ctx.engine;
  const y = conv3x3Op(e, x, w, b);
  recordOrRelease(ctx, 'conv3x3', [x, w, b], [y], [], ([dy]) => {
    const need = (t: Tensor) => ctx.tape!.requiresGrad(t);
    const g = conv3x3Backward(e, dy!, x, w, { x: need(x), weight: need(w), bias: need(b) });
    return [g.dx ?? null, g.dWeight ?? null, g.dBias ?? null];
  });
  return y;
}

/**
 * Rows of `table` [K, D] picked by u32 `indices` [N] → [N, D]. Backward: the deterministic
 * scatter-add into [K, D] (gatherRowsBackward). The indices stay the caller's and must live until
 * backward (hand them to the tape with adopt).
 */
export function gatherRows(ctx: Ctx, table: Tensor, indices: Tensor): Tensor {
  const e = ctx.engine;
  const y = gatherRowsOp(e, table, indices);
  const K = table.size / table.shape[table.shape.length - 1]!;
  recordOrRelease(ctx, 'gatherRows', [table], [y], [], ([dy]) => [gatherRowsBackward(e, view(dy!, y.shape), indices, K)]);
  return y;
}

/** One segment of a sequence built by assembleRows (see rowsInto). */
export interface RowSegment {
  src: Tensor;
  pos: Tensor;
  offset: number;
  rows: number;
  source: RowSource;
  posOffset?: number;
}

/**
 * A sequence [batch·seq, D] written segment by segment (rowsInto: source rows plus position rows);
 * the segments must cover every row exactly once. Backward: each distinct table's gradient from
 * its segments (rowsIntoBackward: copies for per-image rows, sums over images and repeated rows),
 * the first segment writing the whole table, later ones adding in place.
 */
export function assembleRows(ctx: Ctx, batch: number, seq: number, D: number, segments: RowSegment[]): Tensor {
  const e = ctx.engine;
  const sorted = [...segments].sort((a, b) => a.offset - b.offset);
  let next = 0;
  for (const s of sorted) {
    if (s.offset !== next) throw new Error(`assembleRows: rows ${next}..${s.offset - 1} of ${seq} are ${s.offset > next ? 'not written' : 'written twice'}`);
    next = s.offset + s.rows;
  }
  if (next !== seq) throw new Error(`assembleRows: segments cover ${next} of ${seq} rows`);
  const x = e.empty([batch * seq, D]);
  const xs = view(x, [batch, seq, D]);
  for (const s of segments) rowsInto(e, xs, s.src, s.pos, s);
  const inputs = [...new Set(segments.flatMap((s) => [s.src, s.pos]))];
  recordOrRelease(ctx, 'assembleRows', inputs, [x], [], ([dx]) => {
    const dxs = view(dx!, [batch, seq, D]);
    return inputs.map((t) => {
      if (!ctx.tape!.requiresGrad(t)) return null;
      let g: Tensor | undefined;
      for (const s of segments) {
        if (s.src === t) g = rowsIntoBackward(e, dxs, t.size / D, { offset: s.offset, rows: s.rows, source: s.source }, g);
        if (s.pos === t) g = rowsIntoBackward(e, dxs, t.size / D, { offset: s.offset, rows: s.rows, source: 'position', tableOffset: s.posOffset ?? 0 }, g);
      }
      return g ?? null;
    });
  });
  return x;
}

/**
 * Rows [offset, offset + rows) of each image of x (batch·seq rows of D, any shape) → [batch·rows, D].
 * Backward: the gradient placed in those rows of zeros.
 */
export function rowsFrom(ctx: Ctx, x: Tensor, batch: number, offset: number, rows: number): Tensor {
  const e = ctx.engine;
  const D = x.shape[x.shape.length - 1]!;
  const seq = x.size / (batch * D);
  if (!Number.isInteger(seq)) throw new Error(`rowsFrom: ${shapeStr(x.shape)} is not ${batch} images of rows of ${D}`);
  const y3 = rowsFromOp(e, view(x, [batch, seq, D]), offset, rows);
  // The same pooled buffer as rows [batch·rows, D] (y3 itself is never released).
  const out = new Tensor(y3.buffer, [batch * rows, D]);
  recordOrRelease(ctx, 'rowsFrom', [x], [out], [], ([dy]) => [rowsFromBackward(e, view(dy!, [batch, rows, D]), seq, offset)]);
  return out;
}

/** mean((a − b)²) as a [1] tensor; the target b gets no gradient. */
export function mseLoss(ctx: Ctx, a: Tensor, b: Tensor): Tensor {
  const e = ctx.engine;
  const loss = mseOp(e, a, b);
  recordOrRelease(ctx, 'mse', [a, b], [loss], [], ([dl]) => [mseBackward(e, a, b, seed(ctx, dl))]);
  return loss;
}

/** mean(|a − b|) as a [1] tensor; the target b gets no gradient. */
export function l1Loss(ctx: Ctx, a: Tensor, b: Tensor): Tensor {
  const e = ctx.engine;
  const loss = l1Op(e, a, b);
  recordOrRelease(ctx, 'l1', [a, b], [loss], [], ([dl]) => [l1Backward(e, a, b, seed(ctx, dl))]);
  return loss;
}

function seed(ctx: Ctx, g: Tensor | null): number {
  const w = ctx.tape!.seedValue(g);
  if (w === undefined) throw new Error('a loss must be a root of backward() (its gradient is the loss weight)');
  return w;
}

/** Rows of x divided by max(‖row‖, L2_EPS) (the l2-normalized codebook's normalization). */
export function l2normalize(ctx: Ctx, x: Tensor): Tensor {
  const e = ctx.engine;
  const { y, norm } = l2normalizeOp(e, x);
  recordOrRelease(ctx, 'l2normalize', [x], [y], [norm], ([dy]) => [l2normalizeBackward(e, dy!, y, norm)]);
  return y;
}

export interface Quantized {
  /** Straight-through decoder input: its value is the chosen codes, its gradient flows to z. */
  zq: Tensor;
  indices: Tensor;
  /** mean((sg(z) − e)²): trains the codebook. */
  codebookLoss: Tensor;
  /** mean((z − sg(e))²): weighted by β, trains the encoder. */
  commitmentLoss: Tensor;
}

/**
 * Vector quantizer with the straight-through estimator. Forward: nearest code per row of z, zq = e.
 * Backward: dz = dzq + w_commit · 2(z − e)/n; dCodebook = scatter-add of w_cb · 2(e − z)/n over the
 * tokens that chose each code (deterministic). Both losses have the same value; they are separate
 * outputs so each gets its own weight.
 *
 * cosine: the l2-normalized codebook (ViT-VQGAN, TiTok): ẑ = z/max(‖z‖, ε) per row, ê = the chosen
 * code row normalized the same way, the nearest code by cosine similarity (the same search
 * Tokenizer.encode runs), zq = ê, and both losses on ẑ and ê. Backward: dẑ = dzq + w_commit·2(ẑ − ê)/n,
 * dz = the l2-normalization backward of dẑ; dê = w_cb·2(ê − ẑ)/n through the normalization of the
 * chosen rows, scattered into dCodebook. Only the N chosen rows are normalized (row-wise, so the same
 * as normalizing the codebook and then gathering).
 */
export function quantize(ctx: Ctx, z: Tensor, codebook: Tensor, opts: { cosine?: boolean; norms?: Tensor } = {}): Quantized {
  if (opts.cosine) return quantizeCosine(ctx, z, codebook, opts.norms);
  const e = ctx.engine;
  const { indices, distances } = codebookSearch(e, z, codebook, opts);
  e.release(distances);
  const zq = gatherRowsOp(e, codebook, indices);
  const codebookLoss = mseOp(e, z, zq);
  // The same value; a separate tensor so each loss gets its own weight on the tape.
  const commitmentLoss = e.empty([1]);
  e.copy(codebookLoss, commitmentLoss);
  const K = codebook.shape[0]!;
  // Without a recording tape the caller owns every output, the indices included.
  ctx.tape?.record('quantize', [z, codebook], [zq, codebookLoss, commitmentLoss], [indices], ([dzq, dcb, dcommit]) => {
    let dz: Tensor | null = dzq;
    if (dcommit) {
      const g = mseBackward(e, z, zq, seed(ctx, dcommit));
      dz = dz ? addOp(e, dz, g) : g;
      if (dz !== g) e.release(g);
    }
    let dCodebook: Tensor | null = null;
    if (dcb && ctx.tape!.requiresGrad(codebook)) {
      const g = mseBackward(e, zq, z, seed(ctx, dcb));
      dCodebook = gatherRowsBackward(e, g, indices, K);
      e.release(g);
    }
    return [dz, dCodebook];
  });
  return { zq, indices, codebookLoss, commitmentLoss };
}

function quantizeCosine(ctx: Ctx, z: Tensor, codebook: Tensor, norms: Tensor | undefined): Quantized {
  const e = ctx.engine;
  const { indices, distances } = codebookSearch(e, z, codebook, { cosine: true, norms });
  e.release(distances);
  const { y: zn, norm: zNorm } = l2normalizeOp(e, z);
  const chosen = gatherRowsOp(e, codebook, indices);
  const { y: zq, norm: eNorm } = l2normalizeOp(e, chosen);
  e.release(chosen);
  const codebookLoss = mseOp(e, zn, zq);
  const commitmentLoss = e.empty([1]);
  e.copy(codebookLoss, commitmentLoss);
  const K = codebook.shape[0]!;
  const saved = [zn, zNorm, eNorm];
  // The indices stay the caller's without a recording tape (as in the plain quantizer).
  const recorded =
    ctx.tape?.record('quantize', [z, codebook], [zq, codebookLoss, commitmentLoss], [indices, ...saved], ([dzq, dcb, dcommit]) => {
      let dzn: Tensor | null = dzq;
      if (dcommit) {
        const g = mseBackward(e, zn, zq, seed(ctx, dcommit));
        dzn = dzn ? addOp(e, dzn, g) : g;
        if (dzn !== g) e.release(g);
      }
      const dz = dzn ? l2normalizeBackward(e, dzn, zn, zNorm) : null;
      if (dzn && dzn !== dzq) e.release(dzn);
      let dCodebook: Tensor | null = null;
      if (dcb && ctx.tape!.requiresGrad(codebook)) {
        const g = mseBackward(e, zq, zn, seed(ctx, dcb));
        const dChosen = l2normalizeBackward(e, g, zq, eNorm);
        dCodebook = gatherRowsBackward(e, dChosen, indices, K);
        e.release(g, dChosen);
      }
      return [dz, dCodebook];
    }) ?? false;
  if (!recorded) e.release(...saved);
  return { zq, indices, codebookLoss, commitmentLoss };
}
