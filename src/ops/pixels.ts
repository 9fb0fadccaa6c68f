/**
 * Pixels between an application's GPU resources and the model's tensors (kernels/pixels.wgsl), so
 * an embedding app can hand over a texture or a buffer of pixels and get images back in one,
 * without a round trip through the CPU.
 *
 * In: a texture (any float-sampleable format with TEXTURE_BINDING usage: rgba8unorm, bgra8unorm,
 * rgba16float, …) or a buffer of packed RGBA8 pixels (4 bytes per pixel, R first, e.g. the bytes of
 * an ImageData or of copyTextureToBuffer) becomes one image of the model input [B, S, S, 3] in
 * [-1, 1]: alpha composited on white, the shorter side resized to S (antialiased tent filter) and
 * the centre cropped, as toModelInput does on the CPU (there in f64: values agree to about 1e-6).
 * Out: one image of the model output [B, S, S, 3] becomes 8-bit RGBA (alpha 255) in an rgba8unorm
 * storage texture or a packed RGBA8 buffer, with fromModelOutput's rounding.
 */
import type { Engine } from '../gpu/engine.js';
import { FIXED_WG } from '../gpu/limits.js';
import { PIXELS } from '../gpu/uniforms.js';
import { shapeStr, type Tensor } from '../tensor.js';
import { linearLaunch } from './elementwise.js';

const KERNEL = 'pixels';
/** Invocations per workgroup of every entry point (the kernel's WG override). */
const WG = FIXED_WG;

/** Packed RGBA8 pixels in a buffer (needs STORAGE usage): row y starts at offset + y · bytesPerRow. */
export interface RgbaBufferRegion {
  buffer: GPUBuffer;
  width: number;
  height: number;
  /** Byte offset of the first pixel (multiple of 4; default 0). */
  offset?: number;
  /** Bytes from one row to the next (multiple of 4, ≥ 4 · width; default 4 · width). */
  bytesPerRow?: number;
}

export type PixelSource = GPUTexture | RgbaBufferRegion;

function isTexture(x: PixelSource): x is GPUTexture {
  return typeof (x as GPUTexture).createView === 'function';
}


/**
 * The taps of one 1D resampling pass (the same formulas as toModelInput's, in f64): per output
 * sample, the first source index, the tap count, and the sample's source coordinate minus the first
 * index, as vec4f rows for the kernel; plus the tap radius and the source range read.
 */
interface AxisTaps {
  table: Float32Array;
  radius: number;
  first: number;
  end: number;
}

function axisTaps(len: number, scaled: number, size: number): AxisTaps {
  const offset = Math.floor((scaled - size) / 2);
  const scale = len / scaled;
  const radius = Math.max(1, scale);
  const table = new Float32Array(4 * size);
  let first = len;
  let end = 0;
  for (let i = 0; i < size; i++) {
    const centre = (i + offset + 0.5) * scale - 0.5;
    const lo = Math.max(0, Math.ceil(centre - radius));
    const hi = Math.min(len - 1, Math.floor(centre + radius));
    table[4 * i] = lo;
    table[4 * i + 1] = Math.max(0, hi - lo + 1);
    table[4 * i + 2] = centre - lo;
    first = Math.min(first, lo);
    end = Math.max(end, hi + 1);
  }
  return { table, radius, first, end };
}

/** The byte range a binding must cover, aligned down to the device's storage offset alignment. */
function regionBinding(engine: Engine, buffer: GPUBuffer, offset: number, bytes: number, what: string): { binding: GPUBufferBinding; firstWord: number } {
  if (offset % 4 !== 0) throw new Error(`${what}: byte offset ${offset} is not a multiple of 4`);
  if (offset + bytes > buffer.size) throw new Error(`${what}: ${bytes} bytes from offset ${offset} exceed the ${buffer.size}-byte buffer`);
  if (!(buffer.usage & GPUBufferUsage.STORAGE)) throw new Error(`${what}: the buffer needs STORAGE usage`);
  const align = engine.limits.minStorageBufferOffsetAlignment;
  const base = Math.floor(offset / align) * align;
  const size = Math.ceil((offset + bytes - base) / 4) * 4;
  if (size > engine.limits.maxStorageBufferBindingSize) throw new Error(`${what}: ${size} bytes exceed the device's storage binding limit`);
  return { binding: { buffer, offset: base, size }, firstWord: (offset - base) / 4 };
}

