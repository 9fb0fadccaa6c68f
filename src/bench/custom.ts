import type { Binding, Engine } from '../gpu/engine.js';
import { GpuTimer } from '../gpu/timing.js';
import type { Tensor } from '../tensor.js';
import { describeEngine } from './adapter.js';
import { randomF32, rng } from '../check/util.js';
import { matmulRef } from '../check/matmul.js';
import { softmaxRef } from '../check/softmax.js';
import { layernormRef } from '../check/layernorm.js';
import { geluRef } from '../check/gelu.js';
import { attentionRef } from '../check/attention.js';
import { checkSearch, searchReference } from '../check/codebook.js';
import { relL2Check } from './case.js';
import { compileExpr, evalExpr, type Expr } from './expr.js';
import { measure, probeCeilings, timedResult, type BenchReport, type BenchResult } from './measure.js';

export type { Expr } from './expr.js';

/**
 * The kernel bench for a kernel that is not tok1d's: WGSL text plus a spec saying how to run it
 * (entry point, override constants, buffers sized by expressions of shape variables, dispatch
 * size) and how to tell a right answer (like one of tok1d's ops, against its float64 reference,
 * or a function). Every case (shape × override values) is checked first; a wrong one is
 * reported wrong and never timed or ranked. Timing is the tok1d bench's (run.ts: measure()).
 */

/** Host values of one binding, by its type. */
export type HostArray = Float32Array | Uint32Array | Int32Array;

/** One resource of the kernel's bind group 0. */
export interface KernelBinding {
  /** Name the check and the report use. */
  name: string;
  /** @binding number; default its index in the list. */
  binding?: number;
  /**
   * input (default): filled once with `data` or random values from the seed; output: filled with
   * NaN (all ones for integers) before the checked run, read back for the check; inout: filled
   * like an input and read back like an output; uniform: `values`, written once.
   */
  role?: 'input' | 'output' | 'inout' | 'uniform';
  /** Element type (4 bytes each); default f32 (u32 for uniforms). */
  type?: 'f32' | 'u32' | 'i32';
  /** Element count, an expression of the case's variables (not for uniforms). */
  size?: Expr;
  /** Random inputs: uniform in [lo, hi); default [-1, 1) for f32, [0, 65536) for integers. */
  range?: [number, number];
  /** Input values (exactly `size` of them) instead of random ones. */
  data?: ArrayLike<number>;
  /** CLI only: a file of raw little-endian values of `type`, relative to the spec file. */
  file?: string;
  /** Uniform fields in declaration order, each an expression, all of `type`. */
  values?: Expr[];
}

/** tok1d ops a kernel can be checked against, with their float64 references. */
export type LikeOp = 'matmul' | 'softmax' | 'layernorm' | 'gelu' | 'attention' | 'codebook';

/** "The kernel computes what tok1d's op X computes": its output is checked against X's float64 reference. */
export interface LikeCheck {
  like: LikeOp;
  /**
   * The binding playing each operand, by the op's role name; a role defaults to the binding of
   * the same name. Roles: matmul a, b, bias (optional), c; softmax x, y; layernorm x, gamma, beta,
   * y; gelu x, y; attention qkv, out; codebook z, codebook, indices, distances.
   */
  bindings?: Record<string, string>;
  /**
   * The op's parameters as expressions; each defaults to the case variable of the same name, then
   * to the op's default. matmul M, N, K, batchA (1), batchB (1), transA (0), transB (0), alpha (1);
   * softmax rows, cols; layernorm rows, D, eps (1e-5); gelu tanh (0); attention batch, seq, heads,
   * headDim, scale (1/sqrt(headDim)); codebook n, k, d, cosine (0).
   */
  params?: Record<string, Expr>;
  /** Largest relative L2 error accepted; default the op's test tolerance (1e-5). */
  tol?: number;
}

/** What a check function gets: the case's variables, the inputs as filled and the outputs after one run. */
export interface CheckContext {
  /** The case's variables: shape variables and override constants. */
  vars: Readonly<Record<string, number>>;
  /** The values each input and inout binding was filled with. */
  inputs: Readonly<Record<string, HostArray>>;
  /** Each output and inout binding after one run. */
  outputs: Readonly<Record<string, HostArray>>;
}

