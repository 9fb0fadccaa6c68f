/**
 * Fused multi-head attention (bidirectional; optionally each sequence over a prefix of its keys),
 * forward. The algorithm, its FLOPs and bytes are described at the top of kernels/attention.wgsl.
 * The saved log-sum-exp lets a flash-style backward recompute P = exp(scale·QKᵀ − lse) tile by tile
 * without storing it.
 */
import { MAX_GROUPS, grid, type Binding, type Engine } from '../gpu/engine.js';
import { FIXED_WG } from '../gpu/limits.js';
import { ATTENTION, ATTENTION_BWD, ATTENTION_COMBINE, ATTENTION_PREP, ATTENTION_SUM } from '../gpu/uniforms.js';
import type { Tensor } from '../tensor.js';

export interface AttentionOptions {
  batch: number;
  seq: number;
  heads: number;
  /** Multiple of 4 in [4, 128] (the reference model uses 64; the tiny test model 16). */
  headDim: number;
  /** Score scale; default 1/sqrt(headDim). */
  scale?: number;
  /**
   * Keys per sequence: a u32 tensor [batch] with values in [1, seq]. Every query of sequence b then
   * attends to keys [0, keys[b]) only, exactly as if the sequence ended there (rows past it still get
   * outputs, over the kept keys); the backward gives the keys past it zero gradients. Sequences of
   * different lengths (TiTok's nested dropout) so run as one batch. The kernels clamp a count into
   * [1, seq]. Default: all keys.
   */
  keys?: Tensor;
}

export interface AttentionResult {
  /** [batch, seq, heads·headDim], heads laid out like q. */
  out: Tensor;
  /** [batch, heads, seq]: ln Σ_j exp(scale·q_i·k_j), natural log. */
  lse: Tensor;
}

/** How one forward pass is laid out. attention() picks it per device; tests and the bench may force parts. */
export interface AttentionPlan {
  /** Query rows per invocation, 1..8: each K/V load feeds this many rows. */
  rows: number;
  /** Keys per split (rounded up to a multiple of 8, capped by the loop budget); ≥ seq: one pass, no combine. */
  chunk: number;
  /** Head-dim loops to a compile-time bound (GPU compilers unroll them) instead of a uniform (llvmpipe). */
  staticLoops: boolean;
  /** Largest storage binding in bytes (default: the device's); batches are processed in groups below it. */
  maxBindingBytes: number;
  /**
   * Backward: attn_bwd_kv stores dS [bh, seq, seq] and attn_bwd_q reads it back instead of
   * recomputing scores and dP, where rows is 8, neither range is split and dS takes at most
   * MAX_DS_BYTES (short sequences on software executors).
   */
  storeDs?: boolean;
  /**
   * The kernels of kernels/generated/attention_unrolled.wgsl (head-dimension loops unrolled, no private
   * arrays: CPU executors) where rows is 8, the range is unsplit and headDim is 16 or 32: attn_fwd,
   * attn_bwd_kv, and attn_bwd_q when dS is stored.
   */
  unrolled?: boolean;
}

/** Head sizes in vec4s with unrolled kernels (tools/gen-attention-unrolled.mjs). */
const UNROLLED_HD4 = [4, 8];

/** The kernel file and entry point of a pass. */
export interface AttentionKernel {
  kernel: string;
  entry: string;
}

/**
 * A pass's kernel: attention_unrolled.wgsl's `<unrolled>_h<headDim/4>` where the plan asks for the
 * unrolled kernels, rows is 8, the head size has them and the pass allows it (`applies`: an unsplit
 * range, or the stored dS), else attention.wgsl's `entry`.
 */
function passKernel(plan: AttentionPlan, headDim: number, unrolled: string, entry: string, applies = true): AttentionKernel {
  const hd4 = headDim / 4;
  return applies && plan.unrolled && plan.rows === 8 && UNROLLED_HD4.includes(hd4) ? { kernel: 'attention_unrolled', entry: `${unrolled}_h${hd4}` } : { kernel: 'attention', entry };
}

/** The forward's one-pass kernel for a plan (unsplit key range): attention.wgsl's or the unrolled one. */
export function attentionForwardKernel(plan: AttentionPlan, headDim: number): AttentionKernel {
  return passKernel(plan, headDim, 'attn_fwd', 'attn_fwd');
}