function rowBytes(width: number, bytesPerRow: number | undefined, what: string): number {
  const bpr = bytesPerRow ?? 4 * width;
  if (!Number.isInteger(bpr) || bpr % 4 !== 0 || bpr < 4 * width) throw new Error(`${what}: bytesPerRow ${bpr} must be a multiple of 4 and at least 4 · width (${4 * width})`);
  return bpr;
}

function imageIndex(images: Tensor, index: number, what: string): { S: number; first: number } {
  const [B, S, S2, C] = images.shape;
  if (images.shape.length !== 4 || S !== S2 || C !== 3) throw new Error(`${what}: images must be [B, S, S, 3], got ${shapeStr(images.shape)}`);
  if (!(Number.isInteger(index) && index >= 0 && index < B!)) throw new Error(`${what}: image ${index} is outside the batch of ${B}`);
  return { S: S!, first: index * S! * S! * 3 };
}

/**
 * Throws unless `src` can be read as an image for a model of side `size` (usage, format, region
 * bounds; with resize false, the size; `copied`: a texture only needs COPY_SRC). pixelsToModelInput checks the same; callers that prepare
 * several images check them all first, so that nothing is recorded for a call that fails.
 */
export function checkPixelSource(engine: Engine, src: PixelSource, size: number, opts: { resize?: boolean; copied?: boolean } = {}, what = 'pixelsToModelInput'): void {
  const { width: W, height: H } = src;
  if (!(Number.isInteger(W) && Number.isInteger(H) && W > 0 && H > 0)) throw new Error(`${what}: bad source size ${W}×${H}`);
  if (opts.resize === false && (W !== size || H !== size)) throw new Error(`${what}: the source is ${W}×${H}; without resizing it must be ${size}×${size}`);
  if (isTexture(src)) {
    if (src.dimension !== '2d') throw new Error(`${what}: the texture must be 2d, got ${src.dimension}`);
    // `copied`: the caller copies the texture into one with TEXTURE_BINDING first.
    if (!(src.usage & (opts.copied ? GPUTextureUsage.COPY_SRC : GPUTextureUsage.TEXTURE_BINDING))) throw new Error(`${what}: the texture needs ${opts.copied ? 'COPY_SRC' : 'TEXTURE_BINDING'} usage`);
    if (/srgb|int|depth|stencil/.test(src.format)) throw new Error(`${what}: texture format ${src.format} is not supported (use a float-sampleable, non-sRGB format such as rgba8unorm)`);
  } else {
    const bpr = rowBytes(W, src.bytesPerRow, what);
    regionBinding(engine, src.buffer, src.offset ?? 0, (H - 1) * bpr + 4 * W, what);
  }
}

/**
 * Writes image `index` of `out` ([B, S, S, 3]) from a texture or a packed RGBA8 buffer: resized and
 * centre-cropped to S × S unless `resize` is false (then the source must be S × S). Two dispatches
 * (horizontal, vertical) through a temporary [rows, S, 3] tensor; the tap tables are two small
 * uploads.
 */
