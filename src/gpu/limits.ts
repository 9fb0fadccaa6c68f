/**
 * The device limits tok1d sizes its work by, in one place: the flat workgroup size the kernels take
 * from the device (FLAT_WG, kernels/flat.wgsl), the dispatch and loop limits the ops split work
 * around, and the least value of each limit the kernels cannot do without. An engine refuses at
 * creation a device below those minimums (checkDeviceLimits); a tensor larger than the device's
 * buffer or binding size is refused when it is uploaded or allocated (tensorLimitError), so a model
 * too large for the device is refused while it loads. Each says which limit, the device's value, the
 * value needed and how to ask for it, in one line.
 */

/** The limits tok1d reads, by their GPUSupportedLimits names. */
export type LimitName =
  | 'maxComputeInvocationsPerWorkgroup'
  | 'maxComputeWorkgroupSizeX'
  | 'maxComputeWorkgroupSizeY'
  | 'maxComputeWorkgroupSizeZ'
  | 'maxComputeWorkgroupStorageSize'
  | 'maxComputeWorkgroupsPerDimension'
  | 'maxStorageBuffersPerShaderStage'
  | 'maxStorageTexturesPerShaderStage'
  | 'maxSampledTexturesPerShaderStage'
  | 'maxUniformBufferBindingSize'
  | 'maxStorageBufferBindingSize'
  | 'maxBufferSize'
  | 'maxTextureDimension2D';

export type Limits = Pick<GPUSupportedLimits, LimitName>;

/** Largest workgroup count per dimension the ops dispatch (the WebGPU default; grid() splits past it). */
export const MAX_GROUPS = 65535;

/**
 * Loop trips one invocation may run, over all loops of its shader together. llvmpipe silently stops
 * looping after 65535 trips per invocation (and then returns wrong numbers, with no error); the ops
 * split long loops over invocations or dispatches to stay within this budget, with margin.
 */
export const LOOP_TRIP_CAP = 65535;
/** The share of LOOP_TRIP_CAP an op plans its loops for: half of it, room for the fixed loops around them. */
export const LOOP_BUDGET = 32768;

/** FLAT_WG where the device allows it: the size the kernels were tuned at. */
export const FLAT_WG_PREFERRED = 256;

/**
 * Invocations per workgroup of the fixed-size entry points (attention, codebook search, pixel
 * conversion, the row layouts of layernorm, softmax and l2normalize), along x; also the most a
 * matmul tile uses.
 */
export const FIXED_WG = 64;

/**
 * The least value of each limit the kernels need, whatever the model, and what needs it. Every
 * WebGPU device meets these (its limits are at least the defaults of its feature level), so only a
 * non-conforming implementation, or a device wrapped to report less, falls below them.
 * Texture counts are the most any one entry point binds; the storage-buffer count is the most any
 * entry point binds once the read-only inputs of one that binds more than the device allows are
 * packed into one buffer (src/gpu/storage-packing.ts). test/limits.test.ts counts them over
 * kernels/*.wgsl and checks these figures.
 */
export const MINIMUM_LIMITS: readonly { limit: LimitName; min: number; why: string }[] = [
  { limit: 'maxComputeInvocationsPerWorkgroup', min: FIXED_WG, why: 'the 64-invocation workgroups of attention, codebook search and matmul tiles' },
  { limit: 'maxComputeWorkgroupSizeX', min: FIXED_WG, why: 'the 64-invocation workgroups, along x' },
  { limit: 'maxComputeWorkgroupSizeY', min: 8, why: 'the 8×8 workgroups of matmul tiles and texture packing' },
  { limit: 'maxComputeWorkgroupStorageSize', min: 4 * FIXED_WG, why: 'the workgroup reductions, one f32 per invocation' },
  { limit: 'maxComputeWorkgroupsPerDimension', min: MAX_GROUPS, why: 'grids split at 65535 workgroups per dimension' },
  { limit: 'maxStorageBuffersPerShaderStage', min: 4, why: 'the most storage bindings of an entry point once its read-only inputs are packed into one buffer' },
  { limit: 'maxStorageTexturesPerShaderStage', min: 4, why: 'packing both matmul operands into textures' },
  { limit: 'maxSampledTexturesPerShaderStage', min: 2, why: 'matmul and codebook search reading textures' },
  { limit: 'maxUniformBufferBindingSize', min: 256, why: "each dispatch's 256-byte parameter block" },
];

/** A device (or a model on it) that needs a limit raised: the message names it and what to request. */
export class LimitError extends Error {
  override name = 'LimitError';
  constructor(
    readonly limit: LimitName,
    readonly have: number,
    readonly need: number,
    why: string,
  ) {
    super(
      `this GPU device's ${limit} is ${have}; tok1d needs at least ${need} (${why}). ` +
        `Request the device with requiredLimits: { ${limit}: ${need} } or more (within adapter.limits), or let tok1d create its own device`,
    );
  }
}

