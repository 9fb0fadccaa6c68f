/**
 * TiTok checkpoints as the reference implementation publishes them: a folder with config.json (the
 * reference's configuration) and model.safetensors (F32, F16 or BF16 tensors under the reference's
 * state_dict names and layouts). Bytes in, parameters in tok1d's layout out; nothing here touches
 * the file system, so the browser bundle shares it (Node reads folders in titok-files.ts).
 */
import { CheckpointError, readSafetensorsHeader, readSafetensorsTensors, type StoredDType } from './checkpoint-format.js';
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
  const tensors = new Map<string, NamedTensor>();
  for (const s of titokParamSpecs(config)) {
    const data = params.get(s.name);
    if (!data) throw new CheckpointError(`missing parameter ${s.name}`);
    if (data.length !== s.shape.reduce((a, b) => a * b, 1)) throw new CheckpointError(`parameter ${s.name}: ${data.length} values, expected shape [${s.shape.join(', ')}]`);
    tensors.set(s.name, { shape: s.stored, data: titokToStoredLayout(s, data), dtype });
  }
  return { config: `${JSON.stringify(titokToReference(config), null, 4)}\n`, weights: encodeSafetensors(tensors, { format: 'pt' }) };
}
