// Shared by the kernel generators: writes a generated file, or with --check exits 1 when the
// committed file differs from what the generator would write (the test suite runs the checks).
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';

export function writeOrCheck(out, text, tool) {
  if (process.argv.includes('--check')) {
    if (readFileSync(out, 'utf8') !== text) {
      console.error(`${out} differs from what tools/${basename(tool)} writes: run node tools/${basename(tool)}`);
      process.exit(1);
    }
  } else {
    writeFileSync(out, text);
  }
}
