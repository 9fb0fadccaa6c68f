import { grid, type Engine } from '../gpu/engine.js';
import { LOOP_BUDGET, tensorLimitError } from '../gpu/limits.js';
import { ELEMENTWISE } from '../gpu/uniforms.js';
import { Tensor, numel, shapeStr } from '../tensor.js';

/**
 * A 1D launch over `items` invocations, `wg` per workgroup (default: a flat entry point's FLAT_WG,
 * engine.flatWG): the workgroup grid (split over y past 65535 groups) and the stride the kernels
 * use to flatten it (item = gid.x + gid.y * stride).
 */
export function linearLaunch(engine: Engine, items: number, wg = engine.flatWG): { groups: [number, number, number]; stride: number } {
  const groups = grid(Math.ceil(items / wg));
  return { groups, stride: groups[0] * wg };
}

/** Throws a LimitError when a tensor (or a shape about to be allocated) is larger than one storage binding or buffer may be. */
export function checkBindable(engine: Engine, what: string, ...ts: (Tensor | readonly number[])[]): void {
  for (const t of ts) {
    const shape = t instanceof Tensor ? t.shape : t;
    const err = tensorLimitError(engine.limits, `${what}: tensor ${shapeStr(shape)}`, numel(shape) * 4);
    if (err) throw err;
  }
}

function sameSize(what: string, a: Tensor, b: Tensor): void {
  if (a.size !== b.size) throw new Error(`${what}: shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)} differ in size`);
}

/**
 * alpha·a + beta·b elementwise (same element count; the result takes a's shape).
 *
 * Backward: linear, so there is no dedicated kernel. The tape routes dOut to both inputs:
 * da = scale(engine, dOut, alpha) and db = scale(engine, dOut, beta) (or dOut itself where the
 * factor is 1). Likewise the backward of scale(a, s) is scale(dOut, s).
 */
export function add(engine: Engine, a: Tensor, b: Tensor, alpha = 1, beta = 1): Tensor {
  sameSize('add', a, b);
  checkBindable(engine, 'add', a, b);
  const y = engine.empty(a.shape);
  const vec = a.size % 4 === 0;
  const items = vec ? a.size / 4 : a.size;
  const { groups, stride } = linearLaunch(engine, items);
  engine.dispatch('elementwise', vec ? 'add4' : 'add1', [a, b, y], ELEMENTWISE.withZeros({ n: items, stride, alpha, beta }), groups);
  return y;
}

/**
 * a + r with r repeated over a (a.size a multiple of r.size; the result takes a's shape): adds
 * position embeddings [T, D] to every image of a batch. Backward: da = dOut, dr = the column sums
 * of dOut seen as [a.size / r.size, r.size] (columnSumRows).
 */
export function addRows(engine: Engine, a: Tensor, r: Tensor): Tensor {
  if (r.size === 0 || a.size % r.size !== 0) throw new Error(`addRows: ${shapeStr(a.shape)} is not a whole number of ${shapeStr(r.shape)}`);
  checkBindable(engine, 'addRows', a, r);
  const y = engine.empty(a.shape);
  const vec = r.size % 4 === 0;
  const items = vec ? a.size / 4 : a.size;
  const { groups, stride } = linearLaunch(engine, items);
  engine.dispatch('elementwise', vec ? 'add_rows4' : 'add_rows1', [a, r, y], ELEMENTWISE.withZeros({ n: items, stride, d: vec ? r.size / 4 : r.size, alpha: 1, beta: 1 }), groups);
  return y;
}

/** alpha·a + beta elementwise: changes of value range (e.g. [-1, 1] images to [0, 1]). */
export function affine(engine: Engine, a: Tensor, alpha: number, beta: number): Tensor {
  checkBindable(engine, 'affine', a);
  const y = engine.empty(a.shape);
  const vec = a.size % 4 === 0;
  const items = vec ? a.size / 4 : a.size;
  const { groups, stride } = linearLaunch(engine, items);
  engine.dispatch('elementwise', vec ? 'affine4' : 'affine1', [a, y], ELEMENTWISE.withZeros({ n: items, stride, alpha, beta }), groups);
  return y;
}

/** s·a elementwise. */
export function scale(engine: Engine, a: Tensor, s: number): Tensor {
  checkBindable(engine, 'scale', a);
  const y = engine.empty(a.shape);
  const vec = a.size % 4 === 0;
  const items = vec ? a.size / 4 : a.size;
  const { groups, stride } = linearLaunch(engine, items);
  engine.dispatch('elementwise', vec ? 'scale4' : 'scale1', [a, y], ELEMENTWISE.withZeros({ n: items, stride, alpha: s }), groups);
  return y;
}

