/**
 * tools/evaluate.ts, the measurement behind models/README.md: run on a random TiTok checkpoint and
 * two photos, its report is consistent with itself (the thumbnail baseline against the same
 * thumbnail through which reconstructions are sent, means of per-photo figures, prefixes).
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer } from '../src/index.js';
import type { TiTokConfig } from '../src/model/titok-config.js';
import { engineFor } from './helpers.js';
import { ROOT } from './cli-run.js';
import type { Engine } from '../src/gpu/engine.js';

// 32 tokens × 12 bits = 384 bits: the baseline thumbnail is 4×4, the same as the S/8 one.
const CONFIG: TiTokConfig = { family: 'titok', imageSize: 32, encoderPatch: 4, decoderPatch: 4, encoderSize: 'tiny', decoderSize: 'tiny', tokens: 32, tokenSize: 8, quantizeMode: 'vq', codebookSize: 4096, useL2Norm: true, commitmentCost: 0.25 };

interface Report {
  bitsPerImage: number;
  photos: { file: string; psnr: number; baselinePsnr: number; trainedOn: boolean | null }[];
  meanPsnr: number;
  meanBaselinePsnr: number;
  crops: { count: number; psnr: number; baselinePsnr: number };
  prefixes: { tokens: number; bits: number; psnr: number }[];
  through: { side: number; photoPsnr: number; modelPsnr: number }[];
  codebookUsage: number;
}

describe('tools/evaluate', function () {
  this.timeout(300_000);
  let dir = '';
  let engine: Engine;
  before(async function () {
    const e = await engineFor('opengl');
    if (typeof e === 'string') this.skip();
    engine = e as Engine;
    dir = mkdtempSync(join(tmpdir(), 'tok1d-evaluate-'));
  });
  after(() => dir && rmSync(dir, { recursive: true, force: true }));

  it('reports per photo, crops, prefixes and detail through thumbnails, consistently', async () => {
    const tok = await Tokenizer.random(CONFIG, 3, { engine });
    const ckpt = join(dir, 'random.safetensors');
    await tok.saveCheckpoint(ckpt);
    tok.dispose();
    const json = join(dir, 'report.json');
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [join(ROOT, 'dist/tools/evaluate.js'), ckpt, join(ROOT, 'examples/images/val'), '--crops', '3', '--json', json], { cwd: ROOT, env: { ...process.env, TOK1D_BACKEND: 'opengl' } }, (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out))),
    );
    const r = JSON.parse(readFileSync(json, 'utf8')) as Report;
    expect(r.bitsPerImage).to.equal(384);
    expect(r.photos.map((p) => p.file.split('/').pop())).to.deep.equal(['chelsea.png', 'coffee.png']);
    expect(r.photos.every((p) => p.trainedOn === null)).to.equal(true);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(r.meanPsnr).to.be.closeTo(mean(r.photos.map((p) => p.psnr)), 1e-9);
    expect(r.meanBaselinePsnr).to.be.closeTo(mean(r.photos.map((p) => p.baselinePsnr)), 1e-9);
    expect(r.crops.count).to.equal(3);
    expect(r.prefixes.map((p) => p.tokens)).to.deep.equal([1, 4, 8, 16, 32]);
    expect(r.prefixes.map((p) => p.bits)).to.deep.equal([12, 48, 96, 192, 384]);
    expect(r.prefixes[4]!.psnr).to.be.closeTo(r.meanPsnr, 1e-9);
    // Through 4×4 (the baseline's own thumbnail) and 8×8: the photo through 4×4 is the baseline.
    expect(r.through.map((t) => t.side)).to.deep.equal([4, 8]);
    expect(r.through[0]!.photoPsnr).to.be.closeTo(r.meanBaselinePsnr, 1e-9);
    expect(r.through[1]!.photoPsnr).to.be.above(r.through[0]!.photoPsnr);
    // A random model's output is far from the photo whether or not it is sent through a thumbnail.
    for (const t of r.through) expect(t.modelPsnr).to.be.below(t.photoPsnr);
    expect(r.codebookUsage).to.be.within(1 / 4096, 1);
    expect(stdout).to.contain('| through a thumbnail and back |').and.contain('| 8×8 8-bit (1536 bits) |');
  });
});
