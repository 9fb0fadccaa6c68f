import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CheckpointError,
  f16ToF32,
  f32ToF16,
  loadCheckpoint,
  parseCheckpoint,
  saveCheckpoint,
  serializeCheckpoint,
} from '../src/model/checkpoint.js';
import { PRESETS, paramSpecs, type ModelConfig } from '../src/model/config.js';
import { expectNoStack, ownLines, tok1d } from './cli-run.js';
import { freshRng, randomNormal } from './helpers.js';

const tiny = PRESETS.tiny!;

function randomParams(config: ModelConfig, std = 0.5): Map<string, Float32Array> {
  const r = freshRng();
  const m = new Map<string, Float32Array>();
  for (const s of paramSpecs(config)) m.set(s.name, randomNormal(s.shape.reduce((a, b) => a * b, 1), r, std));
  return m;
}

/** Header JSON and data of a safetensors file, read independently of the module under test. */
function split(bytes: Uint8Array): { header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8')), data: bytes.subarray(8 + n) };
}

/** Reassembles a file from a (possibly edited) header and data. */
function join8(header: unknown, data: Uint8Array): Uint8Array {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function edit(bytes: Uint8Array, fn: (h: Record<string, any>) => void): Uint8Array {
  const { header, data } = split(bytes);
  fn(header as Record<string, any>);
  return join8(header, data);
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'tok1d-ckpt-'));
}

/** Nearest-even reference by search: the half (by bits) closest to x, ties to the even pattern. */
function nearestHalf(x: number): number {
  let best = -1;
  let bestErr = Infinity;
  // Only finite halves of x's sign; magnitudes are monotone in the bit pattern.
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  let lo = 0;
  let hi = 0x7bff;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (f16ToF32(mid) <= Math.abs(x)) lo = mid;
    else hi = mid - 1;
  }
  for (const c of [lo, lo + 1]) {
    if (c > 0x7bff) continue;
    const err = Math.abs(f16ToF32(c) - Math.abs(x));
    if (err < bestErr || (err === bestErr && (c & 1) === 0)) {
      best = c;
      bestErr = err;
    }
  }
  return sign | best;
}

describe('checkpoint: float16 conversion', () => {
  it('edge values: max, overflow, subnormals, signed zeros, infinities, NaN', () => {
    expect(f32ToF16(65504)).to.equal(0x7bff);
    expect(f32ToF16(65519)).to.equal(0x7bff); // below the midpoint to 65536
    expect(f32ToF16(65520)).to.equal(0x7c00); // midpoint: ties to even = Inf
    expect(f32ToF16(-70000)).to.equal(0xfc00);
    expect(f16ToF32(0x7bff)).to.equal(65504);
    expect(f32ToF16(2 ** -24)).to.equal(0x0001); // smallest subnormal
    expect(f32ToF16(2 ** -25)).to.equal(0x0000); // half of it: tie → even (0)
    expect(f32ToF16(1.5 * 2 ** -25)).to.equal(0x0001);
    expect(f32ToF16(3 * 2 ** -25)).to.equal(0x0002); // 1.5 units: tie → even (2)
    expect(f32ToF16(1023 * 2 ** -24)).to.equal(0x03ff); // largest subnormal
    expect(f32ToF16(2 ** -14)).to.equal(0x0400); // smallest normal
    expect(f32ToF16(1e-45)).to.equal(0); // float32 subnormal
    expect(f16ToF32(0x0001)).to.equal(2 ** -24);
    expect(f16ToF32(0x03ff)).to.equal(1023 * 2 ** -24);
    expect(f16ToF32(0x8001)).to.equal(-(2 ** -24));
    expect(f32ToF16(0)).to.equal(0);
    expect(f32ToF16(-0)).to.equal(0x8000);
    expect(Object.is(f16ToF32(0x8000), -0)).to.equal(true);
    expect(f32ToF16(1 + 2 ** -11)).to.equal(0x3c00); // tie → even
    expect(f32ToF16(1 + 3 * 2 ** -11)).to.equal(0x3c02); // tie → even
    expect(f32ToF16(1 + 2 ** -11 + 2 ** -20)).to.equal(0x3c01); // just above the tie
    expect(f32ToF16(Infinity)).to.equal(0x7c00);
    expect(f32ToF16(-Infinity)).to.equal(0xfc00);
    expect(f16ToF32(0x7c00)).to.equal(Infinity);
    expect(f16ToF32(0xfc00)).to.equal(-Infinity);
    expect(f32ToF16(NaN) & 0x7c00).to.equal(0x7c00);
    expect(f32ToF16(NaN) & 0x3ff).to.not.equal(0);
    expect(Number.isNaN(f16ToF32(0x7e00))).to.equal(true);
  });

  it('every finite half survives f16 → f32 → f16', () => {
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00) continue;
      expect(f32ToF16(f16ToF32(h)), `0x${h.toString(16)}`).to.equal(h);
    }
  });

  it('random floats round to the nearest half, ties to even (search reference)', () => {
    const r = freshRng();
    const f = new Float32Array(1);
    for (let i = 0; i < 20000; i++) {
      // Magnitudes from 2^-30 to 2^16 (subnormal through overflow-free), both signs; every 4th a tie.
      const e = Math.floor(r() * 45) - 30;
      f[0] = (r() < 0.5 ? -1 : 1) * (1 + r()) * 2 ** e;
      let x = f[0]!;
      if (i % 4 === 0 && Math.abs(x) < 65504) {
        const h = nearestHalf(x) & 0x7fff;
        const mid = (f16ToF32(h) + f16ToF32(h + 1)) / 2; // exactly representable in float32
        x = Math.sign(x) * mid;
      }
      if (Math.abs(x) >= 65520) continue;
      expect(f32ToF16(x), `x = ${x}`).to.equal(nearestHalf(x));
    }
  });
});

