/**
 * Checkpoints in the safetensors format (as written by PyTorch's `safetensors` package):
 *
 *   u64 LE header length N | N bytes of JSON header | raw little-endian tensor data
 *
 * The header maps each tensor name to {dtype, shape, data_offsets: [start, end]} (offsets relative
 * to the start of the data) and holds string metadata under "__metadata__". tok1d writes the tensors
 * in paramSpecs order, contiguous, with the header padded by trailing spaces so the data starts at a
 * multiple of 8 bytes; the model configuration travels as JSON in __metadata__.tok1d_config, next to
 * format: "tok1d". Values are stored as F32 or F16 (round to nearest even) and always come back as
 * Float32Array.
 *
 * This module holds the format only (bytes in, bytes out) and imports nothing from Node, so the
 * browser bundle shares it; file I/O (atomic saves, loading a path) lives in checkpoint.ts.
 */
import { encodeSafetensors, f16ToF32, f32ToF16, halfTable, type NamedTensor } from '../io/safetensors.js';
import { paramSpecs, type ModelConfig } from './config.js';

/** A user-facing problem with a checkpoint (bad file, wrong model, unwritable target). */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

export type CheckpointDType = 'f32' | 'f16';

export interface SaveCheckpointOptions {
  /** Storage type (default f32). F16 refuses values whose magnitude rounds to infinity. */
  dtype?: CheckpointDType;
  /** Extra string metadata (the keys `format` and `tok1d_config` are reserved). */
  metadata?: Record<string, string>;
  /** Called after each chunk reaches the temporary file; an exception aborts the save. */
  onProgress?: (written: number, total: number) => void | Promise<void>;
}

export interface ParsedCheckpoint {
  config: ModelConfig;
  /** Every parameter by name, in paramSpecs order. */
  params: Map<string, Float32Array>;
  /** The whole __metadata__ map (format and tok1d_config included). */
  metadata: Record<string, string>;
  /** Storage dtype per tensor (safetensors spelling, e.g. "F32"). */
  dtypes: Map<string, StoredDType>;
}

/** Largest header accepted (the format's own reference implementation uses the same bound). */
export const MAX_HEADER_BYTES = 100_000_000;
export const FORMAT_NAME = 'tok1d';
const CONFIG_KEY = 'tok1d_config';

// ---------------------------------------------------------------- configuration

/** ModelConfig fields with their JSON types, in canonical (sorted) order. */
const CONFIG_FIELDS: readonly [keyof ModelConfig, 'int' | 'number' | 'boolean'][] = [
  ['beta', 'number'],
  ['codeDim', 'int'],
  ['codebookSize', 'int'],
  ['cosine', 'boolean'],
  ['decoderDepth', 'int'],
  ['encoderDepth', 'int'],
  ['eps', 'number'],
  ['heads', 'int'],
  ['imageSize', 'int'],
  ['mlpRatio', 'int'],
  ['patch', 'int'],
  ['width', 'int'],
];

/** The configuration as JSON with sorted keys and only the known fields (stable across versions). */
export function canonicalConfigJson(config: ModelConfig): string {
  const o: Record<string, unknown> = {};
  for (const [k] of CONFIG_FIELDS) o[k] = config[k];
  return JSON.stringify(o);
}

/** Checks a configuration read from a file; throws CheckpointError naming the bad field. */
export function validateConfig(value: unknown, what = 'config'): ModelConfig {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new CheckpointError(`${what}: not a JSON object`);
  const v = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, type] of CONFIG_FIELDS) {
    const x = v[k];
    const ok =
      type === 'boolean'
        ? typeof x === 'boolean'
        : typeof x === 'number' && Number.isFinite(x) && (type === 'number' ? x >= 0 : Number.isInteger(x) && (x > 0 || ((k === 'encoderDepth' || k === 'decoderDepth') && x === 0)));
    if (!ok) throw new CheckpointError(`${what}: field ${k} is ${JSON.stringify(x)}, expected ${type === 'int' ? 'a positive integer' : type === 'number' ? 'a non-negative number' : 'a boolean'}`);
    out[k] = x;
  }
  const c = out as unknown as ModelConfig;
  if (c.imageSize % c.patch !== 0) throw new CheckpointError(`${what}: imageSize ${c.imageSize} is not a multiple of patch ${c.patch}`);
  if (c.width % c.heads !== 0) throw new CheckpointError(`${what}: width ${c.width} is not a multiple of heads ${c.heads}`);
  return c;
}

/** The fields in which two configurations differ, as "name: a vs b" (empty when equal). */
export function configDifferences(a: ModelConfig, b: ModelConfig): string[] {
  return CONFIG_FIELDS.filter(([k]) => a[k] !== b[k]).map(([k]) => `${k}: ${JSON.stringify(a[k])} vs ${JSON.stringify(b[k])}`);
}

// ---------------------------------------------------------------- float16

export { f32ToF16, f16ToF32 };

/** Largest magnitude that rounds to a finite half (65504 = max; 65520 rounds to Inf). */
const F16_LIMIT = 65520;

