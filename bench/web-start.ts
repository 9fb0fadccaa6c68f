/**
 * How long the web demo (examples/web) takes from page load to its first tokens, in headless
 * Chromium on SwiftShader: each run launches a fresh browser (a new profile: no shader or HTTP cache
 * kept between runs), opens the page on the default sample and reads the demo's start-up marks.
 *
 *   node dist/bench/web-start.js [--runs N] [--model URL] [--no-warmup] [--json FILE] [--txt FILE]
 *
 * --model is the demo's model query parameter (default: the bundled models/default.safetensors);
 * --no-warmup opens the page with warmup=0 (each pipeline compiled at its first use).
 * Reported per step (median, min, max over the runs, milliseconds since page load): the bundle
 * module loaded, the WebGPU engine created, the model fetched and uploaded, the first image's
 * tokens read back, and its reconstruction; on a CPU adapter then the fast kernels compiled in the
 * background (Tokenizer.warmup({ kernels: 'fast' })) and the time an image takes on them.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Server } from 'node:http';
import { CHROMIUM, CHROMIUM_ARGS } from '../src/bench/chromium.js';
import { median } from '../src/util/stats.js';
import { flagReader } from './args.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const STEPS = ['moduleLoaded', 'engine', 'model', 'compiled', 'firstTokens', 'firstImage', 'fastKernels'] as const;
/** Per-image times of a later image, after the page switched to the fast kernels. */
const LATER = ['laterEncode', 'laterDecode'] as const;
type Marks = Partial<Record<(typeof STEPS)[number] | (typeof LATER)[number], number>>;

interface DemoState {
  ready: Promise<void>;
  upgraded: Promise<void> | null;
  again?: () => Promise<void>;
  last: { encodeMs: number; decodeMs: number } | null;
  marks: Marks;
  error: string | null;
  adapter: string | null;
  model: string | null;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = flagReader(args);
  const runs = Number(flag('--runs') ?? 5);
  const model = flag('--model');
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing (apt-get install chromium, or set TOK1D_CHROMIUM)`);
  const { buildBrowser } = (await import(pathToFileURL(join(ROOT, 'tools', 'build-browser.mjs')).href)) as { buildBrowser(): Promise<{ bytes: number; gzipBytes: number }> };
  const { serve } = (await import(pathToFileURL(join(ROOT, 'examples', 'web', 'serve.mjs')).href)) as { serve(o: { port: number }): Promise<{ server: Server; url: string }> };
  const build = await buildBrowser();
  const { server, url } = await serve({ port: 0 });
  const { chromium } = await import('playwright-core');
  const rows: Marks[] = [];
  let adapter = '';
  let modelName = '';
  try {
    for (let r = 0; r < runs; r++) {
      const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
      try {
        const page = await browser.newPage();
        const query = [model ? `model=${encodeURIComponent(model)}` : '', args.includes('--no-warmup') ? 'warmup=0' : ''].filter(Boolean).join('&');
        await page.goto(`${url}${query ? `?${query}` : ''}`);
        await page.waitForFunction(() => (window as unknown as { tok1dDemo?: DemoState }).tok1dDemo?.ready !== undefined);
        const s = await page.evaluate(async () => {
          const d = (window as unknown as { tok1dDemo: DemoState }).tok1dDemo;
          await d.ready;
          const marks = { ...d.marks };
          if (d.upgraded && d.again) {
            await d.upgraded;
            marks.fastKernels = d.marks.fastKernels;
            await d.again();
            if (d.last) Object.assign(marks, { laterEncode: d.last.encodeMs, laterDecode: d.last.decodeMs });
          }
          return { marks, error: d.error, adapter: d.adapter, model: d.model };
        });
        if (s.error) throw new Error(`the page failed: ${s.error}`);
        adapter = s.adapter ?? '';
        modelName = s.model ?? '';
        rows.push(s.marks);
        process.stderr.write(`run ${r + 1}/${runs}: first tokens ${s.marks.firstTokens?.toFixed(0)} ms\n`);
      } finally {
        await browser.close();
      }
    }
  } finally {
    await new Promise<void>((res) => server.close(() => res()));
  }
  const summary = Object.fromEntries(
    [...STEPS, ...LATER].map((k) => {
      const xs = rows.map((m) => m[k]!).filter((x) => typeof x === 'number');
      return [k, xs.length ? { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) } : null];
    }),
  );
  const what: Record<(typeof STEPS)[number] | (typeof LATER)[number], string> = {
    moduleLoaded: 'bundle module loaded',
    engine: 'WebGPU engine created',
    model: 'model fetched and uploaded',
    compiled: "the model's pipelines compiled (Tokenizer.warmup)",
    firstTokens: 'first image encoded (ids read back)',
    firstImage: 'its reconstruction decoded',
    fastKernels: 'the fast kernels compiled (Tokenizer.warmup({ kernels: "fast" }), in the background)',
    laterEncode: 'then an image: encode (ms it takes)',
    laterDecode: 'then an image: decode (ms it takes)',
  };
  const lines = [
    `web demo start-up, headless Chromium (${CHROMIUM}); adapter ${adapter} (a software adapter: SwiftShader on the CPU)`,
    `model: ${modelName}`,
    `bundle dist/browser/tok1d.js: ${(build.bytes / 1024).toFixed(1)} KiB (gzip ${(build.gzipBytes / 1024).toFixed(1)} KiB); ${runs} runs, each a fresh browser; ${args.includes('--no-warmup') ? 'no warm-up: pipelines compiled at first use' : 'Tokenizer.warmup() after loading'}`,
    '',
    '| ms since page load | median | min | max |',
    '|---|---|---|---|',
    ...[...STEPS, ...LATER].filter((k) => summary[k]).map((k) => `| ${what[k]} | ${summary[k]!.median.toFixed(0)} | ${summary[k]!.min.toFixed(0)} | ${summary[k]!.max.toFixed(0)} |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const txt = flag('--txt');
  if (txt) writeFileSync(txt, `${lines.join('\n')}\n`);
  const json = flag('--json');
  if (json) writeFileSync(json, `${JSON.stringify({ adapter, software: true, model: modelName, runs: rows, summary }, null, 2)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`web-start: ${(e as Error).message}\n`);
  process.exit(1);
});