/** Largest dS buffer (per batch group) of the stored-dS backward. */
const MAX_DS_BYTES = 16 << 20;

/** Invocations per workgroup. */
const WG = FIXED_WG;
/** Keys per step of the key loop (KB in the kernel). */
const KEYS_PER_STEP = 8;
const MAX_ROWS = 8;
/**
 * llvmpipe silently stops looping after 65535 iterations per invocation, counted over all loops of the
 * shader. Budget for the key range of one invocation, with margin (see the kernel header).
 */
const LOOP_BUDGET = 60000;
const LOG2E = 1.4426950408889634;

/**
 * Longest range (a multiple of 8) one invocation may scan within llvmpipe's loop budget, for a kernel
 * that runs `loopsPerStep` head-dim loops per step of 8 keys or queries.
 */
function chunkWithinBudget(headDim: number, rows: number, loopsPerStep: number): number {
  const hd4 = headDim / 4;
  const steps = Math.floor((LOOP_BUDGET - hd4 - rows * (hd4 + 1) - 16) / (loopsPerStep * hd4 + 1));
  return steps * KEYS_PER_STEP;
}

/** Longest key range one invocation of the forward (or of attn_bwd_q) may scan: 2 head-dim loops per step. */
export function maxAttentionChunk(headDim: number, rows = MAX_ROWS): number {
  return chunkWithinBudget(headDim, rows, 2);
}

/** Longest query range one invocation of attn_bwd_kv may scan: 3 head-dim loops per step. */
export function maxAttentionKvChunk(headDim: number, rows = MAX_ROWS): number {
  return chunkWithinBudget(headDim, rows, 3);
}

function validate(qkv: Tensor, o: AttentionOptions): void {
  const { batch, seq, heads, headDim } = o;
  for (const [k, v] of Object.entries({ batch, seq, heads, headDim })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`attention: ${k} must be a positive integer, got ${v}`);
  }
  if (headDim < 4 || headDim > 128 || headDim % 4 !== 0) {
    throw new Error(`attention: headDim must be a multiple of 4 in [4, 128], got ${headDim}`);
  }
  if (o.scale !== undefined && !Number.isFinite(o.scale)) throw new Error(`attention: scale must be a finite number, got ${o.scale}`);
  const D = heads * headDim;
  if (qkv.size !== batch * seq * 3 * D) {
    throw new Error(`attention: qkv has shape [${qkv.shape.join(', ')}], expected [${batch}, ${seq}, ${3 * D}] (${batch * seq * 3 * D} values)`);
  }
  if (qkv.dtype !== 'f32') throw new Error(`attention: qkv must be f32, got ${qkv.dtype}`);
  if (o.keys && (o.keys.dtype !== 'u32' || o.keys.size !== batch)) {
    throw new Error(`attention: keys must be a u32 tensor of ${batch} counts (one per sequence), got ${o.keys.dtype} [${o.keys.shape.join(', ')}]`);
  }
}

/** The key-count binding (MASK): the caller's tensor, or a placeholder the kernel never reads. */
function keyBinding(engine: Engine, o: AttentionOptions): Tensor {
  return o.keys ?? engine.placeholder(1);
}

/**
 * The plan attention() uses on this engine. Software rasterizers (llvmpipe, SwiftShader) get 8 rows
 * per invocation (their loads are the bottleneck) and uniform loop bounds (llvmpipe takes up to
 * 100 s to compile the unrolled constant-bound loops); GPUs get 2 rows (registers) and constant
 * bounds. Keys are split over invocations (then combined) while there are too few workgroups to
 * fill the device: 8 on software (2-16 cores), 1024 on GPUs (measured on an H200: splitting
 * 16 heads × 1024 keys 8 ways took it from 3.6 to 5.5 TFLOP/s).
 */
export function planAttention(engine: Engine, o: AttentionOptions): AttentionPlan {
  const software = engine.info.software;
  const rows = software ? 8 : 2;
  const groups = Math.ceil((o.batch * o.heads * Math.ceil(o.seq / rows)) / WG);
  const target = software ? 8 : 1024;
  const minChunk = software ? 128 : 64;
  const splits = groups >= target ? 1 : Math.max(1, Math.min(Math.ceil(target / groups), Math.floor(o.seq / minChunk)));
  // The unrolled kernels compile for seconds on CPU executors: only for work that repays it.
  const unrolled = software && 4 * o.batch * o.heads * o.seq * o.seq * o.headDim >= engine.quickCompileFlops;
  return { rows, chunk: Math.ceil(o.seq / splits), staticLoops: !software, maxBindingBytes: engine.limits.maxStorageBufferBindingSize, storeDs: software, unrolled };
}

