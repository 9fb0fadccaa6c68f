#!/usr/bin/env node
// Builds the browser bundle: src/browser.ts and everything it imports (the same engine, ops and
// model code as the Node entry) as one ES module, dist/browser/tok1d.js, with kernels/*.wgsl
// inlined (comments stripped; `//!include` lines kept for the engine's include expansion).
//
//   node tools/build-browser.mjs [--no-minify] [--quiet]      (npm run build:browser)
//
// The bundle must not import anything from Node: the build fails if any module the browser entry
// reaches imports a Node built-in or a Node-only package (PNG coding lives in src/io/image.ts, the
// pixel conversions the browser shares in src/io/pixels.ts), or if the output imports anything.
import { build } from 'esbuild';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const OUTFILE = join(ROOT, 'dist', 'browser', 'tok1d.js');

/** Node-only modules: reaching one from src/browser.ts fails the build. */
const NODE_ONLY = /^(node:.*|pngjs|webgpu|fs|path|url|os|zlib|child_process)$/;

/** WGSL without comments (a `//!include NAME` line is a directive and stays), indentation or blank lines. */
export function stripWgsl(src) {
  return src
    .split('\n')
    .map((line) => (/^\s*\/\/!include\s/.test(line) ? line : line.replace(/\/\/.*$/, '')).trim())
    .filter((line) => line.trim() !== '')
    .join('\n');
}

/** Every kernels/*.wgsl and kernels/generated/*.wgsl by name. */
export function readKernels(root = ROOT) {
  const out = {};
  for (const dir of [join(root, 'kernels'), join(root, 'kernels', 'generated')])
    for (const f of readdirSync(dir).sort()) if (f.endsWith('.wgsl')) out[f.slice(0, -5)] = stripWgsl(readFileSync(join(dir, f), 'utf8'));
  return out;
}

const refuseNode = {
  name: 'refuse-node',
  setup(b) {
    b.onResolve({ filter: NODE_ONLY }, (args) => ({ errors: [{ text: `${args.importer.slice(ROOT.length + 1)} imports the Node-only module "${args.path}"` }] }));
  },
};

/**
 * Builds the bundle; returns its path and sizes. Throws when the output would touch Node.
 * Options: minify (default true), outfile, entry (default src/browser.ts; the kernel bench page
 * builds src/bench/web.ts), define (more compile-time constants).
 */
export async function buildBrowser({ minify = true, outfile = OUTFILE, entry = join('src', 'browser.ts'), define = {} } = {}) {
  const kernels = readKernels();
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [join(ROOT, entry)],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify,
    sourcemap: true,
    legalComments: 'none',
    define: { __TOK1D_KERNELS__: JSON.stringify(kernels), ...define },
    plugins: [refuseNode],
    metafile: true,
    logLevel: 'silent',
  });
  const code = readFileSync(outfile, 'utf8');
  const out = Object.entries(result.metafile.outputs).find(([k]) => k.endsWith('.js'))[1];
  const problems = [];
  for (const imp of out.imports) problems.push(`imports "${imp.path}"`);
  if (problems.length) throw new Error(`browser bundle ${outfile}: ${problems.join('; ')}`);
  const inputs = Object.keys(result.metafile.inputs);
  return {
    outfile,
    bytes: statSync(outfile).size,
    gzipBytes: gzipSync(code, { level: 9 }).length,
    kernels: Object.keys(kernels).length,
    kernelBytes: Object.values(kernels).reduce((a, s) => a + s.length, 0),
    modules: inputs.length,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const r = await buildBrowser({ minify: !args.includes('--no-minify') });
  if (!args.includes('--quiet')) {
    const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
    process.stdout.write(
      `${r.outfile.slice(ROOT.length + 1)}: ${kb(r.bytes)} (gzip ${kb(r.gzipBytes)}); ${r.modules} modules, ${r.kernels} kernels (${kb(r.kernelBytes)} of WGSL)\n`,
    );
  }
}