/** null when the outputs are right, else what is wrong (one line). */
export type CheckFunction = (ctx: CheckContext) => string | null | Promise<string | null>;

/** How to run and check a WGSL kernel in the bench (docs/bench.md; examples/bench/*.json). */
export interface KernelSpec {
  /** Name in reports (and the key `bench compare` matches cases by); default "kernel". */
  name?: string;
  /** Entry point of the compute shader. */
  entry: string;
  /** Shape variables of each shape to run, e.g. [{ M: 100, N: 70, K: 50 }]. */
  shapes: Record<string, number>[];
  /** Override constants; a list sweeps its values (every combination runs on every shape). */
  overrides?: Record<string, number | number[]>;
  bindings: KernelBinding[];
  /** Workgroup counts [x, y, z] (or x alone) as expressions of the case's variables. */
  dispatch: Expr | Expr[];
  /** FLOPs of one dispatch, an expression (0 or absent: a memory-bound kernel, ranked by GB/s). */
  flops?: Expr;
  /** Bytes one dispatch must move; default the sizes of all storage bindings (read once, or written once). */
  bytes?: Expr;
  check: LikeCheck | CheckFunction;
  /** Device features the kernel needs (e.g. "shader-f16", "subgroups"): skipped without them. */
  requires?: string[];
}

/** Options of benchKernel: runs, least run time, seed, whether to measure the ceilings, progress lines. */
export interface KernelBenchOptions {
  /** Timed runs per case; default 10 (6 or more give a 95% interval of the median). */
  runs?: number;
  /** Least duration of one timed run; default 50 ms. */
  minRunMs?: number;
  /** Seed of the random inputs; default from the clock. */
  seed?: number;
  /** Measure the FMA and copy ceilings first (for % of ceiling and the roofline); default true. */
  ceilings?: boolean;
  log?: (line: string) => void;
}

/** A custom kernel's case result: the bench's, plus the case's variables and overrides. */
export interface KernelBenchResult extends BenchResult {
  vars: Record<string, number>;
  overrides: Record<string, number>;
  flops: number;
  bytes: number;
}

/** benchKernel's report: tok1d bench's JSON (adapter, timing, ceilings, results) with the spec's name, entry and check. */
export interface KernelBenchReport extends BenchReport {
  kind: 'kernel-file';
  spec: { name: string; entry: string; check: string };
  results: KernelBenchResult[];
}

/** A mistake in a kernel spec, or a kernel that does not compile (one line, naming the field). */
export class SpecError extends Error {
  override name = 'SpecError';
}

// ---------------------------------------------------------------- the ops

interface OpDef {
  inputs: string[];
  optional?: string[];
  outputs: string[];
  /** Defaults; a missing one is required. */
  params: Record<string, number | undefined>;
  tol: number;
  check(i: Record<string, HostArray>, o: Record<string, HostArray>, p: Record<string, number>, tol: number): string | null;
}

