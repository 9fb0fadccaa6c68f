/**
 * What storage-buffer packing costs: encode + decode of the bundled model on one llvmpipe device
 * (Dawn's OpenGL backend), through two engines in the same process: one on the device as it is
 * (8 storage buffers per shader stage: no packing), one on the same device reporting 4 storage
 * buffers per stage (src/gpu/storage-packing.ts merges inputs and copies them before each dispatch
 * that binds more). Runs alternate between the two after a warm-up each.
 *
 *   node dist/bench/storage-packing.js [--runs N] [--images N] [--backend opengl|swiftshader|...]
 *
 * Reported: milliseconds per encode + decode (median, min, max over the runs) for each, the
 * ratio of the medians, and the packed pipelines and input copies of one encode + decode.
 */
import { MemoryTuneStore } from '../src/gpu/autotune.js';
import type { Engine } from '../src/gpu/engine.js';
import { acquireNodeDevice, type BackendName } from '../src/gpu/node.js';
import { Tokenizer } from '../src/model/tokenizer.js';
import { createEngine } from '../src/node-engine.js';
import { median } from '../src/util/stats.js';
import { withLimits } from '../src/gpu/limits.js';
import { randomF32, rng } from '../src/check/util.js';
import { flagReader } from './args.js';

async function main(): Promise<void> {
  const flag = flagReader();
  const runs = Number(flag('--runs') ?? 7);
  const count = Number(flag('--images') ?? 16);
  const acquired = await acquireNodeDevice((flag('--backend') ?? 'opengl') as BackendName);
  const open = (device: GPUDevice) => createEngine({ device, tuneStore: new MemoryTuneStore() });
  const engines: [string, Engine][] = [
    ['8 storage buffers (no packing)', await open(acquired.device)],
    ['4 storage buffers (packed)', await open(withLimits(acquired.device, { maxStorageBuffersPerShaderStage: 4 }))],
  ];
  try {
    const toks = await Promise.all(engines.map(([, engine]) => Tokenizer.load('default', { engine })));
    const S = toks[0]!.config.imageSize;
    const r = rng(1);
    const images = Array.from({ length: count }, () => randomF32(S * S * 3, r));
    const once = async (tok: Tokenizer): Promise<number> => {
      const t0 = performance.now();
      await tok.decode(await tok.encode(images));
      return performance.now() - t0;
    };
    const counts: { dispatches: number; copies: number; packedPipelines: number }[] = [];
    for (const [i, tok] of toks.entries()) {
      await once(tok);
      const c0 = { ...engines[i]![1].counters };
      await once(tok);
      const c = engines[i]![1].counters;
      counts.push({ dispatches: c.dispatches - c0.dispatches, copies: c.packedCopies - c0.packedCopies, packedPipelines: c.packedPipelines });
    }
    const ms: number[][] = engines.map(() => []);
    for (let r = 0; r < runs; r++) for (const [i, tok] of toks.entries()) ms[i]!.push(await once(tok));
    console.log(`${acquired.info.adapter}: encode + decode of ${images.length} images, bundled model, ${runs} runs (alternating)`);
    engines.forEach(([what], i) => {
      const xs = ms[i]!;
      const c = counts[i]!;
      console.log(`  ${what.padEnd(32)} median ${median(xs).toFixed(0).padStart(5)} ms  min ${Math.min(...xs).toFixed(0).padStart(5)}  max ${Math.max(...xs).toFixed(0).padStart(5)}  (${c.dispatches} dispatches, ${c.copies} input copies, ${c.packedPipelines} packed pipelines)`);
    });
    console.log(`  packed / unpacked, medians: ${(median(ms[1]!) / median(ms[0]!)).toFixed(3)}`);
    for (const t of toks) t.dispose();
  } finally {
    for (const [, e] of engines) e.dispose();
    acquired.release();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
