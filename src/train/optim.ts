import { grid, type Engine } from '../gpu/engine.js';
import { LOOP_BUDGET } from '../gpu/limits.js';
import { type KernelParams } from '../gpu/params.js';
import { ADAMW } from '../gpu/uniforms.js';
import { checkBindable, linearLaunch } from '../ops/elementwise.js';
import { shapeStr, type Tensor } from '../tensor.js';

/**
 * The optimizer side of training (kernels/adamw.wgsl): AdamW, the global gradient norm and
 * clipping, and an exponential moving average of the weights. Everything here only records
 * dispatches: no read-back, no flush (state() reads back, for checkpoints).
 *
 * Dispatch granularity: AdamW gathers parameters, gradients and moments into one flat layout
 * (every parameter at a 256-byte aligned offset), so a step is a few copies and one update
 * dispatch per decay group, and the clipping norm runs over the gathered gradients: per-dispatch
 * overhead (recording and launch), not bytes, is what one dispatch per tensor would cost. Where
 * the parameters do not fit one storage binding (or with `flat: false`), each parameter's update
 * is its own dispatch. The EMA and clipGradNorm work per tensor.
 */

/**
 * The norm's first pass. GPUs: per-workgroup partial sums (a tree reduction in workgroup memory),
 * at most 4096 per tensor (faster than the lane layout there). CPU executors: one partial per
 * invocation of 16 vec4 (sumsq_lane: a workgroup barrier switches every SIMD fiber of the
 * workgroup there, so the tree is slower), the final pass then sums 1/64 as many partials as
 * elements, as vec4.
 */
const MAX_PARTIALS_PER_TENSOR = 4096;
const LANE_ITEMS = 16;
/** Most loop trips one invocation of norm_final may run (the loop budget); lane mode grows k to stay at half of it. */
const MAX_FINAL_TRIPS = LOOP_BUDGET;

/** Entry suffix and item count for a tensor: vec4 when its size is a multiple of 4. */
function vecItems(t: Tensor): { suffix: '4' | '1'; items: number } {
  return t.size % 4 === 0 ? { suffix: '4', items: t.size / 4 } : { suffix: '1', items: t.size };
}

function checkF32(what: string, t: Tensor): void {
  if (t.dtype !== 'f32') throw new Error(`${what}: tensor ${shapeStr(t.shape)} must be f32, got ${t.dtype}`);
  if (t.size === 0) throw new Error(`${what}: empty tensor`);
}

/**
 * Whether a parameter takes weight decay, by its conventional name: no decay for biases (a name
 * ending in '.bias' or named 'bias'), normalization parameters (a path segment containing 'norm',
 * or a segment 'ln', 'ln<digits>' or 'ln_<...>'), position embeddings ('pos_embed', 'position')
 * and the codebook ('codebook'). Everything else (weight matrices, token/patch embeddings) decays.
 */
export function decayFor(name: string): boolean {
  const lower = name.toLowerCase();
  if (lower === 'bias' || lower.endsWith('.bias')) return false;
  if (lower.includes('pos_embed') || lower.includes('position') || lower.includes('codebook')) return false;
  // TiTok: the codebook, and the learned token rows (class, mask and latent tokens).
  if (lower.startsWith('quantize.') || lower.includes('class_embedding') || lower.includes('mask_token') || lower === 'latent_tokens') return false;
  for (const seg of lower.split(/[./]/)) {
    if (seg.includes('norm')) return false;
    if (/^ln(\d*|_.*)$/.test(seg)) return false;
  }
  return true;
}

/** A parameter the optimizer updates in place. */
export interface AdamWParam {
  /** Unique; keys the moments in state(). */
  name: string;
  tensor: Tensor;
  /** Decoupled weight decay applies (see decayFor for the usual rule). */
  decay: boolean;
}