/** Rows of `table` [K, D] picked by `indices` [N] (u32): [N, D]. An index ≥ K gives a row of zeros. */
export function gatherRows(engine: Engine, table: Tensor, indices: Tensor): Tensor {
  if (table.shape.length !== 2) throw new Error(`gatherRows: table must be [K, D], got ${shapeStr(table.shape)}`);
  if (indices.dtype === 'f32') throw new Error('gatherRows: indices must be u32');
  const [K, D] = table.shape as [number, number];
  const N = indices.size;
  checkBindable(engine, 'gatherRows', table, [N, D]);
  const y = engine.empty([N, D]);
  const vec = D % 4 === 0;
  const d = vec ? D / 4 : D;
  const items = N * d;
  const { groups, stride } = linearLaunch(engine, items);
  engine.dispatch('elementwise', vec ? 'gather4' : 'gather1', [table, indices, y], ELEMENTWISE.withZeros({ n: items, stride, d, k: K }), groups);
  return y;
}

function patchDims(what: string, batch: number, height: number, width: number, patch: number): void {
  if (!(patch > 0 && height % patch === 0 && width % patch === 0))
    throw new Error(`${what}: image ${height}×${width} is not a whole number of ${patch}×${patch} patches`);
  if (!(batch > 0)) throw new Error(`${what}: batch must be positive`);
  if (3 * patch > 60000) throw new Error(`${what}: patch ${patch} is too large (one invocation copies a run of 3·patch values)`);
}

function patchDispatch(engine: Engine, entry: 'patchify' | 'unpatchify', src: Tensor, dst: Tensor, height: number, width: number, patch: number): void {
  checkBindable(engine, entry, src, dst);
  const vec = patch % 4 === 0;
  const items = src.size / (3 * patch); // one item per run of 3·patch values (a patch row)
  const { groups, stride } = linearLaunch(engine, items);
  engine.dispatch('elementwise', entry + (vec ? '4' : '1'), [src, dst], ELEMENTWISE.withZeros({ n: items, stride, d: patch, k: height, w: width }), groups);
}

/**
 * NHWC images [B, H, W, 3] to patch rows [B·(H/P)·(W/P), P·P·3]: rows ordered (b, py, px),
 * columns (y within patch, x within patch, channel).
 */
export function patchify(engine: Engine, images: Tensor, patch: number): Tensor {
  if (images.shape.length !== 4 || images.shape[3] !== 3) throw new Error(`patchify: images must be [B, H, W, 3], got ${shapeStr(images.shape)}`);
  const [B, H, W] = images.shape as [number, number, number, number];
  patchDims('patchify', B, H, W, patch);
  const y = engine.empty([(B * H * W) / (patch * patch), patch * patch * 3]);
  patchDispatch(engine, 'patchify', images, y, H, W, patch);
  return y;
}

/** The exact inverse of patchify: patch rows back to NHWC images [batch, height, width, 3]. */
export function unpatchify(engine: Engine, patches: Tensor, opts: { batch: number; height: number; width: number; patch: number }): Tensor {
  const { batch, height, width, patch } = opts;
  patchDims('unpatchify', batch, height, width, patch);
  const rows = (batch * height * width) / (patch * patch);
  if (patches.shape.length !== 2 || patches.shape[0] !== rows || patches.shape[1] !== patch * patch * 3)
    throw new Error(`unpatchify: expected patches [${rows}, ${patch * patch * 3}], got ${shapeStr(patches.shape)}`);
  const y = engine.empty([batch, height, width, 3]);
  patchDispatch(engine, 'unpatchify', patches, y, height, width, patch);
  return y;
}

/**
 * Most per-workgroup partial sums mse's first pass produces. On llvmpipe each workgroup's
 * reduction costs microseconds, so few workgroups with ~16 items per invocation measured best
 * (4096 × 1024: 256 partials, 16 vec4 per invocation); a GPU wants many more invocations in flight.
 */
const MSE_MAX_PARTIALS = { software: 256, hardware: 4096 };

/**
 * mean((a − b)²) as a [1] tensor. Deterministic two-pass reduction: per-workgroup partial sums,
 * then one workgroup sums the partials (no atomics). Each invocation of the first pass sums
 * ceil(items / (FLAT_WG · maxPartials)) items, so the partial count stays ≤ maxPartials.
 */