const OPS: Record<LikeOp, OpDef> = {
  matmul: {
    inputs: ['a', 'b'],
    optional: ['bias'],
    outputs: ['c'],
    params: { M: undefined, N: undefined, K: undefined, batchA: 1, batchB: 1, transA: 0, transB: 0, alpha: 1 },
    tol: 1e-5,
    check: (i, o, p, tol) =>
      relL2Check(
        [o.c!],
        [matmulRef(i.a!, i.b!, { M: p.M!, N: p.N!, K: p.K!, batchA: p.batchA, batchB: p.batchB, transA: !!p.transA, transB: !!p.transB, alpha: p.alpha, bias: i.bias })],
        tol,
        ['c'],
      ),
  },
  softmax: {
    inputs: ['x'],
    outputs: ['y'],
    params: { rows: undefined, cols: undefined },
    tol: 1e-5,
    check: (i, o, p, tol) => relL2Check([o.y!], [softmaxRef(i.x!, p.rows!, p.cols!)], tol, ['y']),
  },
  layernorm: {
    inputs: ['x', 'gamma', 'beta'],
    outputs: ['y'],
    params: { rows: undefined, D: undefined, eps: 1e-5 },
    tol: 1e-5,
    check: (i, o, p, tol) => relL2Check([o.y!], [layernormRef(i.x!, i.gamma!, i.beta!, p.rows!, p.D!, p.eps).y], tol, ['y']),
  },
  gelu: {
    inputs: ['x'],
    outputs: ['y'],
    params: { tanh: 0 },
    tol: 1e-5,
    check: (i, o, p, tol) => relL2Check([o.y!], [geluRef(i.x!, p.tanh ? 'tanh' : 'erf')], tol, ['y']),
  },
  attention: {
    inputs: ['qkv'],
    outputs: ['out'],
    params: { batch: undefined, seq: undefined, heads: undefined, headDim: undefined, scale: 0 },
    tol: 1e-5,
    check: (i, o, p, tol) =>
      relL2Check([o.out!], [attentionRef(i.qkv!, { batch: p.batch!, seq: p.seq!, heads: p.heads!, headDim: p.headDim!, scale: p.scale || undefined }).out], tol, ['out']),
  },
  codebook: {
    inputs: ['z', 'codebook'],
    outputs: ['indices', 'distances'],
    params: { n: undefined, k: undefined, d: undefined, cosine: 0 },
    tol: 0,
    check: (i, o, p) => {
      const ref = searchReference(Float32Array.from(i.z!), Float32Array.from(i.codebook!), p.n!, p.k!, p.d!, !!p.cosine);
      const idx = o.indices instanceof Uint32Array ? o.indices : new Uint32Array(o.indices!.buffer, o.indices!.byteOffset, o.indices!.length);
      const dist = o.distances instanceof Float32Array ? o.distances : Float32Array.from(o.distances!);
      return checkSearch(ref, idx, dist).error;
    },
  },
};

/** The ops a spec's check can name with `like`. */
export const LIKE_OPS = Object.keys(OPS) as LikeOp[];

// ---------------------------------------------------------------- validation

const BINDING_FIELDS = ['name', 'binding', 'role', 'type', 'size', 'range', 'data', 'file', 'values'];

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkExpr(where: string, e: unknown): void {
  try {
    compileExpr(e as Expr);
  } catch (err) {
    throw new SpecError(`${where}: ${(err as Error).message}`);
  }
}

/**
 * Checks a spec's structure (not yet its expressions' values, which depend on each case) and
 * returns it typed; a SpecError names the first mistake.
 */
