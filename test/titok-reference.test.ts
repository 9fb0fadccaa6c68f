/**
 * TiTok against the reference implementation itself: ../shared/reference/titok/official.py builds
 * a model from the reference configs with a seed, runs our images through the reference PyTorch
 * code on the CPU and writes the weights in the published layout with the encoder output, token ids
 * and decoded images. tok1d loads that folder and must give identical token ids, and encoder
 * outputs and pixels within 1e-4 relative L2, through the library and through the command line.
 *
 * Reduced configurations (sizes 'small', 64×64, patch 8, 32 tokens) run in the suite; with
 * TOK1D_TITOK_FULL=1 the published BL-64 VQ configuration (256×256, 390 M parameters) runs too,
 * and TOK1D_TITOK_RECORD=FILE writes the figures of every case as JSON. Needs Debian's
 * python3-torch and python3-omegaconf (.ci/run installs them); without them the tests say so and
 * skip.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePng } from '../src/io/image.js';
import { parseJsonl } from '../src/io/tokens.js';
import { parseTiTok } from '../src/model/titok-checkpoint.js';
import { Tokenizer } from '../src/model/tokenizer.js';
import { ROOT, tok1d, expectNoStack } from './cli-run.js';
import { describeBackends, rng, RUN_SEED, relL2 } from './helpers.js';

const PYTHON = '/usr/bin/python3';
const REFERENCE = join(ROOT, '..', 'shared', 'reference', 'titok');
const TOL = 1e-4;

const SMALL = [
  'model.vq_model.vit_enc_model_size=small',
  'model.vq_model.vit_dec_model_size=small',
  'dataset.preprocessing.crop_size=64',
  'model.vq_model.vit_enc_patch_size=8',
  'model.vq_model.vit_dec_patch_size=8',
  'model.vq_model.num_latent_tokens=32',
];

interface Case {
  name: string;
  config: string;
  set: string[];
  size: number;
  images: number;
}

const CASES: Case[] = [
  { name: 'VQ', config: 'titok_bl64_vq8k.yaml', set: SMALL, size: 64, images: 2 },
  { name: 'VQ, l2-normalized 12-dim codes', config: 'titok_bl64_vq8k.yaml', set: [...SMALL, 'model.vq_model.use_l2_norm=true', 'model.vq_model.codebook_size=4096', 'model.vq_model.token_size=12'], size: 64, images: 2 },
  { name: 'VAE', config: 'titok_bl64_vae_c16.yaml', set: SMALL, size: 64, images: 2 },
];
if (process.env.TOK1D_TITOK_FULL === '1') CASES.push({ name: 'BL-64 VQ (published size)', config: 'titok_bl64_vq8k.yaml', set: [], size: 256, images: 2 });

/** Why the reference cannot run here, or null. */
function referenceMissing(): string | null {
  if (!existsSync(join(REFERENCE, 'official.py'))) return `no reference implementation at ${REFERENCE}`;
  const r = spawnSync(PYTHON, ['-c', 'import torch, omegaconf'], { encoding: 'utf8' });
  if (r.status !== 0) return 'python3-torch / python3-omegaconf are not installed (apt-get install python3-torch python3-omegaconf)';
  return null;
}

interface Reference {
  dir: string;
  /** 8-bit RGB images fed to both (PNG files too, for the command line). */
  pixels: Uint8Array[];
  pngs: string[];
  result: { tokens?: number[][]; min_gap_per_image?: number[]; parameters: number };
  latents: Float32Array;
  decoded: Float32Array;
  seconds: number;
}

