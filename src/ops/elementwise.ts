import { grid, type Engine } from '../gpu/engine.js';
import { Tensor, numel, shapeStr } from '../tensor.js';

/** Invocations per workgroup of the 1D elementwise kernels (kernels/elementwise.wgsl, gelu.wgsl). */
const WG = 256;

/**
 * A 1D launch over `items` invocations: the workgroup grid (split over y past 65535 groups) and
 * the stride the kernels use to flatten it (item = gid.x + gid.y * stride).
 */
export function linearLaunch(items: number): { groups: [number, number, number]; stride: number } {
  const groups = grid(Math.ceil(items / WG));
  return { groups, stride: groups[0] * WG };
}

/** Throws when a tensor (or a shape about to be allocated) is larger than one storage binding may be. */
export function checkBindable(engine: Engine, what: string, ...ts: (Tensor | readonly number[])[]): void {
  const max = engine.limits.maxStorageBufferBindingSize;
  for (const t of ts) {
    const shape = t instanceof Tensor ? t.shape : t;
    if (numel(shape) * 4 > max) throw new Error(`${what}: tensor ${shapeStr(shape)} exceeds the ${max}-byte storage binding limit`);
  }
}

/** u32 fields of elementwise.wgsl's Params (n, stride, bits, d, k, w); the f32 fields follow them. */
const U_FIELDS = 6;

/** Uniform values for elementwise.wgsl: the u32 fields given, zero-padded, then the f32 fields. */
function ew(u: number[], f: number[] = []): { u: number[]; f: number[] } {
  return { u: [...u, ...new Array<number>(U_FIELDS - u.length).fill(0)], f };
}

function sameSize(what: string, a: Tensor, b: Tensor): void {
  if (a.size !== b.size) throw new Error(`${what}: shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)} differ in size`);
}

/** alpha·a + beta·b elementwise (same element count; the result takes a's shape). */
export function add(engine: Engine, a: Tensor, b: Tensor, alpha = 1, beta = 1): Tensor {
  sameSize('add', a, b);
  checkBindable(engine, 'add', a, b);
  const y = engine.empty(a.shape);
  const vec = a.size % 4 === 0;
  const items = vec ? a.size / 4 : a.size;
  const { groups, stride } = linearLaunch(items);
  engine.dispatch('elementwise', vec ? 'add4' : 'add1', [a, b, y], ew([items, stride], [alpha, beta]), groups);
  return y;
}

/** s·a elementwise. */
export function scale(engine: Engine, a: Tensor, s: number): Tensor {
  checkBindable(engine, 'scale', a);
  const y = engine.empty(a.shape);
  const vec = a.size % 4 === 0;
  const items = vec ? a.size / 4 : a.size;
  const { groups, stride } = linearLaunch(items);
  engine.dispatch('elementwise', vec ? 'scale4' : 'scale1', [a, y], ew([items, stride], [s]), groups);
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
  const { groups, stride } = linearLaunch(items);
  engine.dispatch('elementwise', vec ? 'gather4' : 'gather1', [table, indices, y], ew([items, stride, 0, d, K]), groups);
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
  const { groups, stride } = linearLaunch(items);
  engine.dispatch('elementwise', entry + (vec ? '4' : '1'), [src, dst], ew([items, stride, 0, patch, height, width]), groups);
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
 * ceil(items / (256 · maxPartials)) items, so the partial count stays ≤ maxPartials.
 */
export function mse(engine: Engine, a: Tensor, b: Tensor): Tensor {
  sameSize('mse', a, b);
  checkBindable(engine, 'mse', a, b);
  const n = a.size;
  if (n === 0) throw new Error('mse: empty tensors');
  const vec = n % 4 === 0;
  const items = vec ? n / 4 : n;
  const maxPartials = engine.info.software ? MSE_MAX_PARTIALS.software : MSE_MAX_PARTIALS.hardware;
  const perInvocation = Math.max(1, Math.ceil(items / (WG * maxPartials)));
  const partials = Math.ceil(items / (WG * perInvocation));
  const part = engine.empty([partials]);
  const out = engine.empty([1]);
  engine.dispatch('elementwise', vec ? 'sq_diff_partial4' : 'sq_diff_partial1', [a, b, part], ew([items, 0, 0, 0, perInvocation]), grid(partials));
  engine.dispatch('elementwise', 'sum_final', [part, out], ew([partials], [1 / n]), [1, 1, 1]);
  engine.release(part);
  return out;
}