export function pixelsToModelInput(engine: Engine, src: PixelSource, out: Tensor, index: number, opts: { resize?: boolean } = {}): void {
  const what = 'pixelsToModelInput';
  const { S, first } = imageIndex(out, index, what);
  checkPixelSource(engine, src, S, opts, what);
  const { width: W, height: H } = src;
  const short = Math.min(W, H);
  const sw = W === short ? S : Math.max(S, Math.round((W * S) / short));
  const sh = H === short ? S : Math.max(S, Math.round((H * S) / short));
  const ax = axisTaps(W, sw, S);
  const ay = axisTaps(H, sh, S);
  const tx = engine.upload(ax.table, [S, 4]);
  const ty = engine.upload(ay.table, [S, 4]);
  const y0 = ay.first;
  const rows = ay.end - ay.first;
  const tmp = engine.empty([rows, S, 3]);
  const hItems = rows * S;
  const h = linearLaunch(engine, hItems, WG);
  if (isTexture(src)) {
    const view = src.createView({ dimension: '2d', baseMipLevel: 0, mipLevelCount: 1, baseArrayLayer: 0, arrayLayerCount: 1 });
    engine.dispatch(KERNEL, 'resize_h_tex', [view, tmp, tx], PIXELS.withZeros({ n: hItems, stride: h.stride, s: S, y0, radius: ax.radius }), h.groups, { WG });
  } else {
    const bpr = rowBytes(W, src.bytesPerRow, what);
    const { binding, firstWord } = regionBinding(engine, src.buffer, src.offset ?? 0, (H - 1) * bpr + 4 * W, what);
    engine.dispatch(KERNEL, 'resize_h_buf', [binding, tmp, tx], PIXELS.withZeros({ n: hItems, stride: h.stride, s: S, y0, src_offset: firstWord, row: bpr / 4, radius: ax.radius }), h.groups, { WG });
  }
  const vItems = S * S;
  const v = linearLaunch(engine, vItems, WG);
  engine.dispatch(KERNEL, 'resize_v', [tmp, out, ty], PIXELS.withZeros({ n: vItems, stride: v.stride, s: S, y0, dst_offset: first, radius: ay.radius }), v.groups, { WG });
  out.touch();
  engine.release(tmp, tx, ty);
}

/** Throws unless `texture` can take a decoded S × S image (rgba8unorm, STORAGE_BINDING, large enough). */
export function checkTextureTarget(texture: GPUTexture, size: number, what = 'modelOutputToTexture'): void {
  if (texture.format !== 'rgba8unorm') throw new Error(`${what}: the texture must be rgba8unorm, got ${texture.format}`);
  if (!(texture.usage & GPUTextureUsage.STORAGE_BINDING)) throw new Error(`${what}: the texture needs STORAGE_BINDING usage`);
  if (texture.dimension !== '2d' || texture.width < size || texture.height < size) throw new Error(`${what}: the texture is ${texture.width}×${texture.height}; it must be at least ${size}×${size}`);
}

/** Throws unless the buffer region can take a decoded S × S image as packed RGBA8. */
export function checkRgbaTarget(engine: Engine, dst: Omit<RgbaBufferRegion, 'width' | 'height'>, size: number, what = 'modelOutputToRgba'): void {
  const bpr = rowBytes(size, dst.bytesPerRow, what);
  regionBinding(engine, dst.buffer, dst.offset ?? 0, (size - 1) * bpr + 4 * size, what);
}

/** Writes image `index` of `images` ([B, S, S, 3]) into the top-left S × S of an rgba8unorm texture (STORAGE_BINDING usage). */
export function modelOutputToTexture(engine: Engine, images: Tensor, index: number, texture: GPUTexture): void {
  const what = 'modelOutputToTexture';
  const { S, first } = imageIndex(images, index, what);
  checkTextureTarget(texture, S, what);
  const view = texture.createView({ dimension: '2d', baseMipLevel: 0, mipLevelCount: 1, baseArrayLayer: 0, arrayLayerCount: 1 });
  const n = S * S;
  const l = linearLaunch(engine, n, WG);
  engine.dispatch(KERNEL, 'to_texture', [images, view], PIXELS.withZeros({ n, stride: l.stride, s: S, src_offset: first }), l.groups, { WG });
}

/** Writes image `index` of `images` ([B, S, S, 3]) as packed RGBA8 (S × S pixels) into a buffer region (STORAGE usage). */
export function modelOutputToRgba(engine: Engine, images: Tensor, index: number, dst: Omit<RgbaBufferRegion, 'width' | 'height'>): void {
  const what = 'modelOutputToRgba';
  const { S, first } = imageIndex(images, index, what);
  checkRgbaTarget(engine, dst, S, what);
  const bpr = rowBytes(S, dst.bytesPerRow, what);
  const { binding, firstWord } = regionBinding(engine, dst.buffer, dst.offset ?? 0, (S - 1) * bpr + 4 * S, what);
  const n = S * S;
  const l = linearLaunch(engine, n, WG);
  engine.dispatch(KERNEL, 'to_buffer', [images, binding], PIXELS.withZeros({ n, stride: l.stride, s: S, src_offset: first, row: bpr / 4, dst_offset: firstWord }), l.groups, { WG });
}