/** Attention forward: out [batch, seq, D] and lse [batch, heads, seq] from the fused qkv [batch, seq, 3D]. */
export function attention(engine: Engine, qkv: Tensor, opts: AttentionOptions): AttentionResult {
  return attentionWithPlan(engine, qkv, opts, {});
}

/**
 * Binds bytes [offset, offset + size) of a tensor: the whole tensor when that is the range, else from
 * the aligned offset at or below `offset`. Returns the binding and the range's first element (of
 * `elem` bytes) within it.
 */
function window(t: Tensor, offset: number, size: number, align: number, elem: number): [Binding, number] {
  if (offset === 0 && size === t.byteLength) return [t, 0];
  const start = Math.floor(offset / align) * align;
  return [{ buffer: t.buffer, offset: start, size: offset + size - start }, (offset - start) / elem];
}

/** attention() with parts of the plan forced (tests, bench); the rest comes from planAttention(). */
export function attentionWithPlan(engine: Engine, qkv: Tensor, opts: AttentionOptions, force: Partial<AttentionPlan>): AttentionResult {
  validate(qkv, opts);
  const plan = { ...planAttention(engine, opts), ...force };
  const { batch, seq, heads, headDim } = opts;
  const { rows, staticLoops } = plan;
  if (!Number.isInteger(rows) || rows < 1 || rows > MAX_ROWS) throw new Error(`attention: rows must be an integer in [1, ${MAX_ROWS}], got ${rows}`);
  const D = heads * headDim;
  const hd4 = headDim / 4;
  const scale = (opts.scale ?? 1 / Math.sqrt(headDim)) * LOG2E;
  // Key range per invocation: a multiple of 8 within the loop budget of attn_partial, and few enough
  // splits for the budget of attn_combine (splits·(hd4 + 1) + 3·hd4 trips per row).
  const maxChunk = maxAttentionChunk(headDim, rows);
  const maxSplits = Math.min(MAX_GROUPS, Math.floor((LOOP_BUDGET - 3 * hd4 - 8) / (hd4 + 1)));
  const roundUp = (n: number): number => Math.ceil(n / KEYS_PER_STEP) * KEYS_PER_STEP;
  const chunk = Math.min(maxChunk, roundUp(Math.max(1, plan.chunk, seq / maxSplits)));
  const splits = Math.ceil(seq / chunk);
  if (splits > maxSplits) throw new Error(`attention: seq ${seq} needs ${splits} key splits, more than ${maxSplits}`);

  // Batches per dispatch: each binding (plus up to one alignment unit in front) within the limit.
  const bytes = {
    qkv: seq * 3 * D * 4,
    out: seq * D * 4,
    lse: heads * seq * 4,
    part: splits > 1 ? heads * splits * seq * headDim * 4 : 0,
  };
  const align = engine.limits.minStorageBufferOffsetAlignment;
  const room = plan.maxBindingBytes - align;
  const perGroup = Math.min(batch, Math.floor(room / Math.max(bytes.qkv, bytes.out, bytes.lse, bytes.part)));
  if (perGroup < 1) {
    throw new Error(`attention: one batch of [${seq}, ${3 * D}] does not fit a storage binding of ${plan.maxBindingBytes} bytes`);
  }

  const overrides = { HD4: hd4, WG, ROWS: rows, STATIC_D: staticLoops ? 1 : 0, MASK: opts.keys ? 1 : 0 };
  const klen = keyBinding(engine, opts);
  const out = engine.empty([batch, seq, D]);
  const lse = engine.empty([batch, heads, seq]);
  const partAcc = splits > 1 ? engine.empty([perGroup * heads, splits, seq, headDim]) : null;
  const partMl = splits > 1 ? engine.empty([perGroup * heads, splits, seq, 2]) : null;
  for (let b0 = 0; b0 < batch; b0 += perGroup) {
    const nb = Math.min(perGroup, batch - b0);
    const bh = nb * heads;
    // Bind from the aligned offset at or below the group's start; the kernel adds the remainder.
    const [src, qbase] = window(qkv, b0 * bytes.qkv, nb * bytes.qkv, align, 16);
    const [dstOut, obase] = window(out, b0 * bytes.out, nb * bytes.out, align, 16);
    const [dstLse, lbase] = window(lse, b0 * bytes.lse, nb * bytes.lse, align, 4);
    const [gx, gz] = grid(Math.ceil((bh * Math.ceil(seq / rows)) / WG));
    const params = ATTENTION.with({ seq, d4: D / 4, heads, bhn: bh, chunk, splits, hd4, gx, qbase, obase, lbase, scale, kbase: b0 });
    if (!partAcc || !partMl) {
      const k = attentionForwardKernel(plan, headDim);
      engine.dispatch(k.kernel, k.entry, [src, dstOut, dstLse, null, null, klen], params, [gx, 1, gz], overrides);
    } else {
      const pa = window(partAcc, 0, bh * splits * seq * headDim * 4, align, 16)[0];
      const pm = window(partMl, 0, bh * splits * seq * 8, align, 8)[0];
      engine.dispatch('attention', 'attn_partial', [src, pa, pm, null, null, klen], params, [gx, splits, gz], overrides);
      const nrows = bh * seq;
      const g = grid(Math.ceil(nrows / WG));
      const cp = ATTENTION_COMBINE.with({ seq, d4: D / 4, heads, rows: nrows, splits, stride: g[0] * WG, obase, lbase });
      engine.dispatch('attention', 'attn_combine', [pa, pm, dstOut, dstLse], cp, g, { HD4: hd4, WG });
    }
  }
  engine.release(partAcc, partMl);
  out.touch();
  lse.touch();
  return { out, lse };
}

