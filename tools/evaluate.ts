/**
 * Evaluates a training run's checkpoint on held-out photos, for models/README.md:
 *   node dist/tools/evaluate.js RUN_DIR|CHECKPOINT VAL_FOLDER [--crops N] [--json FILE] [--prefixes K1,K2,…]
 *
 * RUN_DIR is a `tok1d train` folder (its model.safetensors); any checkpoint
 * Tokenizer.load takes works too (then without the f16 comparison). Reported:
 * - per photo: PSNR of the checkpoint (as stored: f16 or f32) on the photo resized and centre-cropped
 *   as `tok1d tokenize` does, and of a baseline spending the same bits: the image downsampled
 *   (antialiased) to the most 8-bit RGB pixels that fit in the token bits (a square side×side, at
 *   least 1×1 even below 24 bits), then upsampled bilinearly; their mean, and the same on N random crops of the photos (several scales);
 * - TiTok: the same for prefixes of the token sequence (decoding only the first k tokens), each
 *   against the baseline at k tokens' bits;
 * - detail finer than a thumbnail: the mean PSNR of the photos and of their reconstructions, each
 *   sent through an 8-bit thumbnail of S/8 and S/4 pixels a side and back;
 * - whether each photo was a training photo of the run (its config.json's trainFiles), where known;
 * - codebook usage: distinct codes chosen over all those tokens, as a share of the codebook;
 * - f16 storage: the share of tokens that change between the run's f32 weights (state.safetensors;
 *   EMA weights where the run kept them) and the checkpoint, on the same images.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { createEngine } from '../src/node-engine.js';
import type { Engine } from '../src/gpu/engine.js';
import { decodeSafetensors } from '../src/io/safetensors.js';
import { fromModelOutput, psnr, toModelInput } from '../src/io/image.js';
import { serializeCheckpoint } from '../src/model/checkpoint.js';
import { isTiTok } from '../src/model/titok-config.js';
import { serializeTiTokFile } from '../src/model/titok-checkpoint.js';
import { anyParamSpecs } from '../src/model/config.js';
import { Tokenizer } from '../src/index.js';
import { Dataset } from '../src/train/data.js';
import { collectImages } from '../src/cli/inputs.js';
import { mean } from '../src/util/stats.js';

/** The training photos of a `tok1d train` run folder (absolute paths), or null where there is no such list. */
function trainingFiles(runDir: string): Set<string> | null {
  const path = join(runDir, 'config.json');
  if (!existsSync(path)) return null;
  try {
    const files = (JSON.parse(readFileSync(path, 'utf8')) as { trainFiles?: unknown }).trainFiles;
    return Array.isArray(files) ? new Set(files.map((f) => resolve(String(f)))) : null;
  } catch {
    return null;
  }
}

/** Mean PSNR of each image pair, [n, S, S, 3] in [-1, 1]. */
function psnrs(inputs: Float32Array, outputs: Float32Array, n: number, S: number): number[] {
  const per = S * S * 3;
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(psnr(fromModelOutput(inputs.subarray(i * per, (i + 1) * per), S).rgb, fromModelOutput(outputs.subarray(i * per, (i + 1) * per), S).rgb));
  return out;
}

/** Same-bits baseline: downsample to side×side 8-bit RGB, upsample bilinearly to S×S. */
function baseline(inputs: Float32Array, n: number, S: number, side: number): Float32Array {
  const out = new Float32Array(inputs.length);
  for (let i = 0; i < n; i++) {
    const img = fromModelOutput(inputs.subarray(i * S * S * 3, (i + 1) * S * S * 3), S);
    out.set(toModelInput(fromModelOutput(toModelInput(img, side), side), S), i * S * S * 3);
  }
  return out;
}

/** The side of the largest square 8-bit RGB thumbnail that fits in `bits`. */
const thumbSide = (bits: number) => Math.max(1, Math.floor(Math.sqrt(bits / 24)));

/** [n, S, S, 3] inputs as n images. */
function split(tok: Tokenizer, inputs: Float32Array): Float32Array[] {
  const per = tok.imageValues;
  return Array.from({ length: inputs.length / per }, (_, i) => inputs.subarray(i * per, (i + 1) * per));
}