export function mse(engine: Engine, a: Tensor, b: Tensor): Tensor {
  return meanLoss(engine, a, b, LOSS.mse, 'mse');
}

/** Loss kinds of kernels/elementwise.wgsl (override LOSS). */
const LOSS = { mse: 0, l1: 1 } as const;

function meanLoss(engine: Engine, a: Tensor, b: Tensor, loss: number, what: string): Tensor {
  sameSize(what, a, b);
  checkBindable(engine, what, a, b);
  const n = a.size;
  if (n === 0) throw new Error(`${what}: empty tensors`);
  const vec = n % 4 === 0;
  const items = vec ? n / 4 : n;
  const maxPartials = engine.info.software ? MSE_MAX_PARTIALS.software : MSE_MAX_PARTIALS.hardware;
  const perInvocation = Math.max(1, Math.ceil(items / (engine.flatWG * maxPartials)));
  const partials = Math.ceil(items / (engine.flatWG * perInvocation));
  const part = engine.empty([partials]);
  const out = engine.empty([1]);
  engine.dispatch('elementwise', vec ? 'loss_partial4' : 'loss_partial1', [a, b, part], ELEMENTWISE.withZeros({ n: items, k: perInvocation }), grid(partials), { LOSS: loss });
  engine.dispatch('elementwise', 'sum_final', [part, out], ELEMENTWISE.withZeros({ n: partials, alpha: 1 / n }), [1, 1, 1]);
  engine.release(part);
  return out;
}

/** mean(|a − b|) as a [1] tensor; deterministic two-pass reduction, as mse. */
export function l1(engine: Engine, a: Tensor, b: Tensor): Tensor {
  return meanLoss(engine, a, b, LOSS.l1, 'l1');
}

function lossGrad(engine: Engine, a: Tensor, b: Tensor, loss: number, alpha: number, what: string): Tensor {
  sameSize(what, a, b);
  checkBindable(engine, what, a, b);
  const y = engine.empty(a.shape);
  const vec = a.size % 4 === 0;
  const items = vec ? a.size / 4 : a.size;
  const { groups, stride } = linearLaunch(engine, items);
  engine.dispatch('elementwise', vec ? 'loss_grad4' : 'loss_grad1', [a, b, y], ELEMENTWISE.withZeros({ n: items, stride, alpha }), groups, { LOSS: loss });
  return y;
}

/**
 * Gradient of dLoss·mean((a − b)²) with respect to a: 2·dLoss·(a − b)/n (a's shape; the
 * gradient with respect to b is its negative: scale it by −1, or call with a and b swapped).
 */
export function mseBackward(engine: Engine, a: Tensor, b: Tensor, dLoss = 1): Tensor {
  return lossGrad(engine, a, b, LOSS.mse, (2 * dLoss) / a.size, 'mseBackward');
}

/**
 * Gradient of dLoss·mean(|a − b|) with respect to a: dLoss·sign(a − b)/n, 0 where a = b (the
 * subgradient 0 at the kink). The gradient with respect to b is its negative.
 */
export function l1Backward(engine: Engine, a: Tensor, b: Tensor, dLoss = 1): Tensor {
  return lossGrad(engine, a, b, LOSS.l1, dLoss / a.size, 'l1Backward');
}

/** Image geometry for unpatchify and the patchify backward. */
export interface PatchGeometry {
  batch: number;
  height: number;
  width: number;
  patch: number;
}

/**
 * Backward of patchify: patchify is a permutation of the elements, so its adjoint is its inverse:
 * dImages = unpatchify(dPatches). `opts` describes the images patchify read.
 */
export function patchifyBackward(engine: Engine, dPatches: Tensor, opts: PatchGeometry): Tensor {
  return unpatchify(engine, dPatches, opts);
}

/**
 * Backward of unpatchify (a permutation): dPatches = patchify(dImages). `opts` are the options
 * unpatchify was called with; dImages must be [batch, height, width, 3].
 */
export function unpatchifyBackward(engine: Engine, dImages: Tensor, opts: PatchGeometry): Tensor {
  const { batch, height, width } = opts;
  const s = dImages.shape;
  if (s.length !== 4 || s[0] !== batch || s[1] !== height || s[2] !== width || s[3] !== 3)
    throw new Error(`unpatchifyBackward: expected dImages [${batch}, ${height}, ${width}, 3], got ${shapeStr(s)}`);
  return patchify(engine, dImages, opts.patch);
}

