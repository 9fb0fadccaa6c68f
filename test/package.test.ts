/**
 * The package as a user gets it: `npm pack`, installed into an empty project (offline, from the npm
 * cache `npm ci` filled: the project's lockfile pins tok1d's dependencies to the versions and
 * integrity hashes of this repository's package-lock.json) and into a temporary global prefix
 * (`npm install -g`), then, from there:
 *   - the README's "Library" examples: the Node ones as ES modules in the project, the browser one in
 *     a page of headless Chromium that imports the installed bundle through an import map;
 *   - `tok1d doctor` and `tok1d reconstruct` from the installed bin, through `npx`, and from the
 *     global prefix, each run from a folder outside the package.
 * The results are checked against this checkout's own library on the same files.
 */
import { expect } from 'chai';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { decodeImage } from '../src/io/image.js';
import { nodeKernelFiles } from '../src/gpu/node.js';
import { readTokFile } from '../src/io/tokens.js';
import { bundledCheckpoint, Tokenizer } from '../src/model/tokenizer.js';
import { CHROMIUM, CHROMIUM_ARGS, engineFor } from './helpers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURES = join(ROOT, 'test', 'fixtures');
const EXAMPLES = join(ROOT, 'examples', 'images');
/** Files the README's examples name, as the test provides them in the project. */
const PHOTO = join(EXAMPLES, 'astronaut.png');
const PHOTOS = [join(EXAMPLES, 'brick.png'), join(FIXTURES, 'quadrants.jpg'), join(FIXTURES, 'quadrants.webp'), join(FIXTURES, 'chelsea-truncated.jpg')];

/** Code blocks (```js) of the README's "Library" section, in order. */
export function libraryExamples(readme: string): string[] {
  const start = readme.indexOf('\n## Library\n');
  if (start < 0) throw new Error('README.md has no "## Library" section');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
}

function expectOk(r: SpawnSyncReturns<string>, what: string): void {
  expect(r.error, `${what}: ${r.error?.message}`).to.equal(undefined);
  expect(r.status, `${what} exited ${r.status}:\n${r.stdout}\n${r.stderr}`).to.equal(0);
}

/** Network failures of npm (offline machine), as opposed to a broken package. */
const NPM_OFFLINE = /ENOTCACHED|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ECONNRESET|network/;

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.png': 'image/png', '.json': 'application/json', '.map': 'application/json', '.safetensors': 'application/octet-stream' };

