import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  appendTokFile,
  configHash,
  formatJsonlLine,
  parseJsonl,
  readJsonl,
  readTokFile,
  serializeTok,
  TokenFileError,
  tokHeaderFor,
  writeJsonl,
  writeTokFile,
  type TokenRecord,
} from '../src/io/tokens.js';
import { CheckpointError, serializeCheckpoint } from '../src/model/checkpoint.js';
import { PRESETS } from '../src/model/config.js';
import { TITOK_PRESETS, type TiTokConfig } from '../src/model/titok-config.js';
import { fromModelOutput, toModelInput } from '../src/io/image.js';
import { TokenizerModel } from '../src/model/model.js';
import { Tokenizer } from '../src/model/tokenizer.js';
import { describeBackends, expectClose, freshRng, randomF32, RUN_SEED } from './helpers.js';
import { MemoryTuneStore } from '../src/gpu/autotune.js';
import { createEngine } from '../src/node-engine.js';
import { shapeClass } from '../src/ops/matmul.js';
import { DEFAULT_BATCH } from '../src/model/tokenizer-core.js';
import { modelMatmuls } from '../src/model/tune.js';

const tiny = PRESETS.tiny!;
const S = tiny.imageSize;
const T = 16;

function images(n: number): Float32Array[] {
  const r = freshRng();
  return Array.from({ length: n }, () => randomF32(S * S * 3, r));
}

async function rejects(p: Promise<unknown>, cls: new (...a: never[]) => Error, re: RegExp): Promise<void> {
  let err: unknown;
  await p.catch((e: unknown) => (err = e));
  expect(err, `expected a rejection matching ${re}`).to.be.instanceOf(cls);
  expect((err as Error).message).to.match(re);
}

describeBackends('Tokenizer.warmup', (_get, backend) => {
  const titok: TiTokConfig = { ...TITOK_PRESETS['titok-bl64-vq']!, imageSize: 32, encoderPatch: 8, decoderPatch: 8, encoderSize: 'tiny', decoderSize: 'tiny', tokens: 8, codebookSize: 256, tokenSize: 12, useL2Norm: true };
  for (const [what, preset] of [['tiny', 'tiny'], ['a TiTok model', titok]] as const)
    it(`${what}: compiles every pipeline encode and decode use, ahead; same ids and pixels; no resource left by the trace`, async () => {
      const fresh = () => createEngine({ backend, poison: true, tuneStore: new MemoryTuneStore() });
      const [ea, eb] = [await fresh(), await fresh()];
      try {
        const warm = await Tokenizer.random(preset, RUN_SEED, { engine: ea });
        const cold = await Tokenizer.random(preset, RUN_SEED, { engine: eb });
        const r = freshRng();
        const images = [0, 1].map(() => randomF32(warm.imageValues, r, -1, 1));
        const resources = ea.resourceCount;
        const before = ea.counters.pipelinesCompiled;
        const n = await warm.warmup({ batch: 2 });
        expect(n).to.be.greaterThan(5);
        expect(ea.counters.pipelinesCompiled - before, 'warmup compiled what it traced').to.equal(n);
        expect(ea.resourceCount, 'the trace keeps no resource').to.equal(resources);
        const ids = await warm.encode(images, { batch: 2 });
        const back = await warm.decode(ids, { batch: 2 });
        expect(ea.counters.pipelinesCompiled - before, 'nothing compiled at first use').to.equal(n);
        const coldIds = await cold.encode(images, { batch: 2 });
        expect(ids.map((a) => Array.from(a))).to.deep.equal(coldIds.map((a) => Array.from(a)));
        const coldBack = await cold.decode(coldIds, { batch: 2 });
        back.forEach((b, i) => expect(Array.from(b)).to.deep.equal(Array.from(coldBack[i]!)));
        expect(await warm.warmup({ batch: 2 }), 'a second warmup finds nothing left').to.equal(0);
        warm.dispose();
        cold.dispose();
      } finally {
        ea.dispose();
        eb.dispose();
      }
    });
});

