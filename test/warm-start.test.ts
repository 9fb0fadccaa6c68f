/**
 * Starting a run from a checkpoint's weights (src/train/warm-start.ts, tok1d train --init-from):
 * the copies by name, the change of pixel range from a patch-token model to TiTok checked as
 * functions on random inputs in float64, what starts random, refusals, and the command line.
 */
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer } from '../src/index.js';
import { PRESETS, type ModelConfig } from '../src/model/config.js';
import type { TiTokConfig } from '../src/model/titok-config.js';
import { warmStart, WarmStartError, type WarmStart } from '../src/train/warm-start.js';
import { engineFor, freshRng } from './helpers.js';
import { ROOT, tok1d, expectNoStack } from './cli-run.js';
import type { Engine } from '../src/gpu/engine.js';

const PATCH: ModelConfig = { ...PRESETS.tiny! }; // 32×32, patch 8, width 64, 4 heads, 2 + 2 blocks
const TITOK: TiTokConfig = { family: 'titok', imageSize: 32, encoderPatch: 8, decoderPatch: 8, encoderSize: 'tiny', decoderSize: 'tiny', tokens: 8, tokenSize: 8, quantizeMode: 'vq', codebookSize: 64, useL2Norm: true, commitmentCost: 0.25 };

/** The target's parameter after the writes, from a base of NaN (so a value nothing wrote shows). */
function written(start: WarmStart, name: string, n: number): Float64Array {
  const out = new Float64Array(n).fill(NaN);
  for (const w of start.writes.filter((x) => x.name === name)) w.data.forEach((v, i) => (out[w.offset + i] = v));
  return out;
}

/** x·w + b in float64, w [x.length, b.length] row-major. */
function affine(x: Float64Array, w: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const n = b.length;
  const y = Float64Array.from(b);
  for (let i = 0; i < x.length; i++) for (let j = 0; j < n; j++) y[j] += x[i]! * w[i * n + j]!;
  return y;
}

