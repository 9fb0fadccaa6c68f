import type { Engine } from '../gpu/engine.js';
import type { BackendName } from '../gpu/node.js';
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

/** `tok1d doctor`: the device, its limits and features, and every family's self-test. */
export async function doctor(backend: BackendName | undefined, json: boolean): Promise<number> {
  const engine = await openEngine(backend, true);
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
    if (json) process.stdout.write(`${JSON.stringify({ adapter, selfTests: results, fastPaths: { subgroupReductions: subgroups }, ok }, null, 2)}\n`);
    return ok ? EXIT.ok : EXIT.failure;
  } finally {
    engine.dispose();
  }
}