export interface AdamWOptions {
  lr: number;
  /** Gather parameters into one flat layout (default true; per-parameter dispatches when false or when they do not fit one binding). */
  flat?: boolean;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

/**
 * Fused clipping: the update scales each gradient by min(1, maxNorm / (norm + 1e-6)), with the
 * norm read from `norm` (a [1] tensor from gradNorm) on the GPU. The gradients are not modified.
 */
export interface ClipSpec {
  norm: Tensor;
  maxNorm: number;
}

/** Optimizer state for checkpoints: moments keyed by parameter name, and the step count. */
export interface AdamWState {
  step: number;
  m: Record<string, Float32Array>;
  v: Record<string, Float32Array>;
}

/** Gradients: keyed by parameter tensor, or aligned with the parameter list (null: no gradient). */
export type Grads = ReadonlyMap<Tensor, Tensor> | readonly (Tensor | null | undefined)[];

/**
 * AdamW (decoupled weight decay, bias-corrected moments; PyTorch's update):
 *   m = β1 m + (1 − β1) g,  v = β2 v + (1 − β2) g²,
 *   p ← p (1 − lr·wd) − lr / (1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + eps)
 * with wd = 0 for parameters whose `decay` is false. The moments live on the GPU, zero-initialized;
 * the step count t is shared by all parameters. A parameter without a gradient in a step is left
 * as it is (no decay, moments unchanged), as in PyTorch.
 */
export class AdamW {
  readonly params: readonly AdamWParam[];
  /** Learning rate used when step() is given none. */
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** Per-parameter moments (per-parameter layout), or regions of the flat moments (flat layout). */
  private readonly m: MomentRef[];
  private readonly v: MomentRef[];
  /**
   * Flat layout: parameters, gradients and moments gathered into four buffers (every parameter at a
   * 256-byte aligned offset, decayed parameters first), so one step is a few copies and one AdamW
   * dispatch per decay group instead of one per parameter. Used when the parameters fit one
   * storage binding; null otherwise.
   */
  private readonly flat: FlatLayout | null;
  /** Bound in place of a norm when clipping is not fused (every binding must be bound). */
  private readonly noNorm: Tensor;
  private t = 0;
  private disposed = false;

  constructor(
    private readonly engine: Engine,
    params: readonly AdamWParam[],
    opts: AdamWOptions,
  ) {
    const { lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.01 } = opts;
    checkLr(lr);
    if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) throw new Error(`AdamW: betas must lie in [0, 1), got ${beta1}, ${beta2}`);
    if (!(eps > 0)) throw new Error(`AdamW: eps must be positive, got ${eps}`);
    if (!(weightDecay >= 0)) throw new Error(`AdamW: weightDecay must be ≥ 0, got ${weightDecay}`);
    const names = new Set<string>();
    const tensors = new Set<Tensor>();
    for (const p of params) {
      if (names.has(p.name)) throw new Error(`AdamW: duplicate parameter name '${p.name}'`);
      if (tensors.has(p.tensor)) throw new Error(`AdamW: parameter '${p.name}' is listed twice`);
      names.add(p.name);
      tensors.add(p.tensor);
      checkF32(`AdamW '${p.name}'`, p.tensor);
      checkBindable(engine, `AdamW '${p.name}'`, p.tensor);
    }
    this.params = params.map((p) => ({ ...p }));
    this.lr = lr;
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.eps = eps;
    this.weightDecay = weightDecay;
    this.flat = flatLayout(engine, this.params, opts.flat ?? true);
    if (this.flat) {
      const f = this.flat;
      this.m = this.params.map((p, i) => region(f.M, f.offsets[i]!, p.tensor.size));
      this.v = this.params.map((p, i) => region(f.V, f.offsets[i]!, p.tensor.size));
    } else {
      this.m = this.params.map((p) => zeros(engine, p.tensor.shape));
      this.v = this.params.map((p) => zeros(engine, p.tensor.shape));
    }
    this.noNorm = zeros(engine, [1]);
  }

  /** Updates completed so far (t of the last update). */
  get stepCount(): number {
    return this.t;
  }

  /**
   * One update of every parameter that has a gradient: one dispatch per decay group in the flat
   * layout (when every parameter has a gradient), else one per parameter; nothing read back. `lr`
   * overrides this.lr for this step (e.g. from lrAt); `clip` fuses gradient clipping.
   */
  step(grads: Grads, lr: number = this.lr, clip?: ClipSpec): void {
    this.update(grads, lr, clip);
  }

  /**
   * One update with clipping to `maxNorm`: the global gradient norm is computed here (over the
   * gathered flat gradients in the flat layout) and returned, a [1] tensor the caller releases.
   */
  stepClipped(grads: Grads, lr: number, maxNorm: number): Tensor {
    const norm = this.update(grads, lr, { maxNorm });
    return norm!;
  }

