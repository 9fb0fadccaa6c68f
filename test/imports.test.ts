/**
 * One direction of imports: the library and CLI (src/) load nothing from bench/ or test/ (the
 * package ships neither), and bench/ nothing from test/. Every .ts file is read as source and each
 * module specifier it names (static and dynamic imports, re-exports, `new URL('…', import.meta.url)`)
 * is resolved against the file's folder.
 */
import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function tsFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    if (d.isDirectory()) return tsFiles(p);
    return d.name.endsWith('.ts') && !d.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** Relative module specifiers in a source text: imports, re-exports, import(), new URL('…', import.meta.url) (up to a template's first ${). */
export function relativeSpecifiers(source: string): string[] {
  const info = ts.preProcessFile(source, true, true);
  const found = info.importedFiles.map((f) => f.fileName);
  for (const m of source.matchAll(/new URL\(\s*(['"`])([^'"`$]*)/g)) found.push(m[2]!);
  return found.filter((s) => s.startsWith('./') || s.startsWith('../'));
}

/** The top-level folders (src, bench, test, …) a file's relative imports reach, with the specifier. */
function reached(file: string, source = readFileSync(file, 'utf8')): { spec: string; top: string }[] {
  return relativeSpecifiers(source).map((spec) => {
    const rel = relative(ROOT, resolve(dirname(file), spec));
    return { spec, top: rel.startsWith('..') ? '(outside the package)' : rel.split(sep)[0]! };
  });
}

function violations(files: string[], forbidden: string[]): string[] {
  return files.flatMap((f) =>
    reached(f)
      .filter((r) => forbidden.includes(r.top))
      .map((r) => `${relative(ROOT, f)} imports ${r.spec}`),
  );
}

describe('import direction', () => {
  it('finds the specifiers of every import form, including a forbidden one (the check can fail)', () => {
    const file = join(ROOT, 'src', 'cli', 'example.ts');
    const source = [
      "import { a } from '../ops/matmul.js';",
      "import type { B } from '../../bench/run.js';",
      "export * from '../../test/reference/util.js';",
      "const m = await import('../../bench/model.js');",
      'const u = new URL(`../../test/reference/${family}.js`, import.meta.url);',
      "import { readFileSync } from 'node:fs';",
    ].join('\n');
    expect(reached(file, source)).to.deep.equal([
      { spec: '../ops/matmul.js', top: 'src' },
      { spec: '../../bench/run.js', top: 'bench' },
      { spec: '../../test/reference/util.js', top: 'test' },
      { spec: '../../bench/model.js', top: 'bench' },
      { spec: '../../test/reference/', top: 'test' },
    ]);
  });

  it('src/ imports nothing from bench/ or test/', () => {
    const files = tsFiles(join(ROOT, 'src'));
    expect(files.length, 'source files found').to.be.greaterThan(50);
    expect(violations(files, ['bench', 'test', 'tools'])).to.deep.equal([]);
  });

  it('bench/ imports nothing from test/', () => {
    expect(violations(tsFiles(join(ROOT, 'bench')), ['test'])).to.deep.equal([]);
  });
});
