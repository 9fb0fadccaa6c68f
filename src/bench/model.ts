/**
 * `tok1d bench --suite model`: end-to-end encode (images → token ids) and decode (token ids →
 * images) through the library's Tokenizer, per preset and batch size: images/s and GFLOP/s
 * (median of N timed batches after one warm-up batch, each batch one upload and one read-back),
 * the share of kernel time per family (one profiled batch, as `--suite train`), and a throughput
 * budget: the measured time against the sum of ideal times of the work the model does.
 *
 * Ideal times: the bench lists the ops one batch runs (a model of the model: shapes from the
 * configuration, FLOPs as src/model/costs.ts counts them, bytes each op must at least read and
 * write), and gives each op max(FLOPs / FMA ceiling, bytes / copy ceiling), the ceilings measured
 * with the probes of src/bench/probes.ts around every timed batch of the phase: before each one and
 * after the last. A CPU executor on a shared machine changes speed within minutes, so one probe at
 * the start does not describe a phase timed later; each phase uses the fastest probe taken around
 * it (the highest ceiling seen, so its % of ideal is never flattered by a slow probe), and the
 * report keeps every probe's FMA figure. The engine's profile has no FLOPs per
 * dispatch, so the per-op figures come from this list, not from the dispatches; its FLOP total is
 * checked against costs.ts (they must agree exactly).
 */
import type { Engine } from '../gpu/engine.js';
import { median } from '../util/stats.js';
import { GpuTimer } from '../gpu/timing.js';
import { anyParamSpecs, anyPresetConfig, tokensPerImage, type AnyModelConfig, type ModelConfig } from '../model/config.js';
import { modelCosts } from '../model/costs.js';
import { isTiTok, TITOK_SIZES, titokCosts, titokGrid, type TiTokConfig } from '../model/titok-config.js';
import { Tokenizer } from '../model/tokenizer.js';
import { tuneModel } from '../model/tune.js';
import { numel } from '../tensor.js';
import { randomF32, rng } from '../check/util.js';
import { probeCeilings } from './measure.js';

export type Phase = 'encode' | 'decode';

/** One op of the model's work: its kernel family (kernel file), FLOPs and least bytes moved. */
export interface ModelOp {
  family: string;
  what: string;
  flops: number;
  bytes: number;
  /** A training step's backward or optimizer work (not in costs.ts's forward count). */
  backward?: boolean;
}

/**
 * The ops one batch of `batch` images runs, in order. FLOPs count multiply-adds as 2 (linear layers
 * 2·rows·in·out, attention 4·T²·D per image, codebook search 2·N·K·C) and nothing else, as costs.ts
 * does; bytes are 4 × (inputs read once + outputs written once). Families name the kernel files
 * (matmul here covers matmul.wgsl, matmul_tex.wgsl and pack.wgsl, see familyOf).
 */
export function modelOps(c: ModelConfig, batch: number, phase: Phase, training = false): ModelOp[] {
  const T = tokensPerImage(c);
  const N = batch * T;
  const D = c.width;
  const C = c.codeDim;
  const K = c.codebookSize;
  const PP3 = c.patch * c.patch * 3;
  const b = new OpList(training);
  const { ops } = b;
  const positions = (what: string) => {
    ops.push({ family: 'elementwise', what, flops: 0, bytes: 4 * (2 * N * D + T * D) });
    b.back('elementwise', what, 0, 4 * (N * D + T * D));
  };
  if (phase === 'encode') {
    ops.push({ family: 'elementwise', what: 'patchify', flops: 0, bytes: 8 * N * PP3 });
    b.linear('enc.patch', N, PP3, D);
    positions('enc.pos');
    for (let i = 0; i < c.encoderDepth; i++) b.block(`enc.blocks.${i}`, batch, T, D, c.heads, D * c.mlpRatio);
    b.layernorm('enc.ln', N, D);
    if (C !== D) b.linear('enc.proj', N, D, C);
    b.codebook(N, K, C, c.cosine);
  } else {
    ops.push({ family: 'elementwise', what: 'gather codes', flops: 0, bytes: 8 * N * C });
    if (c.cosine) ops.push({ family: 'normalize', what: 'normalize codes', flops: 0, bytes: 4 * (2 * N * C + N) });
    b.linear('dec.embed', N, C, D);
    positions('dec.pos');
    for (let i = 0; i < c.decoderDepth; i++) b.block(`dec.blocks.${i}`, batch, T, D, c.heads, D * c.mlpRatio);
    b.layernorm('dec.ln', N, D);
    b.linear('dec.out', N, D, PP3);
    ops.push({ family: 'elementwise', what: 'unpatchify', flops: 0, bytes: 8 * N * PP3 });
  }
  if (training && phase === 'encode') b.back('elementwise', 'codebook and commitment losses', 0, 4 * 3 * N * C);
  if (training && phase === 'decode') b.back('elementwise', 'reconstruction loss', 0, 4 * 3 * N * PP3);
  const costs = modelCosts(c).flops;
  return checkedOps(ops, batch * (phase === 'encode' ? costs.encode + costs.quantize : costs.decode), phase);
}