  private update(grads: Grads, lr: number, clip?: ClipSpec | { maxNorm: number; norm?: undefined }): Tensor | null {
    if (this.disposed) throw new Error('AdamW: disposed');
    checkLr(lr);
    const list = this.alignGrads(grads);
    if (clip) {
      if (clip.norm && (clip.norm.size < 1 || clip.norm.dtype !== 'f32')) throw new Error('AdamW.step: clip.norm must be an f32 tensor [1]');
      if (!(clip.maxNorm > 0)) throw new Error(`AdamW.step: clip.maxNorm must be positive, got ${clip.maxNorm}`);
    }
    const e = this.engine;
    const t = ++this.t;
    const bc1 = 1 - this.beta1 ** t;
    const bc2 = 1 - this.beta2 ** t;
    const { beta1, beta2, eps } = this;
    const step_size = lr / bc1;
    const inv_sqrt_bc2 = 1 / Math.sqrt(bc2);
    const params = (n: number, stride: number, decay_mul: number): KernelParams =>
      ADAMW.with({
        n,
        stride,
        clip: clip ? 1 : 0,
        k: 0,
        offset: 0,
        step_size,
        decay_mul,
        beta1,
        beta2,
        one_m_beta1: 1 - beta1,
        one_m_beta2: 1 - beta2,
        inv_sqrt_bc2,
        eps,
        max_norm: clip ? clip.maxNorm : 0,
      });
    const f = this.flat;
    if (f && list.every((g) => g)) {
      // Gather, update each decay group with one dispatch, scatter the parameters back.
      this.params.forEach((p, i) => {
        e.copy(list[i]!, f.G, p.tensor.byteLength, 0, 4 * f.offsets[i]!);
        e.copy(p.tensor, f.P, p.tensor.byteLength, 0, 4 * f.offsets[i]!);
      });
      const computed = clip && !clip.norm ? gradNorm(e, [f.G]) : null;
      const norm = clip ? (clip.norm ?? computed!) : this.noNorm;
      for (const grp of f.groups) {
        const items = grp.floats / 4;
        const { groups, stride } = linearLaunch(e, items);
        const decayMul = grp.decay ? 1 - lr * this.weightDecay : 1;
        const r = (t: Tensor) => region(t, grp.start, grp.floats);
        e.dispatch('adamw', 'adamw4', [r(f.P), r(f.G), r(f.M), r(f.V), norm], params(items, stride, decayMul), groups);
      }
      // (copy() marks each parameter as written, which invalidates packed copies of it.)
      this.params.forEach((p, i) => e.copy(f.P, p.tensor, p.tensor.byteLength, 4 * f.offsets[i]!, 0));
      return computed;
    }
    const computed = clip && !clip.norm ? gradNorm(e, list.filter((g): g is Tensor => g !== null)) : null;
    const norm = clip ? (clip.norm ?? computed!) : this.noNorm;
    for (let i = 0; i < this.params.length; i++) {
      const g = list[i];
      if (!g) continue;
      const p = this.params[i]!;
      const { suffix, items } = vecItems(p.tensor);
      const { groups, stride } = linearLaunch(e, items);
      const decayMul = p.decay ? 1 - lr * this.weightDecay : 1;
      e.dispatch('adamw', 'adamw' + suffix, [p.tensor, g, this.m[i]!, this.v[i]!, norm], params(items, stride, decayMul), groups);
      p.tensor.touch();
    }
    return computed;
  }

  private alignGrads(grads: Grads): (Tensor | null)[] {
    let list: (Tensor | null)[];
    if (isMap(grads)) {
      list = this.params.map((p) => grads.get(p.tensor) ?? null);
    } else {
      if (grads.length !== this.params.length) throw new Error(`AdamW.step: ${grads.length} gradients for ${this.params.length} parameters`);
      list = grads.map((g) => g ?? null);
    }
    for (let i = 0; i < list.length; i++) {
      const g = list[i];
      if (!g) continue;
      const p = this.params[i]!;
      checkF32(`AdamW.step gradient of '${p.name}'`, g);
      if (g.size !== p.tensor.size) throw new Error(`AdamW.step: gradient ${shapeStr(g.shape)} does not match parameter '${p.name}' ${shapeStr(p.tensor.shape)}`);
      if (g.buffer === p.tensor.buffer) throw new Error(`AdamW.step: gradient of '${p.name}' is the parameter itself`);
    }
    return list;
  }

