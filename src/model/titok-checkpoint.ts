/**
 * TiTok checkpoints as the reference implementation publishes them: a folder with config.json (the
 * reference's configuration) and model.safetensors (F32, F16 or BF16 tensors under the reference's
 * state_dict names and layouts). Bytes in, parameters in tok1d's layout out; nothing here touches
 * the file system, so the browser bundle shares it (Node reads folders in titok-files.ts).
 */
import { CheckpointError, parseCheckpoint, readSafetensorsHeader, readSafetensorsTensors, type ParsedCheckpoint, type StoredDType } from './checkpoint-format.js';
import type { ModelConfig } from './config.js';
import { encodeSafetensors, type NamedTensor } from '../io/safetensors.js';
import { titokFromReference, titokParamSpecs, titokToEngineLayout, titokToReference, titokToStoredLayout, TiTokConfigError, type TiTokConfig } from './titok-config.js';

export interface ParsedTiTok {
  config: TiTokConfig;
  /** Parameters by reference name, in tok1d's layout (titokToEngineLayout). */
  params: Map<string, Float32Array>;
  dtypes: Map<string, StoredDType>;
  /** The config.json object as read. */
  reference: Record<string, unknown>;
}

/** Parses config.json text (or its object). Problems are CheckpointErrors naming the file. */
export function parseTiTokConfig(json: string | unknown, what = 'config.json'): { config: TiTokConfig; reference: Record<string, unknown> } {
  let obj: unknown = json;
  if (typeof json === 'string') {
    try {
      obj = JSON.parse(json);
    } catch (e) {
      throw new CheckpointError(`${what}: not valid JSON: ${(e as Error).message}`);
    }
  }
  try {
    return { config: titokFromReference(obj, what), reference: obj as Record<string, unknown> };
  } catch (e) {
    if (e instanceof TiTokConfigError) throw new CheckpointError(e.message);
    throw e;
  }
}

/**
 * A TiTok model from its config.json and model.safetensors bytes: exactly the tensors of that
 * configuration (a missing, extra or mis-shaped one is a CheckpointError naming it), every value
 * finite, returned in tok1d's layout.
 */
export function parseTiTok(configJson: string | unknown, weights: Uint8Array, what = 'model.safetensors'): ParsedTiTok {
  return parseTiTokWeights(parseTiTokConfig(configJson), weights, what);
}

/**
 * parseTiTok for a configuration already read (parseTiTokConfig): loaders check config.json, with
 * its own name in the messages, before they fetch or read the much larger weights.
 */
export function parseTiTokWeights({ config, reference }: { config: TiTokConfig; reference: Record<string, unknown> }, weights: Uint8Array, what = 'model.safetensors'): ParsedTiTok {
  const specs = titokParamSpecs(config);
  try {
    const { header, dataStart } = readSafetensorsHeader(weights);
    const { params, dtypes } = readSafetensorsTensors(weights, header, dataStart, specs.map((s) => ({ name: s.name, shape: s.stored })), 'not a parameter of this TiTok configuration');
    for (const s of specs) params.set(s.name, titokToEngineLayout(s, params.get(s.name)!));
    return { config, params, dtypes, reference };
  } catch (e) {
    if (e instanceof CheckpointError) throw new CheckpointError(`${what}: ${e.message}`);
    throw e;
  }
}

/** A TiTok checkpoint folder's two files, as the reference writes them. */
export interface TiTokFiles {
  /** config.json text. */
  config: string;
  /** model.safetensors bytes (F32 or F16, the reference's names and layouts). */
  weights: Uint8Array;
}

/**
 * The reference's checkpoint files for a configuration and parameters in tok1d's layout (what
 * Tokenizer.parameters() returns for a TiTok model): parseTiTok reads them back, and so does the
 * reference code.
 */
export function serializeTiTok(config: TiTokConfig, params: ReadonlyMap<string, Float32Array>, dtype: 'F32' | 'F16' = 'F32'): TiTokFiles {
  const configText = `${JSON.stringify(titokToReference(config), null, 4)}\n`;
  return { config: configText, weights: encodeSafetensors(storedTensors(config, params, dtype), { format: 'pt' }) };
}

/**
 * Where a single-file TiTok checkpoint keeps the reference's config.json text: the tensors are the
 * reference's model.safetensors (which the reference code loads as it is, metadata ignored).
 */
export const TITOK_CONFIG_KEY = 'titok_config';

/** A TiTok model as one safetensors file (the reference's tensors, config.json in the metadata). */
export function serializeTiTokFile(config: TiTokConfig, params: ReadonlyMap<string, Float32Array>, dtype: 'F32' | 'F16' = 'F32', metadata: Record<string, string> = {}): Uint8Array {
  for (const k of ['format', TITOK_CONFIG_KEY]) if (k in metadata) throw new CheckpointError(`metadata key ${k} is reserved`);
  const configText = JSON.stringify(titokToReference(config));
  return encodeSafetensors(storedTensors(config, params, dtype), { ...metadata, format: 'pt', [TITOK_CONFIG_KEY]: configText });
}

/**
 * Checkpoint bytes of either family: a single-file TiTok checkpoint (TITOK_CONFIG_KEY in the
 * metadata) or a tok1d patch-token checkpoint (parseCheckpoint, with `expected` as there).
 */
export function parseAnyCheckpoint(bytes: Uint8Array, expected?: ModelConfig): ParsedCheckpoint | ParsedTiTok {
  const { metadata } = readSafetensorsHeader(bytes);
  const configText = metadata[TITOK_CONFIG_KEY];
  if (configText === undefined) return parseCheckpoint(bytes, expected);
  if (expected) throw new CheckpointError('checkpoint is a TiTok model, not the configuration asked for');
  return parseTiTokWeights(parseTiTokConfig(configText, `__metadata__.${TITOK_CONFIG_KEY}`), bytes, 'weights');
}

/** The tensors of a TiTok model under the reference's names and layouts. */
function storedTensors(config: TiTokConfig, params: ReadonlyMap<string, Float32Array>, dtype: 'F32' | 'F16'): Map<string, NamedTensor> {
  const tensors = new Map<string, NamedTensor>();
  for (const s of titokParamSpecs(config)) {
    const data = params.get(s.name);
    if (!data) throw new CheckpointError(`missing parameter ${s.name}`);
    if (data.length !== s.shape.reduce((a, b) => a * b, 1)) throw new CheckpointError(`parameter ${s.name}: ${data.length} values, expected shape [${s.shape.join(', ')}]`);
    tensors.set(s.name, { shape: s.stored, data: titokToStoredLayout(s, data), dtype });
  }
  return tensors;
}
