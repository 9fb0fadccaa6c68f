import { grid, type Engine } from '../gpu/engine.js';
import { LAYERNORM } from '../gpu/uniforms.js';
import { FIXED_WG, LOOP_BUDGET } from '../gpu/limits.js';
import { shapeStr, type Tensor } from '../tensor.js';
import { checkBindable, columnChunk, columnSumRows, linearLaunch, passChunkRows } from './elementwise.js';

/**
 * Row-wise kernel layouts shared by layernorm and softmax: 'row' runs one invocation per row
 * (CPU executors), 'workgroup' one workgroup of FLAT_WG invocations (256 where the device allows
 * it) per row (GPUs, and long rows).
 */
export type RowLayout = 'row' | 'workgroup';

export interface RowwiseOptions {
  /** Force a layout (tests, benchmarks); default: 'row' on software devices, else 'workgroup'. */
  layout?: RowLayout;
}

/** Invocations per workgroup of the row layout. */
const ROW_WG = FIXED_WG;
/** Most loop trips one invocation of the row layout may run (longer rows take the workgroup layout). */
const ROW_MAX_TRIPS = LOOP_BUDGET;

/**
 * The row-wise launch both layernorm and softmax use: entry suffix and grid. `passes` is how
 * many times the row layout loops over a row.
 */
export function rowwiseLaunch(
  engine: Engine,
  rows: number,
  cols: number,
  passes: number,
  layout: RowLayout | undefined,
): { entry: 'row4' | 'row1' | 'wg'; d: number; stride: number; groups: [number, number, number]; overrides: Record<string, number> } {
  const vec = cols % 4 === 0;
  const d = vec ? cols / 4 : cols;
  const rowFits = passes * d <= ROW_MAX_TRIPS;
  const chosen = layout ?? (engine.info.software && rowFits ? 'row' : 'workgroup');
  if (chosen === 'row' && rowFits) {
    const groups = grid(Math.ceil(rows / ROW_WG));
    return { entry: vec ? 'row4' : 'row1', d, stride: groups[0] * ROW_WG, groups, overrides: { WG: ROW_WG } };
  }
  return { entry: 'wg', d: cols, stride: 0, groups: grid(rows), overrides: {} };
}

/** [rows, D] view of a tensor whose last axis is D. */
export function rowsCols(what: string, x: Tensor): [number, number] {
  if (x.shape.length < 1) throw new Error(`${what}: a scalar has no rows`);
  const cols = x.shape[x.shape.length - 1]!;
  if (cols === 0) throw new Error(`${what}: empty rows in ${shapeStr(x.shape)}`);
  return [x.size / cols, cols];
}

/**
 * LayerNorm over the last axis: y = (x − mean)·rstd·gamma + beta with rstd = 1/√(var + eps)
 * (biased variance, two passes). Returns y (x's shape), mean [rows] and rstd [rows].
 */
export function layernorm(
  engine: Engine,
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  eps = 1e-5,
  options: RowwiseOptions = {},
): { y: Tensor; mean: Tensor; rstd: Tensor } {
  const [rows, D] = rowsCols('layernorm', x);
  if (gamma.size !== D || beta.size !== D) throw new Error(`layernorm: gamma ${shapeStr(gamma.shape)} and beta ${shapeStr(beta.shape)} must have ${D} elements`);
  checkBindable(engine, 'layernorm', x);
  const y = engine.empty(x.shape);
  const mean = engine.empty([rows]);
  const rstd = engine.empty([rows]);
  const l = rowwiseLaunch(engine, rows, D, 3, options.layout);
  engine.dispatch('layernorm', l.entry, [x, gamma, beta, y, mean, rstd], LAYERNORM.with({ rows, d: l.d, stride: l.stride, chunk: 0, eps }), l.groups, l.overrides);
  return { y, mean, rstd };
}

export interface LayernormBackwardOptions extends RowwiseOptions {
  /** A gradient x already has (x's shape): dx comes out as this plus LayerNorm's own, in the same pass. */
  addTo?: Tensor;
  /** Rows per chunk of the dgamma/dbeta reductions (tests, benchmarks); default columnChunk(engine, 2), then columnSum's. */
  chunk?: number;
}

/**
 * LayerNorm backward from the forward's saved mean and rstd [rows]: with x̂ = (x − mean)·rstd,
 * dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) where g = dy·gamma (row means over D),
 * dgamma = Σ_rows dy·x̂ and dbeta = Σ_rows dy ([D]). dx uses the forward's row layouts; dgamma and
 * dbeta are deterministic column reductions (per-chunk partials in ascending row order, then
 * columnSum's tree of chunk sums over them), the same bits on every run.
 */
export function layernormBackward(
  engine: Engine,
  dy: Tensor,
  x: Tensor,
  gamma: Tensor,
  mean: Tensor,
  rstd: Tensor,
  options: LayernormBackwardOptions = {},
): { dx: Tensor; dgamma: Tensor; dbeta: Tensor } {
  const [rows, D] = rowsCols('layernormBackward', x);
  if (dy.size !== x.size) throw new Error(`layernormBackward: dy ${shapeStr(dy.shape)} and x ${shapeStr(x.shape)} differ in size`);
  if (gamma.size !== D) throw new Error(`layernormBackward: gamma ${shapeStr(gamma.shape)} must have ${D} elements`);
  if (mean.size !== rows || rstd.size !== rows) throw new Error(`layernormBackward: mean and rstd must have ${rows} elements`);
  checkBindable(engine, 'layernormBackward', x, dy);
  const dx = engine.empty(x.shape);
  const l = rowwiseLaunch(engine, rows, D, 2, options.layout);
  const add = options.addTo;
  if (add && add.size !== x.size) throw new Error(`layernormBackward: addTo ${shapeStr(add.shape)} and x ${shapeStr(x.shape)} differ in size`);
  engine.dispatch('layernorm', 'bwd_' + l.entry, [dy, x, gamma, mean, rstd, dx, add ?? engine.placeholder()], LAYERNORM.with({ rows, d: l.d, stride: l.stride, chunk: 0, eps: 0 }), l.groups, { ...l.overrides, ADD: add ? 1 : 0 });

  const vec = D % 4 === 0;
  const d = vec ? D / 4 : D;
  const base = options.chunk ?? columnChunk(engine, 2); // walks dy and x together
  if (!(Number.isInteger(base) && base >= 2 && base <= 4096)) throw new Error(`layernormBackward: chunk ${base} is not an integer from 2 to 4096`);
  const chunk = passChunkRows(rows, base);
  const chunks = Math.ceil(rows / chunk);
  // Partials of both in one [chunks, 2D] tensor (dgamma's D columns, then dbeta's): one column
  // reduction for the two, then each copied out.
  const partials = engine.empty([chunks, 2 * D]);
  const { groups, stride } = linearLaunch(engine, chunks * d);
  engine.dispatch('layernorm', vec ? 'dgb_partial4' : 'dgb_partial1', [dy, x, null, mean, rstd, partials], LAYERNORM.with({ rows, d, stride, chunk, eps: 0 }), groups);
  const sums = chunks === 1 ? partials : columnSumRows(engine, partials, chunks, 2 * D, options.chunk);
  const dgamma = engine.empty([D]);
  const dbeta = engine.empty([D]);
  engine.copy(sums, dgamma, 4 * D, 0, 0);
  engine.copy(sums, dbeta, 4 * D, 4 * D, 0);
  engine.release(partials);
  if (sums !== partials) engine.release(sums);
  return { dx, dgamma, dbeta };
}
