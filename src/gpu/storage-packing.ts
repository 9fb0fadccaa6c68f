/**
 * Storage-buffer packing: running an entry point that binds more storage buffers than the device's
 * maxStorageBuffersPerShaderStage (4 on WebGPU's compatibility-mode defaults; the kernels bind up to
 * 7). The engine asks packingPlan() once per kernel entry point; where the entry point fits, nothing
 * changes. Where it does not, several of its read-only inputs (`var<storage, read> x: array<T>`) are
 * merged, per dispatch, into one scratch buffer:
 *
 * - packedSource() derives the WGSL of the variant: the functions the entry point reaches read
 *   `x[i]` as `tok1d_packed[tok1d_at[k].x + u32(i)]` (or through a load function that bitcasts, when
 *   the merged inputs differ in element type and the packed array is `array<u32>`), and
 *   `arrayLength(&x)` as `tok1d_at[k].y`; `tok1d_at` is a small uniform of element offsets and
 *   lengths. Any other use of a merged input (a pointer to it, a local that shadows it) is refused
 *   when the pipeline is created, naming the kernel, entry point and input.
 * - StoragePacker records, before the dispatch in the same command encoder, the copies of those
 *   inputs into a scratch buffer (16-byte aligned offsets), writes the uniform, and returns the bind
 *   group entries with the merged ones replaced.
 *
 * Which inputs merge is chosen per dispatch: the fewest that bring the count within the limit, the
 * smallest by bound bytes (so the least is copied). Read-write outputs are never merged: no entry
 * point of kernels/ writes more than 3 storage buffers (test/limits.test.ts checks it), so one
 * packed input beside them always fits 4.
 */
import { BufferPool } from './pool.js';
import { LimitError } from './limits.js';
import { entryBindings, parseWgsl, reachableFunctions, type WgslBinding } from './wgsl-bindings.js';

/** An entry point that binds too many storage buffers: which inputs may merge, and how many must. */
export interface PackingPlan {
  kernel: string;
  entry: string;
  /** Read-only `array<T>` inputs the rewrite can merge, by binding number. */
  candidates: readonly WgslBinding[];
  /** How many of them one dispatch merges: the storage count drops by merge − 1. */
  merge: number;
}

/** A variant that cannot be made: names the kernel, entry point and the reason. */
export class StoragePackingError extends Error {
  override name = 'StoragePackingError';
}

/** Element types a merged input may have: scalars and 2- or 4-vectors of 32-bit numbers. */
const ELEMENT = /^(?:(f32|u32|i32)|vec([24])(?:<\s*(f32|u32|i32)\s*>|([fui])))$/;

/** `array<T>` with T a supported element: its normalized name, scalar type and width; else null. */
export function elementOf(type: string): { name: string; scalar: string; width: number } | null {
  const a = /^array\s*<\s*(.+?)\s*>$/.exec(type.trim());
  const m = a && ELEMENT.exec(a[1]!.replace(/\s+/g, ''));
  if (!m) return null;
  if (m[1]) return { name: m[1], scalar: m[1], width: 1 };
  const scalar = m[3] ?? { f: 'f32', u: 'u32', i: 'i32' }[m[4]!]!;
  return { name: `vec${m[2]}<${scalar}>`, scalar, width: Number(m[2]) };
}

/**
 * The packing an entry point needs under `limit` storage buffers per stage, or null when it fits.
 * Throws StoragePackingError when merging its read-only inputs cannot bring it within the limit.
 */
export function packingPlan(source: string, kernel: string, entry: string, limit: number): PackingPlan | null {
  const mod = parseWgsl(source);
  const storage = entryBindings(mod, entry).filter((b) => b.kind === 'storage');
  const count = new Set(storage.map((b) => b.binding)).size;
  if (count <= limit) return null;
  const candidates = storage.filter((b) => b.access === 'read' && elementOf(b.type)).sort((a, b) => a.binding - b.binding);
  const merge = count - limit + 1;
  if (candidates.length < merge)
    throw new StoragePackingError(
      `${kernel}:${entry} binds ${count} storage buffers and the device allows ${limit}; only ${candidates.length} of them (${candidates.map((b) => b.name).join(', ') || 'none'}) are read-only arrays that can share one buffer, ${merge} would have to`,
    );
  return { kernel, entry, candidates, merge };
}

/**
 * The inputs of a plan to merge for one dispatch, given each candidate's bound bytes: the `merge`
 * smallest (ties by binding number), as binding numbers in increasing order.
 */
export function choosePacked(plan: PackingPlan, bytesOf: (binding: number) => number): number[] {
  return plan.candidates
    .map((b) => ({ binding: b.binding, bytes: bytesOf(b.binding) }))
    .sort((a, b) => a.bytes - b.bytes || a.binding - b.binding)
    .slice(0, plan.merge)
    .map((c) => c.binding)
    .sort((a, b) => a - b);
}

