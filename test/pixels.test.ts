import { expect } from 'chai';
import type { Engine } from '../src/gpu/engine.js';
import { fromModelOutput, toModelInput } from '../src/io/image.js';
import { modelOutputToRgba, modelOutputToTexture, pixelsToModelInput } from '../src/ops/pixels.js';
import { Tokenizer } from '../src/model/tokenizer.js';
import { Tensor } from '../src/tensor.js';
import { describeBackends, freshRng, randomF32, RUN_SEED } from './helpers.js';

// The references are the CPU conversions themselves (toModelInput, fromModelOutput): the GPU path
// must agree with what Node and the browser compute on the CPU.

function randomBytes(n: number, r: () => number): Uint8Array {
  const a = new Uint8Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.floor(r() * 256);
  return a;
}

/** RGBA bytes with alpha forced to `alpha` (a number) or random. */
function rgbaImage(w: number, h: number, r: () => number, alpha: number | 'random' | 'binary'): Uint8Array {
  const px = randomBytes(w * h * 4, r);
  for (let p = 0; p < w * h; p++) px[4 * p + 3] = alpha === 'random' ? px[4 * p + 3]! : alpha === 'binary' ? (px[4 * p + 3]! & 1 ? 255 : 0) : alpha;
  return px;
}

/** Composited on white and rounded, as the CPU path of Tokenizer does for RGBA pixels. */
function rgbOverWhite(rgba: Uint8Array): Uint8Array {
  const n = rgba.length / 4;
  const rgb = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    const a = rgba[4 * p + 3]! / 255;
    for (let c = 0; c < 3; c++) rgb[3 * p + c] = Math.round(a * rgba[4 * p + c]! + (1 - a) * 255);
  }
  return rgb;
}

function texture(engine: Engine, w: number, h: number, rgba: Uint8Array, usage = GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST): GPUTexture {
  const t = engine.device.createTexture({ size: [w, h], format: 'rgba8unorm', usage: usage | GPUTextureUsage.COPY_DST });
  engine.device.queue.writeTexture({ texture: t }, rgba as Uint8Array<ArrayBuffer>, { bytesPerRow: 4 * w }, [w, h]);
  return t;
}

/** A buffer holding `bytes` at `offset`, the rest filled with 0xA5. */
function bufferWith(engine: Engine, size: number, offset: number, bytes: Uint8Array, usage: number): GPUBuffer {
  const b = engine.device.createBuffer({ size, usage: usage | GPUBufferUsage.COPY_DST });
  const all = new Uint8Array(size).fill(0xa5);
  all.set(bytes, offset);
  engine.device.queue.writeBuffer(b, 0, all);
  return b;
}

async function readBuffer(engine: Engine, buffer: GPUBuffer): Promise<Uint8Array> {
  const t = new Tensor(buffer, [buffer.size / 4], 'u32', false);
  const u = await engine.readU32(t);
  return new Uint8Array(u.buffer, u.byteOffset, u.byteLength);
}

async function readTexture(engine: Engine, tex: GPUTexture, w: number, h: number): Promise<Uint8Array> {
  const bpr = Math.ceil((4 * w) / 256) * 256;
  const b = engine.device.createBuffer({ size: bpr * h, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
  engine.recordCommands((enc) => enc.copyTextureToBuffer({ texture: tex }, { buffer: b, bytesPerRow: bpr }, [w, h]));
  const raw = await readBuffer(engine, b);
  b.destroy();
  const out = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) out.set(raw.subarray(y * bpr, y * bpr + 4 * w), 4 * w * y);
  return out;
}

async function rejection(p: Promise<unknown>): Promise<Error | undefined> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  return undefined;
}

function maxAbs(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Number.isNaN(a[i]!) ? Infinity : Math.abs(a[i]! - b[i]!));
  return m;
}

/**
 * Compares GPU output bytes (RGBA) with fromModelOutput: every byte equal, except that a value within
 * 1e-4 of a rounding tie (f32 vs f64 product) may land one level away. Returns the number of such ties.
 */
