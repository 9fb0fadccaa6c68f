/**
 * Storage-buffer packing (src/gpu/storage-packing.ts) on planted WGSL: which entry points need it,
 * which inputs merge, the derived source (indexing, nested brackets, arrayLength, called functions,
 * same and mixed element types), the uses it must refuse, and a planted kernel run through an
 * engine on a device held to 4 and 5 storage buffers against the same device without packing, with
 * inputs bound as tensors smaller than their buffers and as buffer ranges at an offset; and every
 * variant the kernels of kernels/ can need on a 4-buffer device, compiled.
 */
import { expect } from 'chai';
import { MemoryTuneStore } from '../src/gpu/autotune.js';
import type { Engine } from '../src/gpu/engine.js';
import { basename } from 'node:path';
import { KernelSources } from '../src/gpu/kernels.js';
import { nodeKernelFiles, nodeKernelReader, type AcquiredDevice } from '../src/gpu/node.js';
import { choosePacked, elementOf, packedSource, packingPlan, StoragePackingError } from '../src/gpu/storage-packing.js';
import { entryBindingCounts, parseWgsl, stripComments } from '../src/gpu/wgsl-bindings.js';
import { createEngine } from '../src/node-engine.js';
import { Tensor } from '../src/tensor.js';
import { deviceOrSkip, TEST_BACKENDS, withStorageBufferLimit } from './helpers.js';

/** Six storage buffers: four read-only inputs of three element types, two outputs. */
const PLANTED = `
@group(0) @binding(0) var<storage, read> a: array<vec4f>;
@group(0) @binding(1) var<storage, read> b: array<f32>;   // scale
@group(0) @binding(2) var<storage, read> idx: array<u32>;
@group(0) @binding(3) var<storage> c: array<vec2<f32>>;   /* read by default /* nested */ */
@group(0) @binding(4) var<storage, read_write> out: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> lens: array<u32>;
@group(0) @binding(1) var<storage, read> other: array<f32>;

struct S { b: f32, idx: u32 }

fn scale(i: u32) -> f32 { return b[i % arrayLength(&b)]; }
fn unused(i: u32) -> f32 { let p = &b; return (*p)[i]; }

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x;
  if (i >= arrayLength(&out)) { return; }
  let s = S(1.0, 2u);
  let j = idx[i % arrayLength(&idx)] & 7u;
  let v = a[idx[ (j + s.idx) % arrayLength(&idx) ] % arrayLength(&a)];
  let w = c[i % arrayLength(&c)];
  out[i] = v * scale(i) * s.b + vec4f(w.x, c[(i + 1u) % arrayLength(&c)][1], f32(j), 0.0);
  if (i == 0u) {
    lens[0] = arrayLength(&a);
    lens[1] = arrayLength(&b);
    lens[2] = arrayLength(&idx);
    lens[3] = arrayLength(&c);
  }
}

@compute @workgroup_size(1)
fn small() { lens[0] = u32(other[0]); }
`;

/** The k-element subsets of xs, in order. */
function* choices(xs: readonly number[], k: number, from = 0): Generator<number[]> {
  if (k === 0) return yield [];
  for (let i = from; i < xs.length; i++) for (const rest of choices(xs, k - 1, i + 1)) yield [xs[i]!, ...rest];
}

/** Each piece of text occurs in the derived code. */
function expectLines(code: string, pieces: readonly string[]): void {
  for (const p of pieces) expect(code).to.include(p);
}

