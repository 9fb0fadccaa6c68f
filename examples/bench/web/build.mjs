#!/usr/bin/env node
// Builds the kernel bench page's bundle, dist/browser/tok1d-bench.js: src/bench/web.ts (the
// browser engine plus benchKernel and tok1d's float64 references) as one ES module with the
// kernels inlined, through the main bundle's build (tools/build-browser.mjs). Then `npm run web`
// and open /examples/bench/web/.
//
//   node examples/bench/web/build.mjs [--no-minify]
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildBrowser, ROOT } from '../../../tools/build-browser.mjs';

export const OUTFILE = join(ROOT, 'dist', 'browser', 'tok1d-bench.js');

export async function buildBenchBundle({ minify = true } = {}) {
  // The shared random-input module reads a test seed from the environment; a page has none.
  const define = { 'process.env.TOK1D_TEST_SEED': 'undefined', 'process.pid': '0' };
  return buildBrowser({ minify, outfile: OUTFILE, entry: join('src', 'bench', 'web.ts'), define });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await buildBenchBundle({ minify: !process.argv.includes('--no-minify') });
  process.stdout.write(`${r.outfile.slice(ROOT.length + 1)}: ${(r.bytes / 1024).toFixed(1)} KiB (gzip ${(r.gzipBytes / 1024).toFixed(1)} KiB)\n`);
}
