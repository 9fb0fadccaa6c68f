/**
 * The uniform structs of kernels/*.wgsl and kernels/generated/*.wgsl, one schema each, fields as
 * the WGSL declares them (test/params.test.ts compares each with its file).
 */
import { arrayOf, paramSchema, structType } from './params.js';

/** adamw.wgsl's Params (adamw, ema, sumsq_*, norm_final, clip_scale). */
export const ADAMW = paramSchema('adamw', 'Params', {
  n: 'u32',
  stride: 'u32',
  clip: 'u32',
  k: 'u32',
  offset: 'u32',
  step_size: 'f32',
  decay_mul: 'f32',
  beta1: 'f32',
  beta2: 'f32',
  one_m_beta1: 'f32',
  one_m_beta2: 'f32',
  inv_sqrt_bc2: 'f32',
  eps: 'f32',
  max_norm: 'f32',
});

/** attention.wgsl's Params (attn_fwd, attn_partial; the unrolled forward entry points too). */
export const ATTENTION = paramSchema('attention', 'Params', {
  seq: 'u32',
  d4: 'u32',
  heads: 'u32',
  bhn: 'u32',
  chunk: 'u32',
  splits: 'u32',
  hd4: 'u32',
  gx: 'u32',
  qbase: 'u32',
  obase: 'u32',
  lbase: 'u32',
  kbase: 'u32',
  scale: 'f32',
});

/** The first fields of attention.wgsl's CombineParams and SumParams (passes over bhn · seq rows). */
const ATTENTION_ROWS = { seq: 'u32', d4: 'u32', heads: 'u32', rows: 'u32', splits: 'u32', stride: 'u32' } as const;

/** attention.wgsl's CombineParams (attn_combine). */
export const ATTENTION_COMBINE = paramSchema('attention', 'CombineParams', { ...ATTENTION_ROWS, obase: 'u32', lbase: 'u32' });

/** attention.wgsl's BwdParams (attn_bwd_kv, attn_bwd_q; the unrolled backward entry points too). */
export const ATTENTION_BWD = paramSchema('attention', 'BwdParams', {
  seq: 'u32',
  d4: 'u32',
  heads: 'u32',
  bhn: 'u32',
  chunk: 'u32',
  hd4: 'u32',
  gx: 'u32',
  qbase: 'u32',
  gbase: 'u32',
  dbase: 'u32',
  sb: 'u32',
  sh: 'u32',
  ss: 'u32',
  si: 'u32',
  voff: 'u32',
  dsw: 'u32',
  kbase: 'u32',
  scale2: 'f32',
  scale: 'f32',
});

/** attention.wgsl's PrepParams (attn_bwd_prep). */
export const ATTENTION_PREP = paramSchema('attention', 'PrepParams', {
  seq: 'u32',
  d4: 'u32',
  heads: 'u32',
  rows: 'u32',
  stride: 'u32',
  hd4: 'u32',
  gbase: 'u32',
  obase: 'u32',
  lbase: 'u32',
});

/** attention.wgsl's SumParams (attn_bwd_sum). */
export const ATTENTION_SUM = paramSchema('attention', 'SumParams', { ...ATTENTION_ROWS, np: 'u32', hd4: 'u32', dbase: 'u32' });

/** codebook.wgsl's Params. */
export const CODEBOOK = paramSchema('codebook', 'Params', {
  n: 'u32',
  k: 'u32',
  d: 'u32',
  d4: 'u32',
  tpi: 'u32',
  nchunks: 'u32',
  stride: 'u32',
  eps: 'f32',
});

/** conv.wgsl's Params. */
export const CONV = paramSchema('conv', 'Params', {
  n: 'u32',
  stride: 'u32',
  h: 'u32',
  w: 'u32',
  cin: 'u32',
  cout: 'u32',
  k0: 'u32',
  per: 'u32',
  pixels: 'u32',
});

/** elementwise.wgsl's Params (its fields' meanings vary by entry point; unused ones are 0). */
export const ELEMENTWISE = paramSchema('elementwise', 'Params', {
  n: 'u32',
  stride: 'u32',
  bits: 'u32',
  d: 'u32',
  k: 'u32',
  w: 'u32',
  alpha: 'f32',
  beta: 'f32',
});

