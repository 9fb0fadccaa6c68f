/**
 * What a WGSL module binds, per entry point: its module-scope resource variables, its functions,
 * and which of the variables an entry point uses directly or through the functions it calls. The
 * parse is lexical (declarations, identifiers, brace nesting), which the kernels of kernels/ keep
 * to; the storage-buffer packing (storage-packing.ts) and the limit figures of MINIMUM_LIMITS
 * (checked by test/limits.test.ts) both rest on it.
 */

/** A module-scope `@binding(n) var…` declaration. */
export interface WgslBinding {
  name: string;
  group: number;
  binding: number;
  /** The address space as written: 'storage', 'uniform', or '' for textures and samplers. */
  space: string;
  /** 'read' or 'read_write' for storage buffers (WGSL's default is 'read'); '' otherwise. */
  access: string;
  /** The declared type, e.g. "array<vec4f>" or "texture_2d<f32>". */
  type: string;
  /** What the binding counts against: storage buffers, storage textures, sampled textures. */
  kind: 'storage' | 'storageTextures' | 'sampledTextures' | null;
}

/** A function: its text spans `start` to `end` (exclusive) of the comment-free source. */
export interface WgslFunction {
  name: string;
  /** True for `@compute` entry points. */
  entry: boolean;
  start: number;
  end: number;
  /** Every identifier its text mentions but member names (a superset of the globals and functions it uses). */
  ids: ReadonlySet<string>;
}

/** A parsed module: the comment-free text the positions refer to, its bindings and functions. */
export interface WgslModule {
  text: string;
  bindings: ReadonlyMap<string, WgslBinding>;
  functions: ReadonlyMap<string, WgslFunction>;
}

/** The source without comments (line comments, and block comments, which nest in WGSL). */
export function stripComments(source: string): string {
  let out = '';
  let i = 0;
  while (i < source.length) {
    if (source.startsWith('//', i)) {
      const nl = source.indexOf('\n', i);
      i = nl < 0 ? source.length : nl;
    } else if (source.startsWith('/*', i)) {
      let depth = 0;
      do {
        if (source.startsWith('/*', i)) (depth++, (i += 2));
        else if (source.startsWith('*/', i)) (depth--, (i += 2));
        else i++;
      } while (depth > 0 && i < source.length);
      out += ' ';
    } else out += source[i++];
  }
  return out;
}

const BINDING = /((?:@\w+\s*(?:\([^)]*\))?\s*)*)\bvar(<[^>]*>)?\s+(\w+)\s*:\s*([^;]+);/g;

/** Parses a WGSL module's bindings and functions (see the module comment for what it relies on). */
export function parseWgsl(source: string): WgslModule {
  const text = stripComments(source);
  const bindings = new Map<string, WgslBinding>();
  for (const m of text.matchAll(BINDING)) {
    const [, attrs = '', template = '', name, rawType] = m;
    const b = /@binding\s*\(\s*(\d+)\s*\)/.exec(attrs);
    if (!b) continue;
    const g = /@group\s*\(\s*(\d+)\s*\)/.exec(attrs);
    const [space = '', access = ''] = template.replace(/[<>\s]/g, '').split(',');
    const type = rawType!.trim();
    const kind = space === 'storage' ? 'storage' : /^texture_storage/.test(type) ? 'storageTextures' : /^texture/.test(type) ? 'sampledTextures' : null;
    bindings.set(name!, { name: name!, group: g ? Number(g[1]) : 0, binding: Number(b[1]), space, access: space === 'storage' ? access || 'read' : '', type, kind });
  }
  const functions = new Map<string, WgslFunction>();
  const re = /(@compute[^;{]*?)?\bfn\s+(\w+)\s*\(/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    let depth = 0;
    let j = text.indexOf('{', m.index);
    for (; j < text.length; j++) {
      if (text[j] === '{') depth++;
      else if (text[j] === '}' && --depth === 0) break;
    }
    const start = m[1] ? m.index : m.index + m[0].indexOf('fn');
    // Identifiers, less member names (`s.b` is no use of a global b).
    const ids = [...text.slice(start, j + 1).matchAll(/(\.\s*)?\b([A-Za-z_]\w*)\b/g)].filter((x) => !x[1]).map((x) => x[2]!);
    functions.set(m[2]!, { name: m[2]!, entry: !!m[1], start, end: j + 1, ids: new Set(ids) });
    re.lastIndex = j;
  }
  return { text, bindings, functions };
}

/** The functions an entry point may call, directly or through others, itself included. */
export function reachableFunctions(mod: WgslModule, entry: string): WgslFunction[] {
  const first = mod.functions.get(entry);
  if (!first) return [];
  const seen = new Map([[entry, first]]);
  const stack = [first];
  while (stack.length) {
    for (const id of stack.pop()!.ids) {
      const f = mod.functions.get(id);
      if (f && !seen.has(id)) {
        seen.set(id, f);
        stack.push(f);
      }
    }
  }
  return [...seen.values()];
}

/** The bindings an entry point uses, directly or through the functions it calls. */
export function entryBindings(mod: WgslModule, entry: string): WgslBinding[] {
  const used = new Map<string, WgslBinding>();
  for (const f of reachableFunctions(mod, entry))
    for (const id of f.ids) {
      const b = mod.bindings.get(id);
      if (b) used.set(id, b);
    }
  return [...used.values()];
}

/** Distinct binding numbers an entry point uses, by what they count against. */
export interface BindingCounts {
  storage: number;
  storageTextures: number;
  sampledTextures: number;
}

/** Per entry point of a WGSL source: how many storage buffers, storage and sampled textures it binds. */
export function entryBindingCounts(source: string): Map<string, BindingCounts> {
  const mod = parseWgsl(source);
  const out = new Map<string, BindingCounts>();
  for (const f of mod.functions.values()) {
    if (!f.entry) continue;
    const used = { storage: new Set<number>(), storageTextures: new Set<number>(), sampledTextures: new Set<number>() };
    for (const b of entryBindings(mod, f.name)) if (b.kind) used[b.kind].add(b.binding);
    out.set(f.name, { storage: used.storage.size, storageTextures: used.storageTextures.size, sampledTextures: used.sampledTextures.size });
  }
  return out;
}
