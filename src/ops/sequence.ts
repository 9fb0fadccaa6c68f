/**
 * Token-row assembly (kernels/sequence.wgsl): writing segments of a sequence x [batch, seq, D] from
 * rows plus position rows, and reading a segment back out. TiTok's encoder builds [class, patches,
 * latent tokens] this way and its decoder [class, mask tokens, latents], with the position
 * embeddings added in the same pass; both keep one segment after their transformer.
 */
import type { Engine } from '../gpu/engine.js';
import { LOOP_TRIP_CAP } from '../gpu/limits.js';
import { SEQUENCE } from '../gpu/uniforms.js';
import { shapeStr, type Tensor } from '../tensor.js';
import { checkBindable, linearLaunch } from './elementwise.js';

/** Where a segment's source rows come from: `perImage` rows for each image, `shared` one set for the batch, `repeat` one row for every position. */
export type RowSource = 'perImage' | 'shared' | 'repeat';

export interface RowsIntoOptions {
  /** First row of the segment in each image of x. */
  offset: number;
  /** Rows of the segment per image. */
  rows: number;
  source: RowSource;
  /** First row of `pos` added to the segment's first row (default 0). */
  posOffset?: number;
}

function dims(x: Tensor, what: string): [number, number, number] {
  if (x.shape.length !== 3 || x.dtype !== 'f32') throw new Error(`${what}: expected an f32 sequence [batch, seq, D], got ${x.dtype} ${shapeStr(x.shape)}`);
  return x.shape as [number, number, number];
}

/** One item per element of `rows` rows of D (per vec4 where D % 4 == 0: the *4 entries). */
function launch(engine: Engine, rows: number, D: number): { vec: boolean; d: number; items: number; groups: [number, number, number]; stride: number } {
  const vec = D % 4 === 0;
  const d = vec ? D / 4 : D;
  const items = rows * d;
  return { vec, d, items, ...linearLaunch(engine, items) };
}

/**
 * x[b, offset + r, :] = src row + pos[posOffset + r, :] for every image b and r < rows, where the
 * source row is src[b·rows + r] (perImage), src[r] (shared) or src[0] (repeat). x is written in
 * place (other rows untouched); src and pos are read as [·, D] rows.
 */
export function rowsInto(engine: Engine, x: Tensor, src: Tensor, pos: Tensor, o: RowsIntoOptions): void {
  const [batch, seq, D] = dims(x, 'rowsInto');
  const { offset, rows, source } = o;
  const pos0 = o.posOffset ?? 0;
  if (!(Number.isInteger(rows) && rows >= 1 && Number.isInteger(offset) && offset >= 0 && offset + rows <= seq))
    throw new Error(`rowsInto: rows [${offset}, ${offset + rows}) outside the sequence of ${seq}`);
  const srcRows = source === 'perImage' ? batch * rows : source === 'shared' ? rows : 1;
  if (src.size !== srcRows * D) throw new Error(`rowsInto: source ${shapeStr(src.shape)} is not ${srcRows} rows of ${D} (${source})`);
  if (pos.size % D !== 0 || pos.size / D < pos0 + rows) throw new Error(`rowsInto: position table ${shapeStr(pos.shape)} has no rows [${pos0}, ${pos0 + rows}) of ${D}`);
  checkBindable(engine, 'rowsInto', x, src, pos);
  const { vec, d, items, groups, stride } = launch(engine, batch * rows, D);
  const [sb, sr] = source === 'perImage' ? [rows, 1] : source === 'shared' ? [0, 1] : [0, 0];
  engine.dispatch('sequence', vec ? 'rows_into4' : 'rows_into1', [x, src, pos], SEQUENCE.withZeros({ n: items, stride, d, rows, seq, offset, sb, sr, pos0 }), groups);
  x.touch();
}

/** The segment x[:, offset : offset + rows, :] as a new tensor [batch, rows, D]. */
export function rowsFrom(engine: Engine, x: Tensor, offset: number, rows: number): Tensor {
  const [batch, seq, D] = dims(x, 'rowsFrom');
  if (!(Number.isInteger(rows) && rows >= 1 && Number.isInteger(offset) && offset >= 0 && offset + rows <= seq))
    throw new Error(`rowsFrom: rows [${offset}, ${offset + rows}) outside the sequence of ${seq}`);
  checkBindable(engine, 'rowsFrom', x);
  const y = engine.empty([batch, rows, D]);
  const { vec, d, items, groups, stride } = launch(engine, batch * rows, D);
  engine.dispatch('sequence', vec ? 'rows_from4' : 'rows_from1', [x, y], SEQUENCE.withZeros({ n: items, stride, d, rows, seq, offset }), groups);
  return y;
}

