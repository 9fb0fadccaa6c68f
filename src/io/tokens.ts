/**
 * Token files.
 *
 * JSONL: one record per line, {"file": "<name>", "tokens": [id, ...]}.
 *
 * .tok (binary, little-endian), version 1:
 *   offset  0  magic "TOK1D\0" (6 bytes)
 *           6  version u16 (= 1)
 *           8  config hash (8 bytes: FNV-1a 64 of the canonical config JSON, big-endian, i.e. the
 *              16-hex-digit string read left to right)
 *          16  count u32 (records)
 *          20  tokens per image u32
 *          24  codebook size u32
 *          28  id width u8 (2: uint16 when codebookSize ≤ 65536, else 4: uint32), 3 bytes zero
 *          32  records: name length u16, name (UTF-8), tokensPerImage ids of `id width` bytes each
 * Appending writes the records after the last one, fsyncs, then updates the count in place; a
 * reader finding bytes after `count` records reports an interrupted append (or, with
 * `recover: true`, ignores them).
 */
import { promises as fsp } from 'node:fs';
import { canonicalConfigJson, writeFileAtomic } from '../model/checkpoint.js';
import { tokensPerImage, type AnyModelConfig } from '../model/config.js';
import { isTiTok } from '../model/titok-config.js';

/** A malformed or mismatched token file. */
export class TokenFileError extends Error {
  override name = 'TokenFileError';
}

export interface TokenRecord {
  file: string;
  tokens: Uint32Array;
}

// ---------------------------------------------------------------- config hash

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK64 = (1n << 64n) - 1n;

/** FNV-1a 64 of bytes, as 16 lowercase hex digits. */
export function fnv1a64(bytes: Uint8Array): string {
  let h = FNV_OFFSET;
  for (const b of bytes) h = ((h ^ BigInt(b)) * FNV_PRIME) & MASK64;
  return h.toString(16).padStart(16, '0');
}

/** Identifies a model configuration: FNV-1a 64 of its canonical JSON (16 hex digits). */
export function configHash(config: AnyModelConfig): string {
  const json = isTiTok(config) ? JSON.stringify(config, Object.keys(config).sort()) : canonicalConfigJson(config);
  return fnv1a64(new TextEncoder().encode(json));
}

// ---------------------------------------------------------------- JSONL

export interface TokenCheck {
  /** Every record must have exactly this many ids. */
  tokensPerImage?: number;
  /** Every id must be below this. */
  codebookSize?: number;
}

function checkIds(tokens: ArrayLike<number>, check: TokenCheck, where: string): void {
  if (check.tokensPerImage !== undefined && tokens.length !== check.tokensPerImage)
    throw new TokenFileError(`${where}: ${tokens.length} tokens, expected ${check.tokensPerImage}`);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (!Number.isInteger(t) || t < 0 || t > 0xffffffff) throw new TokenFileError(`${where}: token ${i} is ${t}, not an unsigned 32-bit integer`);
    if (check.codebookSize !== undefined && t >= check.codebookSize) throw new TokenFileError(`${where}: token ${i} is ${t}, outside the codebook (size ${check.codebookSize})`);
  }
}

/** One JSONL line for a record, without the trailing newline. */
export function formatJsonlLine(record: { file: string; tokens: ArrayLike<number> }): string {
  return JSON.stringify({ file: record.file, tokens: Array.from(record.tokens) });
}