/**
 * Rows per chunk of a column-reduction pass that leaves more than one row. CPU executors: a
 * column walk of 16–32 rows measured 3–4× faster than one of 64 on llvmpipe at 4096 × 1024 (rows
 * 4 KiB apart fall into the same cache sets), and a walk over two arrays at once (LayerNorm's
 * dγ, dβ) wants 16. GPUs: shorter walks, so more invocations have loads in flight (with walks
 * of 64 rows and a last pass over 64 partials, 4096 × 1024 took 144 µs on an H200, 3% of its
 * copy rate); each extra pass costs a dispatch, so 16 (8 for two arrays), three passes at 4096.
 */
export function columnChunk(engine: Engine, arrays: 1 | 2 = 1): number {
  if (!engine.info.software) return arrays === 1 ? 16 : 8;
  return arrays === 1 ? 32 : 16;
}

/** Rows one pass sums per chunk: all of them when at most 2·chunk, else `chunk`. */
export function passChunkRows(rows: number, chunk: number): number {
  return rows <= 2 * chunk ? rows : chunk;
}

/**
 * Column sums of x [rows, cols] (any rank: the last axis is cols, the others are rows): [cols].
 * Deterministic, no atomics: a pass sums chunks of rows per column in ascending row order into
 * [chunks, cols] (chunk size from columnChunk: 32 rows on CPU executors, 16 on GPUs), and passes
 * repeat on that until one row is left: a tree of short sums, never one invocation looping over
 * all rows (llvmpipe's loop cap). 4096 rows take 3 passes, 64 rows one. The
 * summation order depends only on the shape and the device kind: the same bits every run.
 * Used for bias gradients (and LayerNorm's dγ, dβ).
 */
export function columnSum(engine: Engine, x: Tensor, options: ColumnSumOptions = {}): Tensor {
  if (x.shape.length < 1) throw new Error('columnSum: a scalar has no columns');
  const cols = x.shape[x.shape.length - 1]!;
  if (cols === 0 || x.size === 0) throw new Error(`columnSum: empty tensor ${shapeStr(x.shape)}`);
  checkBindable(engine, 'columnSum', x);
  return columnSumRows(engine, x, x.size / cols, cols, options.chunk);
}

export interface ColumnSumOptions {
  /** Rows per chunk (tests, benchmarks); default columnChunk(engine). From 2 to 4096. */
  chunk?: number;
}

/**
 * Column sums of the first `rows` rows of a [rows, cols] buffer (see columnSum). Releases nothing
 * it was given; the intermediate [chunks, cols] tensors are released once their pass is recorded.
 */
export function columnSumRows(engine: Engine, x: Tensor, rows: number, cols: number, chunk = columnChunk(engine)): Tensor {
  if (!(Number.isInteger(chunk) && chunk >= 2 && chunk <= 4096)) throw new Error(`columnSum: chunk ${chunk} is not an integer from 2 to 4096`);
  const vec = cols % 4 === 0;
  const d = vec ? cols / 4 : cols;
  let cur = x;
  let curRows = rows;
  for (;;) {
    const w = passChunkRows(curRows, chunk);
    const chunks = Math.ceil(curRows / w);
    const out = engine.empty(chunks === 1 ? [cols] : [chunks, cols]);
    const items = chunks * d;
    const { groups, stride } = linearLaunch(engine, items);
    engine.dispatch('elementwise', vec ? 'colsum4' : 'colsum1', [cur, out], ELEMENTWISE.withZeros({ n: items, stride, d, k: curRows, w }), groups);
    if (cur !== x) engine.release(cur);
    cur = out;
    curRows = chunks;
    if (chunks === 1) return out;
  }
}

/**
 * Tokens per chunk of gatherRowsBackward's rank computation (a multiple of 4; loop trips per
 * invocation are a quarter): long walks on CPU executors (few invocations, little overhead),
 * short ones on GPUs (many invocations with loads in flight).
 */
const RANK_CHUNK = { software: 1024, hardware: 64 };
/**
 * Most tokens gatherRowsBackward takes: the rank pass is O(N²), and one invocation of the
 * scatter pass loops over all tokens that chose its code (up to N: the loop budget).
 */
export const GATHER_BACKWARD_MAX_TOKENS = LOOP_BUDGET;