function expectBytes(rgba: Uint8Array, x: Float32Array, S: number, what: string): number {
  const rgb = fromModelOutput(x, S).rgb;
  let ties = 0;
  for (let p = 0; p < S * S; p++) {
    expect(rgba[4 * p + 3], `${what}: alpha of pixel ${p}`).to.equal(255);
    for (let c = 0; c < 3; c++) {
      const got = rgba[4 * p + c]!;
      const want = rgb[3 * p + c]!;
      if (got === want) continue;
      const v = (Math.min(1, Math.max(-1, x[3 * p + c]!)) + 1) * 127.5;
      const nearTie = Math.abs(v - Math.floor(v) - 0.5) < 1e-4;
      expect(nearTie && Math.abs(got - want) === 1, `${what}: pixel ${p} channel ${c}: ${got} vs ${want} (value ${x[3 * p + c]}, seed ${RUN_SEED})`).to.equal(true);
      ties++;
    }
  }
  return ties;
}

/**
 * Resize tolerance: the kernel's f32 weights and sums against toModelInput's f64 ones, on values in
 * [-1, 1]. Each output is two passes of tent-filter sums with up to ~2·(source/output) taps (about 20
 * for the 640 → 64 case); with rounding error below n·2⁻²⁴ relative per pass the bound is
 * 2 · 20 · 6e-8 ≈ 2.4e-6. Measured maxima: 4e-7 to 6.6e-7 over many seeds on both backends.
 */
const RESIZE_TOL = 2.4e-6;