/** The op list after checking its FLOP total against the cost model's. */
function checkedOps(ops: ModelOp[], want: number, phase: Phase): ModelOp[] {
  const counted = ops.reduce((a, o) => a + (o.backward ? 0 : o.flops), 0);
  if (counted !== want) throw new Error(`model bench: the op list counts ${counted} FLOPs for ${phase}, the cost model ${want}`);
  return ops;
}

/**
 * Ops of a model's building blocks, appended in order. With training, each forward op is followed
 * by its backward (marked backward): gradients of the inputs and the parameters, FLOPs by the usual
 * convention (a linear layer's backward is two matmuls of its size; attention's is 2.5× its
 * forward, as FlashAttention-2 counts it) and bytes each pass must at least read and write.
 */
class OpList {
  readonly ops: ModelOp[] = [];
  constructor(readonly training: boolean) {}

  back(family: string, what: string, flops: number, bytes: number): void {
    if (this.training) this.ops.push({ family, what: `${what} backward`, flops, bytes, backward: true });
  }

  /** residual: the epilogue also reads the residual stream (a copy of it made beforehand) and adds it. */
  linear(what: string, rows: number, i: number, o: number, residual = false): void {
    this.ops.push({ family: 'matmul', what, flops: 2 * rows * i * o, bytes: 4 * (rows * i + i * o + o + rows * o) + (residual ? 12 * rows * o : 0) });
    this.back('matmul', `${what} dX`, 2 * rows * i * o, 4 * (rows * o + i * o + rows * i));
    // dW and the bias gradient; the weight's texture is repacked after each update (8 bytes a weight).
    this.back('matmul', `${what} dW`, 2 * rows * i * o, 4 * (rows * i + rows * o + i * o + o) + 8 * i * o);
  }

  layernorm(what: string, rows: number, D: number): void {
    this.ops.push({ family: 'layernorm', what, flops: 0, bytes: 4 * (2 * rows * D + 2 * D + 2 * rows) });
    this.back('layernorm', what, 0, 4 * (4 * rows * D + 2 * rows + 3 * D));
  }

  /** A pre-LN transformer block over batch × T tokens of width D (MLP hidden H). */
  block(p: string, batch: number, T: number, D: number, heads: number, H: number): void {
    const N = batch * T;
    this.layernorm(`${p}.ln1`, N, D);
    this.linear(`${p}.attn.qkv`, N, D, 3 * D);
    this.ops.push({ family: 'attention', what: `${p}.attn`, flops: 4 * batch * T * T * D, bytes: 4 * (3 * N * D + N * D + batch * heads * T) });
    this.back('attention', `${p}.attn`, 10 * batch * T * T * D, 4 * (3 * N * D + 2 * N * D + batch * heads * T + 3 * N * D));
    // The residual adds run in the projections' epilogues and GELU in fc1's (autograd/functions.ts).
    this.linear(`${p}.attn.proj`, N, D, D, true);
    this.layernorm(`${p}.ln2`, N, D);
    this.linear(`${p}.mlp.fc1 + gelu`, N, D, H);
    this.linear(`${p}.mlp.fc2`, N, H, D, true);
  }

