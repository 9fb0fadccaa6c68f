import { expect } from 'chai';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeImage } from '../src/io/image.js';
import { expectNoStack, ownLines, ROOT, tok1d } from './cli-run.js';

/** tokenize / detokenize / reconstruct / info on llvmpipe with a seeded random tiny model. */
describe('tok1d tokenize, detokenize, reconstruct, info', function () {
  this.timeout(300_000);
  const MODEL = ['--preset', 'tiny', '--random-init', '--seed', '5', '--backend', 'opengl'];
  const GOOD = ['test/fixtures/chelsea.png', 'test/fixtures/palette_color.png', 'test/fixtures/chessboard_GRAY.png'];
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tok1d-cli-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('info: tokens, bits and compression of the reference preset', async () => {
    const r = await tok1d(['info', '--preset', 'seed']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.match(/tokens\/image\s+16\b/);
    expect(r.stdout).to.match(/bits\/image\s+208 \(16 × log2 8192\)/);
    expect(r.stdout).to.match(/total 336\.96 M/);
  });

  it('tokenize writes one JSONL line of 16 ids per image; a bad input fails alone (exit 1)', async () => {
    const r = await tok1d(['tokenize', ...GOOD, 'test/fixtures/truncated.png', ...MODEL]);
    expectNoStack(r);
    expect(r.code).to.equal(1);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; tokens: number[] });
    expect(lines.map((l) => l.file)).to.deep.equal(GOOD);
    for (const l of lines) {
      expect(l.tokens).to.have.length(16);
      for (const t of l.tokens) expect(t).to.be.within(0, 63);
    }
    expect(ownLines(r.stderr).join('\n')).to.match(/skipping test\/fixtures\/truncated\.png: truncated PNG/);
  });

  it('tokenize -o FILE.tok resumes (skips files already there) and shards partition the inputs', async () => {
    const out = join(dir, 'all.tok');
    const first = await tok1d(['tokenize', GOOD[0]!, ...MODEL, '-o', out]);
    expect(first.code).to.equal(0);
    const again = await tok1d(['tokenize', ...GOOD, ...MODEL, '-o', out]);
    expect(again.code).to.equal(0);
    expect(again.stderr).to.match(/1 of 3 images already in/);
    const s0 = await tok1d(['tokenize', ...GOOD, ...MODEL, '--shard', '0/2']);
    const s1 = await tok1d(['tokenize', ...GOOD, ...MODEL, '--shard', '1/2']);
    const files = (r: { stdout: string }) => r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { file: string }).file);
    expect(files(s0)).to.deep.equal([GOOD[0], GOOD[2]]);
    expect(files(s1)).to.deep.equal([GOOD[1]]);
    const bad = await tok1d(['tokenize', ...GOOD, ...MODEL, '--shard', '2/2']);
    expect(bad.code).to.equal(2);
  });

  it('detokenize writes 32×32 PNGs that equal reconstruct for the same model', async () => {
    const toks = join(dir, 'd.tok');
    expect((await tok1d(['tokenize', ...GOOD, ...MODEL, '-o', toks])).code).to.equal(0);
    const out = join(dir, 'dec');
    const r = await tok1d(['detokenize', toks, '-o', out, ...MODEL]);
    expect(r.code).to.equal(0);
    expect(readdirSync(out).sort()).to.deep.equal(['chelsea.png', 'chessboard_GRAY.png', 'palette_color.png']);
    const img = decodeImage(readFileSync(join(out, 'chelsea.png')));
    expect([img.width, img.height]).to.deep.equal([32, 32]);
    const rec = join(dir, 'rec');
    const rr = await tok1d(['reconstruct', GOOD[0]!, '-o', rec, ...MODEL]);
    expect(rr.code).to.equal(0);
    expect(rr.stdout).to.match(/chelsea\.png\t\d+\.\d+ dB/);
    expect(rr.stdout).to.match(/mean PSNR/);
    expect(Buffer.from(decodeImage(readFileSync(join(rec, 'chelsea.png'))).rgb).equals(Buffer.from(img.rgb))).to.equal(true);
  });

  it('reconstruct --compare writes input | reconstruction side by side', async () => {
    const out = join(dir, 'cmp');
    const r = await tok1d(['reconstruct', GOOD[0]!, '-o', out, '--compare', ...MODEL]);
    expect(r.code).to.equal(0);
    const img = decodeImage(readFileSync(join(out, 'chelsea.png')));
    expect(img.height).to.equal(32);
    expect(img.width).to.be.greaterThan(64);
  });

  it('without a model option the bundled checkpoint is used (or, in a build without one, one clear line)', async () => {
    const r = await tok1d(['tokenize', GOOD[0]!]);
    expectNoStack(r);
    if (existsSync(join(ROOT, 'models', 'default.safetensors'))) {
      expect(r.code, r.stderr).to.equal(0);
      const line = JSON.parse(r.stdout.trim()) as { tokens: number[] };
      expect(line.tokens).to.have.length(64);
    } else {
      expect(r.code).to.equal(3);
      expect(ownLines(r.stderr)[0]).to.match(/no bundled checkpoint/);
    }
  });

  it('clear errors: --no-resize on a mismatched image, a missing file', async () => {
    const strict = await tok1d(['tokenize', GOOD[0]!, ...MODEL, '--no-resize']);
    expect(strict.code).to.equal(1);
    expect(strict.stderr).to.match(/the model takes 32×32/);
    const missing = await tok1d(['tokenize', 'nope.png', ...MODEL]);
    expect(missing.code).to.equal(3);
    for (const r of [strict, missing]) expectNoStack(r);
  });
});
