import { paramSpecs, tokensPerImage, type ModelConfig } from './config.js';

export interface ModelCosts {
  /** Parameters per part: encoder, quantizer (codebook), decoder, total. */
  params: { encoder: number; quantizer: number; decoder: number; total: number };
  /** Floating-point operations per image (2 per multiply-add; elementwise work not counted). */
  flops: { encode: number; quantize: number; decode: number };
  tokens: number;
  bitsPerImage: number;
  /** Raw 8-bit RGB bits divided by the token bits. */
  compression: number;
}

/**
 * Parameter counts by part and FLOPs per image: linear layers 2·rows·in·out, attention 4·T²·D
 * (scores and the weighted sum), codebook search 2·T·K·C.
 */
export function modelCosts(c: ModelConfig): ModelCosts {
  const params = { encoder: 0, quantizer: 0, decoder: 0, total: 0 };
  for (const s of paramSpecs(c)) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    if (s.name.startsWith('enc.')) params.encoder += n;
    else if (s.name.startsWith('vq.')) params.quantizer += n;
    else params.decoder += n;
    params.total += n;
  }
  const T = tokensPerImage(c);
  const D = c.width;
  const C = c.codeDim;
  const PP3 = c.patch * c.patch * 3;
  const H = D * c.mlpRatio;
  const block = 2 * T * D * 3 * D + 4 * T * T * D + 2 * T * D * D + 2 * 2 * T * D * H;
  const encode = 2 * T * PP3 * D + c.encoderDepth * block + (C !== D ? 2 * T * D * C : 0);
  const quantize = 2 * T * c.codebookSize * C;
  const decode = 2 * T * C * D + c.decoderDepth * block + 2 * T * D * PP3;
  const bitsPerImage = T * Math.log2(c.codebookSize);
  return { params, flops: { encode, quantize, decode }, tokens: T, bitsPerImage, compression: (c.imageSize * c.imageSize * 3 * 8) / bitsPerImage };
}