describe('checkpoint: safetensors round trip', () => {
  it('f32 is exact, layout is standard safetensors (aligned, contiguous, paramSpecs order)', () => {
    const params = randomParams(tiny);
    const bytes = serializeCheckpoint(tiny, params, { metadata: { step: '12' } });
    const { header, data } = split(bytes);
    expect((bytes.length - data.length) % 8).to.equal(0);
    const names = Object.keys(header).filter((k) => k !== '__metadata__');
    expect(names).to.deep.equal(paramSpecs(tiny).map((s) => s.name));
    let off = 0;
    for (const s of paramSpecs(tiny)) {
      const e = header[s.name] as { dtype: string; shape: number[]; data_offsets: [number, number] };
      expect(e.dtype).to.equal('F32');
      expect(e.shape).to.deep.equal(s.shape);
      expect(e.data_offsets[0]).to.equal(off);
      off = e.data_offsets[1];
      // Independent decode of the raw little-endian bytes.
      const raw = Buffer.from(data.subarray(e.data_offsets[0], e.data_offsets[1]));
      const want = params.get(s.name)!;
      for (const i of [0, want.length - 1]) expect(raw.readFloatLE(4 * i)).to.equal(want[i]);
    }
    expect(off).to.equal(data.length);
    const meta = header.__metadata__ as Record<string, string>;
    expect(meta.format).to.equal('tok1d');
    expect(JSON.parse(meta.tok1d_config!)).to.deep.equal({ ...tiny });
    expect(meta.step).to.equal('12');

    const back = parseCheckpoint(bytes);
    expect(back.config).to.deep.equal(tiny);
    expect(back.metadata.step).to.equal('12');
    for (const s of paramSpecs(tiny)) expect(Array.from(back.params.get(s.name)!)).to.deep.equal(Array.from(params.get(s.name)!));
  });

  it('f16 stores each value rounded to the nearest half', () => {
    const params = randomParams(tiny, 3);
    params.get('enc.pos')!.set([65504, -65504, 2 ** -24, 2 ** -25, -0, 6e-8, 1 + 2 ** -11]);
    const bytes = serializeCheckpoint(tiny, params, { dtype: 'f16' });
    const f32Size = serializeCheckpoint(tiny, params).length;
    expect(bytes.length).to.be.below(f32Size * 0.51 + 4096);
    const back = parseCheckpoint(bytes, tiny);
    expect(back.dtypes.get('vq.codebook')).to.equal('F16');
    for (const s of paramSpecs(tiny)) {
      const a = params.get(s.name)!;
      const b = back.params.get(s.name)!;
      for (let i = 0; i < a.length; i++) {
        const x = a[i]!;
        const y = b[i]!;
        // Within half an ulp of the half format (relative 2^-11, or 2^-25 absolute for subnormals).
        expect(Math.abs(y - x), `${s.name}[${i}]: ${x} → ${y}`).to.be.at.most(Math.max(Math.abs(x) * 2 ** -11, 2 ** -25));
        expect(y).to.equal(f16ToF32(nearestHalf(x)));
      }
    }
    expect(Array.from(back.params.get('enc.pos')!.subarray(0, 4))).to.deep.equal([65504, -65504, 2 ** -24, 0]);
    expect(Object.is(back.params.get('enc.pos')![4], -0)).to.equal(true);
  });

  it('refuses to store values that are not finite or overflow float16', () => {
    const params = randomParams(tiny);
    params.get('dec.out.b')![3] = 70000;
    expect(() => serializeCheckpoint(tiny, params, { dtype: 'f16' })).to.throw(CheckpointError, /dec\.out\.b.*70000.*float16/);
    expect(() => serializeCheckpoint(tiny, params, { dtype: 'f32' })).to.not.throw();
    params.get('dec.out.b')![3] = Infinity;
    expect(() => serializeCheckpoint(tiny, params, { dtype: 'f32' })).to.throw(CheckpointError, /dec\.out\.b.*Infinity/);
    params.get('dec.out.b')![3] = NaN;
    expect(() => serializeCheckpoint(tiny, params)).to.throw(CheckpointError, /dec\.out\.b.*NaN/);
    const missing = randomParams(tiny);
    missing.delete('enc.ln.g');
    expect(() => serializeCheckpoint(tiny, missing)).to.throw(CheckpointError, /missing parameter enc\.ln\.g/);
    const short = randomParams(tiny);
    short.set('enc.pos', new Float32Array(5));
    expect(() => serializeCheckpoint(tiny, short)).to.throw(CheckpointError, /enc\.pos.*5 values/);
  });
});