export function validateSpec(raw: unknown): KernelSpec {
  if (!isObj(raw)) throw new SpecError('spec: expected an object');
  const s = raw;
  const known = ['name', 'entry', 'shapes', 'overrides', 'bindings', 'dispatch', 'flops', 'bytes', 'check', 'requires', '$schema', 'description'];
  for (const k of Object.keys(s)) if (!known.includes(k)) throw new SpecError(`spec: unknown field '${k}' (fields: ${known.filter((f) => !f.startsWith('$') && f !== 'description').join(', ')})`);
  if (s.name !== undefined && (typeof s.name !== 'string' || !s.name)) throw new SpecError('spec.name: expected a non-empty string');
  if (typeof s.entry !== 'string' || !s.entry) throw new SpecError('spec.entry: expected the entry point name');
  if (!Array.isArray(s.shapes) || !s.shapes.length) throw new SpecError('spec.shapes: expected a non-empty list of {variable: number} objects');
  s.shapes.forEach((sh, i) => {
    if (!isObj(sh)) throw new SpecError(`spec.shapes[${i}]: expected an object of variables`);
    for (const [k, v] of Object.entries(sh)) if (typeof v !== 'number' || !Number.isFinite(v)) throw new SpecError(`spec.shapes[${i}].${k}: expected a number`);
  });
  if (s.overrides !== undefined) {
    if (!isObj(s.overrides)) throw new SpecError('spec.overrides: expected an object of constant: number or [numbers]');
    for (const [k, v] of Object.entries(s.overrides)) {
      const list = Array.isArray(v) ? v : [v];
      if (!list.length || list.some((x) => typeof x !== 'number' || !Number.isFinite(x))) throw new SpecError(`spec.overrides.${k}: expected a number or a non-empty list of numbers`);
    }
  }
  if (!Array.isArray(s.bindings) || !s.bindings.length) throw new SpecError('spec.bindings: expected a non-empty list');
  const names = new Set<string>();
  const numbers = new Set<number>();
  s.bindings.forEach((b, i) => {
    const w = `spec.bindings[${i}]`;
    if (!isObj(b)) throw new SpecError(`${w}: expected an object`);
    for (const k of Object.keys(b)) if (!BINDING_FIELDS.includes(k)) throw new SpecError(`${w}: unknown field '${k}' (fields: ${BINDING_FIELDS.join(', ')})`);
    if (typeof b.name !== 'string' || !b.name) throw new SpecError(`${w}.name: expected a string`);
    if (names.has(b.name)) throw new SpecError(`${w}: binding name '${b.name}' is used twice`);
    names.add(b.name);
    const num = b.binding ?? i;
    if (typeof num !== 'number' || !Number.isInteger(num) || num < 0) throw new SpecError(`${w}.binding: expected a binding number`);
    if (numbers.has(num)) throw new SpecError(`${w}: @binding(${num}) is used twice`);
    numbers.add(num);
    const role = b.role ?? 'input';
    if (!['input', 'output', 'inout', 'uniform'].includes(role as string)) throw new SpecError(`${w}.role: expected input, output, inout or uniform, not '${String(role)}'`);
    if (b.type !== undefined && !['f32', 'u32', 'i32'].includes(b.type as string)) throw new SpecError(`${w}.type: expected f32, u32 or i32`);
    if (role === 'uniform') {
      if (!Array.isArray(b.values) || !b.values.length) throw new SpecError(`${w}.values: a uniform needs a list of field expressions`);
      b.values.forEach((e, j) => checkExpr(`${w}.values[${j}]`, e));
    } else {
      if (b.size === undefined) throw new SpecError(`${w}.size: expected an element count expression`);
      checkExpr(`${w}.size`, b.size);
    }
    if (b.range !== undefined && (!Array.isArray(b.range) || b.range.length !== 2 || b.range.some((x) => typeof x !== 'number'))) throw new SpecError(`${w}.range: expected [lo, hi]`);
  });
  const dispatch = Array.isArray(s.dispatch) ? s.dispatch : [s.dispatch];
  if (s.dispatch === undefined || !dispatch.length || dispatch.length > 3) throw new SpecError('spec.dispatch: expected 1 to 3 workgroup-count expressions');
  dispatch.forEach((e, j) => checkExpr(`spec.dispatch[${j}]`, e));
  if (s.flops !== undefined) checkExpr('spec.flops', s.flops);
  if (s.bytes !== undefined) checkExpr('spec.bytes', s.bytes);
  if (s.requires !== undefined && (!Array.isArray(s.requires) || s.requires.some((f) => typeof f !== 'string'))) throw new SpecError('spec.requires: expected a list of feature names');
  const c = s.check;
  if (typeof c !== 'function') {
    if (!isObj(c)) throw new SpecError(`spec.check: expected {"like": OP} (ops: ${LIKE_OPS.join(', ')}) or a function`);
    const op = OPS[c.like as LikeOp];
    if (!op) throw new SpecError(`spec.check.like: unknown op '${String(c.like)}' (ops: ${LIKE_OPS.join(', ')})`);
    for (const k of Object.keys(c)) if (!['like', 'bindings', 'params', 'tol'].includes(k)) throw new SpecError(`spec.check: unknown field '${k}' (fields: like, bindings, params, tol)`);
    if (c.bindings !== undefined && !isObj(c.bindings)) throw new SpecError('spec.check.bindings: expected {role: binding name}');
    const roleOf = (role: string) => ((c.bindings as Record<string, string> | undefined)?.[role] ?? role);
    const bindingsByName = new Map((s.bindings as KernelBinding[]).map((b) => [b.name, b]));
    for (const role of [...op.inputs, ...op.outputs]) {
      const b = bindingsByName.get(roleOf(role));
      if (!b) throw new SpecError(`spec.check: ${c.like}'s operand '${role}' has no binding named '${roleOf(role)}' (map it with check.bindings)`);
      const isOut = op.outputs.includes(role);
      const r = b.role ?? 'input';
      if (isOut ? r !== 'output' && r !== 'inout' : r === 'output' || r === 'uniform') throw new SpecError(`spec.check: binding '${b.name}' plays ${c.like}'s ${isOut ? 'output' : 'input'} '${role}' but its role is ${r}`);
    }
    for (const role of op.optional ?? []) if (c.bindings && (c.bindings as Record<string, string>)[role] && !bindingsByName.has(roleOf(role))) throw new SpecError(`spec.check.bindings.${role}: no binding named '${roleOf(role)}'`);
    if (c.params !== undefined) {
      if (!isObj(c.params)) throw new SpecError('spec.check.params: expected {param: expression}');
      for (const [k, e] of Object.entries(c.params)) {
        if (!(k in op.params)) throw new SpecError(`spec.check.params.${k}: ${c.like} has no parameter '${k}' (${Object.keys(op.params).join(', ')})`);
        checkExpr(`spec.check.params.${k}`, e);
      }
    }
    if (c.tol !== undefined && (typeof c.tol !== 'number' || !(c.tol >= 0))) throw new SpecError('spec.check.tol: expected a number ≥ 0');
  }
  return s as unknown as KernelSpec;
}