describeBackends('Tokenizer.warmup({ kernels: fast })', (_get, backend) => {
  it('compiles the fast kernels, then switches to them: nothing compiled at first use, the same images from the same ids', async function () {
    // The switch does not depend on the backend; SwiftShader compiles the fast kernels for 10 s and more.
    if (backend !== 'opengl') {
      console.log('      skipped: runs on opengl only (the same logic; compiling costs 10 s more per backend)');
      this.skip();
    }
    const engine = await createEngine({ backend, poison: true, tuneStore: new MemoryTuneStore() });
    try {
      const tok = await Tokenizer.random('tiny', RUN_SEED, { engine });
      const images = [randomF32(tok.imageValues, freshRng(), -1, 1)];
      expect(engine.info.software, 'the test backends are CPU executors').to.equal(true);
      const quickN = await tok.warmup();
      const ids = await tok.encode(images);
      const quickBack = await tok.decode(ids);
      const before = engine.counters.pipelinesCompiled;
      const traced: string[] = [];
      const trace = engine.tracePipelines.bind(engine);
      engine.tracePipelines = async (fn) => {
        const list = await trace(fn);
        traced.push(...list.map((p) => p.kernel));
        return list;
      };
      const fastN = await tok.warmup({ kernels: 'fast' });
      expect(quickN).to.be.greaterThan(5);
      expect(traced, 'the fast matmul and attention kernels').to.include.members(['matmul_tex', 'attention_unrolled']);
      expect(traced, 'the quick ones are already compiled').to.not.include('matmul');
      expect(engine.quickCompileFlops).to.equal(0);
      expect(engine.counters.pipelinesCompiled - before).to.equal(fastN);
      const fastBack = await tok.decode(ids);
      await tok.encode(images);
      expect(engine.counters.pipelinesCompiled - before, 'nothing compiled at first use').to.equal(fastN);
      expectClose(fastBack[0]!, quickBack[0]!, 1e-5, 'decode on the fast kernels against the quick ones');
      const wrong = await tok.warmup({ kernels: 'fastest' as 'fast' }).then(() => null, (e: unknown) => e);
      expect(wrong).to.be.instanceOf(TypeError).with.property('message').that.matches(/kernels must be 'quick' or 'fast'/);
      tok.dispose();
    } finally {
      engine.dispose();
    }
  });
});