/** Loop trips one rows_grad invocation may make ('repeat' sums batch · rows terms). */
const MAX_TRIPS = LOOP_TRIP_CAP;

const GRAD_MODE = { perImage: 0, shared: 1, position: 1, repeat: 2 } as const;

export interface RowsIntoGradOptions {
  offset: number;
  rows: number;
  /** The table's role in rowsInto: its source (perImage, shared, repeat) or its position rows ('position'). */
  source: RowSource | 'position';
  /** First table row the segment read (posOffset for 'position'; 0 for a source). */
  tableOffset?: number;
  /** Loop trips one pass may make (default LOOP_TRIP_CAP, llvmpipe's loop cap; tests lower it). */
  maxTrips?: number;
}

/**
 * rowsInto's backward for one table it read: the gradient of that table [tableRows, D] from dx
 * [batch, seq, D]. Per image copies for 'perImage', sums over images for 'shared' and 'position',
 * over images and the segment's rows for 'repeat' (each element summed by one invocation in a fixed
 * order: deterministic). Rows outside the segment's are 0, or, with `into` (a second segment read
 * the same table), the segment's gradient is added to `into` in place and `into` is returned.
 */
export function rowsIntoBackward(engine: Engine, dx: Tensor, tableRows: number, o: RowsIntoGradOptions, into?: Tensor): Tensor {
  const [batch, seq, D] = dims(dx, 'rowsIntoBackward');
  const { offset, rows, source } = o;
  const q0 = o.tableOffset ?? 0;
  if (!(Number.isInteger(rows) && rows >= 1 && Number.isInteger(offset) && offset >= 0 && offset + rows <= seq))
    throw new Error(`rowsIntoBackward: rows [${offset}, ${offset + rows}) outside the sequence of ${seq}`);
  const span = source === 'perImage' ? batch * rows : source === 'repeat' ? 1 : rows;
  if (q0 + span > tableRows) throw new Error(`rowsIntoBackward: table rows [${q0}, ${q0 + span}) outside a table of ${tableRows}`);
  const maxTrips = o.maxTrips ?? MAX_TRIPS;
  // Images per pass: each invocation's loop stays within maxTrips trips (perImage copies: one pass).
  const perPass = source === 'repeat' ? Math.floor(maxTrips / rows) : source === 'perImage' ? batch : maxTrips;
  if (perPass < 1) throw new Error(`rowsIntoBackward: ${rows} repeated rows exceed ${maxTrips} terms per sum`);
  if (into && into.size !== tableRows * D) throw new Error(`rowsIntoBackward: gradient ${shapeStr(into.shape)} is not ${tableRows} rows of ${D}`);
  checkBindable(engine, 'rowsIntoBackward', dx, [tableRows, D]);
  const out = into ?? engine.empty([tableRows, D]);
  const { vec, d, items, groups, stride } = launch(engine, tableRows, D);
  // Passes of perPass images, each after the first adding to the gradient.
  for (let b0 = 0; b0 < batch; b0 += perPass) {
    const params = SEQUENCE.withZeros({ n: items, stride, d, rows, seq, offset, batch: Math.min(perPass, batch - b0), q0, mode: GRAD_MODE[source], acc: into || b0 > 0 ? 1 : 0, b0 });
    engine.dispatch('sequence', vec ? 'rows_grad4' : 'rows_grad1', [dx, out], params, groups);
  }
  if (into) into.touch();
  return out;
}

/** rowsFrom's backward: dx [batch, seq, D] with dy [batch, rows, D] in rows [offset, offset + rows) and 0 elsewhere. */
export function rowsFromBackward(engine: Engine, dy: Tensor, seq: number, offset: number): Tensor {
  const [batch, rows, D] = dims(dy, 'rowsFromBackward');
  if (!(Number.isInteger(offset) && offset >= 0 && offset + rows <= seq)) throw new Error(`rowsFromBackward: rows [${offset}, ${offset + rows}) outside the sequence of ${seq}`);
  checkBindable(engine, 'rowsFromBackward', dy, [batch, seq, D]);
  const dx = engine.empty([batch, seq, D]);
  const { vec, d, items, groups, stride } = launch(engine, batch * seq, D);
  engine.dispatch('sequence', vec ? 'rows_scatter4' : 'rows_scatter1', [dy, dx], SEQUENCE.withZeros({ n: items, stride, d, rows, seq, offset }), groups);
  return dx;
}