// ---------------------------------------------------------------- running

/** Every combination of the override lists, in the spec's order (one empty combination when none). */
export function overrideCombos(overrides: KernelSpec['overrides']): Record<string, number>[] {
  let out: Record<string, number>[] = [{}];
  for (const [k, v] of Object.entries(overrides ?? {})) {
    const list = Array.isArray(v) ? v : [v];
    out = out.flatMap((o) => list.map((x) => ({ ...o, [k]: x })));
  }
  return out;
}

/** The variant label of an override combination: "TILE=16,VEC=4", or "default". */
export function variantLabel(o: Record<string, number>): string {
  const e = Object.entries(o);
  return e.length ? e.map(([k, v]) => `${k}=${v}`).join(',') : 'default';
}

function kernelName(wgsl: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < wgsl.length; i++) h = Math.imul(h ^ wgsl.charCodeAt(i), 0x01000193) >>> 0;
  return `user.${h.toString(16).padStart(8, '0')}.${wgsl.length}`;
}

function evalIn(where: string, e: Expr, vars: Record<string, number>): number {
  try {
    return evalExpr(e, vars);
  } catch (err) {
    throw new SpecError(`${where}: ${(err as Error).message}`);
  }
}

function count(where: string, e: Expr, vars: Record<string, number>): number {
  const n = evalIn(where, e, vars);
  if (!Number.isInteger(n) || n < 1) throw new SpecError(`${where}: '${e}' is ${n} for ${variantLabel(vars)}, not a positive whole number`);
  return n;
}

function hostArray(type: 'f32' | 'u32' | 'i32', n: number): HostArray {
  return type === 'f32' ? new Float32Array(n) : type === 'u32' ? new Uint32Array(n) : new Int32Array(n);
}

interface Instance {
  run(): void;
  check(): Promise<string | null>;
  dispose(): void;
  flops: number;
  bytes: number;
}

