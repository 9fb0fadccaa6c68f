// The kernel bench page: loads an example of examples/bench/ (or what is typed in), runs
// benchKernel on the page's device and offers the report as the same JSON the CLI writes.
import { benchKernel, createEngine, adapterLine, noiseText } from '/dist/browser/tok1d-bench.js';

const $ = (id) => document.getElementById(id);
let enginePromise = null;
let lastReport = null;

/** One engine for the page (the browser's own device). */
function engine() {
  enginePromise ??= createEngine();
  return enginePromise;
}

async function loadExample(name) {
  const [wgsl, spec] = await Promise.all([fetch(`../${name}.wgsl`).then((r) => r.text()), fetch(`../${name}.json`).then((r) => r.text())]);
  $('wgsl').value = wgsl;
  $('spec').value = spec;
}

const fmt = (v, d = 3) => (v === null || v === undefined ? '-' : v.toFixed(d));

function showReport(report) {
  $('adapter').textContent = `${adapterLine(report.adapter)}; timing: ${report.timing === 'timestamp' ? 'GPU timestamps' : 'wall clock, no read-back'}`;
  const head = ['variant', 'shape', 'ms', 'min', 'p90', 'noise', 'GFLOP/s', 'GB/s', 'best', 'check'];
  const rows = report.results.map((r) => [
    r.variant,
    Object.entries(r.vars).map(([k, v]) => `${k}=${v}`).join(','),
    fmt(r.ms, 4),
    fmt(r.msMin, 4),
    fmt(r.msP90, 4),
    noiseText(r),
    r.gflops ? fmt(r.gflops, 2) : '-',
    fmt(r.gbps, 2),
    r.best ? (r.flag ? '*?' : '*') : '',
    r.check,
  ]);
  const table = $('results');
  table.replaceChildren();
  const tr = document.createElement('tr');
  for (const h of head) tr.append(Object.assign(document.createElement('th'), { textContent: h }));
  table.append(tr);
  for (const row of rows) {
    const r = document.createElement('tr');
    if (!row[row.length - 1].startsWith('ok')) r.className = 'wrong';
    for (const c of row) r.append(Object.assign(document.createElement('td'), { textContent: c }));
    table.append(r);
  }
  for (const r of report.results) if (r.flag) $('log').textContent += `${r.variant}: ${r.flag}\n`;
}

/** Runs the bench on the given kernel and spec (the page's fields by default); returns the report. */
async function run({ wgsl = $('wgsl').value, spec = JSON.parse($('spec').value), ...options } = {}) {
  $('log').textContent = '';
  const log = (line) => ($('log').textContent += `${line}\n`);
  const report = await benchKernel(await engine(), wgsl, spec, { runs: Number($('runs').value), log, ...options });
  lastReport = report;
  showReport(report);
  $('download').disabled = false;
  return report;
}

function download() {
  if (!lastReport) return;
  const blob = new Blob([`${JSON.stringify(lastReport, null, 2)}\n`], { type: 'application/json' });
  const a = Object.assign(document.createElement('a'), { href: URL.createObjectURL(blob), download: `${lastReport.spec.name}-bench.json` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

$('example').addEventListener('change', () => loadExample($('example').value));
$('run').addEventListener('click', () => {
  $('run').disabled = true;
  run()
    .catch((e) => ($('log').textContent += `error: ${e.message}\n`))
    .finally(() => ($('run').disabled = false));
});
$('download').addEventListener('click', download);

// For scripted use (the tests): run with explicit kernel, spec and options.
window.tok1dBench = { ready: loadExample('matmul-naive').then(() => ($('run').disabled = false)), run, loadExample };
