/**
 * The API reference: every name the Node entry (src/index.ts) and the browser entry (src/browser.ts)
 * export has a doc comment, at its declaration or at its export in the entry file, and the generated
 * reference (TypeDoc, as `npm run docs:api` runs it) shows a summary for each.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ENTRIES = ['src/index.ts', 'src/browser.ts'];

/** The JSDoc text of a node (its summary, tags aside), or ''. */
function jsDoc(node: ts.Node): string {
  return ts
    .getJSDocCommentsAndTags(node)
    .filter(ts.isJSDoc)
    .map((d) => (typeof d.comment === 'string' ? d.comment : ts.getTextOfJSDocComment(d.comment) ?? ''))
    .join(' ')
    .trim();
}

/**
 * The exports of each entry file that have no doc comment: neither at their declaration nor on the
 * export statement naming them in the entry (a statement with a comment must name that one export,
 * as TypeDoc applies its comment only then).
 */
export function undocumentedExports(program: ts.Program, entries: readonly string[]): string[] {
  const checker = program.getTypeChecker();
  const missing: string[] = [];
  for (const entry of entries) {
    const sf = program.getSourceFile(entry);
    if (!sf) throw new Error(`${entry}: not in the program`);
    // Comments on the entry's own export statements, by exported name.
    const atExport = new Map<string, string>();
    for (const st of sf.statements) {
      if (!ts.isExportDeclaration(st)) continue;
      const doc = jsDoc(st);
      if (!doc) continue;
      if (st.exportClause && ts.isNamespaceExport(st.exportClause)) atExport.set(st.exportClause.name.text, doc);
      else if (st.exportClause && ts.isNamedExports(st.exportClause) && st.exportClause.elements.length === 1) atExport.set(st.exportClause.elements[0]!.name.text, doc);
    }
    const mod = checker.getSymbolAtLocation(sf);
    if (!mod) throw new Error(`${entry}: no module symbol`);
    for (const exp of checker.getExportsOfModule(mod)) {
      const target = exp.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exp) : exp;
      const doc = ts.displayPartsToString(target.getDocumentationComment(checker)).trim() || atExport.get(exp.name);
      if (!doc) missing.push(`${entry}: ${exp.name}`);
    }
  }
  return missing;
}

describe('API reference', function () {
  it('the check finds an export without a doc comment (in a program made for it)', () => {
    const files: Record<string, string> = {
      '/virtual/a.ts': '/** Documented. */\nexport const a = 1;\nexport const b = 2;\nexport interface C { x: number }\n',
      '/virtual/entry.ts': "export { a } from './a.js';\n/** Documented here. */\nexport { b } from './a.js';\n/** One comment for two names does not count. */\nexport { a as a2, type C } from './a.js';\n",
    };
    const options: ts.CompilerOptions = { module: ts.ModuleKind.ES2022, moduleResolution: ts.ModuleResolutionKind.Bundler, target: ts.ScriptTarget.ES2022, noLib: true, types: [] };
    const host = ts.createCompilerHost(options);
    host.fileExists = (f) => f in files;
    host.readFile = (f) => files[f];
    host.directoryExists = (d) => d === '/virtual' || d === '/';
    host.getDirectories = () => [];
    host.getCurrentDirectory = () => '/virtual';
    host.realpath = (p) => p;
    host.getSourceFile = (f, v) => (f in files ? ts.createSourceFile(f, files[f]!, v, true) : undefined);
    const program = ts.createProgram(['/virtual/entry.ts'], options, host);
    expect(undocumentedExports(program, ['/virtual/entry.ts'])).to.deep.equal(['/virtual/entry.ts: C']);
  });

  it('every export of src/index.ts and src/browser.ts has a doc comment', () => {
    const config = ts.getParsedCommandLineOfConfigFile(join(ROOT, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(String(d.messageText)); } });
    const program = ts.createProgram(ENTRIES.map((e) => join(ROOT, e)), { ...config!.options, noEmit: true });
    const missing = undocumentedExports(program, ENTRIES.map((e) => join(ROOT, e)));
    expect(missing.map((m) => m.slice(ROOT.length)), 'exports without a doc comment').to.deep.equal([]);
  });

  it('the generated reference (TypeDoc, npm run docs:api) has a summary for every exported name', function () {
    const typedoc = join(ROOT, 'node_modules', 'typedoc', 'bin', 'typedoc');
    if (!existsSync(typedoc)) {
      console.log('      skipped: typedoc is not installed (npm ci installs the devDependencies)');
      this.skip();
    }
    const dir = mkdtempSync(join(tmpdir(), 'tok1d-api-'));
    try {
      const json = join(dir, 'api.json');
      const r = spawnSync(process.execPath, [typedoc, '--json', json, '--emit', 'docs', '--logLevel', 'Error'], { cwd: ROOT, encoding: 'utf8' });
      expect(r.status, `typedoc failed:\n${r.stdout}${r.stderr}`).to.equal(0);
      type Reflection = { id: number; name: string; kind: number; target?: number; comment?: { summary: unknown[] }; signatures?: { comment?: { summary: unknown[] } }[]; children?: Reflection[] };
      const project = JSON.parse(readFileSync(json, 'utf8')) as Reflection;
      const byId = new Map<number, Reflection>();
      const walk = (r: Reflection) => {
        byId.set(r.id, r);
        r.children?.forEach(walk);
      };
      walk(project);
      const summary = (r: Reflection | undefined): boolean => !!r && (!!r.comment?.summary.length || !!r.signatures?.some((s) => s.comment?.summary.length));
      const modules = project.children ?? [];
      expect(modules.map((m) => m.name).sort()).to.deep.equal(['tok1d', 'tok1d/browser']);
      const missing: string[] = [];
      let names = 0;
      for (const m of modules) {
        for (const c of m.children ?? []) {
          names++;
          // A name both entries export is documented once; the other module holds a reference to it.
          if (!summary(c.target !== undefined ? byId.get(c.target) : c)) missing.push(`${m.name}: ${c.name}`);
        }
      }
      expect(missing, 'names without a summary in the reference').to.deep.equal([]);
      expect(names).to.be.greaterThan(150);
      const node = modules.find((m) => m.name === 'tok1d')!;
      for (const name of ['Tokenizer', 'readImage', 'tokenizeFiles', 'TokenWriter', 'bundledCheckpoint']) expect(node.children!.map((c) => c.name)).to.include(name);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