/** Allocates and fills one case's bindings. */
function setupCase(engine: Engine, name: string, spec: KernelSpec, vars: Record<string, number>, overrides: Record<string, number>, seed: number): Instance {
  const r = rng(seed);
  const tensors: Tensor[] = [];
  const uniforms: GPUBuffer[] = [];
  const slots: (Binding | null)[] = [];
  const inputs: Record<string, HostArray> = {};
  const outputs: { name: string; t: Tensor }[] = [];
  let storageBytes = 0;
  try {
    spec.bindings.forEach((b, i) => {
      const w = `spec.bindings[${i}] (${b.name})`;
      const role = b.role ?? 'input';
      const num = b.binding ?? i;
      if (role === 'uniform') {
        const type = b.type ?? 'u32';
        const vals = hostArray(type, Math.ceil(b.values!.length / 4) * 4);
        b.values!.forEach((e, j) => (vals[j] = evalIn(`${w}.values[${j}]`, e, vars)));
        const buf = engine.device.createBuffer({ label: `${name} ${b.name}`, size: vals.byteLength, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
        engine.device.queue.writeBuffer(buf, 0, vals.buffer as ArrayBuffer, vals.byteOffset, vals.byteLength);
        uniforms.push(buf);
        slots[num] = buf;
        return;
      }
      const type = b.type ?? 'f32';
      const n = count(`${w}.size`, b.size!, vars);
      if (n * 4 > engine.limits.maxStorageBufferBindingSize) throw new SpecError(`${w}: ${n * 4} bytes exceed this device's storage binding limit (${engine.limits.maxStorageBufferBindingSize})`);
      storageBytes += n * 4;
      let t: Tensor;
      if (role === 'output') {
        t = engine.empty([n], type);
        engine.fill(t, type === 'f32' ? Number.NaN : 0xffffffff);
      } else {
        let data: HostArray;
        if (b.data) {
          if (b.data.length !== n) throw new SpecError(`${w}.data: ${b.data.length} values, size is ${n}`);
          data = hostArray(type, n);
          data.set(b.data as ArrayLike<number>);
        } else if (b.file !== undefined) {
          throw new SpecError(`${w}.file: files are read by the CLI; pass the values as data`);
        } else if (type === 'f32') {
          data = randomF32(n, r, b.range?.[0] ?? -1, b.range?.[1] ?? 1);
        } else {
          const [lo, hi] = b.range ?? [0, 65536];
          data = hostArray(type, n);
          for (let k = 0; k < n; k++) data[k] = Math.floor(lo + (hi - lo) * r());
        }
        inputs[b.name] = data;
        t = engine.upload(data, [n], type);
      }
      tensors.push(t);
      slots[num] = t;
      if (role === 'output' || role === 'inout') outputs.push({ name: b.name, t });
    });
    const groups = (Array.isArray(spec.dispatch) ? spec.dispatch : [spec.dispatch]).map((e, j) => {
      const g = evalIn(`spec.dispatch[${j}]`, e, vars);
      if (!Number.isInteger(g) || g < 0) throw new SpecError(`spec.dispatch[${j}]: '${e}' is ${g} for ${variantLabel(vars)}, not a whole number`);
      if (g > engine.limits.maxComputeWorkgroupsPerDimension) throw new SpecError(`spec.dispatch[${j}]: ${g} workgroups exceed this device's ${engine.limits.maxComputeWorkgroupsPerDimension} per dimension`);
      return g;
    });
    while (groups.length < 3) groups.push(1);
    for (let k = 0; k < slots.length; k++) if (slots[k] === undefined) slots[k] = null;
    const flops = spec.flops === undefined ? 0 : evalIn('spec.flops', spec.flops, vars);
    const bytes = spec.bytes === undefined ? storageBytes : evalIn('spec.bytes', spec.bytes, vars);
    const checkFn = spec.check;
    return {
      flops,
      bytes,
      run: () => engine.dispatch(name, spec.entry, slots, null, groups, overrides),
      async check() {
        const got = await engine.readMany(outputs.map((o) => o.t));
        const out: Record<string, HostArray> = {};
        outputs.forEach((o, k) => (out[o.name] = got[k]!));
        if (typeof checkFn === 'function') return checkFn({ vars, inputs, outputs: out });
        const op = OPS[checkFn.like];
        const roleOf = (role: string) => checkFn.bindings?.[role] ?? role;
        const p: Record<string, number> = {};
        for (const [k, d] of Object.entries(op.params)) {
          const e = checkFn.params?.[k] ?? (k in vars ? k : d);
          if (e === undefined) throw new SpecError(`spec.check: ${checkFn.like} needs parameter '${k}' (a variable of that name or check.params.${k})`);
          p[k] = evalIn(`spec.check.params.${k}`, e, vars);
        }
        const ins: Record<string, HostArray> = {};
        const outs: Record<string, HostArray> = {};
        for (const role of [...op.inputs, ...(op.optional ?? [])]) if (inputs[roleOf(role)]) ins[role] = inputs[roleOf(role)]!;
        for (const role of op.outputs) outs[role] = out[roleOf(role)]!;
        return op.check(ins, outs, p, checkFn.tol ?? op.tol);
      },
      dispose() {
        engine.release(...tensors);
        for (const u of uniforms) engine.deferDestroy(u);
      },
    };
  } catch (e) {
    engine.release(...tensors);
    for (const u of uniforms) u.destroy();
    throw e;
  }
}

/** WGSL compilation errors of `wgsl` on this device, one line each; empty when it compiles. */
async function compileErrors(engine: Engine, wgsl: string): Promise<string[]> {
  engine.device.pushErrorScope('validation');
  const module = engine.device.createShaderModule({ code: wgsl });
  const info = await module.getCompilationInfo();
  const scoped = await engine.device.popErrorScope();
  const messages = info.messages.filter((m) => m.type === 'error');
  if (scoped && !messages.length) return [scoped.message.split('\n').find((l) => l.trim() && !/^validation:?$/i.test(l.trim())) ?? scoped.message];
  return messages.map((m) => `${m.lineNum}:${m.linePos}: ${m.message.split('\n')[0]}`);
}

/** The kernel's @compute entry points and override constants, read from its source. */
export function kernelInterface(wgsl: string): { entries: string[]; overrides: string[] } {
  const code = wgsl.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const entries = [...code.matchAll(/((?:@\w+(?:\s*\([^)]*\))?\s*)+)fn\s+(\w+)/g)].filter((m) => /@compute\b/.test(m[1]!)).map((m) => m[2]!);
  const overrides = [...code.matchAll(/(?:^|[\s;}])override\s+(\w+)/g)].map((m) => m[1]!);
  return { entries, overrides };
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n').find((l) => l.trim()) ?? 'unknown error';
}

