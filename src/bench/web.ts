/**
 * The kernel bench in a browser (examples/bench/web/): the same benchKernel, checks and report
 * as `tok1d bench --kernel-file`, on the page's WebGPU device. Bundled with the browser engine by
 * examples/bench/web/build.mjs into dist/browser/tok1d-bench.js.
 */
export { createEngine } from '../browser.js';
export { benchKernel, validateSpec, SpecError, LIKE_OPS, type KernelSpec, type KernelBenchReport } from './custom.js';
export { compareReports, formatComparison } from './compare.js';
export { adapterLine, noiseText } from './measure.js';
