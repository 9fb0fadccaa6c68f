import { existsSync } from 'node:fs';
import { relative } from 'node:path';
import { statSync } from 'node:fs';
import type { AnyModelConfig } from '../model/config.js';
import { modelCosts, type ModelCosts } from '../model/costs.js';
import { CheckpointError } from '../model/checkpoint-format.js';
import { isTiTok, TITOK_SIZES, titokBits, titokCosts, titokGrid, type TiTokConfig } from '../model/titok-config.js';
import { cliAnyPreset, EXIT, UsageError, UserError } from './errors.js';

function si(n: number, unit: string): string {
  const steps: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [v, p] of steps) if (n >= v) return `${(n / v).toFixed(2)} ${p}${unit}`;
  return `${n} ${unit}`;
}

/** The parameter and FLOP lines both families print. */
function costLines(c: { params: ModelCosts['params']; flops: ModelCosts['flops'] }): string[] {
  return [
    `parameters     encoder ${si(c.params.encoder, '')}, quantizer ${si(c.params.quantizer, '')}, decoder ${si(c.params.decoder, '')}, total ${si(c.params.total, '')}`,
    `FLOPs/image    encode ${si(c.flops.encode, 'FLOP')}, codebook search ${si(c.flops.quantize, 'FLOP')}, decode ${si(c.flops.decode, 'FLOP')}`,
  ];
}

/** `tok1d info`: sizes and costs of a preset or a checkpoint's model. */
export async function info(o: { preset?: string; checkpoint?: string; json: boolean }): Promise<number> {
  if (o.preset && o.checkpoint) throw new UsageError('give --preset or --checkpoint, not both');
  let config: AnyModelConfig;
  let source: string;
  const { bundledCheckpoint } = await import('../model/tokenizer.js');
  const path = o.checkpoint ?? (o.preset === undefined && existsSync(bundledCheckpoint()) ? bundledCheckpoint() : undefined);
  if (path && existsSync(path) && statSync(path).isDirectory()) {
    const { loadTiTokConfig } = await import('../model/titok-files.js');
    try {
      config = await loadTiTokConfig(path);
    } catch (e) {
      if (e instanceof CheckpointError) throw new UserError(e.message);
      throw e;
    }
    source = path;
  } else if (path) {
    const { loadCheckpointConfig } = await import('./checkpoint-config.js');
    config = await loadCheckpointConfig(path);
    source = o.checkpoint ? path : `bundled checkpoint (${relative(process.cwd(), path) || path})`;
  } else {
    const name = o.preset ?? 'seed';
    config = cliAnyPreset(name);
    source = `preset ${name}`;
  }
  if (isTiTok(config)) return titokInfo(config, source, o.json);
  const c = modelCosts(config);
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ source, config, ...c }, null, 2)}\n`);
    return EXIT.ok;
  }
  const lines = [
    `model          ${source}`,
    `image          ${config.imageSize}×${config.imageSize} RGB, patch ${config.patch}`,
    `transformer    width ${config.width}, ${config.heads} heads, ${config.encoderDepth} encoder + ${config.decoderDepth} decoder layers, MLP ×${config.mlpRatio}`,
    `codebook       ${config.codebookSize} codes × ${config.codeDim}${config.cosine ? ' (cosine)' : ''}, β ${config.beta}`,
    ...costLines(c),
    `tokens/image   ${c.tokens}`,
    `bits/image     ${c.bitsPerImage.toFixed(0)} (${c.tokens} × log2 ${config.codebookSize})`,
    `compression    ${c.compression.toFixed(0)}× against raw 8-bit RGB (${config.imageSize * config.imageSize * 3} bytes)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return EXIT.ok;
}

/** `tok1d info` for a TiTok model. */
function titokInfo(config: TiTokConfig, source: string, json: boolean): number {
  const c = titokCosts(config);
  const bits = titokBits(config);
  const compression = (config.imageSize * config.imageSize * 3 * 8) / bits;
  if (json) {
    process.stdout.write(`${JSON.stringify({ source, family: 'titok', config, ...c, tokens: config.tokens, bitsPerImage: bits, compression }, null, 2)}\n`);
    return EXIT.ok;
  }
  const part = (name: 'encoder' | 'decoder') => {
    const size = name === 'encoder' ? config.encoderSize : config.decoderSize;
    const { width, depth, heads } = TITOK_SIZES[size];
    const G = titokGrid(config, name);
    return `${size} (width ${width}, ${depth} layers, ${heads} heads), patch ${name === 'encoder' ? config.encoderPatch : config.decoderPatch} → ${G}×${G} grid`;
  };
  const vq = config.quantizeMode === 'vq';
  const lines = [
    `model          ${source}`,
    `family         TiTok (latent tokens; ${vq ? 'VQ' : 'VAE'})`,
    `image          ${config.imageSize}×${config.imageSize} RGB, in [0, 1]`,
    `encoder        ${part('encoder')}`,
    `decoder        ${part('decoder')}`,
    vq
      ? `codebook       ${config.codebookSize} codes × ${config.tokenSize}${config.useL2Norm ? ' (l2-normalized)' : ''}, β ${config.commitmentCost}`
      : `latents        ${config.tokenSize} channels per token (mean and log-variance from the encoder; decoded from the mean)`,
    ...costLines(c),
    `tokens/image   ${config.tokens} (any prefix decodes)`,
    vq ? `bits/image     ${bits.toFixed(0)} (${config.tokens} × log2 ${config.codebookSize})` : `bits/image     ${bits.toFixed(0)} (${config.tokens} × ${config.tokenSize} float16 values)`,
    `compression    ${compression.toFixed(0)}× against raw 8-bit RGB (${config.imageSize * config.imageSize * 3} bytes)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return EXIT.ok;
}