// ---------------------------------------------------------------- serialize

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function checkParams(config: ModelConfig, params: ReadonlyMap<string, Float32Array>, dtype: CheckpointDType): void {
  const specs = paramSpecs(config);
  const known = new Set(specs.map((s) => s.name));
  for (const name of params.keys()) if (!known.has(name)) throw new CheckpointError(`unknown parameter ${name} (not in the model configuration)`);
  for (const s of specs) {
    const data = params.get(s.name);
    if (!data) throw new CheckpointError(`missing parameter ${s.name}`);
    const n = s.shape.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new CheckpointError(`parameter ${s.name}: ${data.length} values, expected shape [${s.shape.join(', ')}] (${n})`);
    for (let i = 0; i < n; i++) {
      const x = data[i]!;
      if (!Number.isFinite(x)) throw new CheckpointError(`parameter ${s.name}: non-finite value ${x} at index ${i}`);
      if (dtype === 'f16' && Math.abs(x) >= F16_LIMIT) throw new CheckpointError(`parameter ${s.name}: value ${x} at index ${i} overflows float16 (max 65504); save as f32`);
    }
  }
}

/** The checkpoint file's bytes (see the module comment for the layout). */
export function serializeCheckpoint(config: ModelConfig, params: ReadonlyMap<string, Float32Array>, opts: SaveCheckpointOptions = {}): Uint8Array {
  const dtype = opts.dtype ?? 'f32';
  if (dtype !== 'f32' && dtype !== 'f16') throw new CheckpointError(`unsupported checkpoint dtype ${String(dtype)} (f32 or f16)`);
  validateConfig(JSON.parse(canonicalConfigJson(config)));
  checkParams(config, params, dtype);
  const extra = opts.metadata ?? {};
  for (const [k, v] of Object.entries(extra)) {
    if (k === 'format' || k === CONFIG_KEY) throw new CheckpointError(`metadata key ${k} is reserved`);
    if (typeof v !== 'string') throw new CheckpointError(`metadata ${k} must be a string`);
  }
  const metadata: Record<string, string> = { ...extra, format: FORMAT_NAME, [CONFIG_KEY]: canonicalConfigJson(config) };

  const tensors = new Map<string, NamedTensor>();
  for (const s of paramSpecs(config)) tensors.set(s.name, { shape: s.shape, data: params.get(s.name)!, dtype: dtype === 'f32' ? 'F32' : 'F16' });
  return encodeSafetensors(tensors, metadata);
}

// ---------------------------------------------------------------- parse

/** Storage types read from safetensors files. */
export type StoredDType = 'F32' | 'F16' | 'BF16';

interface Entry {
  name: string;
  dtype: StoredDType;
  start: number;
  end: number;
}

/**
 * Reads checkpoint bytes. With `expected`, the stored configuration must equal it (the error lists
 * the differing fields). Every problem is a CheckpointError naming the tensor or field concerned.
 */
export function parseCheckpoint(bytes: Uint8Array, expected?: ModelConfig): ParsedCheckpoint {
  const { header: h, metadata, dataStart } = readSafetensorsHeader(bytes);
  let config: ModelConfig;
  const stored = metadata[CONFIG_KEY];
  if (stored !== undefined) {
    let obj: unknown;
    try {
      obj = JSON.parse(stored);
    } catch (e) {
      throw new CheckpointError(`__metadata__.${CONFIG_KEY} is not valid JSON: ${(e as Error).message}`);
    }
    config = validateConfig(obj, `checkpoint ${CONFIG_KEY}`);
    if (expected) {
      const diff = configDifferences(expected, config);
      if (diff.length) throw new CheckpointError(`checkpoint is for another model configuration (expected vs stored: ${diff.join('; ')})`);
    }
  } else if (expected) {
    config = expected;
  } else {
    throw new CheckpointError(`checkpoint has no __metadata__.${CONFIG_KEY} (model configuration); pass the expected configuration`);
  }
  const { params, dtypes } = readSafetensorsTensors(bytes, h, dataStart, paramSpecs(config), 'not a parameter of this model configuration');
  return { config, params, metadata, dtypes };
}

/** A safetensors header: the JSON object, its string metadata and where the data starts. */
export interface SafetensorsHeader {
  header: Record<string, unknown>;
  metadata: Record<string, string>;
  dataStart: number;
}

