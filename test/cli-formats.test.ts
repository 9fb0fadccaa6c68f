/** The command line on folders of JPEG, WebP and PNG files, and what it prints on stderr. */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectImages } from '../src/cli/inputs.js';
import { DAWN_NOTICE } from '../src/gpu/node.js';
import { BIN, expectNoStack, ROOT, tok1d, type Run } from './cli-run.js';

const MODEL = ['--preset', 'tiny', '--random-init', '--seed', '5', '--backend', 'opengl'];

/**
 * Runs `node ARGS...` with stderr a shell pipe, as in `tok1d ... 2>&1 | less` (Node's own child
 * processes get sockets, which the notice filter leaves alone), stdout to a file.
 */
function withStderrPipe(args: string[], dir: string, env: Record<string, string> = {}): Promise<Run> {
  const out = join(dir, 'stdout.txt');
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  delete childEnv.TOK1D_DEBUG;
  Object.assign(childEnv, env);
  return new Promise((resolve, reject) => {
    execFile('bash', ['-c', 'set -o pipefail; "$0" "$@" 2>&1 >"$TOK1D_TEST_OUT" | cat', process.execPath, ...args], { cwd: ROOT, env: { ...childEnv, TOK1D_TEST_OUT: out }, timeout: 240_000 }, (err, stdout) => {
      const e = err as { code?: unknown } | null;
      if (e && typeof e.code !== 'number') return reject(err);
      resolve({ code: typeof e?.code === 'number' ? e.code : 0, stdout: readFileSync(out, 'utf8'), stderr: stdout });
    });
  });
}