  /** The moments and the step count, read back (for checkpoints). */
  async state(): Promise<AdamWState> {
    const m: Record<string, Float32Array> = {};
    const v: Record<string, Float32Array> = {};
    const f = this.flat;
    const [allM, allV] = f ? ((await this.engine.readMany([f.M, f.V])) as Float32Array[]) : [null, null];
    for (let i = 0; i < this.params.length; i++) {
      const name = this.params[i]!.name;
      if (f) {
        const o = f.offsets[i]!;
        const n = this.params[i]!.tensor.size;
        m[name] = allM!.slice(o, o + n);
        v[name] = allV!.slice(o, o + n);
      } else {
        m[name] = await this.engine.readF32(this.m[i] as Tensor);
        v[name] = await this.engine.readF32(this.v[i] as Tensor);
      }
    }
    return { step: this.t, m, v };
  }

  /** Restores state() output; every parameter needs both moments of its exact size. */
  loadState(state: AdamWState): void {
    if (!(Number.isInteger(state.step) && state.step >= 0)) throw new Error(`AdamW.loadState: bad step ${state.step}`);
    for (const p of this.params) {
      for (const [what, rec] of [['m', state.m], ['v', state.v]] as const) {
        const a = rec[p.name];
        if (!a) throw new Error(`AdamW.loadState: no ${what} for '${p.name}'`);
        if (a.length !== p.tensor.size) throw new Error(`AdamW.loadState: ${what} of '${p.name}' has ${a.length} values, expected ${p.tensor.size}`);
      }
    }
    const f = this.flat;
    this.params.forEach((p, i) => {
      if (f) {
        this.engine.write(f.M, state.m[p.name]!, 4 * f.offsets[i]!);
        this.engine.write(f.V, state.v[p.name]!, 4 * f.offsets[i]!);
      } else {
        this.engine.write(this.m[i] as Tensor, state.m[p.name]!);
        this.engine.write(this.v[i] as Tensor, state.v[p.name]!);
      }
    });
    this.t = state.step;
  }