  /** Codebook search of N queries over K codes of C (the Tokenizer passes no precomputed norms). */
  codebook(N: number, K: number, C: number, cosine: boolean): void {
    this.ops.push({ family: 'codebook', what: 'codebook norms', flops: 0, bytes: 4 * (K * C + K) });
    if (cosine) this.ops.push({ family: 'codebook', what: 'normalize queries', flops: 0, bytes: 8 * N * C });
    this.ops.push({ family: 'codebook', what: 'codebook search', flops: 2 * N * K * C, bytes: 4 * (N * C + K * C + K) + 8 * N });
  }
}

/**
 * The ops of one TiTok batch (see modelOps for the conventions; with `training`, each op followed
 * by its backward), forward FLOPs checked against titokCosts.
 */
export function titokOps(c: TiTokConfig, batch: number, phase: Phase, training = false): ModelOp[] {
  const b = new OpList(training);
  const { ops } = b;
  const S = c.imageSize;
  const pixels = batch * S * S * 3;
  const part = phase === 'encode' ? 'encoder' : 'decoder';
  const { width: W, depth, heads } = TITOK_SIZES[phase === 'encode' ? c.encoderSize : c.decoderSize];
  const G = titokGrid(c, part);
  const P = phase === 'encode' ? c.encoderPatch : c.decoderPatch;
  const K = c.tokens;
  const seq = 1 + G * G + K;
  const rows = batch * seq;
  const assemble = () => {
    ops.push({ family: 'sequence', what: `${part} rows`, flops: 0, bytes: 4 * (2 * rows * W + seq * W) });
    // The gradients of the per-image rows, the shared token rows and the positional embeddings.
    b.back('sequence', `${part} rows`, 0, 4 * (2 * rows * W + 2 * seq * W));
  };
  if (phase === 'encode') {
    ops.push({ family: 'elementwise', what: 'affine [-1, 1] → [0, 1]', flops: 0, bytes: 8 * pixels });
    ops.push({ family: 'elementwise', what: 'patchify', flops: 0, bytes: 8 * pixels });
    b.linear('encoder.patch_embed', batch * G * G, 3 * P * P, W);
    assemble();
    b.layernorm('encoder.ln_pre', rows, W);
    for (let i = 0; i < depth; i++) b.block(`encoder.transformer.${i}`, batch, seq, W, heads, 4 * W);
    ops.push({ family: 'sequence', what: 'latent rows', flops: 0, bytes: 8 * batch * K * W });
    b.back('sequence', 'latent rows', 0, 4 * (batch * K * W + rows * W));
    b.layernorm('encoder.ln_post', batch * K, W);
    b.linear('encoder.conv_out', batch * K, W, c.quantizeMode === 'vae' ? 2 * c.tokenSize : c.tokenSize);
    if (c.quantizeMode === 'vq') b.codebook(batch * K, c.codebookSize, c.tokenSize, c.useL2Norm);
    if (training) b.back('elementwise', 'codebook and commitment losses', 0, 4 * 3 * batch * K * c.tokenSize);
  } else {
    if (c.quantizeMode === 'vq') ops.push({ family: 'elementwise', what: 'gather codes', flops: 0, bytes: 8 * batch * K * c.tokenSize });
    if (c.useL2Norm) ops.push({ family: 'normalize', what: 'normalize codes', flops: 0, bytes: 4 * (2 * batch * K * c.tokenSize + batch * K) });
    b.linear('decoder.decoder_embed', batch * K, c.tokenSize, W);
    assemble();
    b.layernorm('decoder.ln_pre', rows, W);
    for (let i = 0; i < depth; i++) b.block(`decoder.transformer.${i}`, batch, seq, W, heads, 4 * W);
    ops.push({ family: 'sequence', what: 'grid rows', flops: 0, bytes: 8 * batch * G * G * W });
    b.back('sequence', 'grid rows', 0, 4 * (batch * G * G * W + rows * W));
    b.layernorm('decoder.ln_post', batch * G * G, W);
    b.linear('decoder.ffn', batch * G * G, W, 3 * P * P);
    ops.push({ family: 'elementwise', what: 'pixel shuffle (unpatchify)', flops: 0, bytes: 8 * pixels });
    b.back('elementwise', 'pixel shuffle (unpatchify)', 0, 8 * pixels);
    ops.push({ family: 'conv', what: 'conv_out 3×3', flops: 2 * batch * S * S * 27 * 3, bytes: 8 * pixels });
    // dX and dW of the 3×3 convolution: each its forward's FLOPs.
    b.back('conv', 'conv_out 3×3', 4 * batch * S * S * 27 * 3, 4 * 4 * pixels);
    ops.push({ family: 'elementwise', what: 'affine [0, 1] → [-1, 1]', flops: 0, bytes: 8 * pixels });
    b.back('elementwise', 'affine and reconstruction loss', 0, 4 * 3 * pixels);
  }
  const costs = titokCosts(c).flops;
  return checkedOps(ops, batch * (phase === 'encode' ? costs.encode + costs.quantize : costs.decode), phase);
}

