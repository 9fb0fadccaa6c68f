/**
 * The generated kernels (kernels/generated/) are what their generators write: `npm run gen`
 * rewrites them, and each generator's --check exits 1 when the committed file differs.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './cli-run.js';

const GENERATORS = ['tools/gen-matmul-tex.mjs', 'tools/gen-attention-unrolled.mjs'];

describe('generated kernels', () => {
  it('every file in kernels/generated/ comes from a generator npm run gen runs', () => {
    const gen = (JSON.parse(spawnSync('npm', ['pkg', 'get', 'scripts.gen'], { cwd: ROOT, encoding: 'utf8' }).stdout) as string).split('&&').map((c) => c.trim().replace(/^node /, ''));
    expect(gen).to.deep.equal(GENERATORS);
    expect(readdirSync(join(ROOT, 'kernels', 'generated')).sort()).to.deep.equal(['attention_unrolled.wgsl', 'matmul_tex.wgsl']);
  });

  for (const tool of GENERATORS)
    it(`${tool} --check: the committed file is what it writes`, () => {
      const r = spawnSync(process.execPath, [join(ROOT, tool), '--check'], { encoding: 'utf8' });
      expect(r.status, r.stderr).to.equal(0);
    });
});
