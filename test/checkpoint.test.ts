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