/** Largest power of two ≤ n (n ≥ 1). */
function floorPow2(n: number): number {
  return 2 ** Math.floor(Math.log2(Math.max(1, n)));
}

/**
 * FLAT_WG for a device: 256 where its limits allow it, else the largest power of two within
 * maxComputeInvocationsPerWorkgroup, maxComputeWorkgroupSizeX and the workgroup storage the
 * reduction array takes (4 bytes per invocation). 128 on compatibility-mode default limits.
 */
export function flatWorkgroupSize(limits: Limits): number {
  const cap = Math.min(FLAT_WG_PREFERRED, limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX, Math.floor(limits.maxComputeWorkgroupStorageSize / 4));
  return floorPow2(cap);
}

/** The first limit of MINIMUM_LIMITS the device falls below, as an error; null when it meets them all. */
export function deviceLimitError(limits: Limits): LimitError | null {
  for (const { limit, min, why } of MINIMUM_LIMITS) if (limits[limit] < min) return new LimitError(limit, limits[limit], min, why);
  return null;
}

/** Throws deviceLimitError's error, if any. */
export function checkDeviceLimits(limits: Limits): void {
  const err = deviceLimitError(limits);
  if (err) throw err;
}

/**
 * The first of maxBufferSize and maxStorageBufferBindingSize below `bytes`, as an error naming
 * `what` (a tensor the kernels bind whole), or null. Engine.upload checks every tensor it uploads, so
 * a model's parameters too large for the device are refused while it loads, and the ops check their
 * outputs before allocating them (checkBindable).
 */
export function tensorLimitError(limits: Limits, what: string, bytes: number): LimitError | null {
  if (limits.maxBufferSize < bytes) return new LimitError('maxBufferSize', limits.maxBufferSize, bytes, what);
  if (limits.maxStorageBufferBindingSize < bytes) return new LimitError('maxStorageBufferBindingSize', limits.maxStorageBufferBindingSize, bytes, what);
  return null;
}

/**
 * The error for the largest of a model's parameters (name → element count) when it exceeds the
 * device's buffer or binding size, or null: Tokenizer.load checks the whole model before uploading
 * any of it, so the value it names is the one that lets every parameter fit.
 */
export function parametersLimitError(limits: Limits, params: Iterable<[string, number]>): LimitError | null {
  const largest = largestParameter(params);
  return largest ? tensorLimitError(limits, largestWhy(largest), largest.bytes) : null;
}

/** One limit tok1d needs: the value needed, the device's, and what needs it. */
export interface LimitNeed {
  limit: LimitName;
  need: number;
  have: number;
  ok: boolean;
  why: string;
}

/**
 * What tok1d needs of a device's limits, each against the device's value: MINIMUM_LIMITS and, given
 * a model's parameters (name → element count), its largest parameter as one buffer and binding.
 * tok1d doctor prints them.
 */
export function limitNeeds(limits: Limits, params?: Iterable<[string, number]>): LimitNeed[] {
  const need = (limit: LimitName, n: number, why: string): LimitNeed => ({ limit, need: n, have: limits[limit], ok: limits[limit] >= n, why });
  const out = MINIMUM_LIMITS.map(({ limit, min, why }) => need(limit, min, why));
  const largest = params ? largestParameter(params) : null;
  if (largest) for (const limit of ['maxStorageBufferBindingSize', 'maxBufferSize'] as const) out.push(need(limit, largest.bytes, largestWhy(largest)));
  return out;
}

/** The limits of limitNeeds the device falls short of, as errors (each names what to request). */
export function limitsToRaise(limits: Limits, params?: Iterable<[string, number]>): LimitError[] {
  return limitNeeds(limits, params)
    .filter((n) => !n.ok)
    .map((n) => new LimitError(n.limit, n.have, n.need, n.why));
}

/** The largest of a model's parameters (name → element count), in bytes of f32. */
export function largestParameter(params: Iterable<[string, number]>): { name: string; bytes: number } | null {
  let best: { name: string; bytes: number } | null = null;
  for (const [name, n] of params) if (!best || 4 * n > best.bytes) best = { name, bytes: 4 * n };
  return best;
}

function largestWhy(p: { name: string; bytes: number }): string {
  return `the model's largest parameter, ${p.name}, is ${p.bytes} bytes of f32`;
}

/**
 * `device` behind a proxy that reports its limits with some replaced (what tok1d sees of an
 * application's device that asked for less) and hands every other call to the device; `intercept`
 * may take over named methods. For tests and the bench: Dawn grants no device below its defaults.
 */
export function withLimits(device: GPUDevice, over: Partial<Limits>, intercept: Record<string, unknown> = {}): GPUDevice {
  const merged: Record<string, number> = {};
  const real = device.limits as unknown as Record<string, number>;
  for (const k in real) merged[k] = real[k]!;
  Object.assign(merged, over);
  return new Proxy(device, {
    get(target, key) {
      if (key === 'limits') return merged;
      if (typeof key === 'string' && key in intercept) return intercept[key];
      const v = (target as unknown as Record<string | symbol, unknown>)[key];
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
