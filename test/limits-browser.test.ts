/**
 * The browser build on page-created devices with no requiredLimits, in headless Chromium
 * (SwiftShader): a compatibility-mode device (128 invocations per workgroup, 16 KiB uniform
 * bindings, 4096-texel textures), the same reporting 4 storage buffers per shader stage (inputs
 * packed, src/gpu/storage-packing.ts), and a core one (256). The bundled model must give the token
 * ids tok1d's own device gives in Node (llvmpipe), and a device reporting a limit below tok1d's
 * minimum must be refused by createEngine with the one-line message.
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import type { Engine } from '../src/gpu/engine.js';
import { Tokenizer } from '../src/model/tokenizer.js';
import type * as Tok1dBrowser from '../src/browser.js';
import { CHROMIUM, CHROMIUM_ARGS, engineFor } from './helpers.js';
import { patternedImages } from './patterned-images.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BUNDLE_URL = '/dist/browser/tok1d.js';
const CHECKPOINT = join(ROOT, 'models', 'default.safetensors');

interface Tools {
  buildBrowser(opts?: { minify?: boolean }): Promise<unknown>;
}
interface ServeModule {
  serve(opts: { port: number; host?: string }): Promise<{ server: Server; url: string }>;
}

async function importMjs<T>(rel: string): Promise<T> {
  return (await import(pathToFileURL(join(ROOT, rel)).href)) as T;
}

describe('default limits in headless Chromium (SwiftShader): page-created devices vs Node', function () {
  let browser: Browser | undefined;
  let server: Server | undefined;
  let page: Page;
  const pageErrors: string[] = [];
  const imgs = patternedImages(4);
  const wire = imgs.map((i) => Buffer.from(i.data).toString('base64'));

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      console.log(`      skipped: ${CHROMIUM} is missing (apt-get install chromium)`);
      this.skip();
    }
    if (!existsSync(CHECKPOINT)) {
      console.log('      skipped: models/default.safetensors is missing');
      this.skip();
    }
    const node = await engineFor('opengl');
    if (typeof node === 'string') {
      console.log(`      skipped: the Node side needs llvmpipe: ${node}`);
      this.skip();
    }
    await (await importMjs<Tools>('tools/build-browser.mjs')).buildBrowser();
    const { serve } = await importMjs<ServeModule>('examples/web/serve.mjs');
    const started = await serve({ port: 0 });
    server = started.server;
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    page = await browser.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(started.url);
  });

  after(async () => {
    await browser?.close();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  });

  async function nodeIds(): Promise<number[][]> {
    const tok = await Tokenizer.load(CHECKPOINT, { engine: (await engineFor('opengl')) as Engine });
    try {
      return (await tok.encodePixels(imgs)).map((a) => Array.from(a));
    } finally {
      tok.dispose();
    }
  }

  for (const [featureLevel, storageBuffers] of [['compatibility', 0], ['compatibility', 4], ['core', 0]] as const) {
    const which = storageBuffers ? `${featureLevel}, reporting ${storageBuffers} storage buffers per stage` : featureLevel;
    it(`${which}: a device with the default limits encodes the bundled model to Node's ids`, async () => {
      const r = await page.evaluate(
        async ({ bundle, wire, featureLevel, storageBuffers }) => {
          const m = (await import(bundle)) as typeof Tok1dBrowser;
          const adapter = await navigator.gpu.requestAdapter({ featureLevel });
          if (!adapter) throw new Error(`no ${featureLevel} adapter`);
          const device = await adapter.requestDevice({ label: 'app device' });
          const errors: string[] = [];
          device.addEventListener('uncapturederror', (e) => errors.push((e as GPUUncapturedErrorEvent).error.message));
          const limits: Record<string, number> = {};
          for (const k in device.limits) limits[k] = (device.limits as unknown as Record<string, number>)[k]!;
          if (storageBuffers) limits.maxStorageBuffersPerShaderStage = storageBuffers;
          const reported = new Proxy(device, {
            get(target, prop) {
              if (prop === 'limits') return limits;
              const v = Reflect.get(target, prop, target) as unknown;
              return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
            },
          });
          const engine = await m.createEngine({ device: reported });
          const tok = await m.Tokenizer.load('/models/default.safetensors', { engine });
          try {
            const pixels = wire.map((b64) => ({ width: 64, height: 64, channels: 3 as const, data: Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)) }));
            const ids = await tok.encodePixels(pixels);
            const back = await tok.decodePixels(ids);
            return {
              ids: ids.map((a) => Array.from(a)),
              decoded: back.length,
              flatWG: engine.flatWG,
              invocations: device.limits.maxComputeInvocationsPerWorkgroup,
              compatibility: !device.features.has('core-features-and-limits'),
              packedPipelines: engine.counters.packedPipelines,
              errors,
            };
          } finally {
            tok.dispose();
            engine.dispose();
            device.destroy();
          }
        },
        { bundle: BUNDLE_URL, wire, featureLevel, storageBuffers },
      );
      expect(r.compatibility).to.equal(featureLevel === 'compatibility');
      if (storageBuffers) expect(r.packedPipelines).to.be.greaterThan(0);
      else expect(r.packedPipelines).to.equal(0);
      expect(r.invocations).to.equal(featureLevel === 'compatibility' ? 128 : 256);
      expect(r.flatWG).to.equal(r.invocations);
      expect(r.decoded).to.equal(imgs.length);
      expect(r.errors).to.deep.equal([]);
      expect(r.ids).to.deep.equal(await nodeIds());
      expect(pageErrors).to.deep.equal([]);
    });
  }

  it('a device reporting a limit below the minimum is refused by createEngine in one line', async () => {
    const r = await page.evaluate(
      async ({ bundle }) => {
        const m = (await import(bundle)) as typeof Tok1dBrowser;
        const adapter = await navigator.gpu.requestAdapter({ featureLevel: 'compatibility' });
        if (!adapter) throw new Error('no adapter');
        const device = await adapter.requestDevice();
        const limits: Record<string, number> = {};
        for (const k in device.limits) limits[k] = (device.limits as unknown as Record<string, number>)[k]!;
        limits.maxStorageBuffersPerShaderStage = 3;
        const small = new Proxy(device, {
          get(target, prop) {
            if (prop === 'limits') return limits;
            const v = Reflect.get(target, prop, target) as unknown;
            return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
          },
        });
        try {
          await m.createEngine({ device: small });
          return null;
        } catch (e) {
          return { name: (e as Error).name, message: (e as Error).message };
        } finally {
          device.destroy();
        }
      },
      { bundle: BUNDLE_URL },
    );
    expect(r).to.not.equal(null);
    expect(r!.name).to.equal('LimitError');
    expect(r!.message).to.match(/^this GPU device's maxStorageBuffersPerShaderStage is 3; tok1d needs at least 4 \(/);
    expect(r!.message).to.include('requiredLimits: { maxStorageBuffersPerShaderStage: 4 }');
    expect(r!.message).to.not.include('\n');
  });
});