describe('storage packing: the WGSL rewrite', () => {
  it('parses bindings (access defaulting to read, comments nested) and counts per entry point', () => {
    expect(stripComments('a /* x /* y */ z */ b // c\nd')).to.equal('a   b \nd');
    const mod = parseWgsl(PLANTED);
    expect(mod.bindings.get('c')).to.include({ binding: 3, space: 'storage', access: 'read', type: 'array<vec2<f32>>', kind: 'storage' });
    expect(mod.functions.get('main')!.entry).to.equal(true);
    expect(mod.functions.get('scale')!.entry).to.equal(false);
    expect(Object.fromEntries(entryBindingCounts(PLANTED))).to.deep.equal({
      main: { storage: 6, storageTextures: 0, sampledTextures: 0 },
      small: { storage: 2, storageTextures: 0, sampledTextures: 0 },
    });
  });

  it('element types: 32-bit scalars and 2-/4-vectors, in either spelling', () => {
    expect(elementOf('array<vec4f>')).to.deep.equal({ name: 'vec4<f32>', scalar: 'f32', width: 4 });
    expect(elementOf('array< vec2<u32> >')).to.deep.equal({ name: 'vec2<u32>', scalar: 'u32', width: 2 });
    expect(elementOf('array<i32>')).to.deep.equal({ name: 'i32', scalar: 'i32', width: 1 });
    for (const t of ['array<vec3f>', 'array<f16>', 'array<f32, 4>', 'S', 'array<mat4x4f>']) expect(elementOf(t), t).to.equal(null);
  });

  it('a plan only where the entry point binds more than the limit; the smallest inputs merge', () => {
    expect(packingPlan(PLANTED, 'planted', 'main', 6)).to.equal(null);
    expect(packingPlan(PLANTED, 'planted', 'small', 4)).to.equal(null);
    const plan = packingPlan(PLANTED, 'planted', 'main', 4)!;
    expect(plan.merge).to.equal(3);
    expect(plan.candidates.map((b) => b.name)).to.deep.equal(['a', 'b', 'idx', 'c']);
    const bytes: Record<number, number> = { 0: 4096, 1: 16, 2: 64, 3: 64 };
    expect(choosePacked(plan, (n) => bytes[n]!)).to.deep.equal([1, 2, 3]);
    expect(choosePacked(packingPlan(PLANTED, 'planted', 'main', 5)!, (n) => bytes[n]!)).to.deep.equal([1, 2]);
  });

  it('same element type: indexes one typed array through the offsets uniform, inner brackets first', () => {
    const v = packedSource(PLANTED.replace('array<f32>;   // scale', 'array<vec4f>;').replace('b[i % arrayLength(&b)]', 'b[i % arrayLength(&b)].x'), 'planted', 'main', [0, 1]);
    expect(v).to.include({ packedBinding: 6, headerBinding: 7, unit: 16 });
    expectLines(v.code, [
      '@group(0) @binding(6) var<storage, read> tok1d_packed: array<vec4<f32>>;',
      '@group(0) @binding(7) var<uniform> tok1d_at: array<vec4u, 2>;',
      'tok1d_packed[tok1d_at[1].x + u32(i % tok1d_at[1].y)].x',
      'tok1d_packed[tok1d_at[0].x + u32(idx[ (j + s.idx) % arrayLength(&idx) ] % tok1d_at[0].y)]',
      // Members of the same name, unreachable functions and other entry points stay as they were.
      '* s.b +',
      'fn unused(i: u32) -> f32 { let p = &b; return (*p)[i]; }',
    ]);
    expect(entryBindingCounts(v.code).get('main')!.storage).to.equal(5);
  });

  it('mixed element types: one array<u32>, read through bitcasting load functions', () => {
    const v = packedSource(PLANTED, 'planted', 'main', [1, 2, 3]);
    expect(v.unit).to.equal(4);
    expect(v.inputs).to.deep.equal([
      { binding: 1, elementBytes: 4 },
      { binding: 2, elementBytes: 4 },
      { binding: 3, elementBytes: 8 },
    ]);
    expectLines(v.code, [
      'var<storage, read> tok1d_packed: array<u32>;',
      'let v = a[tok1d_load_idx(u32( (j + s.idx) % tok1d_at[1].y )) % arrayLength(&a)];',
      'tok1d_load_c(u32((i + 1u) % tok1d_at[2].y))[1]',
      'return bitcast<vec2<f32>>(vec2<u32>(tok1d_packed[tok1d_b], tok1d_packed[tok1d_b + 1u]));',
      'let tok1d_b = tok1d_at[0].x + tok1d_i;',
    ]);
    expect(entryBindingCounts(v.code).get('main')!.storage).to.equal(4);
  });

  it('refuses, naming kernel, entry point and input: a pointer, a whole-array use, a shadowing local, too many outputs', () => {
    const refused = (source: string, merged: number[]) => expect(() => packedSource(source, 'planted', 'main', merged)).to.throw(StoragePackingError);
    refused(PLANTED.replace('fn scale(i: u32) -> f32 { return b[i % arrayLength(&b)]; }', 'fn scale(i: u32) -> f32 { return sum(&b, i); }\nfn sum(p: ptr<storage, array<f32>, read>, i: u32) -> f32 { return (*p)[i]; }'), [1, 2]);
    expect(() => packedSource(PLANTED.replace('let w = c[', 'let w = f32(idx[0] & b[0]) * c['), 'planted', 'main', [1, 2])).to.not.throw();
    expect(() => packedSource(PLANTED.replace('let w = c[', 'let q = &idx[0]; let w = c['), 'planted', 'main', [1, 2])).to.throw(StoragePackingError, /^storage packing of planted:main: idx is taken by pointer in main/);
    expect(() => packedSource(PLANTED.replace('let w = c[', 'let q = b; let w = c['), 'planted', 'main', [1, 2])).to.throw(StoragePackingError, /b is used other than as b\[i\]/);
    expect(() => packedSource(PLANTED.replace('let s = S(1.0, 2u);', 'let s = S(1.0, 2u); let idx = 3u;'), 'planted', 'main', [1, 2])).to.throw(StoragePackingError, /main declares its own idx/);
    expect(() => packedSource(PLANTED, 'planted', 'main', [4])).to.throw(StoragePackingError, /out \(@binding\(4\)\) is not a read-only array/);
    const outputs = PLANTED.replace(/var<storage, read> (a|b|idx)/g, 'var<storage, read_write> $1');
    expect(() => packingPlan(outputs, 'planted', 'main', 4)).to.throw(StoragePackingError, /^planted:main binds 6 storage buffers and the device allows 4; only 1 of them \(c\)/);
  });
});