  /** Releases the moments (the parameters belong to the caller). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.flat) this.engine.release(this.flat.P, this.flat.G, this.flat.M, this.flat.V, this.noNorm);
    else this.engine.release(...(this.m as Tensor[]), ...(this.v as Tensor[]), this.noNorm);
  }
}

/** A parameter's moments: their own tensor, or a region of a flat buffer. */
type MomentRef = Tensor | GPUBufferBinding;

interface FlatLayout {
  P: Tensor;
  G: Tensor;
  M: Tensor;
  V: Tensor;
  /** Float offset of each parameter (a multiple of 64: 256-byte aligned bindings). */
  offsets: number[];
  /** Contiguous ranges updated by one dispatch each: decayed parameters, then the others. */
  groups: { start: number; floats: number; decay: boolean }[];
}

const FLAT_ALIGN = 64;

function alignUp(n: number): number {
  return Math.ceil(n / FLAT_ALIGN) * FLAT_ALIGN;
}

/** The flat layout when enabled and the parameters fit one storage binding (zero padding everywhere). */
function flatLayout(engine: Engine, ps: readonly AdamWParam[], enabled: boolean): FlatLayout | null {
  if (!enabled || ps.length < 2 || engine.limits.minStorageBufferOffsetAlignment > 4 * FLAT_ALIGN) return null;
  const offsets = new Array<number>(ps.length);
  const groups: FlatLayout['groups'] = [];
  let at = 0;
  for (const decay of [true, false]) {
    const start = at;
    ps.forEach((p, i) => {
      if (p.decay !== decay) return;
      offsets[i] = at;
      at += alignUp(p.tensor.size);
    });
    if (at > start) groups.push({ start, floats: at - start, decay });
  }
  const limit = Math.min(engine.limits.maxStorageBufferBindingSize, engine.limits.maxBufferSize);
  if (4 * at > limit) return null;
  const [P, G, M, V] = [0, 1, 2, 3].map(() => zeros(engine, [at]));
  return { P: P!, G: G!, M: M!, V: V!, offsets, groups };
}

/** A float range of a tensor's buffer as a binding. */
function region(t: Tensor, start: number, floats: number): GPUBufferBinding {
  return { buffer: t.buffer, offset: 4 * start, size: 4 * floats };
}

function checkLr(lr: number): void {
  if (!(Number.isFinite(lr) && lr >= 0)) throw new Error(`AdamW: learning rate must be finite and ≥ 0, got ${lr}`);
}

function isMap(g: Grads): g is ReadonlyMap<Tensor, Tensor> {
  return g instanceof Map;
}

function zeros(engine: Engine, shape: readonly number[]): Tensor {
  const t = engine.empty(shape);
  engine.fill(t, 0);
  return t;
}

// ---------------------------------------------------------------- global norm and clipping

export interface NormOptions {
  /**
   * The first pass: 'workgroup' (per-workgroup tree reductions; GPUs) or 'lane' (one partial per
   * invocation; CPU executors). Default by device; tests force each.
   */
  layout?: 'workgroup' | 'lane';
}

/**
 * ‖g‖₂ over all gradients as a [1] tensor, on the GPU: per tensor, partial sums of squares (per
 * workgroup, or per invocation in the 'lane' layout), each tensor's at its own offset in one
 * partials buffer; then one workgroup sums every partial in a fixed order. Deterministic (no
 * atomics; the same bits for the same inputs and layout); nothing is read back.
 */
export function gradNorm(engine: Engine, grads: readonly Tensor[], opts: NormOptions = {}): Tensor {
  if (grads.length === 0) throw new Error('gradNorm: no gradients');
  const lane = (opts.layout ?? (engine.info.software ? 'lane' : 'workgroup')) === 'lane';
  // Invocations per workgroup of adamw.wgsl's entry points.
  const WG = engine.flatWG;
  const items = grads.map((g, i) => {
    checkF32(`gradNorm gradient ${i}`, g);
    checkBindable(engine, 'gradNorm', g);
    return vecItems(g);
  });
  // Items per invocation: lane mode grows it only when the partials would overflow the final pass.
  const totalItems = items.reduce((s, x) => s + x.items, 0);
  const laneK = Math.max(LANE_ITEMS, Math.ceil(totalItems / ((MAX_FINAL_TRIPS / 2) * WG)));
  const plan = items.map(({ suffix, items: n }) => {
    const k = lane ? laneK : Math.max(1, Math.ceil(n / (WG * MAX_PARTIALS_PER_TENSOR)));
    const groups = Math.ceil(n / (WG * k));
    return { suffix, n, k, groups, count: lane ? groups * WG : groups };
  });
  const total = plan.reduce((s, x) => s + x.count, 0);
  if (Math.ceil(total / WG) > MAX_FINAL_TRIPS) throw new Error(`gradNorm: ${total} partial sums are too many for one reduction`);
  const partials = engine.empty([total]);
  let offset = 0;
  grads.forEach((g, i) => {
    const { suffix, n, k, groups, count } = plan[i]!;
    engine.dispatch('adamw', (lane ? 'sumsq_lane' : 'sumsq_partial') + suffix, [g, partials], ADAMW.withZeros({ n, k, offset }), grid(groups));
    offset += count;
  });
  const norm = engine.empty([1]);
  const vec = total % 4 === 0;
  engine.dispatch('adamw', vec ? 'norm_final4' : 'norm_final', [partials, norm], ADAMW.withZeros({ n: vec ? total / 4 : total }), [1, 1, 1]);
  engine.release(partials);
  return norm;
}

/**
 * Clips gradients by their global L2 norm, in place: g ← g · min(1, maxNorm / (‖g‖ + 1e-6)), the
 * factor computed and applied on the GPU (no read-back). Returns the norm before clipping, [1].
 * To save the scaling pass, pass gradNorm's result to AdamW.step as `clip` instead.
 */
export function clipGradNorm(engine: Engine, grads: readonly Tensor[], maxNorm: number, opts: NormOptions = {}): Tensor {
  if (!(maxNorm > 0)) throw new Error(`clipGradNorm: maxNorm must be positive, got ${maxNorm}`);
  const norm = gradNorm(engine, grads, opts);
  for (const g of grads) {
    const { suffix, items } = vecItems(g);
    const { groups, stride } = linearLaunch(engine, items);
    engine.dispatch('adamw', 'clip_scale' + suffix, [g, norm], ADAMW.withZeros({ n: items, stride, max_norm: maxNorm }), groups);
    g.touch();
  }
  return norm;
}

// ---------------------------------------------------------------- EMA of the weights

/** A parameter for Ema: a tensor, or a named one (names key state()). */
export type EmaParam = Tensor | { name: string; tensor: Tensor };

/**
 * Exponential moving average of the weights: e ← decay·e + (1 − decay)·p after each update
 * (one dispatch per parameter), starting from a copy of the weights. To evaluate with the
 * averaged weights: swapIn() puts them into the parameter tensors (keeping the live weights
 * aside), swapOut() restores the live weights; copyTo() writes them into other tensors.
 */
export class Ema {
  readonly shadows: readonly Tensor[];
  private readonly tensors: Tensor[];
  private readonly names: string[];
  private saved: Tensor[] | null = null;
  private disposed = false;