function f32(path: string): Float32Array {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** Random 8-bit images → PNGs and inputs.f32 (v / 255) → official.py. */
function runReference(c: Case, seed: number): Reference {
  const dir = mkdtempSync(join(tmpdir(), 'tok1d-titok-'));
  const r = rng(seed);
  const n = c.size * c.size * 3;
  const pixels: Uint8Array[] = [];
  const pngs: string[] = [];
  const inputs = new Float32Array(c.images * n);
  mkdirSync(join(dir, 'images'));
  for (let i = 0; i < c.images; i++) {
    // Smooth gradients plus noise: photographs are not white noise.
    const px = new Uint8Array(n);
    const a = r() * 6;
    const b = r() * 6;
    for (let y = 0; y < c.size; y++)
      for (let x = 0; x < c.size; x++)
        for (let ch = 0; ch < 3; ch++) {
          const v = 127.5 + 90 * Math.sin(a * (x / c.size) + b * (y / c.size) + ch) + 30 * (r() - 0.5);
          px[(y * c.size + x) * 3 + ch] = Math.max(0, Math.min(255, Math.round(v)));
        }
    pixels.push(px);
    for (let j = 0; j < n; j++) inputs[i * n + j] = px[j]! / 255;
    const png = join(dir, 'images', `img${i}.png`);
    writeFileSync(png, encodePng({ width: c.size, height: c.size, rgb: px }));
    pngs.push(png);
  }
  const model = join(dir, 'model');
  writeFileSync(join(dir, 'inputs.f32'), inputs);
  const t0 = performance.now();
  const run = spawnSync(PYTHON, [join(REFERENCE, 'official.py'), '--config', join(REFERENCE, 'official', 'configs', c.config), ...(c.set.length ? ['--set', ...c.set] : []), '--seed', String(seed % 100000), '--inputs', join(dir, 'inputs.f32'), '--count', String(c.images), '--out', model], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (run.status !== 0) throw new Error(`official.py failed (${run.status}): ${run.stderr}`);
  return {
    dir: model,
    pixels,
    pngs,
    result: JSON.parse(readFileSync(join(model, 'result.json'), 'utf8')),
    latents: f32(join(model, 'latents.f32')),
    decoded: f32(join(model, 'decoded.f32')),
    seconds: (performance.now() - t0) / 1000,
  };
}

/** The reference decoder's output for the first k tokens of each image (test/titok_prefix.py), cached per k. */
function referencePrefix(ref: Reference, k: number): Float32Array {
  const out = join(ref.dir, `prefix-${k}.f32`);
  if (!existsSync(out)) {
    const run = spawnSync(PYTHON, [join(ROOT, 'test', 'titok_prefix.py'), REFERENCE, ref.dir, String(k), out], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`titok_prefix.py failed (${run.status}): ${run.stderr}`);
  }
  return f32(out);
}

const record: Record<string, unknown>[] = [];

describe('TiTok against the reference implementation', function () {
  const missing = referenceMissing();
  before(function () {
    if (missing) {
      console.log(`      skipped: ${missing}`);
      this.skip();
    }
  });
  after(function () {
    const out = process.env.TOK1D_TITOK_RECORD;
    if (out && record.length) writeFileSync(out, `${JSON.stringify(record, null, 2)}\n`);
  });

  for (const c of CASES) {
    describe(c.name, function () {
      let ref: Reference;
      before(function () {
        if (missing) this.skip();
        ref = runReference(c, RUN_SEED);
      });
      after(function () {
        if (ref) rmSync(join(ref.dir, '..'), { recursive: true, force: true });
      });

      describeBackends(`TiTok ${c.name}`, (get, backend) => {
        it('gives the reference token ids, encoder outputs and pixels', async function () {
          const t0 = performance.now();
          const tok = await Tokenizer.load(ref.dir, { engine: get() });
          const load = (performance.now() - t0) / 1000;
          try {
            const titok = tok.titok!;
            expect(titok, 'a TiTok model').to.not.equal(null);
            const images = ref.pixels.map((data) => ({ width: c.size, height: c.size, data, channels: 3 as const }));
            const C = titok.tokenSize;
            const K = titok.tokens;
            const t1 = performance.now();
            const latents = await tok.encodeLatents(images);
            const encodeS = (performance.now() - t1) / 1000;
            // The reference writes [B, K, C'] (a VAE: C' = 2C, mean first); encodeLatents gives the
            // encoder output (VQ) or the posterior mean (VAE).
            const zc = titok.quantizeMode === 'vae' ? 2 * C : C;
            const want = ref.pixels.map((_, i) => {
              const all = ref.latents.subarray(i * K * zc, (i + 1) * K * zc);
              if (zc === C) return all;
              const mean = new Float32Array(K * C);
              for (let k = 0; k < K; k++) mean.set(all.subarray(k * zc, k * zc + C), k * C);
              return mean;
            });
            const latentErr = Math.max(...latents.map((l, i) => relL2(l, want[i]!)));
            expect(latentErr, `encoder output rel L2 (${backend})`).to.be.at.most(TOL);

            let decoded: Float32Array[];
            const t2 = performance.now();
            if (titok.quantizeMode === 'vq') {
              const ids = await tok.encodePixels(images);
              const wantIds = ref.result.tokens!;
              ids.forEach((got, i) => expect(Array.from(got), `image ${i} ids (smallest reference gap ${ref.result.min_gap_per_image![i]})`).to.deep.equal(wantIds[i]));
              decoded = await tok.decode(ids);
            } else decoded = await tok.decodeLatents(latents);
            const decodeS = (performance.now() - t2) / 1000;
            const n = c.size * c.size * 3;
            const unit = decoded.map((d) => d.map((v) => (v + 1) / 2));
            const pixelErr = Math.max(...unit.map((d, i) => relL2(d, ref.decoded.subarray(i * n, (i + 1) * n))));
            expect(pixelErr, `decoded pixels rel L2 (${backend})`).to.be.at.most(TOL);
            const params = [...(await tok.parameters()).values()].reduce((a, p) => a + p.length, 0);
            expect(params, 'parameter count').to.equal(ref.result.parameters);
            // Written back in the reference's layout, the weights are the reference's file to the bit.
            if (c.size === 64) {
              const files = await tok.titokFiles();
              const original = parseTiTok(readFileSync(join(ref.dir, 'config.json'), 'utf8'), readFileSync(join(ref.dir, 'model.safetensors')));
              const again = parseTiTok(files.config, files.weights);
              expect(again.config).to.deep.equal(original.config);
              for (const [name, v] of original.params) expect(Buffer.from(again.params.get(name)!.buffer).equals(Buffer.from(v.buffer)), `${name} round trip`).to.equal(true);
            }
            record.push({ case: c.name, backend, adapter: get().info.description, images: c.images, parameters: params, referenceSeconds: ref.seconds, loadSeconds: load, encodeSeconds: encodeS, quantizeAndDecodeSeconds: decodeS, latentRelL2: latentErr, pixelRelL2: pixelErr, minReferenceGap: ref.result.min_gap_per_image ?? null, idsIdentical: titok.quantizeMode === 'vq' });
          } finally {
            tok.dispose();
          }
        });

        if (c.config.includes('vq') && !c.set.some((x) => x.startsWith('model.vq_model.use_l2_norm')))
          it('decodes a prefix of the tokens as the reference decoder does', async function () {
            const k = 8;
            const want = referencePrefix(ref, k);
            const tok = await Tokenizer.load(ref.dir, { engine: get() });
            try {
              const ids = ref.result.tokens!.map((t) => Uint32Array.from(t));
              const n = c.size * c.size * 3;
              const [viaOption, viaShortLists] = [await tok.decode(ids, { tokens: k }), await tok.decode(ids.map((t) => t.slice(0, k)))];
              for (const got of [viaOption, viaShortLists]) {
                const err = Math.max(...got.map((d, i) => relL2(d.map((v) => (v + 1) / 2), want.subarray(i * n, (i + 1) * n))));
                expect(err, `prefix of ${k} tokens, rel L2 (${backend})`).to.be.at.most(TOL);
              }
              let message = '';
              await tok.decode(ids, { tokens: ids[0]!.length + 1 }).catch((e: Error) => (message = e.message));
              expect(message).to.match(/takes 1 to/);
            } finally {
              tok.dispose();
            }
          });
      });

      if (c.size === 64)
        it('tokenizes PNG files through the command line to the reference ids', async function () {
          const out = join(ref.dir, '..', 'tokens.jsonl');
          const r = await tok1d(['tokenize', ...ref.pngs, '--checkpoint', ref.dir, '-o', out, '--backend', 'opengl']);
          expectNoStack(r);
          if (!ref.result.tokens) {
            expect(r.code, r.stderr).to.equal(3);
            expect(r.stderr).to.match(/VAE/);
            return;
          }
          expect(r.code, r.stderr).to.equal(0);
          const records = parseJsonl(readFileSync(out, 'utf8'), {});
          expect(records.map((x) => Array.from(x.tokens))).to.deep.equal(ref.result.tokens);
          const info = await tok1d(['info', '--checkpoint', ref.dir, '--json']);
          expect(info.code, info.stderr).to.equal(0);
          expect(JSON.parse(info.stdout).params.total).to.equal(ref.result.parameters);
        });
    });
  }
});