/** Reconstructions from the first k tokens of each id list (all of them by default), as one [n, S, S, 3] array. */
async function decodeAll(tok: Tokenizer, ids: Uint32Array[], k?: number): Promise<Float32Array> {
  const out = new Float32Array(ids.length * tok.imageValues);
  (await tok.decode(ids, k === undefined ? undefined : { tokens: k })).forEach((d, i) => out.set(d, i * tok.imageValues));
  return out;
}

/** The run's f32 weights (EMA weights where the run kept them) as checkpoint bytes, or null without state.safetensors. */
function f32Checkpoint(runDir: string, config: Tokenizer['config']): Uint8Array | null {
  const statePath = join(runDir, 'state.safetensors');
  if (!existsSync(statePath)) return null;
  const state = decodeSafetensors(readFileSync(statePath)).tensors;
  const params = new Map(anyParamSpecs(config).map((s) => [s.name, (state.get(`ema/${s.name}`) ?? state.get(`param/${s.name}`))!.data]));
  return isTiTok(config) ? serializeTiTokFile(config, params, 'F32') : serializeCheckpoint(config, params);
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
  const prefixFlag = flag('--prefixes');
  const [runDir, valDir] = args;
  if (!runDir || !valDir) throw new Error('usage: evaluate RUN_DIR|CHECKPOINT VAL_FOLDER [--crops N] [--json FILE] [--prefixes K1,K2,…]');
  const engine: Engine = await createEngine();
  const checkpoint = existsSync(join(runDir, 'model.safetensors')) ? join(runDir, 'model.safetensors') : existsSync(join(runDir, 'model', 'config.json')) ? join(runDir, 'model') : runDir;
  const tok = await Tokenizer.load(checkpoint, { engine });
  const config = tok.config;
  const S = config.imageSize;
  const T = tok.tokensPerImage;
  const codes = config.codebookSize;
  const bits = tok.bitsPerImage;

  const files = collectImages([valDir]);
  const trained = trainingFiles(runDir);
  const trainedOn = files.map((f) => trained?.has(resolve(f)) ?? false);
  const ds = await Dataset.open(files, { size: S, seed: 12345, cacheMb: 1024, minScale: 0.15, flip: false });
  const centre = await ds.centreCrops();
  const random = new Float32Array(crops * S * S * 3);
  for (let i = 0; i < crops; i++) random.set(await ds.sample(i), i * S * S * 3);

  const photoIds = await tok.encode(split(tok, centre));
  const cropIds = await tok.encode(split(tok, random));
  const allIds = [...photoIds, ...cropIds];
  const side = thumbSide(bits);
  const photoRec = await decodeAll(tok, photoIds);
  const photoPsnr = psnrs(centre, photoRec, files.length, S);
  const photoBase = psnrs(centre, baseline(centre, files.length, S, side), files.length, S);
  const cropPsnr = mean(psnrs(random, await decodeAll(tok, cropIds), crops, S));
  const cropBase = mean(psnrs(random, baseline(random, crops, S, side), crops, S));
  const used = new Set<number>();
  for (const ids of allIds) for (const id of ids) used.add(id);

  // Prefix decoding (TiTok): the first k tokens of the same ids.
  const prefixes: { tokens: number; bits: number; baselineBits: number; psnr: number; baselinePsnr: number; perPhoto: number[] }[] = [];
  if (isTiTok(config)) {
    const ks = prefixFlag ? prefixFlag.split(',').map(Number) : [...new Set([1, T / 8, T / 4, T / 2, T].map((k) => Math.max(1, Math.round(k))))];
    for (const k of ks) {
      const p = psnrs(centre, await decodeAll(tok, photoIds, k), files.length, S);
      const b = tok.bitsForTokens(k);
      prefixes.push({ tokens: k, bits: b, baselineBits: thumbSide(b) ** 2 * 24, psnr: mean(p), baselinePsnr: mean(psnrs(centre, baseline(centre, files.length, S, thumbSide(b)), files.length, S)), perPhoto: p });
    }
  }

  // Detail finer than a thumbnail: the photo, and the model's reconstruction of it, each through a
  // side×side 8-bit thumbnail and back. A reconstruction that loses nothing there holds no more than
  // that thumbnail's detail.
  const through = [...new Set([S / 8, S / 4].map((k) => Math.max(1, Math.round(k))))].map((k) => ({
    side: k,
    photoPsnr: mean(psnrs(centre, baseline(centre, files.length, S, k), files.length, S)),
    modelPsnr: mean(psnrs(centre, baseline(photoRec, files.length, S, k), files.length, S)),
  }));

  // f16 storage against the run's f32 weights.
  let f16: { changed: number; total: number } | null = null;
  const f32Bytes = f32Checkpoint(runDir, config);
  if (f32Bytes) {
    const ref = await Tokenizer.load(f32Bytes, { engine });
    const b = [...(await ref.encode(split(tok, centre))), ...(await ref.encode(split(tok, random)))];
    let changed = 0;
    let total = 0;
    allIds.forEach((ids, i) => ids.forEach((id, j) => ((changed += id === b[i]![j] ? 0 : 1), total++)));
    f16 = { changed, total };
    ref.dispose();
  }

  const report = {
    adapter: engine.info.adapter,
    checkpoint,
    family: isTiTok(config) ? 'titok' : 'patch',
    imageSize: S,
    tokensPerImage: T,
    codebookSize: codes,
    bitsPerImage: bits,
    baseline: `${side}×${side} 8-bit RGB (${side * side * 24} bits), bilinear upsampling`,
    photos: files.map((f, i) => ({ file: f, psnr: photoPsnr[i], baselinePsnr: photoBase[i], trainedOn: trained === null ? null : trainedOn[i]! })),
    meanPsnr: mean(photoPsnr),
    meanBaselinePsnr: mean(photoBase),
    crops: { count: crops, psnr: cropPsnr, baselinePsnr: cropBase },
    prefixes,
    through,
    codebookUsage: used.size / codes,
    f16TokenChange: f16 ? f16.changed / f16.total : null,
    tokensCompared: f16?.total ?? 0,
  };
  const dB = (x: number) => `${x.toFixed(2)} dB`;
  const lines = [
    `${report.family === 'titok' ? 'TiTok' : 'patch-token'} model, ${S}×${S}, ${T} tokens × ${Math.log2(codes)} bits = ${bits} bits per image; adapter ${report.adapter}`,
    `baseline: ${report.baseline}`,
    '',
    trained === null
      ? 'training photos: unknown (no config.json of a tok1d train run beside the checkpoint)'
      : `training photos: ${trained.size} in the run's config.json; ${trainedOn.filter(Boolean).length} of the ${files.length} photos below among them`,
    '',
    `| photo${trained !== null && !trainedOn.includes(true) ? ' (never trained on)' : ''} | model PSNR | baseline PSNR | margin |`,
    '|---|---|---|---|',
    ...report.photos.map((p, i) => `| ${basename(p.file)}${trainedOn[i] ? ' (trained on)' : ''} | ${dB(p.psnr!)} | ${dB(p.baselinePsnr!)} | ${(p.psnr! - p.baselinePsnr!).toFixed(2)} dB |`),
    `| **mean of ${files.length}** | ${dB(report.meanPsnr)} | ${dB(report.meanBaselinePsnr)} | ${(report.meanPsnr - report.meanBaselinePsnr).toFixed(2)} dB |`,
    `| ${crops} random crops | ${dB(cropPsnr)} | ${dB(cropBase)} | ${(cropPsnr - cropBase).toFixed(2)} dB |`,
    '',
    ...(prefixes.length
      ? ['| first k tokens | bits | model PSNR | baseline PSNR (its bits) |', '|---|---|---|---|', ...prefixes.map((p) => `| ${p.tokens} | ${p.bits} | ${dB(p.psnr)} | ${dB(p.baselinePsnr)} (${p.baselineBits}) |`), '']
      : []),
    `| through a thumbnail and back | the photo | the model's reconstruction (${dB(report.meanPsnr)} as decoded) |`,
    '|---|---|---|',
    ...through.map((t) => `| ${t.side}×${t.side} 8-bit (${t.side * t.side * 24} bits) | ${dB(t.photoPsnr)} | ${dB(t.modelPsnr)} |`),
    '',
    `codebook usage: ${used.size} of ${codes} codes (${((100 * used.size) / codes).toFixed(1)}%) over the photos and crops`,
    f16 ? `f16 vs f32 weights: ${f16.changed} of ${f16.total} tokens differ (${((100 * f16.changed) / f16.total).toFixed(2)}%)` : 'f16 vs f32: no state.safetensors beside the checkpoint',
  ];
  process.stdout.write(lines.join('\n') + '\n');
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(report, null, 2) + '\n');
  tok.dispose();
  engine.dispose();
}

main().catch((e: unknown) => {
  process.stderr.write(`evaluate: ${(e as Error).message}\n`);
  process.exit(1);
});
