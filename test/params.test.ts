/**
 * Kernel parameter schemas (src/gpu/uniforms.ts) against the WGSL: every struct a kernel file binds
 * as var<uniform> has exactly one schema with its fields (names, types, order), and every schema
 * names a uniform struct that exists. Plus the layout (WGSL's uniform address space rules) and the
 * packing by name, against offsets worked out by hand.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { nodeKernelFiles } from '../src/gpu/node.js';
import { arrayOf, paramSchema, ParamSchema, StructLayout, structType, wgslType, type FieldType, type KernelParams, type ValuesOf } from '../src/gpu/params.js';
import * as uniforms from '../src/gpu/uniforms.js';
import { ROOT } from './cli-run.js';

/** A struct as declared in WGSL: its fields' names and types, in order. */
type WgslStruct = { name: string; type: string }[];

/** A kernel file's structs by name and the struct types it binds as var<uniform>. */
interface ParsedKernel {
  structs: Map<string, WgslStruct>;
  uniforms: Set<string>;
}

/** `vec4<f32>` → `vec4f`, whitespace dropped: one spelling per type. */
function normalizeType(t: string): string {
  return t.replace(/\s+/g, '').replace(/vec([234])<([uif])32>/g, 'vec$1$2');
}

/** Splits on commas outside <…>. */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const c of s) {
    if (c === '<') depth++;
    if (c === '>') depth--;
    if (c === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out.map((x) => x.trim()).filter((x) => x);
}

/** The structs and uniform bindings of one WGSL source (comments dropped). Throws on member attributes (@align, @size): the schemas do not model them. */
export function parseKernel(source: string): ParsedKernel {
  const text = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const structs = new Map<string, WgslStruct>();
  for (const m of text.matchAll(/\bstruct\s+([A-Za-z_]\w*)\s*\{([^}]*)\}/g)) {
    const fields = splitTop(m[2]!).map((member) => {
      if (member.includes('@')) throw new Error(`struct ${m[1]}: member attributes are not supported: ${member}`);
      const f = /^([A-Za-z_]\w*)\s*:\s*(.+)$/s.exec(member);
      if (!f) throw new Error(`struct ${m[1]}: cannot read member '${member}'`);
      return { name: f[1]!, type: normalizeType(f[2]!) };
    });
    structs.set(m[1]!, fields);
  }
  const uniformTypes = new Set([...text.matchAll(/var\s*<\s*uniform\s*>\s*[A-Za-z_]\w*\s*:\s*([A-Za-z_]\w*)/g)].map((m) => m[1]!));
  return { structs, uniforms: uniformTypes };
}

/** Where a schema (or nested struct type) and the WGSL struct of the same name disagree; [] when they agree. */
export function compareStruct(layout: StructLayout<any>, structs: ReadonlyMap<string, WgslStruct>, where = layout.name): string[] {
  const wgsl = structs.get(layout.name);
  if (!wgsl) return [`${where}: no struct ${layout.name} in the kernel`];
  const problems: string[] = [];
  const ours = layout.layout.map((f) => ({ name: f.name, type: normalizeType(wgslType(f.type)) }));
  const fmt = (fs: WgslStruct): string => fs.map((f) => `${f.name}: ${f.type}`).join(', ');
  if (fmt(ours) !== fmt(wgsl)) problems.push(`${where}: schema { ${fmt(ours)} } but WGSL { ${fmt(wgsl)} }`);
  const nested = (t: FieldType): StructLayout<any> | null => (t instanceof StructLayout ? t : typeof t === 'object' ? nested(t.array) : null);
  for (const f of layout.layout) {
    const s = nested(f.type);
    if (s) problems.push(...compareStruct(s, structs, `${where}.${f.name} (${s.name})`));
  }
  return problems;
}

/**
 * Every disagreement between kernel files (name → source) and schemas: a uniform struct without a
 * schema or with several, a schema whose kernel or struct does not exist (or is not a uniform),
 * and a schema whose fields differ from its struct's.
 */
export function checkSchemas(kernels: ReadonlyMap<string, string>, schemas: readonly ParamSchema<any>[]): string[] {
  const problems: string[] = [];
  const parsed = new Map([...kernels].map(([name, src]) => [name, parseKernel(src)]));
  for (const [name, k] of parsed) {
    for (const u of k.uniforms) {
      const n = schemas.filter((s) => s.kernel === name && s.name === u).length;
      if (n !== 1) problems.push(`${name}.wgsl: uniform struct ${u} has ${n === 0 ? 'no schema' : `${n} schemas`}`);
    }
  }
  for (const s of schemas) {
    const k = parsed.get(s.kernel);
    if (!k) problems.push(`schema ${s.kernel} ${s.name}: no kernel ${s.kernel}`);
    else if (!k.structs.has(s.name)) problems.push(`schema ${s.kernel} ${s.name}: no struct ${s.name} in ${s.kernel}.wgsl`);
    else if (!k.uniforms.has(s.name)) problems.push(`schema ${s.kernel} ${s.name}: ${s.name} is not bound as var<uniform> in ${s.kernel}.wgsl`);
    else problems.push(...compareStruct(s, k.structs, `${s.kernel} ${s.name}`));
  }
  return problems;
}

