/**
 * The command line on TiTok checkpoint folders made here (tok1d's tiny TiTok width, random weights,
 * written in the reference's layout by titokFiles): prefix decoding, the VAE refusal, and one-line
 * errors for every malformed folder. The ids themselves are checked against the reference
 * implementation in titok-reference.test.ts.
 */
import { expect } from 'chai';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Engine } from '../src/gpu/engine.js';
import { TITOK_PRESETS, type TiTokConfig } from '../src/model/titok-config.js';
import { Tokenizer } from '../src/model/tokenizer.js';
import { expectNoStack, ownLines, tok1d } from './cli-run.js';
import { engineFor, RUN_SEED } from './helpers.js';

const TINY: TiTokConfig = { ...TITOK_PRESETS['titok-bl64-vq']!, imageSize: 32, encoderPatch: 8, decoderPatch: 8, encoderSize: 'tiny', decoderSize: 'tiny', tokens: 8, codebookSize: 256, tokenSize: 12 };

async function writeFolder(engine: Engine, dir: string, config: TiTokConfig): Promise<void> {
  const tok = await Tokenizer.random(config, RUN_SEED, { engine });
  try {
    const files = await tok.titokFiles();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), files.config);
    writeFileSync(join(dir, 'model.safetensors'), files.weights);
  } finally {
    tok.dispose();
  }
}