// ------------------------------------------------------------------------------------------ backward

/**
 * Backward of attention() (FlashAttention-2 style; kernels described at the backward section of
 * kernels/attention.wgsl): dqkv [batch, seq, 3D] in the layout of qkv, from the upstream gradient
 * dOut [batch, seq, D] and what the forward saved: its input qkv, its out and its lse. P is recomputed
 * from q, k and lse tile by tile; no seq×seq matrix is stored. Deterministic (no atomics; every
 * output element is summed by one invocation in a fixed order).
 */
export function attentionBackward(engine: Engine, dOut: Tensor, qkv: Tensor, out: Tensor, lse: Tensor, opts: AttentionOptions): Tensor {
  return attentionBackwardWithPlan(engine, dOut, qkv, out, lse, opts, {});
}

/**
 * The plan attentionBackward() uses: that of the forward (rows per invocation, key or query splits
 * while there are too few workgroups to fill the device, loop bounds). attentionBackwardWithPlan()
 * then caps the key range of attn_bwd_q at maxAttentionChunk and the query range of attn_bwd_kv at
 * maxAttentionKvChunk (llvmpipe's loop cap).
 */
export function planAttentionBackward(engine: Engine, o: AttentionOptions): AttentionPlan {
  return planAttention(engine, o);
}

/** How attentionBackward() lays out its passes for a plan: ranges and splits, batch groups, stored dS. */
export interface AttentionBackwardLayout {
  chunkQ: number;
  chunkKV: number;
  splitsQ: number;
  splitsKV: number;
  /** Batches per group (each group's bindings fit maxBindingBytes). */
  perGroup: number;
  /** Bytes per batch of each per-batch binding. */
  bytes: { qkv: number; out: number; lse: number; stats: number; part: number };
  /** attn_bwd_kv stores dS for attn_bwd_q (plan.storeDs, and it applies here). */
  useDs: boolean;
  /** vec4s per stored dS row, and the dS buffer's bytes per group. */
  dsw: number;
  dsBytes: number;
  /** The kernel files and entry points of the dK, dV pass and of the dQ pass. */
  kv: AttentionKernel;
  q: AttentionKernel;
}

