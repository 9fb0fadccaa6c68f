/**
 * Per-device kernel selection. A kernel family offers candidate variants for a shape class (for
 * matmul: bucketed M, N, K, transposes, batch and epilogue); the tuner times them on a real shape
 * of that class (interleaved rounds, median per candidate), drops any that disagree with the plain
 * path, keeps the winner and remembers it per device. Ops stay synchronous recorders: they ask
 * `choice()` (a map lookup) and fall back to their fixed rule when the class was never tuned;
 * tuning itself runs ahead of time, asynchronously (src/model/tune.ts, `tok1d bench --tune`).
 *
 * Choices persist through a TuneStore: in memory by default (browsers, tests), a JSON file in
 * Node (src/gpu/autotune-node.ts, cacheDir()/autotune.json). The file holds one section per
 * device key (backend, feature level, adapter and driver description), so one cache serves
 * several executors and never applies a choice measured on another.
 */
import type { DeviceInfo } from './engine.js';
import { median } from '../util/stats.js';

/**
 * FLOPs of one dispatch below which a CPU executor runs the quick-to-compile kernels by default:
 * the texture matmul tile and the unrolled attention kernels run several times faster, but
 * compiling one of them takes SwiftShader about 2 s (llvmpipe about 1 s) against about 0.1 s for
 * the storage tile, while 2^26 FLOPs take the storage tile about 20 ms. So a single 64×64 image
 * through a small model (a web page's first tokens) compiles only the quick kernels, and batches
 * large enough for the fast ones to repay their compile get them. Tuned choices override it.
 */
export const QUICK_COMPILE_FLOPS = 2 ** 26;

/** Where tuning results live between processes. */
export interface TuneStore {
  /** The stored document, or null when there is none yet. */
  read(): Promise<string | null>;
  /** Replaces the stored document. */
  write(text: string): Promise<void>;
  /** Where it lives, for messages ("memory", a file path). */
  readonly where: string;
}

/** The default store: nothing survives the process. */
export class MemoryTuneStore implements TuneStore {
  readonly where = 'memory';
  constructor(private text: string | null = null) {}
  async read(): Promise<string | null> {
    return this.text;
  }
  async write(text: string): Promise<void> {
    this.text = text;
  }
}

/** The outcome of tuning one kernel family on one shape class. */
export interface TuneEntry {
  /** Name of the winning candidate. */
  choice: string;
  /** Median milliseconds per run of each candidate that was timed (rounded to µs). */
  ms: Record<string, number>;
  /** Candidates left out, with the reason (disagreed with the plain path, failed, too slow). */
  dropped?: Record<string, string>;
  /** The shape it was measured on, for people reading the file. */
  shape?: string;
  /** ISO time of the measurement. */
  at?: string;
}

/** One device's section of the cache document. */
interface DeviceSection {
  device: Pick<DeviceInfo, 'backend' | 'featureLevel' | 'adapter' | 'description'>;
  /** "kernel|shape class" → entry. */
  choices: Record<string, TuneEntry>;
}

interface CacheDocument {
  version: number;
  devices: Record<string, DeviceSection>;
}

const CACHE_VERSION = 1;

/** A variant the tuner may time. */
export interface TuneCandidate {
  name: string;
  /** Records one run on the engine (no flush, no read-back). */
  run(): void;
}

export interface TuneOptions {
  /** Timed rounds; candidates are interleaved within a round (default 3). */
  rounds?: number;
  /** Least milliseconds of work per timed sample: runs are repeated in one submit to reach it (default 30). */
  minSampleMs?: number;
  /** After the first round, drop candidates slower than this multiple of the best (default 3). */
  dropFactor?: number;
  /** Parity check of a candidate against the plain path: null when it agrees, else the reason. */
  verify?: (c: TuneCandidate) => Promise<string | null>;
  /**
   * Milliseconds per run of `c` over `reps` runs (default: wall clock around recording the runs,
   * one submit and the wait for the device). Tests inject known costs here.
   */
  measure?: (c: TuneCandidate, reps: number) => Promise<number>;
  /** Shape description stored with the entry. */
  shape?: string;
  log?: (line: string) => void;
}

