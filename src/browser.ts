/**
 * tok1d in the browser (bundled by tools/build-browser.mjs into dist/browser/tok1d.js, imported as
 * `tok1d/browser`). The engine, the ops and the model are the Node entry's own code; only device
 * acquisition (navigator.gpu, or the application's GPUDevice) and file I/O (fetch instead of the
 * file system) differ. The WGSL kernels are inlined at build time.
 *
 *   import { createEngine, Tokenizer } from 'tok1d/browser';
 *   const engine = await createEngine({ device });          // the app's device, used as it is
 *   const tok = await Tokenizer.load('default', { engine }); // the bundled model, next to the bundle
 *   const ids = await tok.encode([imageData]);               // or ImageBitmap, GPUTexture, GPUBuffer
 *   const { buffer } = await tok.encodeToBuffer([texture]);  // ids stay on the GPU
 *   await tok.decodeTo(ids, [outputTexture]);                // rgba8unorm, STORAGE_BINDING
 *
 * @module tok1d/browser
 */
import { Engine, type DeviceInfo, type EngineOptions } from './gpu/engine.js';
import { KernelSources, type KernelReader } from './gpu/kernels.js';
import { describeAppDevice } from './engine-factory.js';
import { deviceDescriptor } from './gpu/device-request.js';
import { CheckpointError, type ParsedCheckpoint } from './model/checkpoint-format.js';
import type { ModelConfig } from './model/config.js';
import { parseAnyCheckpoint, parseTiTokConfig, parseTiTokWeights, type ParsedTiTok } from './model/titok-checkpoint.js';
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

/** Options of createEngine in the browser: the engine's, plus the app's device or the adapter preference. */
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
    return parseTiTokWeights(parseTiTokConfig(config, `${href}config.json`), await fetchBytes(new URL('model.safetensors', base)), `${href}model.safetensors`);
  }
  const bytes = await fetchBytes(url);
  try {
    return parseAnyCheckpoint(bytes, expected);
  } catch (e) {
    if (e instanceof CheckpointError) throw new CheckpointError(`${href}: ${e.message}`);
    throw e;
  }
}

/** The bundled model's place in the package. */
const DEFAULT_MODEL_PATH = 'models/default.safetensors';

/**
 * The URL `Tokenizer.load()` fetches the bundled model from: `models/default.safetensors` under
 * `baseUrl` (the package folder as served; a relative one resolves against the page), by default
 * under the folder two levels above this bundle (dist/browser/tok1d.js in the package).
 */
export function defaultModelUrl(baseUrl?: string | URL): URL {
  const page = (globalThis as { location?: { href: string } }).location?.href;
  const base = baseUrl === undefined ? new URL('../../', import.meta.url) : new URL(String(baseUrl), page);
  return new URL(DEFAULT_MODEL_PATH, base);
}

setTokenizerHost({
  createEngine: ({ device }) => createEngine({ device }),
  readCheckpoint: fetchCheckpoint,
  defaultCheckpoint: defaultModelUrl,
});

export { Engine, grid, type DeviceInfo } from './gpu/engine.js';
/** Engine settings: NaN-poisoning of new buffers (tests), the device error handler, and where kernel choices persist. */
export type { EngineOptions } from './gpu/engine.js';
/** Named uniform parameters for Engine.dispatch: a schema per WGSL uniform struct (paramSchema), its values by field name (schema.with). */
export { paramSchema, structType, arrayOf, ParamSchema, StructLayout, type KernelParams, type FieldType } from './gpu/params.js';
export { Tensor, type DType } from './tensor.js';
/** The ops: GPU kernels on tensors (matmul, attention, layernorm, elementwise, codebook search, …), each recorded on an engine and submitted at the next read-back. */
export * as ops from './ops/index.js';
/** tok1d's own model presets by name (tiny, small, seed, …), each a complete ModelConfig. */
export { PRESETS } from './model/config.js';
export { paramSpecs, presetConfig, anyPresetConfig, tokensPerImage, UnknownPresetError, type ModelConfig, type AnyModelConfig } from './model/config.js';
export { TokenizerModel } from './model/model.js';
/** A TiTok network (latent-token ViT encoder, quantizer, decoder) on an engine; Tokenizer runs it. */
export { TiTokModel } from './model/titok.js';
/** True when a configuration is a TiTok model's (TiTokConfig) rather than tok1d's own (ModelConfig). */
export { isTiTok } from './model/titok-config.js';
export { TITOK_PRESETS, TITOK_SIZES, titokParamSpecs, titokFromReference, type TiTokConfig } from './model/titok-config.js';
export { parseTiTok, parseTiTokConfig } from './model/titok-checkpoint.js';
/** A TiTok checkpoint read: its configuration, the parameters in tok1d's layout with their stored types, and the reference's config.json. */
export type { ParsedTiTok } from './model/titok-checkpoint.js';
export * from './model/tokenizer-core.js';
export { CheckpointError, serializeCheckpoint, parseCheckpoint, f32ToF16, f16ToF32, canonicalConfigJson } from './model/checkpoint-format.js';
/** How a checkpoint stores its parameters: 'f32' or 'f16'. */
export type { CheckpointDType } from './model/checkpoint-format.js';
/** A tok1d checkpoint read: its model configuration, every parameter by name and their stored types. */
export type { ParsedCheckpoint } from './model/checkpoint-format.js';
export { toModelInput, fromModelOutput, psnr, type RgbImage } from './io/pixels.js';