/** Reads and checks the header of safetensors bytes; every problem is a CheckpointError. */
export function readSafetensorsHeader(bytes: Uint8Array): SafetensorsHeader {
  if (bytes.length < 8) throw new CheckpointError(`not a checkpoint: ${bytes.length} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  const n = hi * 2 ** 32 + lo;
  if (n > MAX_HEADER_BYTES) throw new CheckpointError(`bad header length ${n} (more than ${MAX_HEADER_BYTES} bytes): not a safetensors file`);
  if (n < 2 || 8 + n > bytes.length) throw new CheckpointError(`bad header length ${n} for a ${bytes.length}-byte file (truncated or not a safetensors file)`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw new CheckpointError(`checkpoint header is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new CheckpointError('checkpoint header is not a JSON object');
  const h = header as Record<string, unknown>;
  const metadata: Record<string, string> = {};
  const rawMeta = h.__metadata__;
  if (rawMeta !== undefined) {
    if (typeof rawMeta !== 'object' || rawMeta === null || Array.isArray(rawMeta)) throw new CheckpointError('__metadata__ is not an object');
    for (const [k, v] of Object.entries(rawMeta)) {
      if (typeof v !== 'string') throw new CheckpointError(`__metadata__.${k} is not a string`);
      metadata[k] = v;
    }
  }
  return { header: h, metadata, dataStart: 8 + n };
}

/**
 * The tensors `specs` names, decoded to Float32Array (F32, F16 or BF16 storage), after checking that
 * the header has exactly those tensors, with those shapes, in non-overlapping ranges of the data,
 * and that every value is finite. `unknownWhy` ends the message for a tensor not in `specs`.
 */
export function readSafetensorsTensors(
  bytes: Uint8Array,
  h: Record<string, unknown>,
  dataStart: number,
  specs: readonly { name: string; shape: readonly number[] }[],
  unknownWhy: string,
): { params: Map<string, Float32Array>; dtypes: Map<string, StoredDType> } {
  const dataLen = bytes.length - dataStart;
  const specByName = new Map(specs.map((s) => [s.name, s]));
  for (const name of Object.keys(h)) {
    if (name !== '__metadata__' && !specByName.has(name)) throw new CheckpointError(`unknown tensor ${name} in checkpoint (${unknownWhy})`);
  }
  const entries: Entry[] = [];
  for (const s of specs) {
    const raw = h[s.name];
    if (raw === undefined) throw new CheckpointError(`missing tensor ${s.name} (expected shape [${s.shape.join(', ')}])`);
    if (typeof raw !== 'object' || raw === null) throw new CheckpointError(`tensor ${s.name}: header entry is not an object`);
    const { dtype, shape, data_offsets: offs } = raw as Record<string, unknown>;
    if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16') throw new CheckpointError(`tensor ${s.name}: dtype ${JSON.stringify(dtype)} is not supported (expected F32, F16 or BF16)`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0))
      throw new CheckpointError(`tensor ${s.name}: bad shape ${JSON.stringify(shape)}`);
    if (shape.length !== s.shape.length || shape.some((d, i) => d !== s.shape[i]))
      throw new CheckpointError(`tensor ${s.name}: shape mismatch, expected [${s.shape.join(', ')}], got [${shape.join(', ')}]`);
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0))
      throw new CheckpointError(`tensor ${s.name}: bad data_offsets ${JSON.stringify(offs)}`);
    const [start, end] = offs as [number, number];
    const want = (shape as number[]).reduce((a, b) => a * b, 1) * (dtype === 'F32' ? 4 : 2);
    if (end < start || end - start !== want) throw new CheckpointError(`tensor ${s.name}: data_offsets [${start}, ${end}] cover ${end - start} bytes, expected ${want} for ${dtype} [${shape.join(', ')}]`);
    if (end > dataLen) throw new CheckpointError(`tensor ${s.name}: data_offsets [${start}, ${end}] exceed the ${dataLen} bytes of data (truncated file?)`);
    entries.push({ name: s.name, dtype, start, end });
  }
  const sorted = [...entries].sort((a, b) => a.start - b.start || a.end - b.end);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!;
    const b = sorted[i]!;
    if (b.start < a.end) throw new CheckpointError(`tensors ${a.name} and ${b.name} overlap in the data`);
  }

  const params = new Map<string, Float32Array>();
  const dtypes = new Map<string, StoredDType>();
  for (const e of entries) {
    const src = bytes.subarray(dataStart + e.start, dataStart + e.end);
    let out: Float32Array;
    if (e.dtype === 'F32') {
      if (LITTLE_ENDIAN) {
        // Copy into a fresh aligned buffer (Buffer.slice would share the file's memory).
        const copy = new Uint8Array(src.length);
        copy.set(src);
        out = new Float32Array(copy.buffer);
      } else {
        out = new Float32Array(src.length / 4);
        const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
        for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(4 * i, true);
      }
    } else if (e.dtype === 'F16') {
      const table = halfTable();
      out = new Float32Array(src.length / 2);
      for (let i = 0; i < out.length; i++) out[i] = table[src[2 * i]! | (src[2 * i + 1]! << 8)]!;
    } else {
      // bfloat16: the high half of an f32.
      const bits = new Uint32Array(src.length / 2);
      for (let i = 0; i < bits.length; i++) bits[i] = ((src[2 * i]! | (src[2 * i + 1]! << 8)) << 16) >>> 0;
      out = new Float32Array(bits.buffer);
    }
    for (let i = 0; i < out.length; i++) {
      if (!Number.isFinite(out[i]!)) throw new CheckpointError(`tensor ${e.name}: non-finite value ${out[i]} at index ${i}`);
    }
    params.set(e.name, out);
    dtypes.set(e.name, e.dtype);
  }
  return { params, dtypes };
}