describeBackends('pixels (GPU image input and output)', (get) => {
  // Source sizes: identity (S × S), upscaling, downscaling, extreme aspect ratios, one row.
  const sizes: [number, number, number][] = [
    [32, 32, 32],
    [45, 29, 32],
    [100, 70, 32],
    [7, 300, 32],
    [517, 1, 32],
    [33, 127, 7],
    [640, 427, 64],
    [512, 512, 256],
  ];

  it('texture → model input equals toModelInput (resize + centre crop), opaque and with alpha 0/255', async () => {
    const engine = get();
    const r = freshRng();
    for (const [w, h, S] of sizes) {
      for (const alpha of [255, 'binary'] as const) {
        const rgba = rgbaImage(w, h, r, alpha);
        const tex = texture(engine, w, h, rgba);
        const out = engine.empty([2, S, S, 3]);
        pixelsToModelInput(engine, tex, out, 1);
        const got = (await engine.readF32(out)).subarray(S * S * 3);
        const want = toModelInput({ width: w, height: h, rgb: rgbOverWhite(rgba) }, S);
        const err = maxAbs(got, want);
        expect(err, `${w}×${h} → ${S}, alpha ${alpha}: max |error| ${err} (seed ${RUN_SEED})`).to.be.at.most(RESIZE_TOL);
        engine.release(out);
        tex.destroy();
      }
    }
  });

  it('partial alpha is composited on white before filtering (within the CPU path’s 8-bit rounding)', async () => {
    const engine = get();
    const r = freshRng();
    const [w, h, S] = [70, 45, 32];
    const rgba = rgbaImage(w, h, r, 'random');
    const tex = texture(engine, w, h, rgba);
    const out = engine.empty([1, S, S, 3]);
    pixelsToModelInput(engine, tex, out, 0);
    const got = await engine.readF32(out);
    const want = toModelInput({ width: w, height: h, rgb: rgbOverWhite(rgba) }, S);
    // The CPU path rounds the composite to 8 bits first: at most half a level apart (1/255 in [-1, 1]).
    expect(maxAbs(got, want)).to.be.at.most(0.5 / 127.5 + RESIZE_TOL);
    engine.release(out);
    tex.destroy();
  });

  it('packed RGBA8 buffer → model input: unaligned offset, padded rows, batch slot, no-resize size check', async () => {
    const engine = get();
    const r = freshRng();
    for (const [w, h, S] of [[45, 29, 32], [33, 127, 7], [32, 32, 32]] as const) {
      const rgba = rgbaImage(w, h, r, 255);
      const bpr = 4 * w + 12;
      const offset = 260;
      const padded = new Uint8Array((h - 1) * bpr + 4 * w);
      for (let y = 0; y < h; y++) padded.set(rgba.subarray(4 * w * y, 4 * w * (y + 1)), y * bpr);
      const buf = bufferWith(engine, Math.ceil((offset + padded.length) / 4) * 4 + 64, offset, padded, GPUBufferUsage.STORAGE);
      const out = engine.empty([3, S, S, 3]);
      pixelsToModelInput(engine, { buffer: buf, width: w, height: h, offset, bytesPerRow: bpr }, out, 2);
      const got = (await engine.readF32(out)).subarray(2 * S * S * 3);
      const want = toModelInput({ width: w, height: h, rgb: rgbOverWhite(rgba) }, S);
      expect(maxAbs(got, want), `${w}×${h} → ${S}`).to.be.at.most(RESIZE_TOL);
      if (w !== S || h !== S) expect(() => pixelsToModelInput(engine, { buffer: buf, width: w, height: h, offset, bytesPerRow: bpr }, out, 0, { resize: false })).to.throw(/without resizing/);
      engine.release(out);
      buf.destroy();
    }
  });

  it('model output → rgba8unorm texture and packed RGBA8 buffer, with fromModelOutput’s rounding and clamping', async () => {
    const engine = get();
    const r = freshRng();
    let ties = 0;
    for (const S of [7, 32, 64]) {
      const x = randomF32(2 * S * S * 3, r, -1.3, 1.3);
      const img = engine.upload(x, [2, S, S, 3]);
      const second = x.subarray(S * S * 3);
      const tex = engine.device.createTexture({ size: [S + 3, S + 1], format: 'rgba8unorm', usage: GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.COPY_SRC });
      modelOutputToTexture(engine, img, 1, tex);
      ties += expectBytes(await readTexture(engine, tex, S, S), second, S, `texture S=${S}`);
      tex.destroy();

      const bpr = 4 * S + 8;
      const offset = 516;
      const size = Math.ceil((offset + (S - 1) * bpr + 4 * S) / 4) * 4 + 32;
      const buf = bufferWith(engine, size, 0, new Uint8Array(0), GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
      modelOutputToRgba(engine, img, 1, { buffer: buf, offset, bytesPerRow: bpr });
      const raw = await readBuffer(engine, buf);
      const rows = new Uint8Array(S * S * 4);
      for (let y = 0; y < S; y++) rows.set(raw.subarray(offset + y * bpr, offset + y * bpr + 4 * S), 4 * S * y);
      ties += expectBytes(rows, second, S, `buffer S=${S}`);
      // Bytes outside the image rows are untouched.
      for (let i = 0; i < offset; i++) expect(raw[i]).to.equal(0xa5);
      for (let y = 0; y < S - 1; y++) for (let i = 4 * S; i < bpr; i++) expect(raw[offset + y * bpr + i]).to.equal(0xa5);
      for (let i = offset + (S - 1) * bpr + 4 * S; i < size; i++) expect(raw[i]).to.equal(0xa5);
      buf.destroy();
      engine.release(img);
    }
    if (ties) console.log(`      ${ties} values one level apart at f32 rounding ties`);
  });

  it('bad resources are refused with a clear message', () => {
    const engine = get();
    const out = engine.empty([1, 32, 32, 3]);
    const noBinding = engine.device.createTexture({ size: [4, 4], format: 'rgba8unorm', usage: GPUTextureUsage.COPY_DST });
    expect(() => pixelsToModelInput(engine, noBinding, out, 0)).to.throw(/TEXTURE_BINDING/);
    const noStorage = engine.device.createBuffer({ size: 256, usage: GPUBufferUsage.COPY_DST });
    expect(() => pixelsToModelInput(engine, { buffer: noStorage, width: 8, height: 8 }, out, 0)).to.throw(/STORAGE/);
    expect(() => pixelsToModelInput(engine, { buffer: noStorage, width: 8, height: 9 }, out, 0)).to.throw(/exceed/);
    const wrongFormat = engine.device.createTexture({ size: [32, 32], format: 'rgba16float', usage: GPUTextureUsage.STORAGE_BINDING });
    expect(() => modelOutputToTexture(engine, out, 0, wrongFormat)).to.throw(/rgba8unorm/);
    expect(() => modelOutputToRgba(engine, out, 1, { buffer: noStorage })).to.throw(/outside the batch/);
    engine.release(out);
    noBinding.destroy();
    noStorage.destroy();
    wrongFormat.destroy();
  });
});

describeBackends('Tokenizer on GPU resources (embedding)', (get) => {
  it('GPU inputs give the CPU path’s ids; ids stay in a GPUBuffer; decodeTo textures and buffers; no error scope left open', async () => {
    const engine = get();
    const tok = await Tokenizer.random('tiny', RUN_SEED, { engine });
    const device = engine.device;
    try {
      const S = tok.config.imageSize;
      const T = tok.tokensPerImage;
      const r = freshRng();
      // Three S × S opaque images: on the CPU (pixels), as a texture without TEXTURE_BINDING (copied),
      // as a packed buffer, and as the model input in a buffer. resize: false keeps the GPU path's
      // tap weights exactly 0 and 1, so every path feeds the encoder the same values (to the last bit
      // or one f32 rounding of p / 127.5 - 1).
      const images = [0, 1, 2].map(() => rgbaImage(S, S, r, 255));
      const cpu = await tok.encode(images.map((d) => ({ width: S, height: S, data: d })), { resize: false });
      const inputs = images.map((d) => toModelInput({ width: S, height: S, rgb: rgbOverWhite(d) }, S, { resize: false }));
      const texCopyOnly = texture(engine, S, S, images[0]!, GPUTextureUsage.COPY_SRC);
      const packed = bufferWith(engine, 4 * S * S, 0, images[1]!, GPUBufferUsage.STORAGE);
      const f32 = new Uint8Array(inputs[2]!.buffer);
      const model = bufferWith(engine, f32.length + 256, 256, f32, GPUBufferUsage.COPY_SRC);
      const gpuIds = await tok.encode(
        [texCopyOnly, { buffer: packed, width: S, height: S }, { buffer: model, width: S, height: S, format: 'model-f32', offset: 256 }],
        { resize: false },
      );
      expect(gpuIds.map((a) => [...a])).to.deep.equal(cpu.map((a) => [...a]));

      // Ids into the app's buffer at an offset, then decoded from there without a read-back.
      const into = device.createBuffer({ size: 64 + 3 * T * 4, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC | GPUBufferUsage.STORAGE });
      const tb = await tok.encodeToBuffer([texCopyOnly, { buffer: packed, width: S, height: S }, inputs[2]!], { resize: false, into, offset: 64, batch: 2 });
      expect(tb).to.include({ buffer: into, images: 3, offset: 64 });
      const raw = await readBuffer(engine, into);
      expect([...new Uint32Array(raw.buffer, raw.byteOffset + 64, 3 * T)]).to.deep.equal(cpu.flatMap((a) => [...a]));
      const fresh = await tok.encodeToBuffer(inputs);
      expect(fresh.buffer.usage & GPUBufferUsage.STORAGE).to.not.equal(0);
      fresh.buffer.destroy();

      const want = await tok.decode(cpu);
      const fromBuffer = await tok.decode(tb);
      expect(fromBuffer.map((a) => [...a])).to.deep.equal(want.map((a) => [...a]));
      const textures = [0, 1].map(() => device.createTexture({ size: [S, S], format: 'rgba8unorm', usage: GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.COPY_SRC }));
      const rgbaOut = device.createBuffer({ size: 4 * S * S, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
      const f32Out = device.createBuffer({ size: S * S * 12, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
      await tok.decodeTo({ buffer: into, images: 3, offset: 64 }, [textures[0]!, { buffer: rgbaOut }, { buffer: f32Out, format: 'model-f32' }], 2);
      await tok.decodeTo([cpu[1]!], [textures[1]!]);
      expectBytes(await readTexture(engine, textures[0]!, S, S), want[0]!, S, 'decodeTo texture');
      expectBytes(await readBuffer(engine, rgbaOut), want[1]!, S, 'decodeTo buffer');
      expect([...new Float32Array((await readBuffer(engine, f32Out)).buffer)]).to.deep.equal([...want[2]!]);
      expectBytes(await readTexture(engine, textures[1]!, S, S), want[1]!, S, 'decodeTo texture from ids');

      // Refusals happen before any GPU work and still leave no error scope behind.
      expect((await rejection(tok.decodeTo(cpu, [textures[0]!])))?.message).to.match(/1 targets for 3 images/);
      const bad = tok.encode([{ buffer: f32Out, width: S, height: S, format: 'model-f32' }, { buffer: rgbaOut, width: S + 1, height: S }]);
      expect((await rejection(bad))?.message).to.match(/image 1: .*exceed/);
      let popped: unknown = null;
      await device.popErrorScope().catch((e: unknown) => (popped = e));
      expect(popped, 'popErrorScope on an empty stack must reject: a tok1d call left a scope open').to.be.instanceOf(Error);

      for (const t of textures) t.destroy();
      for (const b of [texCopyOnly, packed, model, into, rgbaOut, f32Out]) b.destroy();
    } finally {
      tok.dispose();
    }
  });
});
