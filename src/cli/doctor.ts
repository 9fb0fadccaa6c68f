import { FileTuneStore } from '../gpu/autotune-node.js';
import { Engine } from '../gpu/engine.js';
import { KernelSources } from '../gpu/kernels.js';
import { limitNeeds } from '../gpu/limits.js';
import { acquireNodeDevice, nodeKernelReader, type BackendName } from '../gpu/node.js';
import { loadCheckpoint } from '../model/checkpoint.js';
import { bundledCheckpoint } from '../model/tokenizer.js';
import { BYTE_LIMITS, describeEngine, formatBytes, KEY_LIMITS, openEngine } from './engine.js';
import { EXIT } from './errors.js';
import { FAMILIES, firstLine, importOptional } from './families.js';
import { checkSubgroupReductions, hasSubgroups, subgroupReductionsDisabled } from '../ops/reductions.js';

export interface SelfTestResult {
  family: string;
  pass: boolean;
  ms: number;
  /** Why it failed; absent on a pass. */
  message?: string;
}

interface ReferenceModule {
  selfTest?: (engine: Engine) => Promise<string | null>;
}

/** Runs one family's self-test; never throws. */
export async function runSelfTest(engine: Engine, family: string): Promise<SelfTestResult> {
  const t0 = performance.now();
  const done = (message?: string): SelfTestResult => ({
    family,
    pass: message === undefined,
    ms: performance.now() - t0,
    ...(message === undefined ? {} : { message }),
  });
  const loaded = await importOptional<ReferenceModule>(new URL(`../check/${family}.js`, import.meta.url));
  if ('missing' in loaded) return done(loaded.missing);
  if ('error' in loaded) return done(loaded.error);
  const selfTest = loaded.module.selfTest;
  if (typeof selfTest !== 'function') return done('no selfTest() export');
  try {
    const reason = await selfTest(engine);
    // Surface device errors (validation, out of memory) the test itself did not read back.
    await engine.sync();
    return done(reason === null ? undefined : reason);
  } catch (e) {
    // Drain errors left on the device so the next family starts clean.
    await engine.sync().catch(() => undefined);
    return done(`threw: ${firstLine((e as Error)?.message ?? String(e))}`);
  }
}

/** Element counts of the bundled model's parameters, or undefined when it cannot be read. */
async function bundledParameterSizes(): Promise<[string, number][] | undefined> {
  try {
    const c = await loadCheckpoint(bundledCheckpoint());
    return [...c.params].map(([name, v]) => [name, v.length]);
  } catch {
    return undefined;
  }
}

/**
 * `tok1d doctor`: the device, its limits and features, the limits tok1d needs and which of them the
 * device would have to raise, and every family's self-test. With `defaultLimits` the device is
 * requested with WebGPU's default limits (as an application that keeps them would hand it over).
 */
export async function doctor(backend: BackendName | undefined, json: boolean, defaultLimits = false): Promise<number> {
  const engine = defaultLimits ? await openDefaultLimitsEngine(backend) : await openEngine(backend, true);
  try {
    const out = (line = ''): void => {
      if (!json) process.stdout.write(`${line}\n`);
    };
    const adapter = describeEngine(engine);
    const i = engine.info;
    out(`adapter        ${i.adapter}${i.description && !i.adapter.includes(i.description) ? ` (${i.description})` : ''}`);
    out(`backend        ${i.backend}`);
    out(`feature level  ${i.featureLevel}`);
    out(`executor       ${i.software ? 'software (CPU)' : 'hardware'}`);
    out(`features       ${adapter.features.length ? adapter.features.join(', ') : '(none)'}`);
    out('limits');
    for (const k of KEY_LIMITS) {
      const v = adapter.limits[k]!;
      out(`  ${k.padEnd(36)} ${String(v).padStart(11)}${BYTE_LIMITS.has(k) ? `  (${formatBytes(v)})` : ''}`);
    }
    const needs = limitNeeds(engine.limits, await bundledParameterSizes());
    const raise = needs.filter((n) => !n.ok);
    out(`limits tok1d needs${defaultLimits ? ' (device requested with the default limits)' : ''}`);
    for (const n of needs) {
      const fmt = (v: number) => (BYTE_LIMITS.has(n.limit) ? `${formatBytes(v)} (${v})` : String(v)).padStart(22);
      out(`  ${n.ok ? 'ok   ' : 'RAISE'} ${n.limit.padEnd(36)} needs ${fmt(n.need)}, has ${fmt(n.have)}  ${n.why}`);
    }
    out(`  flat workgroup size (FLAT_WG)            ${engine.flatWG}`);
    out(raise.length ? `  to raise (requiredLimits when requesting the device): ${raise.map((n) => `${n.limit}: ${n.need}`).join(', ')}` : '  nothing to raise');
    out('self-tests');
    const results: SelfTestResult[] = [];
    for (const family of FAMILIES) {
      const r = await runSelfTest(engine, family);
      results.push(r);
      out(`  ${r.pass ? 'PASS' : 'FAIL'}  ${family.padEnd(12)} ${r.ms.toFixed(0).padStart(7)} ms${r.message ? `  ${r.message}` : ''}`);
    }
    const passed = results.filter((r) => r.pass).length;
    const ok = passed === results.length;
    // Optional fast paths: checked against the plain path as at start-up; one that disagrees is
    // only switched off (the plain path runs), so it does not fail the doctor.
    out('fast paths');
    const subgroups = hasSubgroups(engine) ? ((await checkSubgroupReductions(engine)) ? 'agrees with the tree' : `off: ${subgroupReductionsDisabled(engine)}`) : "not available (no 'subgroups' feature)";
    out(`  subgroup reductions  ${subgroups}`);
    out(`${ok ? 'ok' : 'FAILED'}: ${passed}/${results.length} self-tests passed`);
    if (json) process.stdout.write(`${JSON.stringify({ adapter, flatWorkgroupSize: engine.flatWG, limitNeeds: needs, selfTests: results, fastPaths: { subgroupReductions: subgroups }, ok }, null, 2)}\n`);
    return ok ? EXIT.ok : EXIT.failure;
  } finally {
    engine.dispose();
  }
}

/** An engine on a device requested with no requiredLimits (WebGPU's defaults for its feature level). */
async function openDefaultLimitsEngine(backend: BackendName | undefined): Promise<Engine> {
  const acquired = await acquireNodeDevice(backend, { defaultLimits: true });
  try {
    return new Engine(acquired.device, acquired.info, new KernelSources(nodeKernelReader()), { poison: true, tuneStore: new FileTuneStore() }, acquired.release);
  } catch (e) {
    acquired.release();
    throw e;
  }
}