/** A derived source: its WGSL and how to bind it. */
export interface PackedVariant {
  code: string;
  /** Binding number of the packed `array` and of the offsets uniform. */
  packedBinding: number;
  headerBinding: number;
  /** Bytes per element of the packed array (offsets and lengths are in these units). */
  unit: number;
  /** The merged inputs in the uniform's order: binding number and bytes per element. */
  inputs: readonly { binding: number; elementBytes: number }[];
}

const PREFIX = 'tok1d_';

/**
 * The WGSL of `entry` with the inputs at binding numbers `merged` read from one packed buffer (see
 * the module comment). Only the functions the entry point reaches are rewritten; the rest of the
 * module, the original declarations included, stays as it is (unused by this pipeline).
 */
export function packedSource(source: string, kernel: string, entry: string, merged: readonly number[]): PackedVariant {
  const where = `${kernel}:${entry}`;
  const mod = parseWgsl(source);
  const fail = (why: string): never => {
    throw new StoragePackingError(`storage packing of ${where}: ${why}`);
  };
  if (!mod.functions.get(entry)?.entry) fail('no such compute entry point');
  if (new RegExp(`\\b${PREFIX}`).test(mod.text)) fail(`the source already uses the prefix ${PREFIX}`);
  const used = entryBindings(mod, entry);
  const inputs = merged.map((n) => {
    const b = used.find((u) => u.kind === 'storage' && u.binding === n);
    if (!b) return fail(`binding ${n} is not a storage buffer the entry point uses`);
    const el = b.access === 'read' ? elementOf(b.type) : null;
    if (!el) return fail(`${b.name} (@binding(${n})) is not a read-only array of 32-bit scalars or 2-/4-vectors`);
    return { ...b, el };
  });
  const typed = inputs.every((i) => i.el.name === inputs[0]!.el.name);
  const unitType = typed ? inputs[0]!.el.name : 'u32';
  const unit = typed ? 4 * inputs[0]!.el.width : 4;
  const top = Math.max(...[...mod.bindings.values()].map((b) => b.binding));
  const packedBinding = top + 1;
  const headerBinding = top + 2;
  const packed = `${PREFIX}packed`;
  const at = `${PREFIX}at`;
  const index = new Map(inputs.map((i, k) => [i.name, k]));

  const read = (name: string, expr: string): string => {
    const k = index.get(name)!;
    return typed ? `${packed}[${at}[${k}].x + u32(${expr})]` : `${PREFIX}load_${name}(u32(${expr}))`;
  };
  /** `text` with every use of a merged input rewritten; inner index expressions first. */
  const rewrite = (text: string, fn: string): string => {
    let out = '';
    let i = 0;
    const ident = /\b[A-Za-z_]\w*\b/g;
    while (i < text.length) {
      ident.lastIndex = i;
      const m = ident.exec(text);
      if (!m) break;
      out += text.slice(i, m.index);
      i = m.index + m[0].length;
      const len = m[0] === 'arrayLength' ? /^arrayLength\s*\(\s*&\s*(\w+)\s*\)/.exec(text.slice(m.index)) : null;
      if (len && index.has(len[1]!)) {
        out += `${at}[${index.get(len[1]!)}].y`;
        i = m.index + len[0].length;
        continue;
      }
      if (!index.has(m[0]) || /\.\s*$/.test(text.slice(0, m.index))) {
        out += m[0];
        continue;
      }
      const before = /(\S)\s*$/.exec(text.slice(0, m.index));
      if (before?.[1] === '&' && !/(?:[\w)\]]|&)\s*&\s*$/.test(text.slice(0, m.index)))
        fail(`${m[0]} is taken by pointer in ${fn}; a merged input may only be indexed (${m[0]}[i]) or measured (arrayLength(&${m[0]}))`);
      const open = /^\s*\[/.exec(text.slice(i));
      if (!open) fail(`${m[0]} is used other than as ${m[0]}[i] or arrayLength(&${m[0]}) in ${fn}`);
      const from = i + open![0].length;
      let depth = 1;
      let j = from;
      for (; j < text.length && depth > 0; j++) {
        if (text[j] === '[') depth++;
        else if (text[j] === ']') depth--;
      }
      if (depth > 0) fail(`unbalanced brackets after ${m[0]} in ${fn}`);
      out += read(m[0], rewrite(text.slice(from, j - 1), fn));
      i = j;
    }
    return out + text.slice(i);
  };

  const spans = reachableFunctions(mod, entry).sort((a, b) => b.start - a.start);
  let code = mod.text;
  for (const f of spans) {
    const text = code.slice(f.start, f.end);
    for (const name of index.keys())
      if (new RegExp(`\\b(?:let|var|const)\\s+${name}\\b|[(,]\\s*${name}\\s*:`).test(text)) fail(`${f.name} declares its own ${name}, which shadows the merged input`);
    code = code.slice(0, f.start) + rewrite(text, f.name) + code.slice(f.end);
  }
  const group = inputs[0]!.group;
  const decls = [
    '',
    `@group(${group}) @binding(${packedBinding}) var<storage, read> ${packed}: array<${unitType}>;`,
    `@group(${group}) @binding(${headerBinding}) var<uniform> ${at}: array<vec4u, ${inputs.length}>;`,
  ];
  if (!typed)
    inputs.forEach((inp, k) => {
      const w = inp.el.width;
      const words = Array.from({ length: w }, (_, c) => `${packed}[${PREFIX}b${c ? ` + ${c}u` : ''}]`);
      const bits = w === 1 ? words[0] : `vec${w}<u32>(${words.join(', ')})`;
      decls.push(
        `fn ${PREFIX}load_${inp.name}(${PREFIX}i: u32) -> ${inp.el.name} {`,
        `  let ${PREFIX}b = ${at}[${k}].x + ${PREFIX}i${w > 1 ? ` * ${w}u` : ''};`,
        `  return bitcast<${inp.el.name}>(${bits});`,
        '}',
      );
    });
  return { code: `${code}\n${decls.join('\n')}\n`, packedBinding, headerBinding, unit, inputs: inputs.map((i) => ({ binding: i.binding, elementBytes: 4 * i.el.width })) };
}

