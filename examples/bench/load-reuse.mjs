// tok1d bench --kernel-file examples/bench/load-reuse.wgsl --spec examples/bench/load-reuse.mjs
// FMAs per load against time: READ 1 (each vec4 loaded from storage) and READ 0 (no loads, the
// same arithmetic) for REUSE 1..16 accumulators per load. See load-reuse.wgsl.
export default {
  name: 'load-reuse',
  entry: 'main',
  shapes: [{ n: 4096, loads: 2048 }],
  overrides: { REUSE: [1, 2, 4, 8, 16], READ: [1, 0], WG: 64 },
  bindings: [
    { name: 'dims', role: 'uniform', values: ['n', 'loads'] },
    { name: 'src', size: '4 * loads' },
    { name: 'out', role: 'output', size: 'n' },
  ],
  dispatch: 'ceil(n / WG)',
  flops: '8 * n * loads * REUSE',
  bytes: '16 * loads + 4 * n',
  check: ({ vars, inputs, outputs }) => {
    let t = 0;
    for (let j = 0; j < vars.loads; j++)
      t += vars.READ === 1 ? inputs.src[4 * j] + inputs.src[4 * j + 1] + inputs.src[4 * j + 2] + inputs.src[4 * j + 3] : (j & 7) + 1.75;
    const want = ((vars.REUSE * (vars.REUSE + 1)) / 2) * t;
    const tol = 1e-4 * (Math.abs(want) + ((vars.REUSE * (vars.REUSE + 1)) / 2) * vars.loads);
    for (let i = 0; i < vars.n; i++) if (!(Math.abs(outputs.out[i] - want) <= tol)) return `out[${i}] is ${outputs.out[i]}, expected ${want}`;
    return null;
  },
};
