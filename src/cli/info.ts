import { existsSync } from 'node:fs';
import { relative } from 'node:path';
import type { ModelConfig } from '../model/config.js';
import { modelCosts } from '../model/costs.js';
import { cliPreset, EXIT, UsageError } from './errors.js';

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

/** `tok1d info`: sizes and costs of a preset or a checkpoint's model. */
export async function info(o: { preset?: string; checkpoint?: string; json: boolean }): Promise<number> {
  if (o.preset && o.checkpoint) throw new UsageError('give --preset or --checkpoint, not both');
  let config: ModelConfig;
  let source: string;
  const { bundledCheckpoint } = await import('./tokenize.js');
  const path = o.checkpoint ?? (o.preset === undefined && existsSync(bundledCheckpoint()) ? bundledCheckpoint() : undefined);
  if (path) {
    const { loadCheckpointConfig } = await import('./checkpoint-config.js');
    config = await loadCheckpointConfig(path);
    source = o.checkpoint ? path : `bundled checkpoint (${relative(process.cwd(), path) || path})`;
  } else {
    const name = o.preset ?? 'seed';
    config = cliPreset(name);
    source = `preset ${name}`;
  }
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
    `parameters     encoder ${si(c.params.encoder, '')}, quantizer ${si(c.params.quantizer, '')}, decoder ${si(c.params.decoder, '')}, total ${si(c.params.total, '')}`,
    `FLOPs/image    encode ${si(c.flops.encode, 'FLOP')}, codebook search ${si(c.flops.quantize, 'FLOP')}, decode ${si(c.flops.decode, 'FLOP')}`,
    `tokens/image   ${c.tokens}`,
    `bits/image     ${c.bitsPerImage.toFixed(0)} (${c.tokens} × log2 ${config.codebookSize})`,
    `compression    ${c.compression.toFixed(0)}× against raw 8-bit RGB (${config.imageSize * config.imageSize * 3} bytes)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return EXIT.ok;
}
