import { grid, type Engine } from '../gpu/engine.js';
import { PROBE } from '../gpu/uniforms.js';
import type { BenchCase } from './case.js';

/**
 * The two ceiling probes of kernels/probe.wgsl, as bench cases so the harness times them exactly
 * like the kernels: FMA throughput (GFLOP/s) and shader memory copy (GB/s, bytes read + written).
 */

const FMA_WG = 64;
/** Loop trips per invocation: 256 FLOPs each, far below llvmpipe's 65535-trip cap. */
const FMA_ITERS = 1024;
const FMA_FLOPS_PER_ITER = 4 * 8 * 4 * 2; // unroll 4 x 8 chains x vec4 x (mul + add)
/** Every chain converges to 1.0, so each invocation writes 8 chains x 4 lanes x 1.0. */
const FMA_EXPECTED = 32;
const COPY_BYTES = 64 * 1024 * 1024;
/** vec4s each copy invocation moves. */
const COPY_PER = 4;

/**
 * FMA throughput. A CPU executor runs one workgroup per core at a time: 64 workgroups keep every
 * core busy (at least 2 per core on machines up to 32 cores). A GPU needs far more invocations
 * in flight: 8192 workgroups of 64.
 */
export function fmaProbe(engine: Engine): BenchCase {
  const groups = engine.info.software ? 64 : 8192;
  const invocations = groups * FMA_WG;
  return {
    kernel: 'probe',
    variant: 'fma',
    shape: [invocations, FMA_ITERS],
    // FLOPs = invocations * iters * 256
    flops: invocations * FMA_ITERS * FMA_FLOPS_PER_ITER,
    bytes: invocations * 4,
    async setup(e: Engine) {
      const out = e.empty([invocations]);
      const [gx, gy] = grid(groups);
      return {
        run: () =>
          e.dispatch('probe', 'fma_probe', [out], PROBE.with({ iters: FMA_ITERS, n: 0, stride: gx * FMA_WG, rows: gy, m: 0.5, c: 0.5 }), [gx, gy, 1], { FMA_WG }),
        check: async () => {
          const r = await e.readF32(out);
          for (let i = 0; i < invocations; i++) {
            if (r[i] !== FMA_EXPECTED) return `fma probe: element ${i} is ${r[i]}, expected ${FMA_EXPECTED}`;
          }
          return null;
        },
        dispose: () => e.release(out),
      };
    },
  };
}

/** Memory bandwidth: a 64 MiB vec4 copy (or the largest the device binds), bytes = read + written. */
export function copyProbe(engine: Engine): BenchCase {
  const bytes = Math.min(COPY_BYTES, Math.floor(engine.limits.maxStorageBufferBindingSize / 16) * 16);
  const n4 = bytes / 16;
  return {
    kernel: 'probe',
    variant: 'copy',
    shape: [n4 * 4],
    flops: 0,
    // bytes = 16 read + 16 written per vec4
    bytes: 2 * bytes,
    async setup(e: Engine) {
      const src = new Float32Array(n4 * 4);
      for (let i = 0; i < src.length; i++) src[i] = (i % 65521) + 1;
      const a = e.upload(src, [src.length]);
      const b = e.empty([src.length]);
      const groups = Math.ceil(n4 / (256 * COPY_PER));
      const [gx, gy] = grid(groups);
      return {
        run: () => e.dispatch('probe', 'copy_probe', [a, b], PROBE.with({ iters: 0, n: n4, stride: gx * 256, rows: gy, m: 0, c: 0 }), [gx, gy, 1], { COPY_PER }),
        check: async () => {
          const r = await e.readF32(b);
          for (let i = 0; i < src.length; i++) {
            if (r[i] !== src[i]) return `copy probe: element ${i} is ${r[i]}, expected ${src[i]}`;
          }
          return null;
        },
        dispose: () => e.release(a, b),
      };
    },
  };
}