function intervalOf(r: BenchResult): [number, number] {
  return r.msCI ?? [r.msMin!, r.msMax!];
}

/**
 * Marks the fastest correct case of each shape `best`; when its 95% interval overlaps the
 * runner-up's, the win is within the noise and `flag` says so.
 */
export function rankByShape(results: KernelBenchResult[]): void {
  const byShape = new Map<string, KernelBenchResult[]>();
  for (const r of results) {
    if (r.ms === null) continue;
    const k = JSON.stringify(r.vars);
    byShape.set(k, [...(byShape.get(k) ?? []), r]);
  }
  for (const list of byShape.values()) {
    list.sort((a, b) => a.ms! - b.ms!);
    const [best, next] = list;
    best!.best = true;
    if (next) {
      const [, hiBest] = intervalOf(best!);
      const [loNext] = intervalOf(next);
      if (hiBest >= loNext) best!.flag = `not distinguishable from ${next.variant} (${((next.ms! / best!.ms! - 1) * 100).toFixed(1)}% slower, intervals overlap)`;
    }
  }
}

/**
 * Checks and times a WGSL kernel on every shape × override combination of `spec`; returns the
 * bench report (tok1d bench's JSON schema, with `kind: 'kernel-file'`). A case whose output
 * fails the check is reported `wrong: …` and not timed; one that cannot run, `error: …`.
 * Throws SpecError for a spec mistake and when the kernel does not compile.
 */