/**
 * The ops of one training step at `batch` images: the forward (encode with the codebook search,
 * decode), each op's backward, the gradient norm and AdamW (28 bytes a parameter: weight, moments
 * and gradient; 4 more for the norm). See modelOps for the conventions.
 */
export function trainOps(c: AnyModelConfig, batch: number): ModelOp[] {
  const params = anyParamSpecs(c).reduce((a, p) => a + numel(p.shape), 0);
  const phase = (p: Phase) => (isTiTok(c) ? titokOps(c, batch, p, true) : modelOps(c, batch, p, true));
  return [...phase('encode'), ...phase('decode'), { family: 'adamw', what: 'gradient norm and AdamW', flops: 0, bytes: 32 * params, backward: true }];
}

/**
 * The budget family of a kernel file: the matmul kernels (split-K included) and their operand packing are one, and so
 * are attention's two kernel files.
 */
export function familyOf(kernel: string): string {
  if (kernel === 'matmul' || kernel === 'matmul_tex' || kernel === 'matmul_splitk' || kernel === 'pack') return 'matmul';
  return kernel === 'attention_unrolled' ? 'attention' : kernel;
}

export interface FamilyRow {
  family: string;
  /** Kernel time of the family in the profiled batch. */
  ms: number;
  share: number;
  dispatches: number;
  /** Sum of the family's ideal op times (0 for families the op list has no ops of). */
  idealMs: number;
}

export interface PhaseResult {
  phase: Phase;
  /** Median, min and max wall-clock milliseconds per batch (upload to read-back). */
  ms: number;
  msMin: number;
  msMax: number;
  imagesPerSec: number;
  /** FLOPs per image (costs.ts: encode + codebook search, or decode). */
  flopsPerImage: number;
  /** End-to-end GFLOP/s: batch · flopsPerImage / median time. */
  gflops: number;
  /** Kernel time per family from one profiled batch, largest first. */
  families: FamilyRow[];
  /** Sum of the ideal times of every op of the batch (see the module comment). */
  idealMs: number;
  /** idealMs / ms: the fraction of the device's ceilings the whole batch achieved. */
  efficiency: number;
  /** Sum of the profiled kernel times (each dispatch submitted alone). */
  profiledMs: number;
  /** The ceilings this phase's ideal time uses: the fastest of the probes taken around its batches. */
  ceilings: Ceilings;
  /** Every FMA probe taken around this phase's timed batches, GFLOP/s, in order. */
  fmaProbes: number[];
}

export type Ceilings = ModelBenchReport['ceilings'];

export interface ModelBenchResult {
  preset: string;
  batch: number;
  config: AnyModelConfig;
  encode: PhaseResult;
  decode: PhaseResult;
}

export interface ModelBenchReport {
  adapter: string;
  /** Where the matmul kernel choices came from: 'tuned (store)' or 'fixed rule'. */
  kernelChoice: string;
  /** Probed once at the start; each phase's ideal time uses its own probes (PhaseResult.ceilings). */
  ceilings: { fmaGflops: number; copyGBs: number; timing: 'timestamp' | 'wallclock' };
  runs: number;
  profileMethod: string;
  budgetMethod: string;
  results: ModelBenchResult[];
}

export const BUDGET_METHOD =
  'ideal time per op = max(FLOPs / FMA ceiling, bytes / copy ceiling) over an op list of the model built from its configuration ' +
  '(FLOPs as costs.ts counts them, bytes read + written once); per-dispatch FLOPs are not recorded by the engine';

/** The FMA and copy ceilings, measured with the bench's probes (fastest of `runs` timed runs). */
export async function measureCeilings(engine: Engine, runs: number): Promise<ModelBenchReport['ceilings']> {
  const timer = GpuTimer.supported(engine) ? new GpuTimer(engine) : null;
  try {
    const c = await probeCeilings(engine, timer, { runs: Math.max(3, runs), minRunMs: 50 }, 1);
    return { ...c, timing: timer ? 'timestamp' : 'wallclock' };
  } finally {
    timer?.dispose();
  }
}