/** Key of a device: what must match for a stored choice to apply (driver version included). */
export function deviceKey(info: Pick<DeviceInfo, 'backend' | 'featureLevel' | 'adapter' | 'description'>): string {
  return [info.backend, info.featureLevel, info.adapter, info.description].join(' | ');
}

/** Deterministic values in [-1, 1) for tuning inputs (xorshift32; never all zeros). */
export function tuneInput(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s / 2147483648 - 1;
  }
  return out;
}

/** x rounded up to a power of two (at least 1): how shape classes bucket a dimension. */
export function pow2(x: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, x)));
}

/** The engine surface the tuner needs (kept narrow so tests can drive it). */
export interface TuneHost {
  readonly info: DeviceInfo;
  sync(): Promise<void>;
}

/**
 * Choices of one engine's device. `load()` merges what the store holds; `choice()` is the
 * synchronous lookup ops use; `tune()` measures and records; `save()` writes the store back
 * (merging with what other processes wrote meanwhile, for other devices and classes).
 */
export class Tuner {
  readonly deviceKey: string;
  private choices = new Map<string, TuneEntry>();
  private loaded: Promise<void> | null = null;
  private dirty = false;
  /** Candidate families switched off on this device (failed a start-up parity check), with why. */
  readonly disabled = new Map<string, string>();
  /** Families whose start-up parity check has run (once per engine). */
  readonly checked = new Set<string>();
  /** "kernel|shape class" of the entries tune() measured in this process. */
  private readonly fresh = new Set<string>();

  constructor(
    private readonly host: TuneHost,
    public store: TuneStore = new MemoryTuneStore(),
  ) {
    this.deviceKey = deviceKey(host.info);
  }

  private static key(kernel: string, shapeClass: string): string {
    return `${kernel}|${shapeClass}`;
  }

  /** Reads the store once (later calls wait for the same read). A damaged document counts as empty. */
  load(): Promise<void> {
    if (!this.loaded) {
      this.loaded = (async () => {
        const doc = parseDocument(await this.store.read());
        const section = doc.devices[this.deviceKey];
        if (section) for (const [k, v] of Object.entries(section.choices)) if (!this.choices.has(k)) this.choices.set(k, v);
      })();
    }
    return this.loaded;
  }

  /** Switches to another store and reads it (choices made so far are kept and saved there). */
  async useStore(store: TuneStore): Promise<void> {
    this.store = store;
    this.loaded = null;
    if (this.choices.size) this.dirty = true;
    await this.load();
  }

  /** The stored winner for a class, or undefined (never tuned here): the op uses its rule. */
  choice(kernel: string, shapeClass: string): string | undefined {
    return this.choices.get(Tuner.key(kernel, shapeClass))?.choice;
  }

  entry(kernel: string, shapeClass: string): TuneEntry | undefined {
    return this.choices.get(Tuner.key(kernel, shapeClass));
  }

  /** Every entry of this device, keyed "kernel|shape class". */
  entries(): ReadonlyMap<string, TuneEntry> {
    return this.choices;
  }

  /** Records an entry (as tune() does), e.g. one measured elsewhere. */
  record(kernel: string, shapeClass: string, e: TuneEntry): void {
    this.choices.set(Tuner.key(kernel, shapeClass), e);
    this.dirty = true;
  }

  /** Forgets every choice of this device (the next save removes them from the store too). */
  clear(): void {
    this.choices.clear();
    this.dirty = true;
  }