describeBackends('Tokenizer (tiny)', (get, backend) => {
  it("kernel choices: 'auto' measures nothing on a CPU executor; 'measure' times the missing classes once and stores them", async function () {
    // The choice logic does not depend on the backend; timing every candidate costs 20-40 s, so once.
    if (backend !== 'opengl') {
      console.log('      skipped: runs on opengl only (the same logic; measuring costs 20-40 s per backend)');
      this.skip();
    }
    // A fresh engine with an empty in-memory store, so no other test's choices count.
    const store = new MemoryTuneStore();
    const e = await createEngine({ backend, tuneStore: store });
    try {
      const classes = modelMatmuls(tiny, DEFAULT_BATCH).map((m) => shapeClass(m.shape));
      (await Tokenizer.random('tiny', 1, { engine: e })).dispose();
      expect(e.info.software).to.equal(true);
      expect(classes.map((c) => e.tuner.choice('matmul', c))).to.deep.equal(classes.map(() => undefined));
      (await Tokenizer.random('tiny', 1, { engine: e, tune: 'measure' })).dispose();
      const entries = classes.map((c) => e.tuner.entry('matmul', c));
      for (const [i, entry] of entries.entries()) {
        expect(entry, classes[i]).to.not.equal(undefined);
        expect(Object.keys(entry!.ms).length, `${classes[i]} candidates`).to.be.greaterThan(1);
      }
      expect(await store.read()).to.include(classes[0]!);
      // Measured once: a second load reuses the stored entries as they are.
      (await Tokenizer.random('tiny', 1, { engine: e, tune: 'measure' })).dispose();
      expect(classes.map((c) => e.tuner.entry('matmul', c))).to.deep.equal(entries);
      classes.forEach((c, i) => expect(e.tuner.entry('matmul', c)).to.equal(entries[i]));
    } finally {
      e.dispose();
    }
  });

  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tok1d-tokenizer-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('encode: ids in range, deterministic, batch size does not matter, equal to the model forward', async () => {
    const tok = await Tokenizer.random('tiny', RUN_SEED, { engine: get() });
    try {
      expect(tok.tokensPerImage).to.equal(T);
      expect(tok.bitsPerImage).to.equal(T * 6);
      const imgs = images(5);
      const a = await tok.encode(imgs);
      const b = await tok.encode(imgs, 2);
      expect(a.length).to.equal(5);
      for (const ids of a) {
        expect(ids).to.be.instanceOf(Uint32Array);
        expect(ids.length).to.equal(T);
        for (const id of ids) expect(id).to.be.below(tiny.codebookSize);
      }
      expect(b.map((x) => Array.from(x))).to.deep.equal(a.map((x) => Array.from(x)));
      // Not a constant map: different images give different ids somewhere.
      expect(new Set(a.map((x) => x.join(','))).size).to.be.above(1);
      // Same ids as the full model forward on the batch.
      const e = get();
      const data = new Float32Array(5 * S * S * 3);
      imgs.forEach((img, i) => data.set(img, i * S * S * 3));
      const x = e.upload(data, [5, S, S, 3]);
      const r = (tok.model as TokenizerModel).forward({ engine: e, tape: null }, x);
      const want = await e.readU32(r.indices);
      e.release(x, r.reconstruction, r.indices, r.recon, r.codebookLoss, r.commitmentLoss);
      expect(Array.from(want)).to.deep.equal(a.flatMap((ids) => Array.from(ids)));
    } finally {
      tok.dispose();
    }
  });

  it('encodePixels / decodePixels: RGB and RGBA bytes in and out, consistent with encode/decode', async () => {
    const tok = await Tokenizer.random('tiny', RUN_SEED, { engine: get() });
    try {
      // A 48×40 RGBA image (opaque) and the same as RGB: the same ids after resize + crop.
      const W = 48;
      const H = 40;
      const rgba = new Uint8ClampedArray(W * H * 4);
      const rgb = new Uint8Array(W * H * 3);
      for (let p = 0; p < W * H; p++) {
        for (let c = 0; c < 3; c++) rgb[3 * p + c] = rgba[4 * p + c] = (p * (c + 3) * 7) % 256;
        rgba[4 * p + 3] = 255;
      }
      const [a] = await tok.encodePixels([{ width: W, height: H, data: rgba }]);
      const [b] = await tok.encodePixels([{ width: W, height: H, data: rgb }]);
      expect(Array.from(a!)).to.deep.equal(Array.from(b!));
      const [c] = await tok.encode([toModelInput({ width: W, height: H, rgb }, S)]);
      expect(Array.from(a!)).to.deep.equal(Array.from(c!));
      const [out4] = await tok.decodePixels([a!], { channels: 4 });
      const [out3] = await tok.decodePixels([a!]);
      const [f] = await tok.decode([a!]);
      expect([out4!.width, out4!.height, out4!.data.length]).to.deep.equal([S, S, S * S * 4]);
      expect(Buffer.from(out3!.data).equals(Buffer.from(fromModelOutput(f!, S).rgb))).to.equal(true);
      for (let p = 0; p < S * S; p++) {
        expect(out4!.data[4 * p + 3]).to.equal(255);
        expect(out4!.data[4 * p]).to.equal(out3!.data[3 * p]);
      }
      await rejects(tok.encodePixels([{ width: W, height: H, data: rgb.subarray(1) }]), Error, /bytes for 48×40/);
    } finally {
      tok.dispose();
    }
  });

  it('decode: shapes, finite values, batch-independent, id-dependent', async () => {
    const tok = await Tokenizer.random('tiny', RUN_SEED, { engine: get() });
    try {
      const r = freshRng();
      const ids = Array.from({ length: 3 }, () => Uint32Array.from({ length: T }, () => Math.floor(r() * tiny.codebookSize)));
      const out = await tok.decode(ids, 2);
      expect(out.length).to.equal(3);
      for (const img of out) {
        expect(img.length).to.equal(S * S * 3);
        expect(img.every(Number.isFinite)).to.equal(true);
      }
      // The second image alone gives the same pixels as in the batch.
      const [single] = await tok.decode([ids[1]!]);
      expect(Array.from(single!)).to.deep.equal(Array.from(out[1]!));
      // Different ids decode to different images.
      expect(Array.from(out[0]!)).to.not.deep.equal(Array.from(out[1]!));
      const rec = await tok.reconstruct(images(2));
      expect(rec.length).to.equal(2);
      expect(rec[0]!.length).to.equal(S * S * 3);
    } finally {
      tok.dispose();
    }
  });

  it('an engine it creates itself is disposed with it; use after dispose is refused', async () => {
    const own = await Tokenizer.random(tiny, RUN_SEED, { backend });
    const shared = await Tokenizer.random(tiny, RUN_SEED, { engine: get() });
    try {
      const imgs = images(2);
      expect((await own.encode(imgs)).map((x) => Array.from(x))).to.deep.equal((await shared.encode(imgs)).map((x) => Array.from(x)));
    } finally {
      own.dispose();
      shared.dispose();
    }
    await rejects(own.encode(images(1)), Error, /after dispose/);
    // The shared engine still works.
    const again = await Tokenizer.random(tiny, RUN_SEED, { engine: get() });
    expect((await again.encode(images(1)))[0]!.length).to.equal(T);
    again.dispose();
  });

  it('rejects bad inputs with clear errors', async () => {
    const tok = await Tokenizer.random('tiny', RUN_SEED, { engine: get() });
    try {
      await rejects(tok.encode([new Float32Array(10)]), Error, /image 0 has 10 values, expected 32×32×3 = 3072/);
      const nan = images(1)[0]!;
      nan[7] = NaN;
      await rejects(tok.encode([nan]), Error, /image 0 has a non-finite value at index 7/);
      await rejects(tok.decode([new Uint32Array(T - 1)]), Error, /15 ids, expected 16/);
      const big = new Uint32Array(T);
      big[4] = tiny.codebookSize;
      await rejects(tok.decode([new Uint32Array(T), big]), Error, /token list 1 has id 64 at position 4, outside the codebook \(size 64\)/);
      await rejects(tok.encode(images(1), 0), Error, /batch/);
      await rejects(Tokenizer.random('nope', 1, { engine: get() }), Error, /unknown preset "nope"/);
    } finally {
      tok.dispose();
    }
  });

  it('save → load → encode gives identical ids; a config mismatch is refused', async () => {
    const e = get();
    const tok = await Tokenizer.random('tiny', RUN_SEED, { engine: e });
    const path = join(dir, 'tiny.safetensors');
    const imgs = images(3);
    try {
      const ids = await tok.encode(imgs);
      await tok.saveCheckpoint(path, 'f32', { note: 'test' });
      const fromFile = await Tokenizer.load(path, { engine: e, config: tiny });
      try {
        expect((await fromFile.encode(imgs)).map((x) => Array.from(x))).to.deep.equal(ids.map((x) => Array.from(x)));
        expect(Array.from((await fromFile.decode(ids))[0]!)).to.deep.equal(Array.from((await tok.decode(ids))[0]!));
      } finally {
        fromFile.dispose();
      }
      // From bytes too, and the parameters read back are the ones the random init made.
      const params = await tok.parameters();
      const fromBytes = await Tokenizer.load(serializeCheckpoint(tiny, params), { engine: e });
      try {
        expect(fromBytes.config).to.deep.equal(tiny);
        expect((await fromBytes.encode(imgs)).map((x) => Array.from(x))).to.deep.equal(ids.map((x) => Array.from(x)));
      } finally {
        fromBytes.dispose();
      }
      const probe = TokenizerModel.random(e, tiny, RUN_SEED);
      expect(Array.from(await e.readF32(probe.p('vq.codebook')))).to.deep.equal(Array.from(params.get('vq.codebook')!));
      e.release(...probe.params.values());
      await rejects(Tokenizer.load(path, { engine: e, config: { ...tiny, codebookSize: 128 } }), CheckpointError, /codebookSize: 128 vs 64/);
      await rejects(Tokenizer.load(new Uint8Array(20), { engine: e }), CheckpointError, /header length/);
    } finally {
      tok.dispose();
    }
  });
});