/** How engine.profile's per-dispatch times are taken on this engine, for the reports. */
export function profileMethod(engine: Engine): string {
  return engine.info.software && engine.info.backend === 'opengl' ? 'wall clock per dispatch (llvmpipe runs work inside submit)' : 'wall clock per submit (submission cost only on this executor)';
}

/**
 * Times `runs` batches after one warm-up batch, probing the ceilings before each timed batch and
 * after the last (`probe`), then profiles one more batch. The phase's ideal time uses the fastest
 * probe of the phase.
 */
async function timePhase(
  engine: Engine,
  once: () => Promise<unknown>,
  runs: number,
  batch: number,
  flopsPerImage: number,
  ops: ModelOp[],
  probe: () => Promise<Ceilings>,
  phase: Phase,
): Promise<PhaseResult> {
  await once(); // warm-up: pipelines compiled, weights packed
  const times: number[] = [];
  const probes: Ceilings[] = [];
  for (let i = 0; i < runs; i++) {
    probes.push(await probe());
    const t0 = performance.now();
    await once();
    times.push(performance.now() - t0);
  }
  probes.push(await probe());
  const ceilings = fastestCeilings(probes);
  const profile = new Map<string, { ms: number; count: number }>();
  engine.profile = profile;
  try {
    await once();
  } finally {
    engine.profile = null;
  }
  const { families, idealMs, profiledMs } = familyBudget(profile, ops, ceilings);
  const ms = median(times);
  return {
    phase,
    ms,
    msMin: Math.min(...times),
    msMax: Math.max(...times),
    imagesPerSec: (batch * 1000) / ms,
    flopsPerImage,
    gflops: (batch * flopsPerImage) / (ms * 1e6),
    families,
    idealMs,
    efficiency: idealMs / ms,
    profiledMs,
    ceilings,
    fmaProbes: probes.map((c) => c.fmaGflops),
  };
}

/** The highest FMA and copy ceilings among probes of one device (each probe's own fastest run). */
export function fastestCeilings(probes: readonly Ceilings[]): Ceilings {
  if (probes.length === 0) throw new Error('fastestCeilings: no probes');
  return {
    fmaGflops: Math.max(...probes.map((c) => c.fmaGflops)),
    copyGBs: Math.max(...probes.map((c) => c.copyGBs)),
    timing: probes[0]!.timing,
  };
}

/**
 * Kernel time per family from a profile (engine.profile: kernel:entry → ms, dispatches) against
 * the family's ideal time from an op list, largest first; also the total ideal and profiled time.
 */
export function familyBudget(
  profile: ReadonlyMap<string, { ms: number; count: number }>,
  ops: readonly ModelOp[],
  ceilings: ModelBenchReport['ceilings'],
): { families: FamilyRow[]; idealMs: number; profiledMs: number } {
  const ideal = (o: ModelOp) => Math.max(o.flops / (ceilings.fmaGflops * 1e6), o.bytes / (ceilings.copyGBs * 1e6));
  const idealBy = new Map<string, number>();
  for (const o of ops) idealBy.set(o.family, (idealBy.get(o.family) ?? 0) + ideal(o));
  const byFamily = new Map<string, { ms: number; dispatches: number }>();
  for (const [k, v] of profile) {
    const fam = familyOf(k.split(':')[0]!);
    const cur = byFamily.get(fam) ?? { ms: 0, dispatches: 0 };
    cur.ms += v.ms;
    cur.dispatches += v.count;
    byFamily.set(fam, cur);
  }
  for (const fam of idealBy.keys()) if (!byFamily.has(fam)) byFamily.set(fam, { ms: 0, dispatches: 0 });
  const profiledMs = [...byFamily.values()].reduce((a, b) => a + b.ms, 0);
  const families = [...byFamily.entries()]
    .map(([family, v]) => ({ family, ms: v.ms, share: profiledMs > 0 ? v.ms / profiledMs : 0, dispatches: v.dispatches, idealMs: idealBy.get(family) ?? 0 }))
    .sort((a, b) => b.ms - a.ms);
  return { families, idealMs: [...idealBy.values()].reduce((a, b) => a + b, 0), profiledMs };
}