export interface GatherBackwardOptions {
  /** Tokens per chunk of the rank computation (tests, benchmarks): a multiple of 4 from 4 to 16384; default 1024 on CPU executors, 64 on GPUs. */
  rankChunk?: number;
}

/**
 * Backward of gatherRows: the scatter-add dTable [K, D] with dTable[k, :] = Σ dOut[t, :] over the
 * tokens t with indices[t] = k, summed in ascending t (so it equals a float32 loop over the tokens
 * in order, bit for bit); rows nobody chose are 0, indices ≥ K (zero rows in the forward) are
 * dropped. Deterministic without atomics: the tokens are ranked by (index, token) (O(N²)
 * comparisons, 16 per vec4 load, split into chunks of tokens), scattered into sorted order,
 * each code's range found by binary search, and each output element sums its code's range
 * (kernels/elementwise.wgsl). N ≤ GATHER_BACKWARD_MAX_TOKENS.
 */
export function gatherRowsBackward(engine: Engine, dOut: Tensor, indices: Tensor, K: number, options: GatherBackwardOptions = {}): Tensor {
  if (dOut.shape.length !== 2) throw new Error(`gatherRowsBackward: dOut must be [N, D], got ${shapeStr(dOut.shape)}`);
  if (indices.dtype === 'f32') throw new Error('gatherRowsBackward: indices must be u32');
  const [N, D] = dOut.shape as [number, number];
  if (indices.size !== N) throw new Error(`gatherRowsBackward: ${indices.size} indices for ${N} rows of dOut`);
  if (!(Number.isInteger(K) && K > 0 && K < 0xffffffff)) throw new Error(`gatherRowsBackward: bad table size K = ${K}`);
  if (N > GATHER_BACKWARD_MAX_TOKENS) throw new Error(`gatherRowsBackward: ${N} tokens; at most ${GATHER_BACKWARD_MAX_TOKENS}`);
  checkBindable(engine, 'gatherRowsBackward', dOut, [K, D]);
  const out = engine.empty([K, D]);
  const vec = D % 4 === 0;
  const d = vec ? D / 4 : D;
  if (N === 0) {
    engine.fill(out, 0);
    return out;
  }
  const quads = Math.ceil(N / 4);
  const rankChunk = options.rankChunk ?? (engine.info.software ? RANK_CHUNK.software : RANK_CHUNK.hardware);
  if (!(Number.isInteger(rankChunk) && rankChunk % 4 === 0 && rankChunk >= 4 && rankChunk <= 16384))
    throw new Error(`gatherRowsBackward: rankChunk ${rankChunk} is not a multiple of 4 from 4 to 16384`);
  const chunkQuads = rankChunk / 4;
  const chunks = Math.ceil(quads / chunkQuads);
  checkBindable(engine, 'gatherRowsBackward (rank counts)', [chunks, 4 * quads]);
  const keys = engine.empty([4 * quads], 'u32');
  const counts = engine.empty([chunks, 4 * quads], 'u32');
  const sorted = engine.empty([N], 'u32');
  const sortedKey = engine.empty([N], 'u32');
  const first = engine.empty([K + 1], 'u32');
  let l = linearLaunch(engine, 4 * quads);
  engine.dispatch('elementwise', 'rank_keys', [indices, keys], ELEMENTWISE.withZeros({ n: 4 * quads, stride: l.stride, d: N, k: K }), l.groups);
  l = linearLaunch(engine, chunks * quads);
  engine.dispatch('elementwise', 'rank_partial', [keys, counts], ELEMENTWISE.withZeros({ n: chunks * quads, stride: l.stride, d: quads, w: chunkQuads }), l.groups);
  l = linearLaunch(engine, N);
  engine.dispatch('elementwise', 'rank_scatter', [keys, counts, sorted, sortedKey], ELEMENTWISE.withZeros({ n: N, stride: l.stride, d: 4 * quads, k: chunks }), l.groups);
  l = linearLaunch(engine, K + 1);
  engine.dispatch('elementwise', 'segment_starts', [sortedKey, first], ELEMENTWISE.withZeros({ n: K + 1, stride: l.stride, d: N, k: K }), l.groups);
  l = linearLaunch(engine, K * d);
  engine.dispatch('elementwise', vec ? 'scatter_rows4' : 'scatter_rows1', [dOut, sorted, first, out], ELEMENTWISE.withZeros({ n: K * d, stride: l.stride, d, k: K }), l.groups);
  engine.release(keys, counts, sorted, sortedKey, first);
  return out;
}