for (const backend of TEST_BACKENDS) {
  describe(`storage packing: a planted kernel on a device held to 4 and 5 storage buffers [${backend}]`, function () {
    let acquired: AcquiredDevice | undefined;
    const engines: Engine[] = [];
    before(async function () {
      acquired = await deviceOrSkip(this, backend);
    });
    after(() => {
      for (const e of engines) e.dispose();
      acquired?.release();
    });

    const open = async (limit?: number): Promise<Engine> => {
      const device = limit ? withStorageBufferLimit(acquired!.device, limit).device : acquired!.device;
      const e = await createEngine({ device, tuneStore: new MemoryTuneStore() });
      e.kernels.define('planted', PLANTED);
      e.kernels.define('outputs', PLANTED.replace(/var<storage, read> (a|b|idx)/g, 'var<storage, read_write> $1'));
      engines.push(e);
      return e;
    };

    /** Runs the planted kernel with inputs bound as tensors in larger buffers and as ranges at an offset. */
    const run = async (engine: Engine): Promise<{ out: number[]; lens: number[] }> => {
      const n = 100;
      const a = Float32Array.from({ length: 4 * 37 }, (_, i) => Math.sin(i) * 10);
      const big = engine.device.createBuffer({ size: 4096, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      engine.device.queue.writeBuffer(big, 512, a);
      const b = engine.upload(Float32Array.from({ length: 8 }, (_, i) => 0.5 + i), [8]);
      const idx = engine.upload(Uint32Array.from({ length: 24 }, (_, i) => (i * 7919) % 1000), [24]);
      const cFloats = Float32Array.from({ length: 2 * 9 }, (_, i) => i - 4.5);
      const c = engine.upload(cFloats, [cFloats.length]);
      const out = engine.empty([n, 4]);
      const lens = engine.empty([4], 'u32');
      expect(b.buffer.size, 'a tensor in a larger buffer').to.be.greaterThan(b.byteLength);
      engine.dispatch('planted', 'main', [{ buffer: big, offset: 512, size: a.byteLength }, b, idx, new Tensor(c.buffer, [2 * 8], 'f32', false), out, lens], null, [Math.ceil(n / 64), 1, 1]);
      const [o, l] = await engine.readMany([out, lens]);
      engine.release(b, idx, c, out, lens);
      big.destroy();
      return { out: Array.from(o!), lens: Array.from(l!) };
    };

    it('gives the results of the same device without packing, bit for bit, and arrayLength of each binding', async () => {
      const plain = await run(await open());
      expect(plain.lens).to.deep.equal([37, 8, 24, 8]);
      for (const limit of [4, 5]) {
        const engine = await open(limit);
        expect(await run(engine), `${limit} storage buffers`).to.deep.equal(plain);
        expect(engine.counters.packedPipelines).to.equal(1);
        expect(engine.counters.packedCopies).to.equal(limit === 4 ? 3 : 2);
        await engine.sync();
      }
    });

    it('kernels/*.wgsl: every choice of merged inputs of every entry point above 4 compiles and binds at most 4', async () => {
      const kernels = new KernelSources(nodeKernelReader());
      let variants = 0;
      const entries = new Set<string>();
      for (const name of nodeKernelFiles().map((f) => basename(f, '.wgsl'))) {
        const source = kernels.get(name);
        for (const entry of entryBindingCounts(source).keys()) {
          const plan = packingPlan(source, name, entry, 4);
          if (!plan) continue;
          entries.add(`${name}:${entry}`);
          for (const merged of choices(plan.candidates.map((b) => b.binding), plan.merge)) {
            const v = packedSource(source, name, entry, merged);
            expect(entryBindingCounts(v.code).get(entry)!.storage, `${name}:${entry} packing ${merged}`).to.be.at.most(4);
            const info = await acquired!.device.createShaderModule({ code: v.code }).getCompilationInfo();
            const errors = info.messages.filter((m) => m.type === 'error').map((m) => m.message);
            expect(errors, `${name}:${entry} packing ${merged}`).to.deep.equal([]);
            variants++;
          }
        }
      }
      expect(entries.size).to.equal(25);
      expect(variants).to.be.greaterThan(25);
    });

    it('an entry point that writes too many buffers is refused when its pipeline is made, naming kernel and entry point', async () => {
      const engine = await open(4);
      const t = engine.upload(new Float32Array(4), [4]);
      const bufs = Array.from({ length: 6 }, () => engine.empty([4]));
      expect(() => engine.dispatch('outputs', 'main', bufs, null, [1, 1, 1])).to.throw(StoragePackingError, /^outputs:main binds 6 storage buffers and the device allows 4/);
      engine.release(t, ...bufs);
      await engine.sync();
    });
  });
}
