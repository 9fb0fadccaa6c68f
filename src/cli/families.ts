/**
 * The kernel families. Each provides an op in src/ops/<family>.ts, a self-test
 * `selfTest(engine)` in src/check/<family>.ts (run by `tok1d doctor`) and bench cases
 * `cases: BenchCase[]` in src/bench/cases/<family>.ts (run by `tok1d bench`).
 */
export const FAMILIES = ['matmul', 'attention', 'codebook', 'layernorm', 'gelu', 'softmax', 'elementwise', 'normalize', 'optim'] as const;
export type Family = (typeof FAMILIES)[number];

/**
 * Imports a module by URL. A module that does not exist gives `{ missing: reason }` so one absent
 * family cannot break the command; any other load failure (a missing dependency of that module,
 * a syntax error) gives `{ error: reason }`.
 */
export async function importOptional<T>(url: URL): Promise<{ module: T } | { missing: string } | { error: string }> {
  try {
    return { module: (await import(url.href)) as T };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const msg = firstLine(err?.message ?? String(e));
    if (err?.code === 'ERR_MODULE_NOT_FOUND' && msg.includes(url.pathname)) return { missing: 'not available' };
    return { error: `failed to load: ${msg}` };
  }
}

/** The first line of an error message (CLI output stays one line per item). */
export function firstLine(text: string): string {
  const line = text.split('\n').find((l) => l.trim() !== '') ?? text;
  return line.trim();
}