/** Parses JSONL text (blank lines skipped); errors name the line. */
export function parseJsonl(text: string, check: TokenCheck = {}): TokenRecord[] {
  const out: TokenRecord[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    const where = `line ${i + 1}`;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new TokenFileError(`${where}: not valid JSON (${(e as Error).message})`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TokenFileError(`${where}: not a JSON object`);
    const { file, tokens } = v as Record<string, unknown>;
    if (typeof file !== 'string') throw new TokenFileError(`${where}: "file" is not a string`);
    if (!Array.isArray(tokens)) throw new TokenFileError(`${where}: "tokens" is not an array`);
    checkIds(tokens as number[], check, `${where}`);
    out.push({ file, tokens: Uint32Array.from(tokens as number[]) });
  }
  return out;
}

export async function readJsonl(path: string, check: TokenCheck = {}): Promise<TokenRecord[]> {
  const text = await fsp.readFile(path, 'utf8');
  try {
    return parseJsonl(text, check);
  } catch (e) {
    if (e instanceof TokenFileError) throw new TokenFileError(`${path}: ${e.message}`);
    throw e;
  }
}

/** Writes records as JSONL (atomically). */
export async function writeJsonl(path: string, records: readonly { file: string; tokens: ArrayLike<number> }[]): Promise<void> {
  const text = records.map((r) => formatJsonlLine(r) + '\n').join('');
  await writeFileAtomic(path, new TextEncoder().encode(text));
}

// ---------------------------------------------------------------- .tok

export const TOK_MAGIC = new Uint8Array([0x54, 0x4f, 0x4b, 0x31, 0x44, 0x00]); // "TOK1D\0"
export const TOK_VERSION = 1;
export const TOK_HEADER_BYTES = 32;
const COUNT_OFFSET = 16;

export interface TokHeader {
  /** configHash() of the model that produced the ids. */
  configHash: string;
  tokensPerImage: number;
  codebookSize: number;
  /** Bytes per id: 2 or 4. */
  idWidth: 2 | 4;
}

/** The header for a model configuration. */
export function tokHeaderFor(config: AnyModelConfig): TokHeader {
  return { configHash: configHash(config), tokensPerImage: tokensPerImage(config), codebookSize: config.codebookSize, idWidth: config.codebookSize <= 65536 ? 2 : 4 };
}

function checkHeader(h: TokHeader): void {
  if (!/^[0-9a-f]{16}$/.test(h.configHash)) throw new TokenFileError(`config hash must be 16 lowercase hex digits, got ${JSON.stringify(h.configHash)}`);
  if (!(Number.isInteger(h.tokensPerImage) && h.tokensPerImage > 0 && h.tokensPerImage <= 0xffffffff)) throw new TokenFileError(`bad tokens per image ${h.tokensPerImage}`);
  if (!(Number.isInteger(h.codebookSize) && h.codebookSize > 0 && h.codebookSize <= 2 ** 32)) throw new TokenFileError(`bad codebook size ${h.codebookSize}`);
  if (h.idWidth !== 2 && h.idWidth !== 4) throw new TokenFileError(`id width must be 2 or 4, got ${h.idWidth}`);
  if (h.idWidth === 2 && h.codebookSize > 65536) throw new TokenFileError(`codebook size ${h.codebookSize} needs 4-byte ids`);
}

function encodeHeader(h: TokHeader, count: number): Uint8Array {
  const out = new Uint8Array(TOK_HEADER_BYTES);
  const dv = new DataView(out.buffer);
  out.set(TOK_MAGIC, 0);
  dv.setUint16(6, TOK_VERSION, true);
  for (let i = 0; i < 8; i++) out[8 + i] = parseInt(h.configHash.slice(2 * i, 2 * i + 2), 16);
  dv.setUint32(COUNT_OFFSET, count, true);
  dv.setUint32(20, h.tokensPerImage, true);
  dv.setUint32(24, h.codebookSize === 2 ** 32 ? 0 : h.codebookSize, true);
  out[28] = h.idWidth;
  return out;
}

function encodeRecords(h: TokHeader, records: readonly TokenRecord[]): Uint8Array {
  const enc = new TextEncoder();
  const names = records.map((r, i) => {
    if (typeof r.file !== 'string') throw new TokenFileError(`record ${i}: file name is not a string`);
    const b = enc.encode(r.file);
    if (b.length > 0xffff) throw new TokenFileError(`record ${i}: file name is ${b.length} bytes of UTF-8, more than 65535`);
    checkIds(r.tokens, { tokensPerImage: h.tokensPerImage, codebookSize: h.codebookSize }, `record ${i} (${r.file})`);
    return b;
  });
  const idBytes = h.tokensPerImage * h.idWidth;
  const total = names.reduce((a, b) => a + 2 + b.length + idBytes, 0);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  let pos = 0;
  records.forEach((r, i) => {
    const name = names[i]!;
    dv.setUint16(pos, name.length, true);
    out.set(name, pos + 2);
    pos += 2 + name.length;
    for (let j = 0; j < h.tokensPerImage; j++) {
      if (h.idWidth === 2) dv.setUint16(pos + 2 * j, r.tokens[j]!, true);
      else dv.setUint32(pos + 4 * j, r.tokens[j]!, true);
    }
    pos += idBytes;
  });
  return out;
}

/** The bytes of a .tok file. */
export function serializeTok(header: TokHeader, records: readonly TokenRecord[]): Uint8Array {
  checkHeader(header);
  if (records.length > 0xffffffff) throw new TokenFileError('too many records for one .tok file');
  const body = encodeRecords(header, records);
  const out = new Uint8Array(TOK_HEADER_BYTES + body.length);
  out.set(encodeHeader(header, records.length), 0);
  out.set(body, TOK_HEADER_BYTES);
  return out;
}

export interface ReadTokOptions {
  /** The model the ids must come from (config hash, tokens per image, codebook size checked). */
  config?: AnyModelConfig;
  /** Ignore bytes after the last counted record (left by an interrupted append). */
  recover?: boolean;
}

function parseHeader(bytes: Uint8Array): { header: TokHeader; count: number } {
  if (bytes.length < TOK_HEADER_BYTES) throw new TokenFileError(`truncated .tok file: ${bytes.length} bytes, the header alone is ${TOK_HEADER_BYTES}`);
  for (let i = 0; i < TOK_MAGIC.length; i++) if (bytes[i] !== TOK_MAGIC[i]) throw new TokenFileError('not a .tok file (bad magic, expected "TOK1D\\0")');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint16(6, true);
  if (version !== TOK_VERSION) throw new TokenFileError(`unsupported .tok version ${version} (this build reads version ${TOK_VERSION})`);
  let hash = '';
  for (let i = 0; i < 8; i++) hash += bytes[8 + i]!.toString(16).padStart(2, '0');
  const cb = dv.getUint32(24, true);
  const width = bytes[28]!;
  const header: TokHeader = { configHash: hash, tokensPerImage: dv.getUint32(20, true), codebookSize: cb === 0 ? 2 ** 32 : cb, idWidth: width as 2 | 4 };
  try {
    checkHeader(header);
  } catch (e) {
    throw new TokenFileError(`bad .tok header: ${(e as Error).message}`);
  }
  return { header, count: dv.getUint32(COUNT_OFFSET, true) };
}

/** Parses a .tok file's bytes. */
export function parseTok(bytes: Uint8Array, opts: ReadTokOptions = {}): { header: TokHeader; records: TokenRecord[] } {
  const { header, count } = parseHeader(bytes);
  if (opts.config) {
    const want = tokHeaderFor(opts.config);
    if (header.configHash !== want.configHash) throw new TokenFileError(`token file is for another model (config hash ${header.configHash}, expected ${want.configHash})`);
    if (header.tokensPerImage !== want.tokensPerImage || header.codebookSize !== want.codebookSize)
      throw new TokenFileError(`token file has ${header.tokensPerImage} tokens of ${header.codebookSize} codes, the model ${want.tokensPerImage} of ${want.codebookSize}`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dec = new TextDecoder('utf-8', { fatal: true });
  const T = header.tokensPerImage;
  const idBytes = T * header.idWidth;
  const records: TokenRecord[] = [];
  let pos = TOK_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    if (pos + 2 > bytes.length) throw new TokenFileError(`truncated .tok file: record ${i} of ${count} is missing`);
    const nameLen = dv.getUint16(pos, true);
    if (pos + 2 + nameLen + idBytes > bytes.length) throw new TokenFileError(`truncated .tok file: record ${i} of ${count} is cut short`);
    let file: string;
    try {
      file = dec.decode(bytes.subarray(pos + 2, pos + 2 + nameLen));
    } catch {
      throw new TokenFileError(`record ${i}: file name is not valid UTF-8`);
    }
    pos += 2 + nameLen;
    const tokens = new Uint32Array(T);
    for (let j = 0; j < T; j++) {
      const id = header.idWidth === 2 ? dv.getUint16(pos + 2 * j, true) : dv.getUint32(pos + 4 * j, true);
      if (id >= header.codebookSize) throw new TokenFileError(`record ${i} (${file}): token ${j} is ${id}, outside the codebook (size ${header.codebookSize})`);
      tokens[j] = id;
    }
    pos += idBytes;
    records.push({ file, tokens });
  }
  if (pos !== bytes.length && !opts.recover)
    throw new TokenFileError(`${bytes.length - pos} bytes after the ${count} records (an interrupted append? read with recover to ignore them)`);
  return { header, records };
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return await fsp.readFile(path);
  } catch (e) {
    throw new TokenFileError(`cannot read ${path}: ${(e as Error).message}`);
  }
}

export async function readTokFile(path: string, opts: ReadTokOptions = {}): Promise<{ header: TokHeader; records: TokenRecord[] }> {
  const bytes = await readBytes(path);
  try {
    return parseTok(bytes, opts);
  } catch (e) {
    if (e instanceof TokenFileError) throw new TokenFileError(`${path}: ${e.message}`);
    throw e;
  }
}

/** Writes a whole .tok file atomically (temporary file, fsync, rename). */
export async function writeTokFile(path: string, header: TokHeader, records: readonly TokenRecord[]): Promise<void> {
  await writeFileAtomic(path, serializeTok(header, records));
}

/**
 * Appends records to a .tok file, creating it when missing. The existing header must match. The
 * records are written and fsynced before the count is updated, so an interruption leaves a file
 * whose counted records are intact (trailing bytes are reported, or dropped with `recover`).
 */
export async function appendTokFile(path: string, header: TokHeader, records: readonly TokenRecord[]): Promise<void> {
  checkHeader(header);
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path, 'r+');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return writeTokFile(path, header, records);
    throw new TokenFileError(`cannot open ${path}: ${(e as Error).message}`);
  }
  try {
    const bytes = await fh.readFile();
    let existing: { header: TokHeader; records: TokenRecord[] };
    try {
      existing = parseTok(bytes, { recover: true });
    } catch (e) {
      throw new TokenFileError(`${path}: ${(e as Error).message}`);
    }
    const h = existing.header;
    if (h.configHash !== header.configHash || h.tokensPerImage !== header.tokensPerImage || h.codebookSize !== header.codebookSize || h.idWidth !== header.idWidth)
      throw new TokenFileError(`${path}: header differs (file: ${JSON.stringify(h)}, appending: ${JSON.stringify(header)})`);
    const count = existing.records.length + records.length;
    if (count > 0xffffffff) throw new TokenFileError(`${path}: too many records`);
    // The end of the counted records (trailing bytes of an interrupted append get overwritten).
    const end = serializeTok(h, existing.records).length;
    const body = encodeRecords(h, records);
    await fh.write(body, 0, body.length, end);
    await fh.truncate(end + body.length);
    await fh.sync();
    const c = new Uint8Array(4);
    new DataView(c.buffer).setUint32(0, count, true);
    await fh.write(c, 0, 4, COUNT_OFFSET);
    await fh.sync();
  } finally {
    await fh.close();
  }
}