export function attentionBackwardLayout(engine: Engine, opts: AttentionOptions, plan: AttentionPlan): AttentionBackwardLayout {
  const { batch, seq, heads, headDim } = opts;
  const D = heads * headDim;
  const { rows } = plan;
  const hd4 = headDim / 4;
  // Range per invocation within the loop budget of attn_bwd_q (keys) and attn_bwd_kv (queries), and
  // few enough splits for that of attn_bwd_sum (2·hd4·(splits + 1) + 3 trips per row).
  const maxSplits = Math.min(MAX_GROUPS, Math.floor((LOOP_BUDGET - 8) / (2 * hd4)) - 1);
  const roundUp = (n: number): number => Math.ceil(n / KEYS_PER_STEP) * KEYS_PER_STEP;
  const wanted = roundUp(Math.max(1, plan.chunk, seq / maxSplits));
  const chunkQ = Math.min(maxAttentionChunk(headDim, rows), wanted);
  const chunkKV = Math.min(maxAttentionKvChunk(headDim, rows), wanted);
  const splitsQ = Math.ceil(seq / chunkQ);
  const splitsKV = Math.ceil(seq / chunkKV);
  if (splitsKV > maxSplits) throw new Error(`attentionBackward: seq ${seq} needs ${splitsKV} splits, more than ${maxSplits}`);

  const bytes = {
    qkv: seq * 3 * D * 4, // also dqkv
    out: seq * D * 4, // also dOut
    lse: heads * seq * 4,
    stats: heads * seq * 8,
    part: Math.max(splitsQ > 1 ? heads * splitsQ * seq * headDim * 4 : 0, splitsKV > 1 ? heads * splitsKV * seq * 2 * headDim * 4 : 0),
  };
  const align = engine.limits.minStorageBufferOffsetAlignment;
  const room = plan.maxBindingBytes - align;
  const perGroup = Math.min(batch, Math.floor(room / Math.max(...Object.values(bytes))));
  if (perGroup < 1) {
    const what = bytes.part > bytes.qkv ? `the split partials of one batch (${bytes.part} bytes)` : `one batch of [${seq}, ${3 * D}]`;
    throw new Error(`attentionBackward: ${what} does not fit a storage binding of ${plan.maxBindingBytes} bytes`);
  }

  // Stored dS: rows of dsw vec4s (queries padded to a multiple of 8) per (batch, head, key).
  const dsw = Math.ceil(seq / 8) * 2;
  const dsBytes = perGroup * heads * seq * dsw * 16;
  const useDs = !!plan.storeDs && rows === 8 && splitsQ === 1 && splitsKV === 1 && dsBytes <= Math.min(MAX_DS_BYTES, plan.maxBindingBytes);
  const kv = passKernel(plan, headDim, 'attn_bwd_kv', 'attn_bwd_kv', splitsKV === 1);
  const q = passKernel(plan, headDim, 'attn_bwd_q_ds', 'attn_bwd_q', useDs);
  return { chunkQ, chunkKV, splitsQ, splitsKV, perGroup, bytes, useDs, dsw, dsBytes, kv, q };
}