describe('token files', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tok1d-tokens-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function records(n: number, K: number, t = T): TokenRecord[] {
    const r = freshRng();
    return Array.from({ length: n }, (_, i) => ({ file: `img ${i} ✓.png`, tokens: Uint32Array.from({ length: t }, () => Math.floor(r() * K)) }));
  }
  const plain = (rs: TokenRecord[]) => rs.map((x) => ({ file: x.file, tokens: Array.from(x.tokens) }));

  it('configHash: 16 hex digits, stable, sensitive to every field', () => {
    const h = configHash(tiny);
    expect(h).to.match(/^[0-9a-f]{16}$/);
    expect(configHash({ ...tiny })).to.equal(h);
    // Key order does not matter (canonical JSON).
    const reordered = Object.fromEntries(Object.entries(tiny).reverse()) as typeof tiny;
    expect(configHash(reordered)).to.equal(h);
    expect(configHash({ ...tiny, eps: 1e-6 })).to.not.equal(h);
    expect(configHash({ ...tiny, cosine: true })).to.not.equal(h);
    expect(configHash(PRESETS.small!)).to.not.equal(h);
  });

  it('JSONL round trip and errors naming the line', async () => {
    const rs = records(4, 64);
    const path = join(dir, 'tokens.jsonl');
    await writeJsonl(path, rs);
    expect(plain(await readJsonl(path, { tokensPerImage: T, codebookSize: 64 }))).to.deep.equal(plain(rs));
    expect(JSON.parse(formatJsonlLine(rs[0]!))).to.deep.equal(plain(rs)[0]);
    expect(formatJsonlLine(rs[0]!)).to.not.include('\n');
    expect(() => parseJsonl('{"file":"a","tokens":[1,2]}\n\nnot json')).to.throw(TokenFileError, /line 3: not valid JSON/);
    expect(() => parseJsonl('{"file":"a","tokens":[1,-2]}')).to.throw(TokenFileError, /line 1: token 1 is -2/);
    expect(() => parseJsonl('{"file":"a","tokens":[1,64]}', { codebookSize: 64 })).to.throw(TokenFileError, /token 1 is 64, outside/);
    expect(() => parseJsonl('{"file":"a","tokens":[1]}', { tokensPerImage: 2 })).to.throw(TokenFileError, /1 tokens, expected 2/);
    expect(() => parseJsonl('{"tokens":[1]}')).to.throw(TokenFileError, /"file" is not a string/);
    writeFileSync(join(dir, 'bad.jsonl'), '[1,2]\n');
    await rejects(readJsonl(join(dir, 'bad.jsonl')), TokenFileError, /bad\.jsonl: line 1: not a JSON object/);
  });

  it('.tok round trip with 2-byte and 4-byte ids; layout as documented', async () => {
    const h16 = tokHeaderFor(tiny);
    expect(h16).to.deep.equal({ configHash: configHash(tiny), tokensPerImage: T, codebookSize: 64, idWidth: 2 });
    const rs = records(5, 64);
    const path = join(dir, 'a.tok');
    await writeTokFile(path, h16, rs);
    const back = await readTokFile(path, { config: tiny });
    expect(back.header).to.deep.equal(h16);
    expect(plain(back.records)).to.deep.equal(plain(rs));
    const bytes = serializeTok(h16, rs);
    expect(Buffer.from(bytes.subarray(0, 6)).toString('latin1')).to.equal('TOK1D\0');
    expect(Buffer.from(bytes.subarray(8, 16)).toString('hex')).to.equal(h16.configHash);
    const nameLen = Buffer.from(rs[0]!.file).length;
    expect(bytes.length).to.equal(32 + rs.reduce((a, r) => a + 2 + Buffer.from(r.file).length + 2 * T, 0));
    expect(new DataView(bytes.buffer).getUint16(32 + 2 + nameLen, true)).to.equal(rs[0]!.tokens[0]);

    const bigConfig = { ...tiny, codebookSize: 100000 };
    const h32 = tokHeaderFor(bigConfig);
    expect(h32.idWidth).to.equal(4);
    const rs32 = records(3, 100000);
    await writeTokFile(join(dir, 'b.tok'), h32, rs32);
    expect(plain((await readTokFile(join(dir, 'b.tok'), { config: bigConfig })).records)).to.deep.equal(plain(rs32));
    await rejects(readTokFile(join(dir, 'b.tok'), { config: tiny }), TokenFileError, /another model/);
    const bad = records(1, 64);
    bad[0]!.tokens[3] = 64;
    expect(() => serializeTok(h16, bad)).to.throw(TokenFileError, /token 3 is 64, outside/);
  });

  it('.tok append: creates, appends, refuses another header, recovers from an interrupted append', async () => {
    const h = tokHeaderFor(tiny);
    const path = join(dir, 'c.tok');
    const a = records(2, 64);
    const b = records(3, 64);
    await appendTokFile(path, h, a);
    await appendTokFile(path, h, b);
    expect(plain((await readTokFile(path)).records)).to.deep.equal(plain([...a, ...b]));
    await rejects(appendTokFile(path, tokHeaderFor(PRESETS.small!), records(1, 64, 64)), TokenFileError, /header differs/);
    // An append cut before the count update: trailing bytes.
    const full = serializeTok(h, [...a, ...b]);
    const cut = serializeTok(h, [...a, ...b, ...records(1, 64)]).subarray(0, full.length + 7);
    cut.set(full.subarray(0, 32)); // the header still counts 5 records
    writeFileSync(path, cut);
    await rejects(readTokFile(path), TokenFileError, /7 bytes after the 5 records/);
    expect((await readTokFile(path, { recover: true })).records.length).to.equal(5);
    const c = records(1, 64);
    await appendTokFile(path, h, c);
    expect(plain((await readTokFile(path)).records)).to.deep.equal(plain([...a, ...b, ...c]));
  });

  it('.tok errors: bad magic, version, truncation, bad header', async () => {
    const h = tokHeaderFor(tiny);
    const good = serializeTok(h, records(3, 64));
    const write = (name: string, bytes: Uint8Array) => {
      writeFileSync(join(dir, name), bytes);
      return join(dir, name);
    };
    const magic = good.slice();
    magic[0] = 0x58;
    await rejects(readTokFile(write('m.tok', magic)), TokenFileError, /bad magic/);
    const version = good.slice();
    new DataView(version.buffer).setUint16(6, 9, true);
    await rejects(readTokFile(write('v.tok', version)), TokenFileError, /unsupported \.tok version 9/);
    await rejects(readTokFile(write('t1.tok', good.subarray(0, 20))), TokenFileError, /truncated.*header/);
    await rejects(readTokFile(write('t2.tok', good.subarray(0, good.length - 3))), TokenFileError, /truncated .tok file: record 2 of 3 is cut short/);
    await rejects(readTokFile(write('t3.tok', good.subarray(0, 32))), TokenFileError, /record 0 of 3 is missing/);
    const width = good.slice();
    width[28] = 3;
    await rejects(readTokFile(write('w.tok', width)), TokenFileError, /id width must be 2 or 4/);
    const id = good.slice();
    new DataView(id.buffer).setUint16(32 + 2 + Buffer.from('img 0 ✓.png').length, 64, true);
    await rejects(readTokFile(write('i.tok', id)), TokenFileError, /token 0 is 64, outside the codebook/);
    await rejects(readTokFile(join(dir, 'none.tok')), TokenFileError, /cannot read/);
  });
});