export async function benchKernel(engine: Engine, wgsl: string, specIn: KernelSpec, options: KernelBenchOptions = {}): Promise<KernelBenchReport> {
  const spec = validateSpec(specIn);
  const log = options.log ?? (() => undefined);
  const runs = options.runs ?? 10;
  const minRunMs = options.minRunMs ?? 50;
  const seed = (options.seed ?? Date.now()) >>> 0;
  const name = spec.name ?? 'kernel';
  const errors = await compileErrors(engine, wgsl);
  if (errors.length) throw new SpecError(`${name}: the kernel does not compile: ${errors[0]}${errors.length > 1 ? ` (+${errors.length - 1} more)` : ''}`);
  const iface = kernelInterface(wgsl);
  if (!iface.entries.includes(spec.entry)) throw new SpecError(`spec.entry: '${spec.entry}' is not a @compute entry point of the kernel (entry points: ${iface.entries.join(', ') || 'none'})`);
  for (const k of Object.keys(spec.overrides ?? {})) {
    if (!iface.overrides.includes(k)) throw new SpecError(`spec.overrides.${k}: the kernel declares no override '${k}' (overrides: ${iface.overrides.join(', ') || 'none'})`);
  }
  const kernel = kernelName(wgsl);
  engine.kernels.define(kernel, wgsl);
  const missing = (spec.requires ?? []).filter((f) => !engine.features.has(f));

  const timer = GpuTimer.supported(engine) ? new GpuTimer(engine) : null;
  try {
    const ceilings = options.ceilings === false ? null : await probeCeilings(engine, timer, { runs, minRunMs, log }, seed);
    const combos = overrideCombos(spec.overrides);
    const results: KernelBenchResult[] = [];
    let n = 0;
    const total = spec.shapes.length * combos.length;
    for (const shape of spec.shapes) {
      for (const ov of combos) {
        n++;
        const vars = { ...shape, ...ov };
        const base = { kernel: name, variant: variantLabel(ov), shape: Object.values(shape), vars: { ...shape }, overrides: ov };
        log(`[${n}/${total}] ${name} ${base.variant} [${variantLabel(shape)}]`);
        const empty = (check: string, flops = 0, bytes = 0): KernelBenchResult => ({ ...base, ms: null, msMin: null, msMax: null, gflops: null, gbps: null, pctOfCeiling: null, check, flops, bytes });
        if (missing.length) {
          results.push({ ...empty(`skipped: no '${missing.join("', '")}' on this device`), skipped: true });
          continue;
        }
        let inst: Instance | undefined;
        try {
          inst = setupCase(engine, kernel, spec, vars, ov, seed + n);
          const i = inst;
          i.run();
          const bad = await i.check();
          if (bad !== null) {
            log(`  wrong: ${bad}`);
            results.push(empty(`wrong: ${bad}`, i.flops, i.bytes));
            continue;
          }
          const m = await measure(engine, timer, () => i.run(), runs, minRunMs);
          const r = { ...timedResult({ ...base, flops: i.flops, bytes: i.bytes }, m, ceilings), vars: base.vars, overrides: ov, flops: i.flops, bytes: i.bytes };
          log(`  ${r.ms!.toFixed(4)} ms${r.msCI ? ` [${r.msCI[0].toFixed(4)}, ${r.msCI[1].toFixed(4)}]` : ''}, ${i.flops > 0 ? `${r.gflops!.toFixed(2)} GFLOP/s` : `${r.gbps!.toFixed(2)} GB/s`}`);
          results.push(r);
        } catch (e) {
          await engine.sync().catch(() => undefined);
          if (e instanceof SpecError) throw e;
          log(`  error: ${firstLine(e)}`);
          results.push(empty(`error: ${firstLine(e)}`));
        } finally {
          try {
            inst?.dispose();
          } catch {
            /* nothing to release */
          }
        }
      }
    }
    rankByShape(results);
    return {
      kind: 'kernel-file',
      spec: { name, entry: spec.entry, check: typeof spec.check === 'function' ? 'function' : `like ${spec.check.like}` },
      adapter: describeEngine(engine),
      timing: timer ? 'timestamp' : 'wallclock',
      ceilings,
      results,
      unavailable: [],
    };
  } finally {
    timer?.dispose();
  }
}