/** attentionBackward() with parts of the plan forced (tests, bench); the rest from planAttentionBackward(). */
export function attentionBackwardWithPlan(
  engine: Engine,
  dOut: Tensor,
  qkv: Tensor,
  out: Tensor,
  lse: Tensor,
  opts: AttentionOptions,
  force: Partial<AttentionPlan>,
): Tensor {
  validate(qkv, opts);
  const { batch, seq, heads, headDim } = opts;
  const D = heads * headDim;
  for (const [name, t, n] of [['dOut', dOut, batch * seq * D], ['out', out, batch * seq * D], ['lse', lse, batch * heads * seq]] as const) {
    if (t.size !== n || t.dtype !== 'f32') {
      throw new Error(`attentionBackward: ${name} is ${t.dtype} [${t.shape.join(', ')}], expected ${n} f32 values for batch ${batch}, seq ${seq}, ${heads} heads × ${headDim}`);
    }
  }
  const plan = { ...planAttentionBackward(engine, opts), ...force };
  const { rows, staticLoops } = plan;
  if (!Number.isInteger(rows) || rows < 1 || rows > MAX_ROWS) throw new Error(`attentionBackward: rows must be an integer in [1, ${MAX_ROWS}], got ${rows}`);
  const hd4 = headDim / 4;
  const d4 = D / 4;
  const scale = opts.scale ?? 1 / Math.sqrt(headDim);
  const { chunkQ, chunkKV, splitsQ, splitsKV, perGroup, bytes, useDs, dsw, dsBytes, kv, q } = attentionBackwardLayout(engine, opts, plan);
  const align = engine.limits.minStorageBufferOffsetAlignment;
  const overrides = { HD4: hd4, WG, ROWS: rows, STATIC_D: staticLoops ? 1 : 0, DS: useDs ? 1 : 0, MASK: opts.keys ? 1 : 0 };
  const klen = keyBinding(engine, opts);
  const dqkv = engine.empty([batch, seq, 3 * D]);
  const stats = engine.empty([perGroup * heads, seq, 2]);
  const part = bytes.part > 0 ? engine.empty([perGroup * bytes.part / 4]) : null;
  const ds = useDs ? engine.empty([dsBytes / 4]) : engine.placeholder(0);
  for (let b0 = 0; b0 < batch; b0 += perGroup) {
    const nb = Math.min(perGroup, batch - b0);
    const bh = nb * heads;
    const nrows = bh * seq;
    const [src, qbase] = window(qkv, b0 * bytes.qkv, nb * bytes.qkv, align, 16);
    const [dst, dbase] = window(dqkv, b0 * bytes.qkv, nb * bytes.qkv, align, 16);
    const [dO, gbase] = window(dOut, b0 * bytes.out, nb * bytes.out, align, 16);
    const [o, obase] = window(out, b0 * bytes.out, nb * bytes.out, align, 16);
    const [l, lbase] = window(lse, b0 * bytes.lse, nb * bytes.lse, align, 4);
    const st = window(stats, 0, nrows * 8, align, 8)[0];
    const rowGrid = grid(Math.ceil(nrows / WG));
    const prep = ATTENTION_PREP.with({ seq, d4, heads, rows: nrows, stride: rowGrid[0] * WG, hd4, gbase, obase, lbase });
    engine.dispatch('attention', 'attn_bwd_prep', [o, dO, l, st], prep, rowGrid, { WG });

    const [gx, gz] = grid(Math.ceil((bh * Math.ceil(seq / rows)) / WG));
    // One gradient pass: dQ (np = 1 block of hd4 per row, columns [0, D)) or dK, dV (np = 2, columns
    // [D, 3D)). Unsplit, the kernel writes dqkv itself (strides of (batch, head, split, row): [seq·3·d4,
    // hd4, 0, 3·d4]); split, it writes partials [bh][split][seq][np·hd4] that attn_bwd_sum adds up.
    const pass = (kernel: string, entry: string, chunk: number, splits: number, np: number): void => {
      const col = (np - 1) * d4;
      // The unrolled dQ pass reads only qkv and the stored dS: dO and the stats stay unbound.
      const [g, s] = entry.startsWith('attn_bwd_q_ds') ? [null, null] : [dO, st];
      const w = np * hd4;
      // Destination base, strides, dV offset and dS row width: dqkv's unsplit, the partials' split.
      const [db, sb, sh, ss, si, voff, dsRow] = splits === 1 ? [dbase + col, seq * 3 * d4, hd4, 0, 3 * d4, d4, dsw] : [0, heads * splits * seq * w, splits * seq * w, seq * w, w, hd4, 0];
      const params = ATTENTION_BWD.with({ seq, d4, heads, bhn: bh, chunk, hd4, gx, qbase, gbase, dbase: db, sb, sh, ss, si, voff, dsw: dsRow, scale2: scale * LOG2E, scale, kbase: b0 });
      if (splits === 1) {
        engine.dispatch(kernel, entry, [src, g, s, dst, ds, klen], params, [gx, 1, gz], overrides);
        return;
      }
      if (!part) throw new Error('attentionBackward: split partials were not allocated');
      const pb = window(part, 0, bh * splits * seq * w * 16, align, 16)[0];
      engine.dispatch(kernel, entry, [src, g, s, pb, ds, klen], params, [gx, splits, gz], overrides);
      const sum = ATTENTION_SUM.with({ seq, d4, heads, rows: nrows, splits, stride: rowGrid[0] * WG, np, hd4, dbase: dbase + col });
      engine.dispatch('attention', 'attn_bwd_sum', [pb, dst], sum, rowGrid, { WG });
    };
    // With stored dS, attn_bwd_kv writes what attn_bwd_q reads.
    pass(kv.kernel, kv.entry, chunkKV, splitsKV, 2);
    pass(q.kernel, q.entry, chunkQ, splitsQ, 1);
  }
  engine.release(stats, part, useDs ? ds : null);
  dqkv.touch();
  return dqkv;
}
