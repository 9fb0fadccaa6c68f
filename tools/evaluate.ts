/**
 * Evaluates a training run's checkpoint on held-out photos, for the README's table:
 *   node dist/tools/evaluate.js RUN_DIR VAL_FOLDER [--crops N] [--json FILE]
 *
 * - PSNR of the checkpoint (model.safetensors, as stored: f16 or f32) on each photo resized and
 *   centre-cropped as `tok1d tokenize` does, and on N random crops of the photos (several scales);
 * - codebook usage: distinct codes chosen over all those tokens, as a share of the codebook;
 * - a baseline spending the same bits: the image downsampled (antialiased) to the most 8-bit RGB
 *   pixels that fit in tokens·log2(K) bits (a square side×side), then upsampled bilinearly;
 * - f16 storage: the share of tokens that change between the run's f32 weights (state.safetensors)
 *   and the checkpoint, on the same crops.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createEngine } from '../src/node-engine.js';
import type { Engine } from '../src/gpu/engine.js';
import { decodeSafetensors } from '../src/io/safetensors.js';
import { fromModelOutput, psnr, toModelInput } from '../src/io/image.js';
import { loadCheckpoint } from '../src/model/checkpoint.js';
import { paramSpecs, tokensPerImage, type ModelConfig } from '../src/model/config.js';
import { TokenizerModel } from '../src/model/model.js';
import { Dataset } from '../src/train/data.js';
import { collectImages } from '../src/cli/inputs.js';

function modelFrom(engine: Engine, config: ModelConfig, get: (name: string) => Float32Array): TokenizerModel {
  const params = new Map(paramSpecs(config).map((s) => [s.name, engine.upload(get(s.name), s.shape)]));
  return new TokenizerModel(engine, config, params);
}

/** Token ids and reconstructions of [N, S, S, 3] inputs, in batches. */
async function run(engine: Engine, model: TokenizerModel, inputs: Float32Array, n: number): Promise<{ ids: Uint32Array; out: Float32Array }> {
  const S = model.config.imageSize;
  const per = S * S * 3;
  const ids = new Uint32Array(n * model.tokens);
  const out = new Float32Array(n * per);
  for (let b0 = 0; b0 < n; b0 += 16) {
    const b = Math.min(16, n - b0);
    const x = engine.upload(inputs.subarray(b0 * per, (b0 + b) * per), [b, S, S, 3]);
    const r = model.forward({ engine, tape: null }, x);
    ids.set(await engine.readU32(r.indices), b0 * model.tokens);
    out.set(await engine.readF32(r.reconstruction), b0 * per);
    engine.release(x, r.reconstruction, r.indices, r.recon, r.codebookLoss, r.commitmentLoss);
  }
  return { ids, out };
}

function meanPsnr(inputs: Float32Array, outputs: Float32Array, n: number, S: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const a = fromModelOutput(inputs.subarray(i * S * S * 3, (i + 1) * S * S * 3), S);
    const b = fromModelOutput(outputs.subarray(i * S * S * 3, (i + 1) * S * S * 3), S);
    sum += psnr(a.rgb, b.rgb);
  }
  return sum / n;
}

/** Same-bits baseline: downsample to side×side 8-bit RGB, upsample bilinearly to S×S. */
function baseline(inputs: Float32Array, n: number, S: number, side: number): Float32Array {
  const out = new Float32Array(inputs.length);
  for (let i = 0; i < n; i++) {
    const img = fromModelOutput(inputs.subarray(i * S * S * 3, (i + 1) * S * S * 3), S);
    const small = fromModelOutput(toModelInput(img, side), side);
    out.set(toModelInput(small, S), i * S * S * 3);
  }
  return out;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
  };
  const crops = Number(flag('--crops') ?? 256);
  const jsonOut = flag('--json');
  const [runDir, valDir] = args;
  if (!runDir || !valDir) throw new Error('usage: evaluate RUN_DIR VAL_FOLDER [--crops N] [--json FILE]');
  const engine = await createEngine();
  const ckpt = await loadCheckpoint(join(runDir, 'model.safetensors'));
  const config = ckpt.config;
  const S = config.imageSize;
  const T = tokensPerImage(config);
  const bits = T * Math.log2(config.codebookSize);
  const side = Math.floor(Math.sqrt(bits / 24));
  const model = modelFrom(engine, config, (n) => ckpt.params.get(n)!);
  const state = decodeSafetensors(readFileSync(join(runDir, 'state.safetensors')));
  const f32 = modelFrom(engine, config, (n) => state.tensors.get(`param/${n}`)!.data);

  const files = collectImages([valDir]);
  const ds = await Dataset.open(files, { size: S, seed: 12345, cacheMb: 1024, minScale: 0.15, flip: false });
  const centre = await ds.centreCrops();
  const random = new Float32Array(crops * S * S * 3);
  for (let i = 0; i < crops; i++) random.set(await ds.sample(i), i * S * S * 3);

  const rows: Record<string, unknown>[] = [];
  const usageIds: number[] = [];
  let changed = 0;
  let total = 0;
  for (const [what, inputs, n] of [['photos, resized + centre crop', centre, files.length], [`${crops} random crops of the photos`, random, crops]] as const) {
    const a = await run(engine, model, inputs, n);
    const b = await run(engine, f32, inputs, n);
    usageIds.push(...a.ids);
    for (let i = 0; i < a.ids.length; i++) if (a.ids[i] !== b.ids[i]) changed++;
    total += a.ids.length;
    rows.push({ images: what, count: n, psnr: meanPsnr(inputs, a.out, n, S), baselinePsnr: meanPsnr(inputs, baseline(inputs, n, S, side), n, S), f32Psnr: meanPsnr(inputs, b.out, n, S) });
  }
  const usage = new Set(usageIds).size / config.codebookSize;
  const report = {
    adapter: engine.info.adapter,
    checkpoint: join(runDir, 'model.safetensors'),
    storage: [...new Set(ckpt.dtypes.values())].join(','),
    valFiles: files,
    imageSize: S,
    tokensPerImage: T,
    bitsPerImage: bits,
    baseline: `${side}×${side} 8-bit RGB (${side * side * 24} bits), bilinear upsampling`,
    rows,
    codebookUsage: usage,
    f16TokenChange: changed / total,
    tokensCompared: total,
  };
  const lines = [
    `| images (never trained on) | model PSNR | same-bits baseline PSNR | codebook usage | tokens / bits per image |`,
    `|---|---|---|---|---|`,
    ...rows.map((r) => `| ${r.images as string} (${r.count as number}) | ${(r.psnr as number).toFixed(2)} dB | ${(r.baselinePsnr as number).toFixed(2)} dB | ${(100 * usage).toFixed(1)}% of ${config.codebookSize} (all rows) | ${T} / ${bits} |`),
    '',
    `Baseline: ${report.baseline}. Model at ${S}×${S}; ${report.storage} checkpoint; adapter ${report.adapter}.`,
    `f16 vs f32 weights: ${changed} of ${total} tokens differ (${((100 * changed) / total).toFixed(2)}%).`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(report, null, 2) + '\n');
  engine.dispose();
}

main().catch((e: unknown) => {
  process.stderr.write(`evaluate: ${(e as Error).message}\n`);
  process.exit(1);
});