/** Bytes a buffer binding covers. */
export function bindingBytes(r: GPUBufferBinding): number {
  return r.size ?? r.buffer.size - (r.offset ?? 0);
}

const HEADER_SLOT = 256;
const HEADER_SLOTS = 256;

/**
 * The per-dispatch side of packing: scratch buffers and offset uniforms. A scratch buffer is written
 * by copies recorded in the command encoder, so the next dispatch may reuse it (commands run in
 * order): one is as large as the largest packed dispatch. The uniforms are written by
 * queue.writeBuffer, which runs before the encoder's commands, so each dispatch of a submit has its
 * own slot, reused only once the work that reads it has been submitted (submitted()).
 */
export class StoragePacker {
  private readonly scratch: BufferPool;
  private readonly headers: GPUBuffer[] = [];
  private headersUsed = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly maxBindingSize: number,
  ) {
    this.scratch = new BufferPool(device);
  }

  /**
   * Records the copies of the merged inputs of `entries` into a scratch buffer on `encoder` (outside
   * any pass), and returns the entries to bind: the merged ones replaced by the packed buffer and
   * the offsets uniform.
   */
  pack(encoder: GPUCommandEncoder, where: string, variant: PackedVariant, entries: readonly GPUBindGroupEntry[]): GPUBindGroupEntry[] {
    const merged = new Set(variant.inputs.map((i) => i.binding));
    const sources = variant.inputs.map((i) => {
      const e = entries.find((x) => x.binding === i.binding);
      const r = e?.resource as GPUBufferBinding | undefined;
      if (!r || !('buffer' in r)) throw new StoragePackingError(`storage packing of ${where}: binding ${i.binding} is not bound to a buffer`);
      return { r, bytes: bindingBytes(r), elementBytes: i.elementBytes };
    });
    let total = 0;
    const offsets = sources.map((s) => {
      const o = total;
      total += Math.ceil(s.bytes / 16) * 16;
      return o;
    });
    total = Math.max(16, total);
    if (total > this.maxBindingSize) throw new LimitError('maxStorageBufferBindingSize', this.maxBindingSize, total, `the inputs of ${where} packed into one binding`);
    const buffer = this.scratch.acquire(total);
    // Free for the next dispatch's copies, which the encoder orders after this dispatch.
    this.scratch.release(buffer);
    const header = new Uint32Array(4 * sources.length);
    sources.forEach((s, k) => {
      if (s.bytes > 0) encoder.copyBufferToBuffer(s.r.buffer, s.r.offset ?? 0, buffer, offsets[k]!, s.bytes);
      header[4 * k] = offsets[k]! / variant.unit;
      header[4 * k + 1] = Math.floor(s.bytes / s.elementBytes);
    });
    const slot = this.headersUsed++;
    while (this.headers.length * HEADER_SLOTS <= slot)
      this.headers.push(this.device.createBuffer({ label: `tok1d packing offsets ${this.headers.length}`, size: HEADER_SLOT * HEADER_SLOTS, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST }));
    const arena = this.headers[Math.floor(slot / HEADER_SLOTS)]!;
    const at = (slot % HEADER_SLOTS) * HEADER_SLOT;
    this.device.queue.writeBuffer(arena, at, header);
    const out = entries.filter((e) => !merged.has(e.binding));
    out.push({ binding: variant.packedBinding, resource: { buffer, offset: 0, size: total } });
    out.push({ binding: variant.headerBinding, resource: { buffer: arena, offset: at, size: header.byteLength } });
    return out;
  }

  /** The work recorded so far was submitted: its uniform slots may be written again. */
  submitted(): void {
    this.headersUsed = 0;
  }

  /** Destroys every buffer the packer made. */
  destroy(): void {
    this.scratch.destroy();
    for (const h of this.headers) h.destroy();
    this.headers.length = 0;
  }
}
