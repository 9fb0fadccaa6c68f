import type { PixelImage } from '../src/model/tokenizer.js';
import { freshRng } from './helpers.js';

/** n S×S RGB images with structure (a sinusoid per channel) and a little noise, as 8-bit bytes. */
export function patternedImages(n: number, S = 64): (PixelImage & { channels: 3; data: Uint8Array })[] {
  const r = freshRng();
  return Array.from({ length: n }, () => {
    const f = [1 + 3 * r(), 1 + 3 * r(), 1 + 3 * r()];
    const ph = [6.3 * r(), 6.3 * r(), 6.3 * r()];
    const data = new Uint8Array(S * S * 3);
    for (let y = 0; y < S; y++)
      for (let x = 0; x < S; x++)
        for (let c = 0; c < 3; c++) data[(y * S + x) * 3 + c] = Math.round(127.5 + 120 * Math.sin(((f[c]! * (x + 0.7 * y)) / S) * Math.PI + ph[c]!) + 6 * (r() - 0.5));
    return { width: S, height: S, channels: 3 as const, data };
  });
}
