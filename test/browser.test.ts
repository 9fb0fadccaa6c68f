/**
 * The browser build in a real browser: headless Chromium (Debian's /usr/bin/chromium, WebGPU on
 * SwiftShader, core) driven by playwright-core opens the demo page served from localhost by
 * examples/web/serve.mjs, and the token ids it computes must equal those Node computes on llvmpipe
 * (compatibility) for the same images and weights.
 *
 * Same input on both sides: Node decodes the sample PNGs (src/io/image.ts) and hands the page the
 * decoded 8-bit RGB bytes; both sides then run the same shared code (prepareImage: toModelInput's
 * antialiased resize and centre crop) before encoding, so the model inputs are identical to the bit.
 * Same weights: the bundled checkpoint models/default.safetensors when it exists; else a seeded
 * random `tiny` model built on each side (the initializer is bit-reproducible across JS engines),
 * and a random `small` model that Node serializes and the page loads from a URL and from bytes.
 */
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { decodeImage } from '../src/io/image.js';
import type { Engine } from '../src/gpu/engine.js';
import { prepareImage, Tokenizer } from '../src/model/tokenizer.js';
import { TITOK_PRESETS, type TiTokConfig } from '../src/model/titok-config.js';
import type * as Tok1dBrowser from '../src/browser.js';
import { CHROMIUM, CHROMIUM_ARGS, engineFor, relL2, RUN_SEED } from './helpers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BUNDLE_URL = '/dist/browser/tok1d.js';
const DEFAULT_CHECKPOINT = join(ROOT, 'models', 'default.safetensors');
/** Sample photos: a non-square RGB one (resize + crop), a square RGB one, a grey one. */
const SAMPLES = ['motorcycle_left', 'astronaut', 'camera'];
/** Where the page fetches the test's own checkpoint from (answered by page.route, never the server). */
const TEST_CHECKPOINT_URL = '/__tok1d_test__/small.safetensors';

interface BuildResult {
  outfile: string;
  bytes: number;
  gzipBytes: number;
  kernels: number;
}
interface Tools {
  buildBrowser(opts?: { minify?: boolean }): Promise<BuildResult>;
}
interface ServeModule {
  serve(opts: { port: number; host?: string }): Promise<{ server: Server; url: string }>;
}
interface DemoState {
  ready: Promise<void>;
  firstTokensMs: number | null;
  last: { label: string; ids: number[]; psnr: number; tokens?: number } | null;
  error: string | null;
  adapter: string | null;
  model: string | null;
}
/** An image as it travels to the page: decoded 8-bit RGB, base64. */
interface WireImage {
  width: number;
  height: number;
  rgb64: string;
}

async function importMjs<T>(rel: string): Promise<T> {
  return (await import(pathToFileURL(join(ROOT, rel)).href)) as T;
}

function sampleImages(): { name: string; width: number; height: number; rgb: Uint8Array }[] {
  return SAMPLES.map((name) => ({ name, ...decodeImage(readFileSync(join(ROOT, 'examples', 'images', `${name}.png`))) }));
}

