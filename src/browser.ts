/**
 * tok1d in the browser (bundled by tools/build-browser.mjs into dist/browser/tok1d.js, imported as
 * `tok1d/browser`). The engine, the ops and the model are the Node entry's own code; only device
 * acquisition (navigator.gpu, or the application's GPUDevice) and file I/O (fetch instead of the
 * file system) differ. The WGSL kernels are inlined at build time.
 *
 *   import { createEngine, Tokenizer } from 'tok1d/browser';
 *   const engine = await createEngine({ device });          // the app's device, used as it is
 *   const tok = await Tokenizer.load('/models/default.safetensors', { engine });
 *   const ids = await tok.encode([imageData]);               // or ImageBitmap, GPUTexture, GPUBuffer
 *   const { buffer } = await tok.encodeToBuffer([texture]);  // ids stay on the GPU
 *   await tok.decodeTo(ids, [outputTexture]);                // rgba8unorm, STORAGE_BINDING
 */
import { Engine, type DeviceInfo, type EngineOptions } from './gpu/engine.js';
import { KernelSources, type KernelReader } from './gpu/kernels.js';
import { describeAppDevice } from './engine-factory.js';
import { deviceDescriptor } from './gpu/device-request.js';
import { CheckpointError, parseCheckpoint, type ParsedCheckpoint } from './model/checkpoint-format.js';
import type { ModelConfig } from './model/config.js';
import { parseTiTok, parseTiTokConfig, type ParsedTiTok } from './model/titok-checkpoint.js';
import { setTokenizerHost } from './model/tokenizer-host.js';

/** kernels/*.wgsl by name, defined by the bundler (tools/build-browser.mjs). */
declare const __TOK1D_KERNELS__: Record<string, string> | undefined;

function kernelReader(): KernelReader {
  const kernels = typeof __TOK1D_KERNELS__ === 'undefined' ? undefined : __TOK1D_KERNELS__;
  if (!kernels) throw new Error('tok1d/browser: kernels are missing; use the bundle dist/browser/tok1d.js (npm run build:browser)');
  return (name) => {
    const src = kernels[name];
    if (src === undefined) throw new Error(`tok1d/browser: no kernel "${name}" in the bundle`);
    return src;
  };
}

export interface CreateEngineOptions extends EngineOptions {
  /**
   * The application's device, used as it is: its limits and features are read, never raised; the
   * engine never destroys it. Without one, the engine requests an adapter and a device of its own.
   */
  device?: GPUDevice;
  /** Adapter preference when the engine gets its own device. */
  powerPreference?: GPUPowerPreference;
}



function adapterInfo(adapter: GPUAdapter, featureLevel: 'core' | 'compatibility'): DeviceInfo {
  const i = adapter.info;
  const name = [i.vendor, i.architecture, i.device].filter(Boolean).join(' ') || i.description || 'unknown adapter';
  return {
    backend: 'browser',
    featureLevel,
    adapter: name,
    vendor: i.vendor,
    architecture: i.architecture,
    description: i.description,
    software: /swiftshader|llvmpipe|lavapipe|warp|basic render/i.test(`${name} ${i.description}`),
  };
}

/**
 * An engine for this page. With `device`, it wraps the application's device (and leaves the
 * device's uncaptured errors to the application: tok1d's own calls catch theirs in error scopes).
 * Without, it requests an adapter (core, then compatibility) and a device with the adapter's limits
 * for the buffers and workgroups it uses; dispose() destroys that device.
 */
export async function createEngine(options: CreateEngineOptions = {}): Promise<Engine> {
  const { device, powerPreference, ...engineOptions } = options;
  const kernels = new KernelSources(kernelReader());
  if (device) {
    return new Engine(device, describeAppDevice(device), kernels, { onError: () => {}, ...engineOptions });
  }
  const gpu = typeof navigator === 'undefined' ? undefined : navigator.gpu;
  if (!gpu) throw new Error('WebGPU is not available here (navigator.gpu is missing; a secure context such as https or localhost is needed)');
  let featureLevel: 'core' | 'compatibility' = 'core';
  let adapter = await gpu.requestAdapter({ powerPreference });
  if (!adapter) {
    featureLevel = 'compatibility';
    adapter = await gpu.requestAdapter({ powerPreference, featureLevel });
  }
  if (!adapter) throw new Error('no WebGPU adapter available');
  const own = await adapter.requestDevice(deviceDescriptor(adapter));
  let disposed = false;
  void own.lost.then((l) => {
    if (!disposed) console.error(`tok1d: GPU device lost: ${l.message}`);
  });
  return new Engine(own, adapterInfo(adapter, featureLevel), kernels, engineOptions, () => {
    disposed = true;
    own.destroy();
  });
}

/** The bytes at a URL; failures are CheckpointErrors naming it. */
async function fetchBytes(url: string | URL): Promise<Uint8Array> {
  try {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
    return new Uint8Array(await res.arrayBuffer());
  } catch (e) {
    throw new CheckpointError(`cannot fetch checkpoint ${String(url)}: ${(e as Error).message}`);
  }
}

/**
 * Fetches and parses a checkpoint: a tok1d checkpoint file (see parseCheckpoint), or, for a URL
 * ending in '/', a TiTok checkpoint folder (its config.json and model.safetensors). Failures are
 * CheckpointErrors naming the URL.
 */
export async function fetchCheckpoint(url: string | URL, expected?: ModelConfig): Promise<ParsedCheckpoint | ParsedTiTok> {
  const href = String(url);
  if (href.endsWith('/')) {
    // Relative folder URLs resolve against the page, as fetch() resolves file URLs.
    const base = new URL(href, (globalThis as { location?: { href: string } }).location?.href);
    const config = new TextDecoder().decode(await fetchBytes(new URL('config.json', base)));
    return parseTiTok(parseTiTokConfig(config, `${href}config.json`).reference, await fetchBytes(new URL('model.safetensors', base)), `${href}model.safetensors`);
  }
  const bytes = await fetchBytes(url);
  try {
    return parseCheckpoint(bytes, expected);
  } catch (e) {
    if (e instanceof CheckpointError) throw new CheckpointError(`${href}: ${e.message}`);
    throw e;
  }
}

setTokenizerHost({
  createEngine: ({ device }) => createEngine({ device }),
  readCheckpoint: fetchCheckpoint,
});

export { Engine, grid, type DeviceInfo, type EngineOptions } from './gpu/engine.js';
export { Tensor, type DType } from './tensor.js';
export * as ops from './ops/index.js';
export { PRESETS, paramSpecs, presetConfig, anyPresetConfig, tokensPerImage, UnknownPresetError, type ModelConfig, type AnyModelConfig } from './model/config.js';
export { TokenizerModel } from './model/model.js';
export { TiTokModel } from './model/titok.js';
export { TITOK_PRESETS, TITOK_SIZES, titokParamSpecs, titokFromReference, isTiTok, type TiTokConfig } from './model/titok-config.js';
export { parseTiTok, parseTiTokConfig, type ParsedTiTok } from './model/titok-checkpoint.js';
export * from './model/tokenizer-core.js';
export {
  CheckpointError,
  serializeCheckpoint,
  parseCheckpoint,
  f32ToF16,
  f16ToF32,
  canonicalConfigJson,
  type CheckpointDType,
  type ParsedCheckpoint,
} from './model/checkpoint-format.js';
export { toModelInput, fromModelOutput, psnr, type RgbImage } from './io/pixels.js';