/** Serves `dir` on localhost (a secure context for WebGPU). */
async function serveDir(dir: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const rel = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^[/\\]+/, '') || 'index.html';
    const file = join(dir, rel);
    if (rel.split(sep).includes('..') || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

describe('the packed package, installed in an empty project', function () {
  let work: string;
  let tarball: string;
  let project: string;
  let packed: string[];
  let examples: string[];

  before(async function () {
    const npm = run('npm', ['--version'], ROOT);
    if (npm.error || npm.status !== 0) {
      console.log(`      skipped: npm is not available (${npm.error?.message ?? npm.stderr.trim()}); the package test needs it`);
      this.skip();
    }
    examples = libraryExamples(readFileSync(join(ROOT, 'README.md'), 'utf8'));
    work = mkdtempSync(join(tmpdir(), 'tok1d-package-'));
    // The browser bundle as this checkout builds it (the TypeScript is built: these tests run from dist).
    const tools = (await import(pathToFileURL(join(ROOT, 'tools', 'build-browser.mjs')).href)) as { buildBrowser(): Promise<unknown> };
    await tools.buildBrowser();
    const pack = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], ROOT);
    expectOk(pack, 'npm pack');
    const info = (JSON.parse(pack.stdout) as { filename: string; size: number; unpackedSize: number; files: { path: string }[] }[])[0]!;
    tarball = join(work, info.filename);
    packed = info.files.map((f) => f.path);
    console.log(`      ${info.filename}: ${(info.size / 1024).toFixed(0)} KiB packed, ${(info.unpackedSize / 1024).toFixed(0)} KiB unpacked, ${packed.length} files`);

    // An empty project whose lockfile pins the dependencies as this checkout's does: `npm ci --offline`.
    project = join(work, 'project');
    mkdirSync(project);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; license: string; dependencies: Record<string, string>; bin: unknown; engines: unknown };
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const spec = `file:../${info.filename}`;
    const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
    const packages: Record<string, unknown> = {
      '': { name: 'app', dependencies: { tok1d: spec } },
      'node_modules/tok1d': { version: pkg.version, resolved: spec, integrity, license: pkg.license, dependencies: pkg.dependencies, bin: pkg.bin, engines: pkg.engines },
    };
    for (const [k, v] of Object.entries(lock.packages)) if (k.startsWith('node_modules/') && !v.dev) packages[k] = v;
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: { tok1d: spec } }, null, 2));
    writeFileSync(join(project, 'package-lock.json'), JSON.stringify({ name: 'app', lockfileVersion: 3, requires: true, packages }, null, 2));
    const t0 = performance.now();
    const ci = run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], project);
    if (ci.status !== 0 && NPM_OFFLINE.test(ci.stderr)) {
      console.log(`      skipped: the npm cache lacks tok1d's dependencies (run npm ci in the repository first): ${ci.stderr.trim().split('\n')[0]}`);
      this.skip();
    }
    expectOk(ci, 'npm ci --offline');
    console.log(`      installed into an empty project in ${((performance.now() - t0) / 1000).toFixed(1)} s (offline)`);
    // What the examples name.
    copyFileSync(PHOTO, join(project, 'photo.png'));
    mkdirSync(join(project, 'photos'));
    for (const f of PHOTOS) copyFileSync(f, join(project, 'photos', f.split(sep).at(-1)!));
  });

  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('ships the bin, the compiled library and its types, the browser bundle, the kernels and the model; no sources or tests', () => {
    for (const f of ['bin/tok1d.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/browser.d.ts', 'dist/src/cli/main.js', 'dist/browser/tok1d.js', 'models/default.safetensors', 'package.json', 'README.md'])
      expect(packed, f).to.include(f);
    for (const k of nodeKernelFiles()) expect(packed, k).to.include(k);
    expect(packed.filter((f) => /^(src|test|dist\/test|bench|tools)\//.test(f) || f.endsWith('.ts') && !f.endsWith('.d.ts'))).to.deep.equal([]);
  });

  it("the README's library examples run as written in Node, from the installed package", async function () {
    const node = examples.filter((code) => !code.includes("'tok1d/browser'"));
    expect(node.length, 'Node examples in the README').to.be.at.least(2);
    for (const [i, code] of node.entries()) {
      writeFileSync(join(project, `example-${i}.mjs`), code);
      const r = run(process.execPath, [`example-${i}.mjs`], project);
      expectOk(r, `README example ${i + 1}:\n${code}`);
    }
    // Their results, against this checkout's library on the same files.
    const e = await engineFor('opengl');
    if (typeof e === 'string') return;
    const tok = await Tokenizer.load(bundledCheckpoint(), { engine: e });
    try {
      const S = tok.config.imageSize;
      if (node.some((c) => c.includes("'back.png'"))) {
        const back = decodeImage(readFileSync(join(project, 'back.png')));
        expect([back.width, back.height]).to.deep.equal([S, S]);
        const [ids] = await tok.encodeFiles([PHOTO]);
        const [want] = await tok.decodePixels([ids!]);
        const same = back.rgb.reduce((n, v, j) => n + (Math.abs(v - want!.data[j]!) <= 1 ? 1 : 0), 0) / back.rgb.length;
        expect(same, 'back.png against the decoded tokens of photo.png').to.be.at.least(0.99);
      }
      if (node.some((c) => c.includes("'tokens.tok'"))) {
        const { records } = await readTokFile(join(project, 'tokens.tok'), { config: tok.config });
        const good = PHOTOS.filter((f) => !f.includes('truncated'));
        expect(records.map((r) => r.file).sort()).to.deep.equal(good.map((f) => `photos/${f.split(sep).at(-1)}`).sort());
        const want = await tok.encodeFiles(good);
        for (const [j, f] of good.entries()) {
          const got = records.find((r) => r.file.endsWith(f.split(sep).at(-1)!))!.tokens;
          const agree = got.reduce((n, v, k) => n + (v === want[j]![k] ? 1 : 0), 0) / got.length;
          expect(agree, f).to.be.at.least(0.95);
        }
      }
    } finally {
      tok.dispose();
    }
  });

  it('tok1d doctor and reconstruct from the installed bin and through npx, run from another folder', () => {
    const elsewhere = mkdtempSync(join(work, 'cwd-'));
    const bin = join(project, 'node_modules', '.bin', 'tok1d');
    const doctor = run(bin, ['doctor'], elsewhere);
    expectOk(doctor, 'tok1d doctor');
    expect(doctor.stdout).to.match(/self-tests passed/);
    const rec = run(bin, ['reconstruct', join(project, 'photo.png'), join(project, 'photos', 'brick.png'), '-o', 'recon'], elsewhere);
    expectOk(rec, 'tok1d reconstruct');
    expect(rec.stdout).to.match(/mean PSNR [\d.]+ dB over 2 images/);
    expect(readdirSync(join(elsewhere, 'recon')).sort()).to.deep.equal(['brick.png', 'photo.png']);
    const npx = run('npx', ['--no-install', 'tok1d', 'info'], project);
    expectOk(npx, 'npx tok1d info');
    expect(npx.stdout).to.contain(join('node_modules', 'tok1d', 'models', 'default.safetensors'));
  });

  it('npm install -g into a temporary prefix: tok1d and npx tok1d work from any folder', function () {
    const prefix = join(work, 'prefix');
    const g = run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], work);
    if (g.status !== 0 && NPM_OFFLINE.test(g.stderr)) {
      console.log(`      skipped: npm install -g needs the registry's metadata of tok1d's dependencies, which is neither cached nor reachable: ${g.stderr.trim().split('\n')[0]}`);
      this.skip();
    }
    expectOk(g, 'npm install -g');
    const elsewhere = mkdtempSync(join(work, 'global-'));
    const env = { PATH: `${join(prefix, 'bin')}${process.platform === 'win32' ? ';' : ':'}${process.env.PATH}`, npm_config_prefix: prefix };
    const doctor = run('tok1d', ['doctor'], elsewhere, env);
    expectOk(doctor, 'tok1d doctor (global)');
    const rec = run('tok1d', ['reconstruct', join(project, 'photo.png'), '-o', 'out'], elsewhere, env);
    expectOk(rec, 'tok1d reconstruct (global)');
    expect(existsSync(join(elsewhere, 'out', 'photo.png'))).to.equal(true);
    const npx = run('npx', ['--no-install', 'tok1d', 'info'], elsewhere, env);
    expectOk(npx, 'npx tok1d info (global)');
    expect(npx.stdout, 'the global install answers').to.contain(join('prefix', 'lib', 'node_modules', 'tok1d', 'models', 'default.safetensors'));
  });

  it("the README's browser example in headless Chromium: Tokenizer.load() finds the model next to the installed bundle", async function () {
    const browserExample = examples.find((code) => code.includes("'tok1d/browser'"));
    expect(browserExample, 'a browser example in the README').to.be.a('string');
    if (!existsSync(CHROMIUM)) {
      console.log(`      skipped: ${CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)`);
      this.skip();
    }
    // After the example: the same model through { baseUrl }, and a wrong one (a CheckpointError naming the URL it tried).
    const after = `
const again = await Tokenizer.load('default', { baseUrl: '/node_modules/tok1d/' });
const [same] = await again.encode([await createImageBitmap(img)]);
const wrong = await Tokenizer.load('default', { baseUrl: '/nowhere/' }).then(() => 'loaded', (e) => \`\${e.name}: \${e.message}\`);
window.tok1dResult = { ids: [...ids], same: [...same], wrong, tokensPerImage: tok.tokensPerImage, codebookSize: tok.config.codebookSize };
`;
    writeFileSync(join(project, 'example.js'), `${browserExample}${after}`);
    writeFileSync(
      join(project, 'index.html'),
      '<!doctype html><meta charset="utf-8"><script type="importmap">{"imports":{"tok1d/browser":"/node_modules/tok1d/dist/browser/tok1d.js"}}</script><img src="photo.png"><script type="module" src="example.js"></script>\n',
    );
    const { server, url } = await serveDir(project);
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    const requests: string[] = [];
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('request', (r) => requests.push(new URL(r.url()).pathname));
      await page.goto(url);
      await page.waitForFunction(() => 'tok1dResult' in window || document.title === 'error', undefined, { timeout: 90_000, polling: 200 }).catch(() => undefined);
      const result = await page.evaluate(() => (window as unknown as { tok1dResult?: { ids: number[]; same: number[]; wrong: string; tokensPerImage: number; codebookSize: number } }).tok1dResult);
      expect(errors, 'page errors').to.deep.equal([]);
      expect(result, 'the example finished').to.not.equal(undefined);
      expect(requests).to.include('/node_modules/tok1d/models/default.safetensors');
      expect(result!.ids).to.have.length(result!.tokensPerImage);
      expect(result!.ids.every((id) => Number.isInteger(id) && id >= 0 && id < result!.codebookSize)).to.equal(true);
      expect(result!.same, 'Tokenizer.load with { baseUrl }').to.deep.equal(result!.ids);
      expect(result!.wrong).to.match(/^CheckpointError: cannot fetch checkpoint http:\/\/127\.0\.0\.1:\d+\/nowhere\/models\/default\.safetensors: HTTP 404/);
      // Against Node on the same photo (GPU resize in the page, CPU resize here: ties may differ).
      const e = await engineFor('opengl');
      if (typeof e !== 'string') {
        const tok = await Tokenizer.load(bundledCheckpoint(), { engine: e });
        const [want] = await tok.encodeFiles([PHOTO]);
        tok.dispose();
        const agree = result!.ids.filter((id, k) => id === want![k]).length / result!.ids.length;
        console.log(`      page vs Node: ${(agree * 100).toFixed(0)}% of the ids equal`);
        expect(agree).to.be.at.least(0.8);
      }
    } finally {
      await browser.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