describe('browser build in headless Chromium (SwiftShader) vs Node (llvmpipe)', function () {
  let browser: Browser | undefined;
  let server: Server | undefined;
  let page: Page;
  let pageUrl: string;
  let build: BuildResult;
  const pageErrors: string[] = [];
  const images = sampleImages();
  const wire: WireImage[] = images.map((i) => ({ width: i.width, height: i.height, rgb64: Buffer.from(i.rgb).toString('base64') }));
  const useDefault = existsSync(DEFAULT_CHECKPOINT);

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      console.log(`      skipped: ${CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)`);
      this.skip();
    }
    const node = await engineFor('opengl');
    if (typeof node === 'string') {
      console.log(`      skipped: the Node side needs llvmpipe: ${node}`);
      this.skip();
    }
    const tools = await importMjs<Tools>('tools/build-browser.mjs');
    build = await tools.buildBrowser();
    const { serve } = await importMjs<ServeModule>('examples/web/serve.mjs');
    const started = await serve({ port: 0 });
    server = started.server;
    pageUrl = started.url;
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    page = await browser.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      // The demo probes for the bundled checkpoint with a HEAD request; a 404 there is expected.
      if (m.type() === 'error' && !m.location().url.endsWith('/models/default.safetensors')) pageErrors.push(`${m.text()} (${m.location().url})`);
    });
  });

  after(async () => {
    await browser?.close();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  });

  it('bundle: one ES module without imports, kernels inlined', () => {
    const code = readFileSync(build.outfile, 'utf8');
    expect(code).to.include('fn resize_v'); // a WGSL entry point, inlined
    expect(build.kernels).to.be.at.least(10);
    console.log(`      dist/browser/tok1d.js: ${(build.bytes / 1024).toFixed(1)} KiB, gzip ${(build.gzipBytes / 1024).toFixed(1)} KiB`);
  });

  it('demo page: loads the model on its own device, shows tokens, reconstruction and PSNR for the default sample', async () => {
    await page.goto(`${pageUrl}?seed=${RUN_SEED}`);
    await page.waitForFunction(() => (window as unknown as { tok1dDemo?: DemoState }).tok1dDemo?.ready !== undefined);
    const state = await page.evaluate(async () => {
      const demo = (window as unknown as { tok1dDemo: DemoState }).tok1dDemo;
      await demo.ready;
      return { firstTokensMs: demo.firstTokensMs, last: demo.last, error: demo.error, adapter: demo.adapter, model: demo.model, cells: document.querySelectorAll('#tokens div').length };
    });
    expect(state.error, `page error: ${state.error}; console: ${pageErrors.join(' | ')}`).to.equal(null);
    expect(state.adapter).to.match(/swiftshader/i);
    expect(state.model).to.match(useDefault ? /default\.safetensors/ : /random tiny/);
    expect(state.last?.label).to.equal('astronaut');
    expect(state.cells).to.equal(state.last!.ids.length).and.to.be.above(0);
    expect(state.last!.psnr).to.be.a('number').and.to.satisfy(Number.isFinite);
    console.log(`      page load → first tokens: ${state.firstTokensMs!.toFixed(0)} ms (${state.adapter})`);
  });

  it('the README embedding example (examples/web/embed.html) runs', async () => {
    await page.goto(`${pageUrl}embed.html`);
    const ids = await page.waitForFunction(() => (window as unknown as { embedResult?: { ids: number[] } }).embedResult?.ids, undefined, { timeout: 60000 });
    const list = (await ids.jsonValue()) as number[];
    expect(list.length).to.be.above(0);
    if (!useDefault) expect(list.length).to.equal(16); // the random tiny model's tokens per image
    expect(list.every((id) => Number.isInteger(id) && id >= 0)).to.equal(true);
    expect(pageErrors, 'page errors').to.deep.equal([]);
    await page.goto(pageUrl + '?sample=none');
  });

  /** Runs encode + decode in the page on the wire images with a tokenizer from `source`. */
  async function pageEncode(source: { preset: string; seed: number } | { url: string } | { bytesFrom: string }): Promise<{ ids: number[][]; recon: number[][] }> {
    return page.evaluate(
      async ({ bundle, source, wire }) => {
        const m = (await import(bundle)) as typeof Tok1dBrowser;
        const tok =
          'preset' in source
            ? await m.Tokenizer.random(source.preset, source.seed)
            : 'url' in source
              ? await m.Tokenizer.load(source.url)
              : await m.Tokenizer.load(await (await fetch(source.bytesFrom)).arrayBuffer());
        try {
          const pixels = wire.map((w) => ({ width: w.width, height: w.height, channels: 3 as const, data: Uint8Array.from(atob(w.rgb64), (c) => c.charCodeAt(0)) }));
          const ids = await tok.encode(pixels.map((p) => m.prepareImage(p, tok.config.imageSize)));
          const recon = await tok.decode(ids);
          return { ids: ids.map((a) => Array.from(a)), recon: recon.map((a) => Array.from(a)) };
        } finally {
          tok.dispose();
        }
      },
      { bundle: BUNDLE_URL, source, wire },
    );
  }

  async function nodeEncode(tok: Tokenizer): Promise<{ ids: number[][]; recon: Float32Array[] }> {
    const S = tok.config.imageSize;
    const ids = await tok.encode(images.map((i) => prepareImage({ width: i.width, height: i.height, channels: 3, data: i.rgb }, S)));
    return { ids: ids.map((a) => Array.from(a)), recon: await tok.decode(ids) };
  }

  function compare(what: string, page: { ids: number[][]; recon: number[][] }, node: { ids: number[][]; recon: Float32Array[] }): void {
    const T = node.ids[0]!.length;
    const differing = page.ids.flatMap((ids, i) => ids.map((id, j) => (id === node.ids[i]![j] ? null : `${SAMPLES[i]}[${j}]: ${id} vs ${node.ids[i]![j]}`))).filter(Boolean);
    expect(differing, `${what}: ${differing.length} of ${SAMPLES.length * T} ids differ between Chromium and Node (seed ${RUN_SEED})`).to.deep.equal([]);
    // The decoders run the same kernels in f32 on two executors: equal up to summation order.
    page.recon.forEach((r, i) => expect(relL2(r, node.recon[i]!), `${what}: ${SAMPLES[i]} reconstruction`).to.be.at.most(1e-5));
  }

  it(`token ids equal Node's for ${SAMPLES.join(', ')}: ${useDefault ? 'the bundled checkpoint' : 'a seeded random tiny model'}`, async () => {
    const engine = (await engineFor('opengl')) as Engine;
    const tok = useDefault ? await Tokenizer.load(DEFAULT_CHECKPOINT, { engine }) : await Tokenizer.random('tiny', RUN_SEED, { engine });
    try {
      const node = await nodeEncode(tok);
      const inPage = await pageEncode(useDefault ? { url: '/models/default.safetensors' } : { preset: 'tiny', seed: RUN_SEED });
      compare(useDefault ? 'default checkpoint' : 'tiny', inPage, node);
    } finally {
      tok.dispose();
    }
  });

  it("token ids equal Node's: a random small model the page loads from a URL and from an ArrayBuffer", async () => {
    const engine = (await engineFor('opengl')) as Engine;
    const tok = await Tokenizer.random('small', RUN_SEED ^ 0x5a5a, { engine });
    try {
      const bytes = await tok.checkpointBytes();
      await page.route(`**${TEST_CHECKPOINT_URL}`, (route) => route.fulfill({ status: 200, contentType: 'application/octet-stream', body: Buffer.from(bytes) }));
      const node = await nodeEncode(tok);
      compare('small (URL)', await pageEncode({ url: TEST_CHECKPOINT_URL }), node);
      compare('small (ArrayBuffer)', await pageEncode({ bytesFrom: TEST_CHECKPOINT_URL }), node);
    } finally {
      tok.dispose();
      await page.unroute(`**${TEST_CHECKPOINT_URL}`);
    }
  });

  it("token ids equal Node's: a TiTok model the page loads from a checkpoint folder URL", async () => {
    const engine = (await engineFor('opengl')) as Engine;
    // A TiTok configuration small enough for a page on a software GPU (tok1d's 'tiny' width at 64×64,
    // patch 8, 32 tokens; the reference's own sizes are checked against the reference in Node), random weights.
    const config: TiTokConfig = { ...TITOK_PRESETS['titok-bl64-vq']!, imageSize: 64, encoderPatch: 8, decoderPatch: 8, encoderSize: 'tiny', decoderSize: 'tiny', tokens: 32, codebookSize: 1024 };
    const tok = await Tokenizer.random(config, RUN_SEED ^ 0x7171, { engine });
    const folder = '/__tok1d_test__/titok/';
    try {
      const files = await tok.titokFiles();
      await page.route(`**${folder}config.json`, (route) => route.fulfill({ status: 200, contentType: 'application/json', body: files.config }));
      await page.route(`**${folder}model.safetensors`, (route) => route.fulfill({ status: 200, contentType: 'application/octet-stream', body: Buffer.from(files.weights) }));
      compare('TiTok (folder URL)', await pageEncode({ url: folder }), await nodeEncode(tok));
      // The same model as one file, in the demo page: its prefix slider redraws from the first k tokens.
      const single = Buffer.from(await tok.checkpointBytes('f32'));
      await page.route(`**${folder}single.safetensors`, (route) => route.fulfill({ status: 200, contentType: 'application/octet-stream', body: single }));
      await page.goto(`${pageUrl}?model=${encodeURIComponent(`${folder}single.safetensors`)}`);
      await page.waitForFunction(() => (window as unknown as { tok1dDemo?: DemoState }).tok1dDemo?.ready !== undefined);
      const demo = await page.evaluate(async () => {
        const d = (window as unknown as { tok1dDemo: DemoState & { redraw(k: number): Promise<void> } }).tok1dDemo;
        await d.ready;
        const full = { tokens: d.last?.tokens, psnr: d.last?.psnr };
        await d.redraw(4);
        const dimmed = document.querySelectorAll('#tokens div.off').length;
        return { error: d.error, model: d.model, full, four: { tokens: d.last?.tokens, psnr: d.last?.psnr }, dimmed, slider: (document.getElementById('k') as HTMLInputElement).max };
      });
      expect(demo.error, `page error: ${demo.error}; console: ${pageErrors.join(' | ')}`).to.equal(null);
      expect(demo.model).to.match(/TiTok, 64×64, 32 latent tokens/);
      expect(demo.slider).to.equal('32');
      expect(demo.full.tokens).to.equal(32);
      expect(demo.four.tokens).to.equal(4);
      expect(demo.dimmed).to.equal(28);
      expect(demo.four.psnr).to.be.a('number').and.to.not.equal(demo.full.psnr);
    } finally {
      tok.dispose();
      await page.unroute(`**${folder}config.json`);
      await page.unroute(`**${folder}model.safetensors`);
      await page.unroute(`**${folder}single.safetensors`);
      await page.goto(pageUrl + '?sample=none');
    }
  });

  it('app-owned device: handed over, ids read by the app’s own shader between tok1d calls, decode into the app’s texture; device kept, no error scope or tok1d buffer or texture left', async () => {
    const engine = (await engineFor('opengl')) as Engine;
    const nodeTok = await Tokenizer.random('tiny', RUN_SEED, { engine });
    let nodeIds: number[][];
    try {
      nodeIds = (await nodeEncode(nodeTok)).ids;
    } finally {
      nodeTok.dispose();
    }
    const r = await page.evaluate(
      async ({ bundle, wire, seed }) => {
        const m = (await import(bundle)) as typeof Tok1dBrowser;
        const adapter = await navigator.gpu.requestAdapter();
        if (!adapter) throw new Error('no adapter');
        const device = await adapter.requestDevice({ label: 'app device' }); // the default limits: tok1d must live within them
        const appErrors: string[] = [];
        device.addEventListener('uncapturederror', (e) => appErrors.push((e as GPUUncapturedErrorEvent).error.message));
        // tok1d gets the device through a proxy that records every buffer and texture it creates
        // until their destroy(); the app's own objects below are made on the device itself.
        const alive = new Set<GPUBuffer | GPUTexture>();
        const tracked = <T extends GPUBuffer | GPUTexture>(o: T): T => {
          alive.add(o);
          const destroy = o.destroy.bind(o);
          o.destroy = () => {
            alive.delete(o);
            destroy();
          };
          return o;
        };
        const tok1dDevice = new Proxy(device, {
          get(target, prop) {
            if (prop === 'createBuffer') return (d: GPUBufferDescriptor) => tracked(target.createBuffer(d));
            if (prop === 'createTexture') return (d: GPUTextureDescriptor) => tracked(target.createTexture(d));
            const v = Reflect.get(target, prop, target) as unknown;
            return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
          },
        });
        const engine = await m.createEngine({ device: tok1dDevice });
        const tok = await m.Tokenizer.random('tiny', seed, { engine });
        const S = tok.config.imageSize;
        const T = tok.tokensPerImage;
        const n = wire.length * T;
        const inputs = wire.map((w) => m.prepareImage({ width: w.width, height: w.height, channels: 3, data: Uint8Array.from(atob(w.rgb64), (c) => c.charCodeAt(0)) }, S));

        // tok1d call 1: ids stay on the GPU.
        const tb = await tok.encodeToBuffer(inputs);

        // The app's own work on the same queue: a shader reads the ids (out = 2 id + 1), and an
        // invalid call of the app's that must reach the app's handler, not a tok1d call.
        const module = device.createShaderModule({
          code: `@group(0) @binding(0) var<storage, read> ids: array<u32>;
                 @group(0) @binding(1) var<storage, read_write> out: array<u32>;
                 @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
                   if (g.x < arrayLength(&out)) { out[g.x] = 2u * ids[g.x] + 1u; }
                 }`,
        });
        const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
        const out = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
        const readOut = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: tb.buffer } }, { binding: 1, resource: { buffer: out } }] }));
        pass.dispatchWorkgroups(Math.ceil(n / 64));
        pass.end();
        enc.copyBufferToBuffer(out, 0, readOut, 0, n * 4);
        device.queue.submit([enc.finish()]);
        device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE }); // invalid usage: the app's own error

        // tok1d call 2: decode the GPU ids into the app's texture; then ids and pixels on the CPU.
        const tex = device.createTexture({ size: [S, S], format: 'rgba8unorm', usage: GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.COPY_SRC });
        await tok.decodeTo({ buffer: tb.buffer, images: 1 }, [tex]);
        const ids = await tok.encode(inputs);
        const [pixels] = await tok.decodePixels([ids[0]!], { channels: 4 });

        // An S × S ImageBitmap takes the GPU input path; without resizing its taps are exact.
        const bitmap = await createImageBitmap(new ImageData(new Uint8ClampedArray(pixels!.data), S, S));
        const [bitmapIds] = await tok.encode([bitmap], { resize: false });
        const [dataIds] = await tok.encode([new ImageData(new Uint8ClampedArray(pixels!.data), S, S)], { resize: false });

        await readOut.mapAsync(GPUMapMode.READ);
        const appOut = Array.from(new Uint32Array(readOut.getMappedRange().slice(0)));
        readOut.unmap();
        const bpr = 256 * Math.ceil((4 * S) / 256);
        const readTex = device.createBuffer({ size: bpr * S, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
        const e2 = device.createCommandEncoder();
        e2.copyTextureToBuffer({ texture: tex }, { buffer: readTex, bytesPerRow: bpr }, [S, S]);
        device.queue.submit([e2.finish()]);
        await readTex.mapAsync(GPUMapMode.READ);
        const rows = new Uint8Array(readTex.getMappedRange().slice(0));
        readTex.unmap();
        let texDiff = 0;
        for (let y = 0; y < S; y++) for (let x = 0; x < 4 * S; x++) texDiff = Math.max(texDiff, Math.abs(rows[y * bpr + x]! - pixels!.data[y * 4 * S + x]!));

        const tok1dObjects = alive.size;
        tok.dispose();
        engine.dispose();
        // Alive after both disposals: only the ids buffer encodeToBuffer handed to the app.
        const leftAlive = [...alive].filter((o) => o !== tb.buffer).map((o) => o.label || '(no label)');
        // No scope left open by tok1d: popping an empty stack rejects.
        const stackEmpty = await device.popErrorScope().then(() => false, () => true);
        // The device is still the app's and alive: it runs work and reads back.
        const lost = await Promise.race([device.lost.then(() => true), new Promise<boolean>((res) => setTimeout(() => res(false), 50))]);
        const probe = device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ, mappedAtCreation: true });
        new Uint32Array(probe.getMappedRange())[0] = 7;
        probe.unmap();
        await probe.mapAsync(GPUMapMode.READ);
        const probeValue = new Uint32Array(probe.getMappedRange())[0];
        await new Promise((res) => setTimeout(res, 50)); // let the app's uncaptured error arrive
        tb.buffer.destroy();
        device.destroy();
        return {
          backend: engine.info.backend,
          ids: ids.map((a) => Array.from(a)),
          appOut,
          texDiff,
          bitmapIds: Array.from(bitmapIds!),
          dataIds: Array.from(dataIds!),
          stackEmpty,
          lost,
          probeValue,
          appErrors,
          tok1dObjects,
          leftAlive,
        };
      },
      { bundle: BUNDLE_URL, wire, seed: RUN_SEED },
    );
    expect(r.backend).to.equal('app');
    expect(r.ids, 'ids on the app device vs Node').to.deep.equal(nodeIds);
    expect(r.appOut, 'the app shader read the ids tok1d left in the GPUBuffer').to.deep.equal(nodeIds.flat().map((id) => 2 * id + 1));
    expect(r.texDiff, 'decodeTo texture vs decodePixels (at most one level at f32 rounding ties)').to.be.at.most(1);
    expect(r.bitmapIds, 'ImageBitmap (GPU input path) vs ImageData (CPU path)').to.deep.equal(r.dataIds);
    expect(r.stackEmpty, 'a tok1d call left an error scope open').to.equal(true);
    expect(r.lost, 'the app device was lost or destroyed').to.equal(false);
    expect(r.probeValue).to.equal(7);
    expect(r.tok1dObjects, 'buffers and textures tok1d held before dispose').to.be.greaterThan(1);
    expect(r.leftAlive, 'tok1d buffers and textures alive after tok.dispose(); engine.dispose()').to.deep.equal([]);
    expect(r.appErrors.length, `the app's own error reaches the app's handler: ${r.appErrors.join(' | ')}`).to.equal(1);
    expect(pageErrors, 'page errors').to.deep.equal([]);
  });
});