describe('checkpoint: validation', () => {
  let good: Uint8Array;
  before(() => {
    good = serializeCheckpoint(tiny, randomParams(tiny));
  });

  it('accepts the unedited file (the edits below are what fails)', () => {
    expect(() => parseCheckpoint(edit(good, () => {}))).to.not.throw();
  });

  it('missing tensor', () => {
    expect(() => parseCheckpoint(edit(good, (h) => delete h['enc.pos']))).to.throw(CheckpointError, /missing tensor enc\.pos/);
  });

  it('wrong shape names the tensor, expected and got', () => {
    const bad = edit(good, (h) => (h['vq.codebook'].shape = [32, 128]));
    expect(() => parseCheckpoint(bad)).to.throw(CheckpointError, /vq\.codebook.*expected \[64, 64\], got \[32, 128\]/);
  });

  it('unsupported dtype names the tensor', () => {
    expect(() => parseCheckpoint(edit(good, (h) => (h['enc.ln.g'].dtype = 'BF16')))).to.throw(CheckpointError, /enc\.ln\.g.*BF16/);
    expect(() => parseCheckpoint(edit(good, (h) => (h['enc.ln.g'].dtype = 'F16')))).to.throw(CheckpointError, /enc\.ln\.g.*bytes/);
  });

  it('unknown tensor, bad and overlapping offsets', () => {
    expect(() => parseCheckpoint(edit(good, (h) => (h.extra = { dtype: 'F32', shape: [1], data_offsets: [0, 4] })))).to.throw(CheckpointError, /unknown tensor extra/);
    expect(() => parseCheckpoint(edit(good, (h) => (h['enc.ln.b'].data_offsets = h['enc.ln.g'].data_offsets)))).to.throw(CheckpointError, /enc\.ln\.(g|b) and enc\.ln\.(g|b) overlap/);
    expect(() => parseCheckpoint(edit(good, (h) => (h['dec.out.b'].data_offsets = [1e9, 1e9 + 768])))).to.throw(CheckpointError, /dec\.out\.b.*exceed/);
  });

  it('NaN or Inf in the data names the tensor', () => {
    const { header, data } = split(good);
    const at = (header['dec.ln.b'] as { data_offsets: [number, number] }).data_offsets[0];
    const d = data.slice();
    new DataView(d.buffer).setFloat32(at + 8, NaN, true);
    expect(() => parseCheckpoint(join8(header, d))).to.throw(CheckpointError, /dec\.ln\.b.*NaN.*index 2/);
    new DataView(d.buffer).setFloat32(at + 8, -Infinity, true);
    expect(() => parseCheckpoint(join8(header, d))).to.throw(CheckpointError, /dec\.ln\.b.*-Infinity/);
    const half = serializeCheckpoint(tiny, randomParams(tiny), { dtype: 'f16' });
    const hs = split(half);
    const at16 = (hs.header['enc.pos'] as { data_offsets: [number, number] }).data_offsets[0];
    const d16 = hs.data.slice();
    new DataView(d16.buffer).setUint16(at16, 0x7c00, true);
    expect(() => parseCheckpoint(join8(hs.header, d16))).to.throw(CheckpointError, /enc\.pos.*Infinity/);
  });

  it('truncated file, bad header length, broken JSON, too short', () => {
    expect(() => parseCheckpoint(good.subarray(0, good.length - 10))).to.throw(CheckpointError, /exceed.*truncated/);
    expect(() => parseCheckpoint(good.subarray(0, 100))).to.throw(CheckpointError, /bad header length/);
    expect(() => parseCheckpoint(good.subarray(0, 5))).to.throw(CheckpointError, /shorter than/);
    const huge = good.slice();
    new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
    expect(() => parseCheckpoint(huge)).to.throw(CheckpointError, /bad header length \d+ \(more than/);
    const broken = good.slice();
    broken[8] = 0x7b + 1; // '|' instead of '{'
    expect(() => parseCheckpoint(broken)).to.throw(CheckpointError, /not valid JSON/);
  });

  it('configuration: mismatch with the expected one, missing, invalid', () => {
    expect(() => parseCheckpoint(good, { ...tiny, width: 32, heads: 2 })).to.throw(CheckpointError, /width: 32 vs 64.*heads|heads.*width: 32 vs 64/);
    const noConfig = edit(good, (h) => delete h.__metadata__.tok1d_config);
    expect(() => parseCheckpoint(noConfig)).to.throw(CheckpointError, /no __metadata__\.tok1d_config/);
    expect(parseCheckpoint(noConfig, tiny).config).to.deep.equal(tiny);
    const badConfig = edit(good, (h) => (h.__metadata__.tok1d_config = JSON.stringify({ ...tiny, patch: 'eight' })));
    expect(() => parseCheckpoint(badConfig)).to.throw(CheckpointError, /field patch/);
  });
});

describe('checkpoint: atomic save', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('the target keeps the old file until the new one is complete, then holds the new one', async () => {
    const small = PRESETS.small!; // several 1 MiB chunks
    const path = join(dir, 'model.safetensors');
    const oldParams = randomParams(small);
    await saveCheckpoint(path, small, oldParams);
    const oldBytes = readFileSync(path);
    const newParams = randomParams(small);
    let calls = 0;
    await saveCheckpoint(path, small, newParams, {
      onProgress: (written, total) => {
        calls++;
        expect(written).to.be.at.most(total);
        expect(readFileSync(path).equals(oldBytes), `target changed after ${written} of ${total} bytes`).to.equal(true);
      },
    });
    expect(calls).to.be.above(2);
    const back = await loadCheckpoint(path);
    expect(Array.from(back.params.get('vq.codebook')!)).to.deep.equal(Array.from(newParams.get('vq.codebook')!));
    expect(readdirSync(dir)).to.deep.equal(['model.safetensors']);
  });

  it('a write failing midway leaves the previous file and no temporary file', async () => {
    const path = join(dir, 'model.safetensors');
    await saveCheckpoint(path, PRESETS.small!, randomParams(PRESETS.small!));
    const oldBytes = readFileSync(path);
    let calls = 0;
    const failing = saveCheckpoint(path, PRESETS.small!, randomParams(PRESETS.small!), {
      onProgress: () => {
        if (++calls === 2) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      },
    });
    let err: unknown;
    await failing.catch((e: unknown) => (err = e));
    expect(err).to.be.instanceOf(CheckpointError);
    expect((err as Error).message).to.match(/ENOSPC/);
    expect(readFileSync(path).equals(oldBytes)).to.equal(true);
    expect(readdirSync(dir)).to.deep.equal(['model.safetensors']);
  });

  it('unwritable target folder and unreadable file are CheckpointErrors', async () => {
    let err: unknown;
    await saveCheckpoint(join(dir, 'no', 'such', 'dir', 'x.safetensors'), tiny, randomParams(tiny)).catch((e: unknown) => (err = e));
    expect(err).to.be.instanceOf(CheckpointError);
    err = undefined;
    await loadCheckpoint(join(dir, 'missing.safetensors')).catch((e: unknown) => (err = e));
    expect(err).to.be.instanceOf(CheckpointError);
    writeFileSync(join(dir, 'junk.safetensors'), 'hello');
    err = undefined;
    await loadCheckpoint(join(dir, 'junk.safetensors')).catch((e: unknown) => (err = e));
    expect((err as Error).message).to.match(/junk\.safetensors: .*header length/);
  });

  const moduleUrl = new URL('../src/model/checkpoint.js', import.meta.url).href;
  const configUrl = new URL('../src/model/config.js', import.meta.url).href;
  /** A child process saving checkpoints whose values are all `version`; see the scripts below. */
  function child(script: string, path: string): ReturnType<typeof spawn> {
    const prelude = `
      import { saveCheckpoint } from ${JSON.stringify(moduleUrl)};
      import { PRESETS, paramSpecs } from ${JSON.stringify(configUrl)};
      const config = PRESETS.small;
      const params = (v) => new Map(paramSpecs(config).map((s) => [s.name, new Float32Array(s.shape.reduce((a, b) => a * b, 1)).fill(v)]));
      const path = ${JSON.stringify(path)};
    `;
    return spawn(process.execPath, ['--input-type=module', '-e', prelude + script], { stdio: ['ignore', 'pipe', 'inherit'] });
  }

  async function killWhen(proc: ReturnType<typeof spawn>, ready: (out: string) => boolean, delayMs = 0): Promise<string> {
    let out = '';
    const exited = new Promise<NodeJS.Signals | null>((resolve) => proc.on('exit', (_code, signal) => resolve(signal)));
    await new Promise<void>((resolve, reject) => {
      proc.stdout!.on('data', (b: Buffer) => {
        out += b.toString();
        if (ready(out)) resolve();
      });
      proc.on('exit', () => reject(new Error(`child exited early: ${out}`)));
    });
    if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
    proc.kill('SIGKILL');
    expect(await exited).to.equal('SIGKILL');
    return out;
  }

  it('SIGKILL in the middle of writing: the previous checkpoint still loads', async function () {
    this.timeout(30000);
    const path = join(dir, 'model.safetensors');
    const old = new Map(paramSpecs(PRESETS.small!).map((s) => [s.name, new Float32Array(s.shape.reduce((a, b) => a * b, 1)).fill(0.25)]));
    await saveCheckpoint(path, PRESETS.small!, old);
    // The child pauses after its first chunk reaches the temporary file and is killed there.
    const proc = child(
      `await saveCheckpoint(path, config, params(0.5), { onProgress: (w, t) => { if (w < t) { process.stdout.write('mid ' + w + ' ' + t + '\\n'); return new Promise(() => setInterval(() => {}, 1000)); } } });
       process.stdout.write('done\\n');`,
      path,
    );
    const out = await killWhen(proc, (o) => o.includes('mid') || o.includes('done'));
    expect(out).to.match(/^mid /);
    const temps = readdirSync(dir).filter((f) => f !== 'model.safetensors');
    expect(temps.length, 'the killed save left its partial temporary file').to.equal(1);
    expect(statSync(join(dir, temps[0]!)).size).to.be.below(statSync(path).size);
    const back = await loadCheckpoint(path);
    expect(back.params.get('vq.codebook')!.every((x) => x === 0.25)).to.equal(true);
  });

  it('SIGKILL at an arbitrary moment during repeated saves: the file is always one complete version', async function () {
    this.timeout(30000);
    const path = join(dir, 'model.safetensors');
    const proc = child(
      `for (let i = 1; ; i++) { await saveCheckpoint(path, config, params(i)); if (i === 2) process.stdout.write('saved\\n'); }`,
      path,
    );
    // Kill after a random extra delay once at least two saves are done, so the third or a later one is cut.
    await killWhen(proc, (o) => o.includes('saved'), Math.floor(freshRng()() * 200));
    const back = await loadCheckpoint(path);
    const v = back.params.get('enc.patch.w')![0]!;
    expect(v).to.be.at.least(1);
    for (const [name, data] of back.params) expect(data.every((x) => x === v), `${name} is all ${v}`).to.equal(true);
  });
});