/** One family row as text: its share of kernel time, time, dispatches, ideal time and the ratio. */
export function formatFamily(f: FamilyRow): string {
  return (
    `    ${f.family.padEnd(18)} ${(100 * f.share).toFixed(1).padStart(5)}%  ${f.ms.toFixed(1).padStart(9)} ms  ${String(f.dispatches).padStart(5)} dispatches  ideal ${f.idealMs.toFixed(2).padStart(8)} ms` +
    (f.idealMs > 0 && f.ms > 0 ? `  (${((100 * f.idealMs) / f.ms).toFixed(1)}%)` : '')
  );
}

export interface ModelBenchOptions {
  presets: string[];
  batches: number[];
  runs: number;
  log: (line: string) => void;
  /**
   * Pick matmul kernels per shape class with the engine's tuner before timing (stored choices
   * are reused, missing classes measured: src/model/tune.ts). Default true; false times the
   * fixed rule.
   */
  tune?: boolean;
}

export async function benchModel(engine: Engine, o: ModelBenchOptions): Promise<ModelBenchReport> {
  for (const p of o.presets) anyPresetConfig(p);
  o.log('ceilings: timing the FMA and copy probes');
  const ceilings = await measureCeilings(engine, o.runs);
  o.log(`ceilings: FMA ${ceilings.fmaGflops.toFixed(1)} GFLOP/s, copy ${ceilings.copyGBs.toFixed(2)} GB/s`);
  // Around timed batches: the probes' fastest of 3 runs of at least 50 ms each.
  const probe = () => measureCeilings(engine, 3);
  const pct = (p: PhaseResult) => `${(100 * p.efficiency).toFixed(1)}%`;
  const results: ModelBenchResult[] = [];
  for (const preset of o.presets) {
    const config = anyPresetConfig(preset);
    o.log(`model ${preset}: random weights`);
    const tok = await Tokenizer.random(config, 1, { engine });
    try {
      const S = config.imageSize;
      const T = tokensPerImage(config);
      const titok = isTiTok(config) ? config : null;
      const costs = titok ? titokCosts(titok).flops : modelCosts(config as ModelConfig).flops;
      const ops = (batch: number, phase: Phase) => (titok ? titokOps(titok, batch, phase) : modelOps(config as ModelConfig, batch, phase));
      for (const batch of o.batches) {
        const r = rng(1000 + batch);
        const images = Array.from({ length: batch }, () => randomF32(S * S * 3, r));
        // A VAE decodes continuous latents; everything else token ids.
        const latents = titok?.quantizeMode === 'vae' ? Array.from({ length: batch }, () => randomF32(T * titok.tokenSize, r)) : null;
        const tokens = Array.from({ length: batch }, () => Uint32Array.from({ length: T }, () => Math.floor(r() * config.codebookSize)));
        const encodeOnce = () => (latents ? tok.encodeLatents(images, batch) : tok.encode(images, batch));
        const decodeOnce = () => (latents ? tok.decodeLatents(latents, batch) : tok.decode(tokens, batch));
        if (o.tune ?? true) {
          const tuned = await tuneModel(engine, config, batch, { log: o.log });
          o.log(`model ${preset}: batch ${batch}, matmul choices ${tuned.map((t) => `${t.what} ${t.entry.choice}`).join(', ')}`);
        }
        o.log(`model ${preset}: batch ${batch}, encode`);
        const encode = await timePhase(engine, encodeOnce, o.runs, batch, costs.encode + costs.quantize, ops(batch, 'encode'), probe, 'encode');
        o.log(`  ${encode.imagesPerSec.toFixed(2)} images/s, ${encode.gflops.toFixed(1)} GFLOP/s, ${pct(encode)} of ideal at FMA ${encode.ceilings.fmaGflops.toFixed(1)} GFLOP/s`);
        o.log(`model ${preset}: batch ${batch}, decode`);
        const decode = await timePhase(engine, decodeOnce, o.runs, batch, costs.decode, ops(batch, 'decode'), probe, 'decode');
        o.log(`  ${decode.imagesPerSec.toFixed(2)} images/s, ${decode.gflops.toFixed(1)} GFLOP/s, ${pct(decode)} of ideal at FMA ${decode.ceilings.fmaGflops.toFixed(1)} GFLOP/s`);
        results.push({ preset, batch, config, encode, decode });
      }
    } finally {
      tok.dispose();
    }
  }
  return {
    adapter: `${engine.info.adapter} — ${engine.info.backend}`,
    kernelChoice: (o.tune ?? true) ? `tuned per shape class (store: ${engine.tuner.store.where})` : 'fixed rule (no tuning)',
    ceilings,
    runs: o.runs,
    profileMethod: profileMethod(engine),
    budgetMethod: BUDGET_METHOD,
    results,
  };
}