  /**
   * Times the candidates (the first one is the plain path and the fallback) and records the
   * fastest that passed `verify`. Rounds interleave the candidates so slow drifts of a shared
   * machine hit all of them alike; each sample repeats runs in one submit to last minSampleMs.
   */
  async tune(kernel: string, shapeClass: string, candidates: readonly TuneCandidate[], o: TuneOptions = {}): Promise<TuneEntry> {
    if (!candidates.length) throw new Error(`tune ${kernel} ${shapeClass}: no candidates`);
    const rounds = o.rounds ?? 3;
    const minSampleMs = o.minSampleMs ?? 30;
    const dropFactor = o.dropFactor ?? 3;
    const measure = o.measure ?? ((c, reps) => this.wallClock(c, reps));
    const dropped: Record<string, string> = {};
    let live: { c: TuneCandidate; reps: number; samples: number[] }[] = [];
    for (const c of candidates) {
      if (o.verify && c !== candidates[0]) {
        let bad: string | null;
        try {
          bad = await o.verify(c);
        } catch (e) {
          bad = `failed: ${(e as Error).message}`;
        }
        if (bad) {
          dropped[c.name] = bad;
          o.log?.(`  ${c.name}: dropped (${bad})`);
          continue;
        }
      }
      try {
        // Warm-up (compiles pipelines, packs constant operands), then one run that sizes the sample.
        await measure(c, 1);
        const one = await measure(c, 1);
        live.push({ c, reps: Math.max(1, Math.min(64, Math.ceil(minSampleMs / Math.max(one, 1e-3)))), samples: [] });
      } catch (e) {
        if (c === candidates[0]) throw e;
        dropped[c.name] = `failed: ${(e as Error).message}`;
      }
    }
    const ms: Record<string, number> = {};
    const round3 = (x: number) => Math.round(x * 1000) / 1000;
    for (let r = 0; r < rounds && live.length; r++) {
      for (const l of live) l.samples.push(await measure(l.c, l.reps));
      if (r === 0 && live.length > 1) {
        const best = Math.min(...live.map((l) => l.samples[0]!));
        live = live.filter((l) => {
          const slow = l.samples[0]! > dropFactor * best;
          if (slow) {
            dropped[l.c.name] = `slower than ${dropFactor}x the best after one round`;
            ms[l.c.name] = round3(l.samples[0]!);
          }
          return !slow;
        });
      }
    }
    for (const l of live) ms[l.c.name] = round3(median(l.samples));
    let choice = candidates[0]!.name;
    let best = Number.POSITIVE_INFINITY;
    for (const l of live) {
      const t = ms[l.c.name]!;
      if (t < best) {
        best = t;
        choice = l.c.name;
      }
    }
    const entry: TuneEntry = { choice, ms, ...(Object.keys(dropped).length ? { dropped } : {}), ...(o.shape ? { shape: o.shape } : {}), at: new Date().toISOString() };
    this.record(kernel, shapeClass, entry);
    this.fresh.add(Tuner.key(kernel, shapeClass));
    return entry;
  }

  /**
   * A start-up parity check of a fast-path family, run once per engine: `check` returns null when
   * the family agrees with the plain path, else why not (a throw counts as "failed: message"); a
   * family that does not agree is switched off (disabled). True when the family may be used.
   */
  async checkOnce(family: string, check: () => Promise<string | null>): Promise<boolean> {
    if (!this.checked.has(family)) {
      this.checked.add(family);
      let why: string | null;
      try {
        why = await check();
      } catch (e) {
        why = `failed: ${(e as Error).message}`;
      }
      if (why) this.disabled.set(family, why);
    }
    return !this.disabled.has(family);
  }

  /** Whether tune() measured this class in this process (a forced re-tune need not repeat it). */
  measuredHere(kernel: string, shapeClass: string): boolean {
    return this.fresh.has(Tuner.key(kernel, shapeClass));
  }

  private async wallClock(c: TuneCandidate, reps: number): Promise<number> {
    await this.host.sync();
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) c.run();
    await this.host.sync();
    return (performance.now() - t0) / reps;
  }

  /** Writes this device's choices into the store, keeping other devices' sections. */
  async save(): Promise<void> {
    if (!this.dirty) return;
    const doc = parseDocument(await this.store.read());
    const info = this.host.info;
    doc.devices[this.deviceKey] = {
      device: { backend: info.backend, featureLevel: info.featureLevel, adapter: info.adapter, description: info.description },
      choices: Object.fromEntries([...this.choices.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    };
    await this.store.write(`${JSON.stringify(doc, null, 2)}\n`);
    this.dirty = false;
  }
}

function parseDocument(text: string | null): CacheDocument {
  if (text) {
    try {
      const doc = JSON.parse(text) as Partial<CacheDocument>;
      if (doc && doc.version === CACHE_VERSION && doc.devices && typeof doc.devices === 'object') return { version: CACHE_VERSION, devices: doc.devices };
    } catch {
      /* a damaged or foreign file: start over */
    }
  }
  return { version: CACHE_VERSION, devices: {} };
}