describe('tok1d on TiTok checkpoint folders', function () {
  this.timeout(300_000);
  const IMAGES = ['test/fixtures/chelsea.png', 'test/fixtures/palette_color.png'];
  let dir: string;
  let vq: string;
  let vae: string;
  before(async function () {
    const engine = await engineFor('opengl');
    if (typeof engine === 'string') {
      console.log(`      skipped: ${engine}`);
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'tok1d-cli-titok-'));
    vq = join(dir, 'vq');
    vae = join(dir, 'vae');
    await writeFolder(engine as Engine, vq, TINY);
    await writeFolder(engine as Engine, vae, { ...TINY, quantizeMode: 'vae', codebookSize: 0, useL2Norm: false, tokenSize: 4 });
  });
  after(() => dir && rmSync(dir, { recursive: true, force: true }));

  it('info describes the folder; tokenize → detokenize --tokens K decodes prefixes', async () => {
    const info = await tok1d(['info', '--checkpoint', vq]);
    expect(info.code, info.stderr).to.equal(0);
    expect(info.stdout).to.match(/family\s+TiTok \(latent tokens; VQ\)/);
    expect(info.stdout).to.match(/bits\/image\s+64 \(8 × log2 256\)/);
    const out = join(dir, 'ids.tok');
    const t = await tok1d(['tokenize', ...IMAGES, '--checkpoint', vq, '-o', out, '--backend', 'opengl']);
    expectNoStack(t);
    expect(t.code, t.stderr).to.equal(0);
    for (const k of ['3', '8']) {
      const png = join(dir, `prefix-${k}`);
      const d = await tok1d(['detokenize', out, '--checkpoint', vq, '-o', png, '--tokens', k, '--backend', 'opengl']);
      expect(d.code, d.stderr).to.equal(0);
      expect(readdirSync(png).sort()).to.deep.equal(['chelsea.png', 'palette_color.png']);
    }
    // Different prefixes decode to different images.
    expect(readFileSync(join(dir, 'prefix-3', 'chelsea.png')).equals(readFileSync(join(dir, 'prefix-8', 'chelsea.png')))).to.equal(false);
  });

  it('a single-file TiTok checkpoint (checkpointBytes) gives the folder\'s ids; info reads it', async () => {
    const engine = (await engineFor('opengl')) as Engine;
    const fromFolder = await Tokenizer.load(vq, { engine });
    const file = join(dir, 'vq.safetensors');
    try {
      writeFileSync(file, await fromFolder.checkpointBytes('f32'));
      const fromFile = await Tokenizer.load(file, { engine });
      try {
        expect(fromFile.titok).to.deep.equal(fromFolder.titok);
        const img = new Float32Array(32 * 32 * 3).map((_, i) => Math.sin(i * 0.37));
        expect((await fromFile.encode([img]))[0]).to.deep.equal((await fromFolder.encode([img]))[0]);
        const back = await Tokenizer.load(await fromFile.checkpointBytes('f32'), { engine });
        expect((await back.encode([img]))[0]).to.deep.equal((await fromFolder.encode([img]))[0]);
        back.dispose();
      } finally {
        fromFile.dispose();
      }
    } finally {
      fromFolder.dispose();
    }
    const info = await tok1d(['info', '--checkpoint', file]);
    expect(info.code, info.stderr).to.equal(0);
    expect(info.stdout).to.match(/family\s+TiTok \(latent tokens; VQ\)/);
    const t = await tok1d(['tokenize', IMAGES[0]!, '--checkpoint', file, '-o', join(dir, 'file.tok'), '--backend', 'opengl']);
    expect(t.code, t.stderr).to.equal(0);
  });

  it('--tokens beyond the model, a VAE to tokenize, a preset without weights: one line each', async () => {
    const cases: [string[], number, RegExp][] = [
      [['reconstruct', IMAGES[0]!, '--checkpoint', vq, '-o', join(dir, 'r'), '--tokens', '9'], 2, /--tokens 9: this model has 8 tokens per image/],
      [['reconstruct', IMAGES[0]!, '-o', join(dir, 'r'), '--tokens', '4'], 2, /prefix decoding needs a TiTok model/],
      [['tokenize', IMAGES[0]!, '--checkpoint', vae], 3, /VAE: its latents are continuous/],
      [['reconstruct', IMAGES[0]!, '--preset', 'titok-bl64-vq', '-o', join(dir, 'r')], 2, /--preset needs --random-init/],
      [['info', '--preset', 'titok-nope'], 2, /unknown preset "titok-nope" \(known: .*titok-bl64-vq/],
    ];
    for (const [args, code, message] of cases) {
      const r = await tok1d(args[0] === 'info' ? args : [...args, '--backend', 'opengl']);
      expectNoStack(r);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(code);
      expect(ownLines(r.stderr).join('\n')).to.match(message);
    }
    const ok = await tok1d(['reconstruct', IMAGES[0]!, '--checkpoint', vae, '-o', join(dir, 'vae-out'), '--tokens', '5', '--backend', 'opengl']);
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stdout).to.match(/5 tokens, 320 bits per image/);
  });

  it('malformed folders: missing files, a legacy model, a mis-shaped tensor, no folder', async () => {
    const bad = (name: string) => {
      const d = join(dir, name);
      mkdirSync(d, { recursive: true });
      copyFileSync(join(vq, 'config.json'), join(d, 'config.json'));
      copyFileSync(join(vq, 'model.safetensors'), join(d, 'model.safetensors'));
      return d;
    };
    const noWeights = bad('no-weights');
    rmSync(join(noWeights, 'model.safetensors'));
    const legacy = bad('legacy');
    const cfg = JSON.parse(readFileSync(join(vq, 'config.json'), 'utf8'));
    cfg.model.vq_model.is_legacy = true;
    writeFileSync(join(legacy, 'config.json'), JSON.stringify(cfg));
    const other = bad('other-size');
    writeFileSync(join(other, 'config.json'), JSON.stringify({ ...cfg, model: { vq_model: { ...cfg.model.vq_model, is_legacy: false, num_latent_tokens: 9 } } }));
    const cases: [string, RegExp][] = [
      [noWeights, /no model\.safetensors \(a TiTok checkpoint folder holds config\.json and model\.safetensors\)/],
      [legacy, /legacy TiTok model .*MaskGIT-VQGAN/],
      [other, /tensor encoder\.latent_token_positional_embedding: shape mismatch, expected \[9, 64\], got \[8, 64\]/],
      [join(dir, 'vq', 'nothing-here'), /no such checkpoint/],
    ];
    for (const [folder, message] of cases) {
      const r = await tok1d(['tokenize', IMAGES[0]!, '--checkpoint', folder, '--backend', 'opengl']);
      expectNoStack(r);
      expect(r.code, `${folder}: ${r.stderr}`).to.equal(3);
      expect(ownLines(r.stderr).join('\n'), folder).to.match(message);
    }
  });
});
