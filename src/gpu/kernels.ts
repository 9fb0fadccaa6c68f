/**
 * WGSL sources. Kernels live in kernels/*.wgsl; a line `//!include NAME` pulls in kernels/NAME.wgsl
 * (once per shader), so shared helpers such as erf exist in one place. The host supplies the raw
 * reader: the Node entry reads files, a browser bundle inlines them at build time.
 *
 * Variants: the name "KERNEL+VARIANT" is KERNEL with VARIANT's include substitutions (INCLUDE_VARIANTS:
 * "layernorm+subgroups" includes reduce_subgroups where layernorm says `//!include reduce`).
 * `enable` directives of included files move to the top of the shader, where WGSL requires them.
 */
export type KernelReader = (name: string) => string;

const INCLUDE = /^\s*\/\/!include\s+([A-Za-z0-9_-]+)\s*$/;
const ENABLE = /^\s*enable\s+[A-Za-z0-9_,\s]+;\s*$/;

/** Per variant: included file → the file included instead. */
export const INCLUDE_VARIANTS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  subgroups: { reduce: 'reduce_subgroups' },
};

export class KernelSources {
  private cache = new Map<string, string>();
  private includeSets = new Map<string, ReadonlySet<string>>();
  /** Sources given as text (define()), consulted before the reader. */
  private readonly defined = new Map<string, string>();
  constructor(private readonly read: KernelReader) {}

  /**
   * Adds a kernel given as WGSL text under `name` (a kernel the bench was handed), compiled through
   * the same engine and pipeline cache as the files. A name is defined once: pipelines are cached
   * by name, so a changed source needs a new name.
   */
  define(name: string, source: string): void {
    if (name.includes('+')) throw new Error(`kernel name '${name}' may not contain '+'`);
    const had = this.defined.get(name);
    if (had !== undefined && had !== source) throw new Error(`kernel ${name} is already defined with another source`);
    this.defined.set(name, source);
  }

  get(name: string): string {
    let src = this.cache.get(name);
    if (src === undefined) {
      const [base, variant] = name.split('+') as [string, string | undefined];
      const swap = variant === undefined ? {} : INCLUDE_VARIANTS[variant];
      if (!swap) throw new Error(`kernel ${name}: unknown variant '${variant}'`);
      const lines = this.expand(base, new Set(), swap).split('\n');
      const enables = [...new Set(lines.filter((l) => ENABLE.test(l)).map((l) => l.trim()))];
      src = [...enables, ...lines.filter((l) => !ENABLE.test(l))].join('\n');
      this.cache.set(name, src);
    }
    return src;
  }

  /** The files a kernel includes, directly or through others (without variant substitutions). */
  includes(name: string): ReadonlySet<string> {
    let set = this.includeSets.get(name);
    if (!set) {
      const seen = new Set<string>();
      this.expand(name, seen, {});
      seen.delete(name);
      this.includeSets.set(name, (set = seen));
    }
    return set;
  }

  private expand(name: string, seen: Set<string>, swap: Readonly<Record<string, string>>): string {
    if (seen.has(name)) return '';
    seen.add(name);
    const raw = this.defined.get(name) ?? this.read(name);
    return raw
      .split('\n')
      .map((line) => {
        const m = INCLUDE.exec(line);
        return m ? this.expand(swap[m[1]!] ?? m[1]!, seen, swap) : line;
      })
      .join('\n');
  }
}
