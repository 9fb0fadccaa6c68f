/**
 * The kernel bench page (examples/bench/web/) in headless Chromium (WebGPU on SwiftShader): the
 * worked examples check right and are timed, a deliberately wrong kernel is reported wrong, and
 * the page downloads the same JSON report the CLI writes. Structure and correctness only.
 */
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import type { KernelBenchReport, KernelSpec } from '../src/bench/custom.js';
import { ROOT } from './cli-run.js';
import { CHROMIUM, CHROMIUM_ARGS } from './helpers.js';

interface BenchPage {
  ready: Promise<void>;
  run(o: { wgsl?: string; spec?: KernelSpec; runs?: number; minRunMs?: number; ceilings?: boolean }): Promise<KernelBenchReport>;
}

const importMjs = async <T>(rel: string): Promise<T> => (await import(pathToFileURL(join(ROOT, rel)).href)) as T;
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');
/** Odd shapes, few short runs, no ceilings: the page's behaviour, not its figures. */
const SHAPES = [{ M: 37, N: 29, K: 23 }];
const QUICK = { runs: 3, minRunMs: 1, ceilings: false };

describe('kernel bench page in headless Chromium (SwiftShader)', function () {
  let browser: Browser | undefined;
  let server: Server | undefined;
  let page: Page;
  const pageErrors: string[] = [];

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      console.log(`      skipped: ${CHROMIUM} is missing (apt-get install chromium)`);
      this.skip();
    }
    const { buildBenchBundle } = await importMjs<{ buildBenchBundle(): Promise<string> }>('examples/bench/web/build.mjs');
    await buildBenchBundle();
    const { serve } = await importMjs<{ serve(o: { port: number }): Promise<{ server: Server; url: string }> }>('examples/web/serve.mjs');
    const started = await serve({ port: 0 });
    server = started.server;
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    page = await browser.newPage({ acceptDownloads: true });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(new URL('/examples/bench/web/', started.url).href);
    await page.evaluate(() => (window as unknown as { tok1dBench: BenchPage }).tok1dBench.ready);
  });

  after(async () => {
    await browser?.close();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  });

  it('runs both worked examples: checked right, timed, one best per shape', async () => {
    for (const name of ['matmul-naive', 'matmul-tiled']) {
      const spec = { ...(JSON.parse(read(`examples/bench/${name}.json`)) as KernelSpec), shapes: SHAPES };
      const wgsl = read(`examples/bench/${name}.wgsl`);
      const report = await page.evaluate(([w, s, o]) => (window as unknown as { tok1dBench: BenchPage }).tok1dBench.run({ wgsl: w, spec: s, ...o }), [wgsl, spec, QUICK] as const);
      expect(report.kind).to.equal('kernel-file');
      expect(report.adapter.backend).to.equal('browser');
      expect(report.adapter.software, 'SwiftShader is a software adapter').to.equal(true);
      for (const r of report.results) {
        expect(r.check, `${name} ${r.variant}`).to.equal('ok');
        expect(r.ms).to.be.greaterThan(0);
      }
      expect(report.results.filter((r) => r.best)).to.have.length(1);
    }
    expect(pageErrors).to.deep.equal([]);
  });

  it('reports a deliberately wrong kernel as wrong', async () => {
    const wgsl = read('examples/bench/matmul-naive.wgsl').replace('var k = 0u;', 'var k = 1u;');
    const spec = { ...(JSON.parse(read('examples/bench/matmul-naive.json')) as KernelSpec), shapes: SHAPES };
    const report = await page.evaluate(([w, s, o]) => (window as unknown as { tok1dBench: BenchPage }).tok1dBench.run({ wgsl: w, spec: s, ...o }), [wgsl, spec, QUICK] as const);
    expect(report.results[0]!.check).to.match(/^wrong: c: relative L2 error/);
    expect(report.results[0]!.best).to.equal(undefined);
    expect(await page.locator('#results tr.wrong').count()).to.equal(1);
  });

  it('the Run button runs the loaded example and Download JSON saves the report', async () => {
    await page.fill('#runs', '3');
    // Smaller shapes than the example's, so the click runs quickly.
    const spec = JSON.parse(await page.inputValue('#spec')) as KernelSpec;
    await page.$eval('#spec', (el, v) => ((el as HTMLTextAreaElement).value = v), JSON.stringify({ ...spec, shapes: SHAPES }));
    await page.click('#run');
    await page.waitForFunction(() => !(document.getElementById('download') as HTMLButtonElement).disabled && !(document.getElementById('run') as HTMLButtonElement).disabled, undefined, { timeout: 120_000 });
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    expect(download.suggestedFilename()).to.equal('matmul-naive-bench.json');
    const path = await download.path();
    const report = JSON.parse(readFileSync(path, 'utf8')) as KernelBenchReport;
    expect(Object.keys(report).sort()).to.deep.equal(['adapter', 'ceilings', 'kind', 'results', 'spec', 'timing', 'unavailable']);
    expect(report.results.map((r) => r.check)).to.deep.equal(['ok']);
    expect(report.ceilings!.fmaGflops).to.be.greaterThan(0);
    expect(pageErrors).to.deep.equal([]);
  });
});
