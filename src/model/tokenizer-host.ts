/**
 * The platform hook of the Tokenizer: what differs between Node and the browser. The Node entry
 * (model/tokenizer.ts) and the browser entry (browser.ts) install theirs when they load; the
 * Tokenizer (tokenizer-core.ts) asks for it. Kept out of tokenizer-core.ts so both entries can
 * re-export that module whole.
 */
import type { Engine } from '../gpu/engine.js';
import type { BackendName } from '../gpu/node.js';
import type { ModelConfig } from './config.js';
import type { ParsedCheckpoint, SaveCheckpointOptions } from './checkpoint-format.js';
import type { ParsedTiTok } from './titok-checkpoint.js';

/** What differs between Node and the browser. */
export interface TokenizerHost {
  /** An engine the tokenizer will own (on `device` when given: the device stays the caller's). */
  createEngine(opts: { device?: GPUDevice; backend?: BackendName }): Promise<Engine>;
  /** Checkpoint from a file path (Node) or URL (browser): a tok1d checkpoint file or a TiTok folder. */
  readCheckpoint(source: string | URL, expected?: ModelConfig): Promise<ParsedCheckpoint | ParsedTiTok>;
  /**
   * Where the bundled model is: a path next to the package (Node), or a URL resolved against
   * `baseUrl`, else against the bundle's own URL (browser).
   */
  defaultCheckpoint(baseUrl?: string | URL): string | URL;
  /** Writes checkpoint bytes to a file (atomically); absent where there is no file system. */
  writeCheckpoint?(path: string, bytes: Uint8Array): Promise<void>;
}

let host: TokenizerHost | null = null;

/** Installs the platform's host (done by the Node and browser entries when they load). */
export function setTokenizerHost(h: TokenizerHost): void {
  host = h;
}

export function currentHost(): TokenizerHost {
  if (!host) throw new Error('tok1d: no platform host installed; import Tokenizer from "tok1d" (Node) or "tok1d/browser"');
  return host;
}