/** gelu.wgsl's Params. */
export const GELU = paramSchema('gelu', 'Params', { n: 'u32', stride: 'u32' });

/** init.wgsl's Params (trunc_normal). */
export const INIT = paramSchema('init', 'Params', { n: 'u32', stride: 'u32', key: 'u32', salt: 'u32', scale: 'f32' });

/** layernorm.wgsl's Params. */
export const LAYERNORM = paramSchema('layernorm', 'Params', { rows: 'u32', d: 'u32', stride: 'u32', chunk: 'u32', eps: 'f32' });

/** matmul.wgsl's Params. */
export const MATMUL = paramSchema('matmul', 'Params', {
  M: 'u32',
  N: 'u32',
  K4: 'u32',
  N4: 'u32',
  aBatchRows: 'u32',
  bBatchRows: 'u32',
  hasBias: 'u32',
  accumulate: 'u32',
  splits: 'u32',
  kChunk4: 'u32',
  alpha: 'f32',
  beta: 'f32',
});

/** matmul_splitk.wgsl's Params (reduce). */
export const MATMUL_SPLITK = paramSchema('matmul_splitk', 'Params', {
  M: 'u32',
  N: 'u32',
  total: 'u32',
  stride: 'u32',
  splits: 'u32',
  hasBias: 'u32',
  accumulate: 'u32',
  alpha: 'f32',
  beta: 'f32',
});

/** generated/matmul_tex.wgsl's Params (written by tools/gen-matmul-tex.mjs). */
export const MATMUL_TEX = paramSchema('matmul_tex', 'Params', {
  M: 'u32',
  N: 'u32',
  K4: 'u32',
  aBatchRows: 'u32',
  bBatchRows: 'u32',
  hasBias: 'u32',
  splits: 'u32',
  kChunk4: 'u32',
  bShift: 'u32',
  bTileRows: 'u32',
  alpha: 'f32',
  beta: 'f32',
});

/** normalize.wgsl's Params. */
export const NORMALIZE = paramSchema('normalize', 'Params', { rows: 'u32', d: 'u32', stride: 'u32', eps: 'f32' });

/** pack.wgsl's Job: one matrix of a pack dispatch. */
export const PACK_JOB = structType('Job', {
  rows: 'u32',
  cols: 'u32',
  rowsOut: 'u32',
  cols4: 'u32',
  trans: 'u32',
  srcBatch: 'u32',
  batches: 'u32',
  start: 'u32',
  panel: 'u32',
  shift: 'u32',
  tileRows: 'u32',
  unused: 'u32',
});

/** pack.wgsl's Jobs: up to four jobs (unused ones zero). */
export const PACK = paramSchema('pack', 'Jobs', {
  count: 'u32',
  total: 'u32',
  stride: 'u32',
  unused: 'u32',
  job: arrayOf(PACK_JOB, 4),
});

/** pixels.wgsl's Params. */
export const PIXELS = paramSchema('pixels', 'Params', {
  n: 'u32',
  stride: 'u32',
  s: 'u32',
  y0: 'u32',
  src_offset: 'u32',
  row: 'u32',
  dst_offset: 'u32',
  radius: 'f32',
});

/** probe.wgsl's Params (the bench's device probes). */
export const PROBE = paramSchema('probe', 'Params', { iters: 'u32', n: 'u32', stride: 'u32', rows: 'u32', m: 'f32', c: 'f32' });

/** sequence.wgsl's Params. */
export const SEQUENCE = paramSchema('sequence', 'Params', {
  n: 'u32',
  stride: 'u32',
  d: 'u32',
  rows: 'u32',
  seq: 'u32',
  offset: 'u32',
  sb: 'u32',
  sr: 'u32',
  pos0: 'u32',
  batch: 'u32',
  q0: 'u32',
  mode: 'u32',
  acc: 'u32',
  b0: 'u32',
});

/** softmax.wgsl's Params. */
export const SOFTMAX = paramSchema('softmax', 'Params', { rows: 'u32', d: 'u32', stride: 'u32' });

