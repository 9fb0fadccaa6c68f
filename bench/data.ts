/**
 * What feeding a training step costs on the CPU: random training crops of a folder of photos, drawn
 * as `tok1d train` draws them (Dataset.sample: log-uniform sides from --min-scale to the whole shorter
 * side, any position, flips), resampled to the model size two ways over the same regions:
 *   - levels: cropFromLevels, from the image's halvings (what training uses);
 *   - full:   cropToModelInput on the full-size image (the triangle filter over every pixel under the crop).
 * The regions are Dataset.draw's, the same for both. Also each crop's PSNR between the two (how
 * close the cheaper filter is), and the time to decode the folder and build the halvings once.
 *
 *   node dist/bench/data.js FOLDER [--size 64] [--batch 64] [--runs 7] [--min-scale 0.15]
 *
 * Reported: milliseconds per batch of crops (median, min, max over the runs, the two ways alternating
 * in each run), crops/s, and the ratio of the medians.
 */
import { collectImages } from '../src/cli/inputs.js';
import { cropFromLevels, cropToModelInput, fromModelOutput, psnr } from '../src/io/image.js';
import { Dataset } from '../src/train/data.js';
import { median } from '../src/util/stats.js';
import { flagReader } from './args.js';

async function main(): Promise<void> {
  const folder = process.argv[2];
  if (!folder || folder.startsWith('--')) throw new Error('usage: node dist/bench/data.js FOLDER [--size 64] [--batch 64] [--runs 7] [--min-scale 0.15]');
  const flag = flagReader();
  const size = Number(flag('--size') ?? 64);
  const batch = Number(flag('--batch') ?? 64);
  const runs = Number(flag('--runs') ?? 7);
  const minScale = Number(flag('--min-scale') ?? 0.15);
  const files = collectImages([folder]);
  const t0 = performance.now();
  const ds = await Dataset.open(files, { size, seed: 1, cacheMb: 4096, minScale, flip: true });
  const openMs = performance.now() - t0;
  type Draws = Awaited<ReturnType<Dataset['draw']>>[];
  const draws = (run: number) => Promise.all(Array.from({ length: batch }, (_, i) => ds.draw(run * batch + i)));

  const ways = {
    levels: (d: Draws) => d.map(({ levels, region, flip }) => cropFromLevels(levels, size, region, flip)),
    full: (d: Draws) => d.map(({ levels, region, flip }) => cropToModelInput(levels[0]!, size, region, flip)),
  };
  const times: Record<keyof typeof ways, number[]> = { levels: [], full: [] };
  const closeness: number[] = [];
  for (let run = 0; run <= runs; run++) {
    const d = await draws(run);
    const out: Partial<Record<keyof typeof ways, Float32Array[]>> = {};
    for (const way of (run % 2 ? ['full', 'levels'] : ['levels', 'full']) as (keyof typeof ways)[]) {
      const t = performance.now();
      out[way] = ways[way](d);
      if (run > 0) times[way].push(performance.now() - t); // run 0 warms the JIT
    }
    if (run > 0) out.levels!.forEach((a, i) => closeness.push(psnr(fromModelOutput(a, size).rgb, fromModelOutput(out.full![i]!, size).rgb)));
  }

  let pixels = 0;
  for (let i = 0; i < ds.length; i++) {
    const img = await ds.image(i);
    pixels += img.width * img.height;
  }
  console.log(`training crops of ${files.length} images (${(pixels / 1e6).toFixed(1)} Mpixel) in ${folder}, ${size}×${size}, sides from ${minScale} to 1 of the shorter side`);
  console.log(`decode and build the halvings once: ${openMs.toFixed(0)} ms`);
  console.log(`batch of ${batch}, ${runs} runs (the two ways alternating):`);
  for (const way of ['levels', 'full'] as const) {
    const t = times[way];
    const m = median(t);
    console.log(`  ${way.padEnd(7)} ${m.toFixed(1)} ms per batch (min ${Math.min(...t).toFixed(1)}, max ${Math.max(...t).toFixed(1)}), ${((batch * 1000) / m).toFixed(0)} crops/s`);
  }
  console.log(`  full / levels: ${(median(times.full) / median(times.levels)).toFixed(1)}×`);
  const finite = closeness.filter(Number.isFinite).sort((a, b) => a - b);
  console.log(`PSNR of levels against full, per crop: median ${median(finite).toFixed(1)} dB, lowest ${finite[0]?.toFixed(1)} dB (${closeness.length - finite.length} of ${closeness.length} identical)`);
}

main().catch((e: unknown) => {
  console.error((e as Error).message);
  process.exit(1);
});
