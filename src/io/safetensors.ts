/**
 * The safetensors container, for any set of named F32 tensors: 8-byte little-endian header length,
 * a JSON header ({name: {dtype, shape, data_offsets}}, plus string `__metadata__`) padded with spaces
 * to a multiple of 8, then the raw little-endian data. Used for training state (weights, optimizer
 * moments, EMA, code usage); model checkpoints add their own checks on top (model/checkpoint.ts).
 */

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

export interface NamedTensor {
  shape: readonly number[];
  data: Float32Array;
  /** Storage type when encoding (default F32; F16 rounds to nearest even). */
  dtype?: 'F32' | 'F16';
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------- float16

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE binary16 bits of a float32 value, rounding to nearest even (overflow → ±Inf, NaN kept). */
export function f32ToF16(x: number): number {
  f32[0] = x;
  return f32BitsToF16(u32[0]!);
}

export function f32BitsToF16(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const exp = (f >>> 23) & 0xff;
  const mant = f & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  if (exp > 142) return sign | 0x7c00; // ≥ 2^16: beyond the largest finite half even before rounding
  if (exp >= 113) {
    // Normal half (unbiased exponent −14…15): drop 13 mantissa bits; a carry moves into the exponent
    // (and from 0x7bff to 0x7c00 = Inf), which is the correct rounding.
    const r = ((exp - 112) << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    return sign | (rem > 0x1000 || (rem === 0x1000 && r & 1) ? r + 1 : r);
  }
  // Subnormal half: value = m·2^(exp−150) in units of 2^−24 is m >> (126 − exp).
  const shift = 126 - exp;
  if (shift > 24) return sign; // below half the smallest subnormal (ties to even → 0)
  const m = mant | 0x800000;
  const r = m >>> shift;
  const rem = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return sign | (rem > half || (rem === half && r & 1) ? r + 1 : r);
}

/** The float value of IEEE binary16 bits (exact: every half is a float32). */
export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

let f16Table: Float32Array | undefined;
export function halfTable(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16ToF32(h);
  }
  return f16Table;
}


const MAX_HEADER = 100_000_000;

/** Serializes tensors (F32 or F16 storage) in the given order, contiguous, with string metadata. */
export function encodeSafetensors(tensors: ReadonlyMap<string, NamedTensor>, metadata: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, t] of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new SafetensorsError(`tensor ${name}: ${t.data.length} values for shape [${t.shape.join(', ')}]`);
    const width = t.dtype === 'F16' ? 2 : 4;
    header[name] = { dtype: t.dtype ?? 'F32', shape: t.shape, data_offsets: [offset, offset + width * n] };
    offset += width * n;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, json.length, true);
  out.set(json, 8);
  let pos = 8 + json.length;
  for (const t of tensors.values()) {
    const data = t.data;
    if (t.dtype === 'F16') {
      const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
      for (let i = 0; i < data.length; i++) view.setUint16(pos + 2 * i, f32BitsToF16(LITTLE_ENDIAN ? bits[i]! : (f32.fill(data[i]!), u32[0]!)), true);
      pos += 2 * data.length;
    } else {
      if (LITTLE_ENDIAN) out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), pos);
      else for (let i = 0; i < data.length; i++) view.setFloat32(pos + 4 * i, data[i]!, true);
      pos += data.byteLength;
    }
  }
  return out;
}

/** Parses a file written by encodeSafetensors (F32 tensors only), checking every offset. */
export function decodeSafetensors(bytes: Uint8Array): { metadata: Record<string, string>; tensors: Map<string, NamedTensor> } {
  if (bytes.length < 8) throw new SafetensorsError(`${bytes.length} bytes: too short for a safetensors file`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  if (n > MAX_HEADER || 8 + n > bytes.length) throw new SafetensorsError(`bad header length ${n} for a ${bytes.length}-byte file (truncated or not safetensors)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
  } catch (e) {
    throw new SafetensorsError(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new SafetensorsError('header is not a JSON object');
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries((header.__metadata__ ?? {}) as Record<string, unknown>)) {
    if (typeof v !== 'string') throw new SafetensorsError(`__metadata__.${k} is not a string`);
    metadata[k] = v;
  }
  const dataStart = 8 + n;
  const tensors = new Map<string, NamedTensor>();
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets: offs } = (raw ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (dtype !== 'F32') throw new SafetensorsError(`tensor ${name}: dtype ${JSON.stringify(dtype)} (expected F32)`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw new SafetensorsError(`tensor ${name}: bad shape`);
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) throw new SafetensorsError(`tensor ${name}: bad data_offsets`);
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    const [start, end] = offs as [number, number];
    if (end - start !== 4 * count || dataStart + end > bytes.length) throw new SafetensorsError(`tensor ${name}: data_offsets [${start}, ${end}] do not fit (truncated file?)`);
    const copy = new Uint8Array(4 * count);
    copy.set(bytes.subarray(dataStart + start, dataStart + end));
    let data = new Float32Array(copy.buffer);
    if (!LITTLE_ENDIAN) {
      const dv = new DataView(copy.buffer);
      data = Float32Array.from({ length: count }, (_, i) => dv.getFloat32(4 * i, true));
    }
    tensors.set(name, { shape: shape as number[], data });
  }
  return { metadata, tensors };
}