describe('tok1d on JPEG, WebP and PNG folders', function () {
  this.timeout(300_000);
  let dir: string;
  const put = (from: string, to: string) => {
    mkdirSync(join(dir, to, '..'), { recursive: true });
    copyFileSync(join(ROOT, 'test', 'fixtures', from), join(dir, to));
  };
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tok1d-formats-'));
    put('quadrants.jpg', 'a.JPG');
    put('quadrants-progressive.jpg', 'b.jpeg');
    put('quadrants-lossless.webp', 'c.webp');
    put('quadrants.png', 'd.PNG');
    writeFileSync(join(dir, 'e.txt'), 'not an image\n');
    put('chelsea-truncated.jpg', 'g-truncated.jpg');
    put('quadrants-orient-6.webp', join('sub', 'f.WebP'));
    put('quadrants.jpg', join('sub', 'h.Jpeg'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('folder scans find .jpg, .jpeg, .webp and .png in any letter case, recursively, sorted', function () {
    expect(collectImages([dir]).map((p) => p.slice(dir.length + 1))).to.deep.equal([
      'a.JPG', 'b.jpeg', 'c.webp', 'd.PNG', 'g-truncated.jpg', join('sub', 'f.WebP'), join('sub', 'h.Jpeg'),
    ]);
  });

  it('tokenize a mixed folder: every readable file done, the truncated JPEG one line naming it, exit 1, no Dawn lines', async () => {
    const r = await withStderrPipe([BIN, 'tokenize', dir, ...MODEL], dir);
    expectNoStack(r);
    expect(r.code).to.equal(1);
    const records = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; tokens: number[] });
    const name = (f: string) => f.slice(dir.length + 1);
    expect(records.map((x) => name(x.file))).to.deep.equal(['a.JPG', 'b.jpeg', 'c.webp', 'd.PNG', join('sub', 'f.WebP'), join('sub', 'h.Jpeg')]);
    const tokens = Object.fromEntries(records.map((x) => [name(x.file), x.tokens.join(',')]));
    // Same pixels, same tokens: progressive = baseline JPEG, lossless WebP = its PNG.
    expect(tokens['b.jpeg']).to.equal(tokens['a.JPG']);
    expect(tokens['c.webp']).to.equal(tokens['d.PNG']);
    expect(tokens[join('sub', 'h.Jpeg')]).to.equal(tokens['a.JPG']);
    // stderr: the one skipped file and the summary, nothing else.
    const lines = r.stderr.trim().split('\n');
    expect(lines).to.have.length(2);
    expect(lines[0]).to.equal(`tok1d: skipping ${join(dir, 'g-truncated.jpg')}: truncated JPEG: premature end of JPEG image`);
    expect(lines[1]).to.match(/^tokenized 6 images \(16 tokens, 96 bits each\), 1 failed in [\d.]+s/);
  });

  it('--max-pixels refuses JPEG and WebP files from their headers', async () => {
    const r = await tok1d(['reconstruct', join(dir, 'a.JPG'), join(dir, 'c.webp'), join(dir, 'd.PNG'), '-o', join(dir, 'out'), '--max-pixels', '383', ...MODEL]);
    expectNoStack(r);
    expect(r.code).to.equal(1);
    const skipped = r.stderr.split('\n').filter((l) => l.startsWith('tok1d: skipping'));
    expect(skipped).to.deep.equal(['a.JPG', 'c.webp', 'd.PNG'].map((f) => `tok1d: skipping ${join(dir, f)}: declared size 24×16 exceeds the 383-pixel limit (use --max-pixels)`));
  });

  it('tokenize --profile: one line with the phases, which add up to no more than the run', async () => {
    const r = await tok1d(['tokenize', dir, '--profile', '-o', join(dir, 'profile.jsonl'), ...MODEL]);
    expect(r.code).to.equal(1); // the truncated JPEG
    const line = r.stderr.split('\n').find((l) => l.startsWith('profile: '));
    const m = /^profile: start-up ([\d.]+) s, model ([\d.]+) s \(device, parameters, upload\), waiting for inputs ([\d.]+) s, GPU ([\d.]+) s, output ([\d.]+) s; resizing \(main thread, within those\) ([\d.]+) s$/.exec(line ?? '');
    expect(m, r.stderr).to.not.equal(null);
    const [, , model, wait, gpu, output] = m!.map(Number);
    const run = Number(/ in ([\d.]+)s \(/.exec(r.stderr)![1]); // the summary's time, from after the model is loaded
    expect(wait! + gpu! + output!).to.be.at.most(run + 0.15);
    expect(model! + wait! + gpu! + output!).to.be.greaterThan(0);
  });

  it('quiet by default: Dawn\'s adapter notices appear only with --verbose or TOK1D_DEBUG=1', async () => {
    const quiet = await withStderrPipe([BIN, 'reconstruct', join(dir, 'd.PNG'), '-o', join(dir, 'out'), ...MODEL], dir);
    expect(quiet.code).to.equal(0);
    expect(quiet.stderr).to.match(/^reconstructed 1 images in [^\n]*\n$/);
    // The filter is what removes them: on this adapter Dawn does print them.
    for (const [args, env] of [[['--verbose'], {}], [[], { TOK1D_DEBUG: '1' }]] as [string[], Record<string, string>][]) {
      const loud = await withStderrPipe([BIN, 'reconstruct', join(dir, 'd.PNG'), '-o', join(dir, 'out'), ...args, ...MODEL], dir, env);
      expect(loud.code).to.equal(0);
      expect(loud.stderr.split('\n').filter((l) => DAWN_NOTICE.test(l)), loud.stderr).to.have.length(2);
    }
  });

  it('quiet with stderr in a file too (2> file, > file 2>&1), exit status kept', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.TOK1D_DEBUG;
    const sh = (script: string) =>
      new Promise<number>((resolve) => execFile('bash', ['-c', script, process.execPath, BIN, join(dir, 'd.PNG'), join(dir, 'out'), ...MODEL], { cwd: ROOT, env }, (err) => resolve(typeof (err as { code?: unknown } | null)?.code === 'number' ? ((err as { code: number }).code) : 0)));
    const errFile = join(dir, 'stderr.txt');
    const both = join(dir, 'both.txt');
    expect(await sh(`"$0" "$1" reconstruct "$2" -o "$3" "\${@:4}" > /dev/null 2> ${JSON.stringify(errFile)}`)).to.equal(0);
    expect(readFileSync(errFile, 'utf8')).to.match(/^reconstructed 1 images in [^\n]*\n$/);
    expect(await sh(`{ "$0" "$1" reconstruct "$2" -o "$3" "\${@:4}"; echo after; } > ${JSON.stringify(both)} 2>&1`)).to.equal(0);
    const lines = readFileSync(both, 'utf8').trim().split('\n');
    expect(lines.filter((l) => DAWN_NOTICE.test(l))).to.deep.equal([]);
    expect(lines.at(-1)).to.equal('after');
    expect(lines.some((l) => l.startsWith('reconstructed 1 images'))).to.equal(true);
    // A user mistake keeps its exit status and its one line.
    expect(await sh(`"$0" "$1" reconstruct ${JSON.stringify(join(dir, 'missing.png'))} -o "$3" 2> ${JSON.stringify(errFile)}`)).to.equal(3);
    expect(readFileSync(errFile, 'utf8')).to.match(/^tok1d: .*missing\.png: no such file or folder\n$/);
  });

  it('the filter passes on every other line written to stderr during the call, in order', async () => {
    const script = [
      `const { withoutDawnNotices } = await import(${JSON.stringify(join(ROOT, 'dist', 'src', 'gpu', 'node.js'))});`,
      `const { writeSync } = await import('node:fs');`,
      `process.stderr.write('before\\n');`,
      `const v = withoutDawnNotices(() => {`,
      `  writeSync(2, 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 90 to 16 to fit dynamic offset allocation limit.\\n');`,
      `  writeSync(2, 'a line of its own\\nWarning: something else\\n');`,
      `  return 42;`,
      `});`,
      `process.stderr.write('after ' + v + '\\n');`,
    ].join('\n');
    const r = await withStderrPipe(['--input-type=module', '-e', script], dir);
    expect(r.code).to.equal(0);
    expect(r.stderr).to.equal('before\na line of its own\nWarning: something else\nafter 42\n');
  });
});