/** The bytes bound params write into a zeroed uniform slot. */
function bytesOf(p: KernelParams): Uint8Array {
  const bytes = new Uint8Array(256);
  p.schema.pack(new DataView(bytes.buffer), p);
  return bytes;
}

/** The bytes a schema writes for `values`. */
function pack(schema: ParamSchema<any>, values: ValuesOf<typeof schema>): Uint8Array {
  return bytesOf(schema.with(values));
}

/** The positional packing dispatch used before schemas: u32 values from byte 0, then f32 values, 4 bytes each. */
function positional(u: number[], f: number[]): Uint8Array {
  const bytes = new Uint8Array(256);
  const dv = new DataView(bytes.buffer);
  u.forEach((v, i) => dv.setUint32(4 * i, v >>> 0, true));
  f.forEach((v, i) => dv.setFloat32(4 * (u.length + i), v, true));
  return bytes;
}

const SCHEMAS = Object.values(uniforms).filter((v): v is ParamSchema<any> => v instanceof ParamSchema);

describe('kernel parameter schemas', () => {
  describe('against the kernel files', () => {
    const files = new Map(nodeKernelFiles().map((f) => [basename(f, '.wgsl'), readFileSync(join(ROOT, f), 'utf8')]));

    it('finds the uniform structs of the kernel files', () => {
      const bound = [...files].flatMap(([name, src]) => [...parseKernel(src).uniforms].map((u) => `${name} ${u}`));
      expect(bound).to.include.members(['attention BwdParams', 'layernorm Params', 'pack Jobs', 'matmul_tex Params']);
      expect(bound.length).to.equal(SCHEMAS.length);
    });

    it('every uniform struct has one schema, and every schema matches its struct', () => {
      expect(checkSchemas(files, SCHEMAS)).to.deep.equal([]);
    });
  });

  describe('the check reports planted mismatches', () => {
    const src = `
      struct Inner { a: vec4<f32>, b: u32 }
      struct Params {
        rows: u32,   // a comment, with a comma
        d: u32,
        /* block */ eps: f32,
        v: vec4<f32>,
        items: array<Inner, 2>,
      }
      struct Other { x: u32 }
      @group(0) @binding(0) var<uniform> p: Params;
      @group(0) @binding(1) var<uniform> o: Other;
      struct Unused { y: u32 }
    `;
    const kernels = new Map([['k', src]]);
    const inner = structType('Inner', { a: 'vec4f', b: 'u32' });
    const good = (): ParamSchema<any> => paramSchema('k', 'Params', { rows: 'u32', d: 'u32', eps: 'f32', v: 'vec4f', items: arrayOf(structType('Inner', { a: 'vec4f', b: 'u32', c: 'u32' }), 2) });
    const other = paramSchema('k', 'Other', { x: 'u32' });

    it('parses fields through comments, vec<T> spellings and arrays', () => {
      const k = parseKernel(src);
      expect(k.structs.get('Params')).to.deep.equal([
        { name: 'rows', type: 'u32' },
        { name: 'd', type: 'u32' },
        { name: 'eps', type: 'f32' },
        { name: 'v', type: 'vec4f' },
        { name: 'items', type: 'array<Inner,2>' },
      ]);
      expect([...k.uniforms]).to.deep.equal(['Params', 'Other']);
    });

    it('a nested struct that differs from the WGSL one', () => {
      // good()'s Inner has a field c that the WGSL Inner lacks.
      expect(checkSchemas(kernels, [good(), other])).to.deep.equal([
        'k Params.items (Inner): schema { a: vec4f, b: u32, c: u32 } but WGSL { a: vec4f, b: u32 }',
      ]);
    });

    it('fields out of order, of another type, missing or extra', () => {
      const cases: [Record<string, FieldType>, string][] = [
        [{ d: 'u32', rows: 'u32', eps: 'f32', v: 'vec4f', items: arrayOf(inner, 2) }, 'd: u32, rows: u32'],
        [{ rows: 'u32', d: 'u32', eps: 'u32', v: 'vec4f', items: arrayOf(inner, 2) }, 'eps: u32'],
        [{ rows: 'u32', d: 'u32', eps: 'f32', v: 'vec4u', items: arrayOf(inner, 2) }, 'v: vec4u'],
        [{ rows: 'u32', d: 'u32', eps: 'f32', v: 'vec4f', items: arrayOf(inner, 3) }, 'items: array<Inner,3>'],
        [{ rows: 'u32', eps: 'f32', v: 'vec4f', items: arrayOf(inner, 2) }, 'rows: u32, eps: f32'],
        [{ rows: 'u32', d: 'u32', eps: 'f32', v: 'vec4f', items: arrayOf(inner, 2), more: 'u32' }, 'more: u32'],
      ];
      for (const [fields, shows] of cases) {
        const problems = checkSchemas(kernels, [paramSchema('k', 'Params', fields), other]);
        expect(problems, JSON.stringify(fields)).to.have.length(1);
        expect(problems[0]).to.match(/^k Params: schema \{/).and.include(shows);
      }
    });

    it('a uniform struct without a schema, or with two', () => {
      const params = paramSchema('k', 'Params', { rows: 'u32', d: 'u32', eps: 'f32', v: 'vec4f', items: arrayOf(inner, 2) });
      expect(checkSchemas(kernels, [params])).to.deep.equal(['k.wgsl: uniform struct Other has no schema']);
      expect(checkSchemas(kernels, [params, other, paramSchema('k', 'Other', { x: 'u32' })])).to.deep.equal(['k.wgsl: uniform struct Other has 2 schemas']);
    });

    it('a schema naming a kernel or struct that does not exist, or a struct that is not a uniform', () => {
      const params = paramSchema('k', 'Params', { rows: 'u32', d: 'u32', eps: 'f32', v: 'vec4f', items: arrayOf(inner, 2) });
      expect(checkSchemas(kernels, [params, other, paramSchema('nope', 'Params', { x: 'u32' }), paramSchema('k', 'Gone', { x: 'u32' }), paramSchema('k', 'Unused', { y: 'u32' })])).to.deep.equal([
        'schema nope Params: no kernel nope',
        'schema k Gone: no struct Gone in k.wgsl',
        'schema k Unused: Unused is not bound as var<uniform> in k.wgsl',
      ]);
    });

    it('member attributes, which the schemas do not model, are refused', () => {
      expect(() => parseKernel('struct P { @align(16) a: u32 }')).to.throw(/member attributes/);
    });
  });

  describe('layout (uniform address space)', () => {
    const offsets = (s: StructLayout<any>): Record<string, number> => Object.fromEntries(s.layout.map((f) => [f.name, f.offset]));

    it('scalars and vectors: each at the next multiple of its alignment', () => {
      // a 0..4 | b vec4f aligned 16: 16..32 | c 32..36 | d vec2f aligned 8: 40..48 | e vec3u aligned 16: 48..60 | f 60..64; size 64.
      const s = paramSchema('t', 'P', { a: 'u32', b: 'vec4f', c: 'f32', d: 'vec2f', e: 'vec3u', f: 'i32' });
      expect(offsets(s)).to.deep.equal({ a: 0, b: 16, c: 32, d: 40, e: 48, f: 60 });
      expect([s.size, s.align]).to.deep.equal([64, 16]);
      // Size rounds up to the alignment: 4 + pad to 8 + 8 = 16.
      const t = paramSchema('t', 'Q', { a: 'f32', b: 'vec2u' });
      expect(offsets(t)).to.deep.equal({ a: 0, b: 8 });
      expect(t.size).to.equal(16);
    });

    it('arrays of structs (pack.wgsl Jobs): 16-aligned, stride the element size rounded to 16', () => {
      expect(offsets(uniforms.PACK)).to.deep.equal({ count: 0, total: 4, stride: 8, unused: 12, job: 16 });
      expect(uniforms.PACK_JOB.size).to.equal(48);
      expect(uniforms.PACK.size).to.equal(16 + 4 * 48);
      // A 20-byte element: stride 32 (align 16 from the vec4), array starts at 16 after one u32.
      const e = structType('E', { v: 'vec4f', n: 'u32' });
      expect(e.size).to.equal(32);
      const s = paramSchema('t', 'P', { a: 'u32', xs: arrayOf(e, 3), b: 'f32' });
      expect(offsets(s)).to.deep.equal({ a: 0, xs: 16, b: 112 });
      expect(s.size).to.equal(128);
    });

    it('a nested struct starts at a multiple of 16 and the next member at least roundUp(16, its size) past it', () => {
      const inner = structType('I', { a: 'vec2f' });
      const s = paramSchema('t', 'P', { x: 'f32', i: inner, b: 'u32' });
      expect(offsets(s)).to.deep.equal({ x: 0, i: 16, b: 32 });
      expect(s.size).to.equal(48);
    });

    it('refuses what a uniform struct cannot hold', () => {
      expect(() => paramSchema('t', 'P', { xs: arrayOf('u32', 4) })).to.throw(/stride 4 .* not a multiple of 16/);
      expect(() => paramSchema('t', 'P', { xs: arrayOf('vec4f', 16), y: 'u32' })).to.throw(/272 bytes, more than a uniform slot's 256/);
      expect(() => paramSchema('t', 'P', {})).to.throw(/no fields/);
    });
  });

  describe('packing by name', () => {
    it('writes each field at its offset, whatever order the values come in', () => {
      const s = paramSchema('t', 'P', { a: 'u32', b: 'vec4f', c: 'f32', d: 'i32' });
      const bytes = pack(s, { d: -2, c: 1.5, b: [1, 2, 3, 4], a: 7 });
      const dv = new DataView(bytes.buffer);
      expect([dv.getUint32(0, true), dv.getUint32(4, true)]).to.deep.equal([7, 0]);
      expect([16, 20, 24, 28].map((o) => dv.getFloat32(o, true))).to.deep.equal([1, 2, 3, 4]);
      expect([dv.getFloat32(32, true), dv.getInt32(36, true)]).to.deep.equal([1.5, -2]);
    });

    it('arrays of structs: elements at the stride, absent ones left zero', () => {
      const job = (i: number) => ({ rows: i, cols: 2, rowsOut: 3, cols4: 4, trans: 5, srcBatch: 6, batches: 7, start: 8, panel: 9, shift: 10, tileRows: 11, unused: 12 });
      const bytes = pack(uniforms.PACK, { count: 2, total: 9, stride: 10, unused: 0, job: [job(1), job(13)] });
      const words = [...new Uint32Array(bytes.buffer, 0, uniforms.PACK.size / 4)];
      const rest = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
      expect(words).to.deep.equal([2, 9, 10, 0, 1, ...rest, 13, ...rest, ...new Array<number>(24).fill(0)]);
    });

    it('writes the same bytes as the positional u32-then-f32 packing for every kernel schema of scalars', () => {
      for (const s of SCHEMAS) {
        if (!s.layout.every((f) => f.type === 'u32' || f.type === 'f32')) continue;
        const u = s.layout.filter((f) => f.type === 'u32');
        const f = s.layout.filter((f) => f.type === 'f32');
        const values = Object.fromEntries(s.layout.map((x, i) => [x.name, x.type === 'u32' ? 1000 + i : 0.25 + i]));
        expect(pack(s, values), `${s.kernel} ${s.name}`).to.deep.equal(positional(u.map((x) => values[x.name]!), f.map((x) => values[x.name]!)));
      }
    });

    it('withZeros: unnamed fields are zero; a misspelt name still fails', () => {
      expect(bytesOf(uniforms.ELEMENTWISE.withZeros({ n: 5, alpha: 2 }))).to.deep.equal(positional([5, 0, 0, 0, 0, 0], [2, 0]));
      // @ts-expect-error misspelt field
      expect(() => bytesOf(uniforms.ELEMENTWISE.withZeros({ n: 5, alhpa: 2 }))).to.throw(/elementwise Params: no field 'alhpa' in struct Params/);
    });

    it('a missing, extra or mistyped field is a type error and throws when written', () => {
      const L = uniforms.LAYERNORM;
      // @ts-expect-error missing eps
      expect(() => bytesOf(L.with({ rows: 1, d: 2, stride: 3, chunk: 0 }))).to.throw(/layernorm Params: missing field 'eps'/);
      // @ts-expect-error extra field
      expect(() => bytesOf(L.with({ rows: 1, d: 2, stride: 3, chunk: 0, eps: 1, epsilon: 1 }))).to.throw(/no field 'epsilon'/);
      // @ts-expect-error misspelt field
      expect(() => bytesOf(L.with({ rows: 1, d: 2, stride: 3, chunk: 0, esp: 1 }))).to.throw(/missing field 'eps'/);
      // @ts-expect-error a string
      expect(() => bytesOf(L.with({ rows: 1, d: 2, stride: 3, chunk: 0, eps: '1' }))).to.throw(/'eps' takes a number/);
      const job = { rows: 0, cols: 0, rowsOut: 0, cols4: 0, trans: 0, srcBatch: 0, batches: 0, start: 0, panel: 0, shift: 0, tileRows: 0, unused: 0 };
      expect(() => bytesOf(uniforms.PACK.with({ count: 0, total: 0, stride: 0, unused: 0, job: [job, job, job, job, job] }))).to.throw(/'job' takes up to 4 elements/);
      // @ts-expect-error a job without start
      expect(() => bytesOf(uniforms.PACK.with({ count: 0, total: 0, stride: 0, unused: 0, job: [job, { ...job, start: undefined }] }))).to.throw(/pack Jobs\.job\[1\]: missing field 'start'/);
      expect(() => bytesOf(paramSchema('t', 'P', { v: 'vec4f' }).with({ v: [1, 2, 3] }))).to.throw(/'v' takes 4 numbers/);
    });
  });
});