/**
 * A safetensors file laid out the way PyTorch's `safetensors.torch.save_file(tensors, path,
 * metadata={"format": "pt"})` writes it, built here byte by byte (independently of the module under
 * test): compact JSON header with `__metadata__` first, then one entry per tensor; the data sorted by
 * dtype (wider first: F32 before F16), then by name; the header padded with spaces so the data starts
 * at a multiple of 8; no tok1d_config. `headerOrder` / `dataOrder` override the two orders (names).
 */
interface TorchTensor {
  name: string;
  dtype: 'F32' | 'F16';
  shape: number[];
  /** Raw little-endian bytes of the values. */
  raw: Uint8Array;
}

function torchFile(tensors: TorchTensor[], opts: { metadata?: Record<string, string> | null; headerOrder?: string[]; dataOrder?: string[] } = {}): Uint8Array {
  const width = (d: string) => (d === 'F32' ? 4 : 2);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const dataOrder = opts.dataOrder ?? [...tensors].sort((a, b) => width(b.dtype) - width(a.dtype) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((t) => t.name);
  const offsets = new Map<string, [number, number]>();
  let off = 0;
  for (const n of dataOrder) {
    const t = byName.get(n)!;
    offsets.set(n, [off, off + t.raw.length]);
    off += t.raw.length;
  }
  const header: Record<string, unknown> = {};
  if (opts.metadata !== null) header.__metadata__ = opts.metadata ?? { format: 'pt' };
  for (const n of opts.headerOrder ?? dataOrder) {
    const t = byName.get(n)!;
    header[n] = { dtype: t.dtype, shape: t.shape, data_offsets: offsets.get(n) };
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const extra = (8 - (json.length % 8)) % 8;
  json = Buffer.concat([json, Buffer.alloc(extra, 0x20)]);
  const out = new Uint8Array(8 + json.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  for (const n of dataOrder) out.set(byName.get(n)!.raw, 8 + json.length + offsets.get(n)![0]);
  return out;
}

/** Random F32 values (raw bytes and the numbers), or random finite F16 bit patterns decoded by the formula. */
function torchTensor(name: string, shape: number[], dtype: 'F32' | 'F16', r: () => number): { t: TorchTensor; values: Float32Array } {
  const n = shape.reduce((a, b) => a * b, 1);
  if (dtype === 'F32') {
    const values = randomNormal(n, r, 0.5);
    const raw = new Uint8Array(4 * n);
    const dv = new DataView(raw.buffer);
    values.forEach((v, i) => dv.setFloat32(4 * i, v, true));
    return { t: { name, dtype, shape, raw }, values };
  }
  const raw = new Uint8Array(2 * n);
  const dv = new DataView(raw.buffer);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const sign = r() < 0.5 ? 1 : 0;
    const exp = 1 + Math.floor(r() * 20); // normal halves from 2^-14 to 2^5
    const mant = Math.floor(r() * 1024);
    dv.setUint16(2 * i, (sign << 15) | (exp << 10) | mant, true);
    values[i] = (sign ? -1 : 1) * 2 ** (exp - 15) * (1 + mant / 1024);
  }
  return { t: { name, dtype, shape, raw }, values };
}

function torchModel(config: ModelConfig, f16?: (name: string) => boolean): { tensors: TorchTensor[]; values: Map<string, Float32Array> } {
  const r = freshRng();
  const tensors: TorchTensor[] = [];
  const values = new Map<string, Float32Array>();
  for (const s of paramSpecs(config)) {
    const { t, values: v } = torchTensor(s.name, s.shape, f16?.(s.name) ? 'F16' : 'F32', r);
    tensors.push(t);
    values.set(s.name, v);
  }
  return { tensors, values };
}

function expectValues(got: ReadonlyMap<string, Float32Array>, want: ReadonlyMap<string, Float32Array>): void {
  expect([...got.keys()]).to.deep.equal(paramSpecs(tiny).map((s) => s.name));
  for (const [name, v] of want) expect(Array.from(got.get(name)!), name).to.deep.equal(Array.from(v));
}

/** A permutation of xs from the generator. */
function shuffled<T>(xs: readonly T[], r: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

describe('checkpoint: files written by PyTorch (safetensors.torch.save_file layout)', () => {
  it('the fixture has the layout of the format: header a multiple of 8, data in name order, no gaps', () => {
    const { tensors } = torchModel(tiny);
    const bytes = torchFile(tensors);
    const { header, data } = split(bytes);
    expect((bytes.length - data.length) % 8).to.equal(0);
    expect(Object.keys(header)[0]).to.equal('__metadata__');
    const names = Object.keys(header).slice(1);
    expect(names).to.deep.equal([...names].sort());
    expect(names).to.not.deep.equal(paramSpecs(tiny).map((s) => s.name)); // not tok1d's own order
    let off = 0;
    for (const n of names) {
      const e = header[n] as { data_offsets: [number, number] };
      expect(e.data_offsets[0]).to.equal(off);
      off = e.data_offsets[1];
    }
    expect(off).to.equal(data.length);
  });

  it('without tok1d_config: refused without a configuration, loads bit-exact with one', () => {
    const { tensors, values } = torchModel(tiny);
    const bytes = torchFile(tensors);
    expect(() => parseCheckpoint(bytes)).to.throw(CheckpointError, /no __metadata__\.tok1d_config/);
    const back = parseCheckpoint(bytes, tiny);
    expect(back.config).to.deep.equal(tiny);
    expect(back.metadata).to.deep.equal({ format: 'pt' });
    expectValues(back.params, values);
    // No __metadata__ at all is valid safetensors too.
    expectValues(parseCheckpoint(torchFile(tensors, { metadata: null }), tiny).params, values);
  });

  it('tensors in any header order and any data order, F32 and F16 mixed', () => {
    const r = freshRng();
    const { tensors, values } = torchModel(tiny, (name) => name.startsWith('dec.') || name === 'vq.codebook');
    const names = tensors.map((t) => t.name);
    for (let i = 0; i < 3; i++) {
      const bytes = torchFile(tensors, { headerOrder: shuffled(names, r), dataOrder: shuffled(names, r) });
      const back = parseCheckpoint(bytes, tiny);
      expectValues(back.params, values);
      expect(back.dtypes.get('vq.codebook')).to.equal('F16');
      expect(back.dtypes.get('enc.pos')).to.equal('F32');
    }
    // The save_file order itself: every F32 tensor's data before every F16 one.
    expectValues(parseCheckpoint(torchFile(tensors), tiny).params, values);
  });

  it('a configuration in the file must agree with the one given', () => {
    const { tensors } = torchModel(tiny);
    const withConfig = torchFile(tensors, { metadata: { format: 'pt', tok1d_config: JSON.stringify(tiny) } });
    expect(parseCheckpoint(withConfig).config).to.deep.equal(tiny);
    expect(() => parseCheckpoint(withConfig, { ...tiny, beta: 0.5 })).to.throw(CheckpointError, /beta: 0\.5 vs 0\.25/);
    // Shapes are still checked against the configuration given.
    expect(() => parseCheckpoint(torchFile(tensors), PRESETS.small)).to.throw(CheckpointError, /shape mismatch|unknown tensor|missing tensor/);
  });

  it('loadCheckpoint reads such a file from disk with the configuration given', async () => {
    const dir = tempDir();
    try {
      const { tensors, values } = torchModel(tiny);
      const path = join(dir, 'torch.safetensors');
      writeFileSync(path, torchFile(tensors));
      expectValues((await loadCheckpoint(path, tiny)).params, values);
      let err: unknown;
      await loadCheckpoint(path).catch((e: unknown) => (err = e));
      expect((err as Error).message).to.match(/torch\.safetensors: .*tok1d_config/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('tok1d --checkpoint FILE --preset NAME (a file without tok1d_config)', function () {
  this.timeout(300_000);
  let dir: string;
  before(() => {
    dir = tempDir();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const IMAGES = ['test/fixtures/horse.png', 'test/fixtures/chessboard_RGB.png'];

  it('tokenizes with the preset named; the same tokens as tok1d\'s own file of the same weights', async () => {
    const { tensors, values } = torchModel(tiny, (name) => name.startsWith('dec.'));
    const torchPath = join(dir, 'torch.safetensors');
    const oursPath = join(dir, 'ours.safetensors');
    writeFileSync(torchPath, torchFile(tensors));
    await saveCheckpoint(oursPath, tiny, values);
    const a = await tok1d(['tokenize', ...IMAGES, '--checkpoint', torchPath, '--preset', 'tiny', '--backend', 'opengl']);
    expectNoStack(a);
    expect(a.code, a.stderr).to.equal(0);
    const b = await tok1d(['tokenize', ...IMAGES, '--checkpoint', oursPath, '--backend', 'opengl']);
    expect(b.code, b.stderr).to.equal(0);
    expect(a.stdout.trim().split('\n')).to.have.length(2);
    expect(a.stdout).to.equal(b.stdout);
  });

  it('without --preset, with the wrong preset, or with --random-init: one clear line, no stack', async () => {
    const torchPath = join(dir, 'torch2.safetensors');
    const oursPath = join(dir, 'ours2.safetensors');
    const { tensors, values } = torchModel(tiny);
    writeFileSync(torchPath, torchFile(tensors));
    await saveCheckpoint(oursPath, tiny, values);
    const none = await tok1d(['tokenize', IMAGES[0]!, '--checkpoint', torchPath, '--backend', 'opengl']);
    expectNoStack(none);
    expect(none.code).to.equal(3); // a user error (EXIT.user)
    expect(ownLines(none.stderr).join('\n')).to.match(/torch2\.safetensors: the file stores no tok1d model configuration .*--preset NAME/);
    const wrong = await tok1d(['tokenize', IMAGES[0]!, '--checkpoint', torchPath, '--preset', 'small', '--backend', 'opengl']);
    expect(wrong.code).to.equal(3);
    expect(ownLines(wrong.stderr).join('\n')).to.match(/torch2\.safetensors: .*(shape mismatch|missing tensor|unknown tensor)/);
    const disagree = await tok1d(['tokenize', IMAGES[0]!, '--checkpoint', oursPath, '--preset', 'small', '--backend', 'opengl']);
    expect(disagree.code).to.equal(3);
    expect(ownLines(disagree.stderr).join('\n')).to.match(/ours2\.safetensors: checkpoint is for another model configuration/);
    expect(ownLines(disagree.stderr).join('\n')).to.not.match(/ours2\.safetensors: .*ours2\.safetensors/);
    const unknown = await tok1d(['tokenize', IMAGES[0]!, '--checkpoint', torchPath, '--preset', 'huge', '--backend', 'opengl']);
    expect(unknown.code).to.equal(2);
    const both = await tok1d(['tokenize', IMAGES[0]!, '--checkpoint', torchPath, '--preset', 'tiny', '--random-init', '--backend', 'opengl']);
    expect(both.code).to.equal(2);
  });
});
