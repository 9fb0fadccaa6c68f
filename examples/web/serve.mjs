#!/usr/bin/env node
// A tiny static server for the demo page (npm run web): serves the package folder's examples/,
// dist/browser/ and models/ on localhost (WebGPU needs a secure context; localhost is one) and
// prints the page's URL.
//
//   node examples/web/serve.mjs [--port 8080] [--host 127.0.0.1]      (--port 0: any free port)
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Folders under ROOT the server exposes (nothing else is reachable). */
const SERVED = ['examples/', 'dist/browser/', 'models/'];
export const PAGE = '/examples/web/';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.md': 'text/plain; charset=utf-8',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.safetensors': 'application/octet-stream',
};

/** The file for a URL path, or null when it is outside the served folders or missing. */
function resolve(urlPath) {
  let rel;
  try {
    rel = decodeURIComponent(urlPath).replace(/^\/+/, '');
  } catch {
    return null;
  }
  if (rel.endsWith('/') || rel === '') rel += 'index.html';
  const norm = normalize(rel).split(sep).join('/');
  if (norm.startsWith('..') || !SERVED.some((p) => norm.startsWith(p))) return null;
  const file = join(ROOT, norm);
  try {
    const st = statSync(file);
    if (st.isDirectory()) return statSync(join(file, 'index.html')).isFile() ? join(file, 'index.html') : null;
    return st.isFile() ? file : null;
  } catch {
    return null;
  }
}

/** Starts the server; resolves with it and the page's URL once it listens. */
export function serve({ port = 8080, host = '127.0.0.1' } = {}) {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (url.pathname === '/' || url.pathname === '/examples/web') {
      res.writeHead(302, { location: PAGE + url.search }).end();
      return;
    }
    const file = resolve(url.pathname);
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`not found: ${url.pathname}\n`);
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': statSync(file).size,
      'cache-control': 'no-store',
    });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const addr = server.address();
      const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      resolvePromise({ server, url: `http://${h}:${addr.port}${PAGE}` });
    });
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : dflt;
  };
  const port = Number(opt('--port', process.env.PORT ?? '8080'));
  const host = opt('--host', '127.0.0.1');
  try {
    statSync(join(ROOT, 'dist/browser/tok1d.js'));
  } catch {
    process.stderr.write('dist/browser/tok1d.js is missing: run `npm run build:browser` (npm run web does)\n');
    process.exit(1);
  }
  try {
    const { url } = await serve({ port, host });
    process.stdout.write(`tok1d demo: ${url}  (Ctrl-C stops the server)\n`);
  } catch (e) {
    process.stderr.write(`cannot listen on ${host}:${port}: ${e.message}${e.code === 'EADDRINUSE' ? ' (try --port 0 for any free port)' : ''}\n`);
    process.exit(1);
  }
}