describe('warm start (--init-from)', function () {
  this.timeout(300_000);
  let engine: Engine;
  let patch: Map<string, Float32Array>;
  const dirs: string[] = [];
  before(async function () {
    const e = await engineFor('opengl');
    if (typeof e === 'string') this.skip();
    engine = e as Engine;
    const tok = await Tokenizer.random(PATCH, 11, { engine });
    patch = await tok.parameters();
    tok.dispose();
  });
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('patch tokens → TiTok: blocks, final norms and positions copied; patch embedding and pixel head equal as functions of [-1, 1] and [0, 1] pixels', () => {
    const s = warmStart(TITOK, { config: PATCH, params: patch });
    const W = 64;
    for (const side of ['encoder', 'decoder'] as const) {
      const from = side === 'encoder' ? 'enc' : 'dec';
      for (let i = 0; i < 2; i++) {
        expect([...written(s, `${side}.transformer.${i}.attn.in_proj_weight`, W * 3 * W)]).to.deep.equal([...patch.get(`${from}.blocks.${i}.attn.qkv.w`)!]);
        expect([...written(s, `${side}.transformer.${i}.mlp.c_proj.bias`, W)]).to.deep.equal([...patch.get(`${from}.blocks.${i}.mlp.fc2.b`)!]);
        expect([...written(s, `${side}.transformer.${i}.ln_2.weight`, W)]).to.deep.equal([...patch.get(`${from}.blocks.${i}.ln2.g`)!]);
      }
      expect([...written(s, `${side}.ln_post.bias`, W)]).to.deep.equal([...patch.get(`${from}.ln.b`)!]);
      // Row 0 (the class token's position) stays random; rows 1..16 are the patch grid's.
      const pos = written(s, `${side}.positional_embedding`, 17 * W);
      expect(pos.slice(0, W).every(Number.isNaN)).to.equal(true);
      expect([...pos.slice(W)]).to.deep.equal([...patch.get(`${from}.pos`)!]);
    }
    const rng = freshRng();
    const D = 8 * 8 * 3;
    // Patch embedding: x·W + b (x in [-1, 1]) against ((x + 1) / 2)·W' + b'.
    const [pw, pb] = [patch.get('enc.patch.w')!, patch.get('enc.patch.b')!];
    const [tw, tb] = [written(s, 'encoder.patch_embed.weight', D * W), written(s, 'encoder.patch_embed.bias', W)];
    const x = Float64Array.from({ length: D }, () => 2 * rng() - 1);
    const e1 = affine(x, pw, pb);
    const e2 = affine(x.map((v) => (v + 1) / 2), tw, tb);
    e1.forEach((a, j) => expect(e2[j], `embedding ${j}`).to.be.closeTo(a, 1e-5 * (1 + Math.abs(a))));
    // Pixel head: (h·Wo + bo + 1) / 2 against h·Wo' + bo', then the identity convolution.
    const [ow, ob] = [patch.get('dec.out.w')!, patch.get('dec.out.b')!];
    const [fw, fb] = [written(s, 'decoder.ffn.0.weight', W * D), written(s, 'decoder.ffn.0.bias', D)];
    const h = Float64Array.from({ length: W }, () => 2 * rng() - 1);
    const y1 = affine(h, ow, ob);
    const y2 = affine(h, fw, fb);
    y1.forEach((a, j) => expect(y2[j], `pixel ${j}`).to.be.closeTo((a + 1) / 2, 1e-6 * (1 + Math.abs(a))));
    const conv = written(s, 'decoder.conv_out.weight', 81);
    for (let o = 0; o < 3; o++) for (let c = 0; c < 3; c++) for (let t = 0; t < 9; t++) expect(conv[(o * 3 + c) * 9 + t]).to.equal(o === c && t === 4 ? 1 : 0);
    expect([...written(s, 'decoder.conv_out.bias', 3)]).to.deep.equal([0, 0, 0]);
    // TiTok's own parts start random.
    expect(s.fresh).to.include.members(['latent_tokens', 'quantize.embedding.weight', 'encoder.class_embedding', 'decoder.mask_token', 'decoder.decoder_embed.weight', 'encoder.conv_out.weight', 'encoder.positional_embedding', 'encoder.ln_pre.weight']);
    expect(s.fresh).to.not.include('encoder.transformer.1.attn.in_proj_weight');
  });

  it('same family: every parameter of the same name and shape (a TiTok with a bigger codebook keeps all but the codebook)', async () => {
    const tok = await Tokenizer.random(TITOK, 5, { engine });
    const params = await tok.parameters();
    tok.dispose();
    const s = warmStart({ ...TITOK, codebookSize: 128 }, { config: TITOK, params });
    expect(s.fresh).to.deep.equal(['quantize.embedding.weight']);
    for (const w of s.writes) expect([...w.data], w.name).to.deep.equal([...params.get(w.name)!]);
    expect(warmStart(PATCH, { config: PATCH, params: patch }).fresh).to.deep.equal([]);
  });

  it('refuses a TiTok checkpoint for a patch-token model, and a checkpoint that shares nothing', () => {
    expect(() => warmStart(PATCH, { config: TITOK, params: new Map() })).to.throw(WarmStartError, /patch-token model cannot start from a TiTok/);
    expect(() => warmStart({ ...TITOK, encoderSize: 'mini', decoderSize: 'mini' }, { config: PATCH, params: patch })).to.throw(WarmStartError, /no parameter/);
  });

  it('tok1d train --init-from: a TiTok run starts from a patch-token checkpoint; a bad one is refused before anything is written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tok1d-init-'));
    dirs.push(dir);
    const tok = await Tokenizer.random(PATCH, 11, { engine });
    const ckpt = join(dir, 'patch.safetensors');
    await tok.saveCheckpoint(ckpt);
    tok.dispose();
    const cfg = join(dir, 'titok.json');
    const { family: _f, quantizeMode: _q, commitmentCost: _c, ...fields } = TITOK;
    writeFileSync(cfg, JSON.stringify(fields));
    const images = ['astronaut.png', 'brick.png'].map((f) => join(ROOT, 'examples/images', f));
    const args = (out: string, from: string) => ['train', ...images, '--val', join(ROOT, 'examples/images/val/chelsea.png'), '--preset', 'titok-bl64-vq', '--config', cfg, '--steps', '2', '--batch', '2', '--init-from', from, '--backend', 'opengl', '-o', out];
    const run = join(dir, 'run');
    const r = await tok1d(args(run, ckpt));
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/initialized from .*patch\.safetensors: \d+ of \d+ parameters; random or partly random: /);
    expect((JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')) as { initFrom: string }).initFrom).to.equal(ckpt);

    const mini = join(dir, 'mini.json');
    writeFileSync(mini, JSON.stringify({ ...fields, encoderSize: 'mini', decoderSize: 'mini' }));
    const bad = join(dir, 'bad');
    const b = await tok1d(args(bad, ckpt).map((a) => (a === cfg ? mini : a)));
    expect(b.code).to.equal(3);
    expect(b.stderr).to.contain('no parameter of this model');
    expectNoStack(b);
    expect(existsSync(bad)).to.equal(false);
    const missing = await tok1d(args(join(dir, 'bad2'), join(dir, 'absent.safetensors')));
    expect(missing.code).to.equal(3);
    expect(missing.stderr).to.contain('--init-from: cannot read checkpoint');
    expectNoStack(missing);
  });
});
