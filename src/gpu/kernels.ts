/**
 * WGSL sources. Kernels live in kernels/*.wgsl; a line `//!include NAME` pulls in kernels/NAME.wgsl
 * (once per shader), so shared helpers such as erf exist in one place. The host supplies the raw
 * reader: the Node entry reads files, a browser bundle inlines them at build time.
 */
export type KernelReader = (name: string) => string;

const INCLUDE = /^\s*\/\/!include\s+([A-Za-z0-9_-]+)\s*$/;

export class KernelSources {
  private cache = new Map<string, string>();
  constructor(private readonly read: KernelReader) {}

  get(name: string): string {
    let src = this.cache.get(name);
    if (src === undefined) {
      src = this.expand(name, new Set());
      this.cache.set(name, src);
    }
    return src;
  }

  private expand(name: string, seen: Set<string>): string {
    if (seen.has(name)) return '';
    seen.add(name);
    const raw = this.read(name);
    return raw
      .split('\n')
      .map((line) => {
        const m = INCLUDE.exec(line);
        return m ? this.expand(m[1]!, seen) : line;
      })
      .join('\n');
  }
}