/** A configuration in a few words for the reports. */
export function describeConfig(cfg: AnyModelConfig): string {
  if (!isTiTok(cfg)) return `${cfg.imageSize}×${cfg.imageSize}, width ${cfg.width}, depth ${cfg.encoderDepth}+${cfg.decoderDepth}, ${cfg.codebookSize}×${cfg.codeDim} codes`;
  const e = TITOK_SIZES[cfg.encoderSize];
  const d = TITOK_SIZES[cfg.decoderSize];
  const q = cfg.quantizeMode === 'vq' ? `${cfg.codebookSize}×${cfg.tokenSize} codes` : `VAE, ${cfg.tokenSize} channels`;
  return `TiTok ${cfg.imageSize}×${cfg.imageSize}, ${cfg.tokens} tokens, width ${e.width}/${d.width}, depth ${e.depth}+${d.depth}, ${q}`;
}

function pad(s: string, n: number, right = true): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

/** The report as text: one summary table, then per run the family shares and the budget. */
export function formatModel(report: ModelBenchReport): string {
  const c = report.ceilings;
  const lines = [
    `adapter   ${report.adapter}`,
    `matmul    ${report.kernelChoice}`,
    `timing    wall clock per batch (upload, encode or decode, one read-back), median of ${report.runs} after one warm-up batch`,
    `ceilings  FMA ${c.fmaGflops.toFixed(1)} GFLOP/s, copy ${c.copyGBs.toFixed(2)} GB/s at the start (${c.timing}; fastest probe runs); each phase's`,
    `          ideal time uses the fastest probe taken around its timed batches (column FMA; the probes' range in the family section)`,
    `budget    ${report.budgetMethod}`,
    '',
  ];
  const head = ['preset', 'batch', 'phase', 'ms/batch', 'min', 'max', 'images/s', 'GFLOP/image', 'GFLOP/s', 'FMA', 'ideal ms', '% of ideal'];
  const rows: string[][] = [head];
  for (const r of report.results)
    for (const p of [r.encode, r.decode])
      rows.push([
        r.preset,
        String(r.batch),
        p.phase,
        p.ms.toFixed(1),
        p.msMin.toFixed(1),
        p.msMax.toFixed(1),
        p.imagesPerSec.toFixed(2),
        (p.flopsPerImage / 1e9).toFixed(3),
        p.gflops.toFixed(2),
        p.ceilings.fmaGflops.toFixed(1),
        p.idealMs.toFixed(2),
        (100 * p.efficiency).toFixed(1),
      ]);
  const widths = head.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows) lines.push(row.map((v, i) => pad(v, widths[i]!, i > 2)).join('  '));
  lines.push('', `Kernel time by family (one profiled batch; ${report.profileMethod}) against the family's ideal time:`);
  for (const r of report.results) {
    for (const p of [r.encode, r.decode]) {
      lines.push(
        `${r.preset} (${describeConfig(r.config)}) batch ${r.batch} ${p.phase}: ` +
          `${p.ms.toFixed(1)} ms end to end, ${p.profiledMs.toFixed(1)} ms profiled kernels, ideal ${p.idealMs.toFixed(2)} ms (${(100 * p.efficiency).toFixed(1)}% of ideal)`,
        `    FMA probes around the timed batches: ${p.fmaProbes.map((g) => g.toFixed(1)).join(', ')} GFLOP/s (ideal at ${p.ceilings.fmaGflops.toFixed(1)}, copy ${p.ceilings.copyGBs.toFixed(2)} GB/s)`,
      );
      for (const f of p.families) lines.push(formatFamily(f));
    }
  }
  return lines.join('\n');
}