  constructor(
    private readonly engine: Engine,
    params: readonly EmaParam[],
    readonly decay: number,
  ) {
    checkDecay(decay);
    this.tensors = params.map((p) => ('tensor' in p ? p.tensor : p));
    this.names = params.map((p, i) => ('tensor' in p ? p.name : String(i)));
    for (const t of this.tensors) {
      checkF32('Ema', t);
      checkBindable(engine, 'Ema', t);
    }
    this.shadows = this.tensors.map((t) => {
      const s = engine.empty(t.shape);
      engine.copy(t, s);
      return s;
    });
  }

  /** e ← decay·e + (1 − decay)·p for every parameter; `decay` overrides the default (warm-up). */
  update(decay: number = this.decay): void {
    this.live('update');
    checkDecay(decay);
    this.tensors.forEach((t, i) => {
      const s = this.shadows[i]!;
      const { suffix, items } = vecItems(t);
      const { groups, stride } = linearLaunch(this.engine, items);
      this.engine.dispatch('adamw', 'ema' + suffix, [s, t], ADAMW.withZeros({ n: items, stride, step_size: decay, decay_mul: 1 - decay }), groups);
      s.touch();
    });
  }

  /** Puts the averaged weights into the parameter tensors; the live weights are kept for swapOut. */
  swapIn(): void {
    this.live('swapIn');
    if (this.saved) throw new Error('Ema.swapIn: already swapped in');
    this.saved = this.tensors.map((t, i) => {
      const keep = this.engine.empty(t.shape);
      this.engine.copy(t, keep);
      this.engine.copy(this.shadows[i]!, t);
      return keep;
    });
  }

  /** Restores the live weights after swapIn. */
  swapOut(): void {
    this.live('swapOut');
    if (!this.saved) throw new Error('Ema.swapOut: not swapped in');
    this.saved.forEach((keep, i) => this.engine.copy(keep, this.tensors[i]!));
    this.engine.release(...this.saved);
    this.saved = null;
  }

  /** Copies the averaged weights into `targets` (aligned with the parameters, same sizes). */
  copyTo(targets: readonly Tensor[]): void {
    this.live('copyTo');
    if (targets.length !== this.shadows.length) throw new Error(`Ema.copyTo: ${targets.length} targets for ${this.shadows.length} parameters`);
    targets.forEach((t, i) => {
      const s = this.shadows[i]!;
      if (t.size !== s.size) throw new Error(`Ema.copyTo: target ${shapeStr(t.shape)} does not match ${shapeStr(s.shape)}`);
      this.engine.copy(s, t);
    });
  }

  /** The averaged weights, read back, keyed by parameter name (index when unnamed). */
  async state(): Promise<Record<string, Float32Array>> {
    const out: Record<string, Float32Array> = {};
    for (let i = 0; i < this.shadows.length; i++) out[this.names[i]!] = await this.engine.readF32(this.shadows[i]!);
    return out;
  }

  /** Restores state() output. */
  loadState(state: Record<string, Float32Array>): void {
    this.live('loadState');
    this.names.forEach((name, i) => {
      const a = state[name];
      if (!a || a.length !== this.shadows[i]!.size) throw new Error(`Ema.loadState: missing or wrong-sized weights for '${name}'`);
    });
    this.names.forEach((name, i) => this.engine.write(this.shadows[i]!, state[name]!));
  }

  /** Releases the averaged weights (restoring the live weights first if swapped in). */
  dispose(): void {
    if (this.disposed) return;
    if (this.saved) this.swapOut();
    this.disposed = true;
    this.engine.release(...this.shadows);
  }

  private live(what: string): void {
    if (this.disposed) throw new Error(`Ema.${what}: disposed`);
  }
}

function checkDecay(decay: number): void {
  if (!(decay >= 0 && decay <= 1)) throw new Error(`Ema: decay must lie in [0, 1], got ${decay}`);
}
