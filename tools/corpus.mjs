#!/usr/bin/env node
/**
 * Builds a training corpus of photographs from Debian 12 packages anyone can fetch, plus
 * examples/images, with a manifest of every file's source package, version and licence.
 *
 *   node tools/corpus.mjs [OUT_DIR]        (default corpus/; needs apt-get and dpkg-deb)
 *
 * The packages are downloaded with `apt-get download` and unpacked with `dpkg-deb -x` into
 * OUT_DIR/.debs: nothing is installed on the system and no root is needed (run `apt-get update`
 * first if apt's lists are empty). The photographs are picked by name below, each checked by eye
 * on a contact sheet of every image the packages hold; graphics (flat colours, gradients,
 * low-poly art, logos, illustrations) are left out. What was looked at and left out:
 *   - mate-backgrounds: abstract/ and desktop/ (graphics); its nature/ photographs are used.
 *   - plasma-workspace-wallpapers: 20 of its 30 wallpapers are graphics or renders (Altai, Autumn,
 *     Canopee, Cascade, Cluster, ColorfulCups, Elarun, Flow, FlyingKonqui, Honeywave, IceCold, Kay,
 *     Kokkini, MilkyWay, Opal, PastelHills, Patak, SafeLanding, Shell, Volna); images_dark/ variants.
 *   - ukui-wallpapers: all 12 images are illustrations: not downloaded.
 *   - libjxl-testdata: raw.pixls' 64×64 crops are nearly flat; pngsuite and wide-gamut-tests are
 *     test patterns; the re-encoded copies of flower.png are the same photo. Used: flower.png and
 *     wesaturate's 500×500 sRGB photographs.
 *   - gnome-backgrounds is never used.
 * Plasma wallpapers come in several sizes: the one whose width is closest to 1920 is taken.
 *
 * Validation: a fixed set of whole photographs (VAL below, plus examples/images/val) goes to
 * OUT_DIR/val/ and nothing from them to OUT_DIR/train/, so no training crop ever comes from them.
 * Train with: tok1d train OUT_DIR/train --val OUT_DIR/val -o run/
 *
 * Output: OUT_DIR/train/<package>/<file>, OUT_DIR/val/<package>/<file>, OUT_DIR/manifest.tsv
 * (split, file, package, version, path in the package, licence, copyright), and each package's
 * copyright file in OUT_DIR/licences/.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Per package: where its images live (the copyright file's paths are relative to it) and the photographs. */
const SOURCES = {
  'mate-backgrounds': {
    base: 'usr/share/backgrounds/mate',
    files: ['Aqua', 'Blinds', 'Dune', 'FreshFlower', 'Garden', 'GreenMeadow', 'LadyBird', 'RainDrops', 'Storm', 'TwoWings', 'Wood', 'YellowFlower'].map((n) => `nature/${n}.jpg`),
  },
  'plasma-workspace-wallpapers': {
    base: 'usr/share/wallpapers',
    // Folders; the size is chosen below.
    files: ['BytheWater', 'ColdRipple', 'DarkestHour', 'EveningGlow', 'FallenLeaf', 'Grey', 'Kite', 'OneStandsOut', 'Path', 'summer_1am'].map((n) => `${n}/contents/images/`),
  },
  'libjxl-testdata': {
    base: 'usr/share/libjxl-testdata',
    files: ['jxl/flower/flower.png', 'external/wesaturate/500px/cvo9xd_keong_macan_srgb8.png', 'external/wesaturate/500px/tmshre_riaphotographs_srgb8.png', 'external/wesaturate/500px/u76c0g_bliznaca_srgb8.png'],
  },
};

/** Held out whole: one or two photographs per source. */
const VAL = new Set(['mate-backgrounds/nature/LadyBird.jpg', 'mate-backgrounds/nature/Storm.jpg', 'plasma-workspace-wallpapers/Path/contents/images/', 'plasma-workspace-wallpapers/EveningGlow/contents/images/', 'libjxl-testdata/external/wesaturate/500px/u76c0g_bliznaca_srgb8.png']);

const NEVER = new Set(['gnome-backgrounds']);

function run(cmd, args, cwd) {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Downloads and unpacks a package into cache/<name>; returns the folder and the version. */
function unpack(name, cache) {
  if (NEVER.has(name)) throw new Error(`${name} is not to be used`);
  const debs = () => readdirSync(cache).filter((f) => f.startsWith(`${name}_`) && f.endsWith('.deb'));
  if (!debs().length) {
    try {
      run('apt-get', ['download', name], cache);
    } catch (e) {
      throw new Error(`apt-get download ${name} failed (run 'apt-get update' first?): ${String(e.stderr ?? e.message).trim()}`);
    }
  }
  const deb = join(cache, debs().sort().at(-1));
  const dir = join(cache, name);
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true });
    run('dpkg-deb', ['-x', deb, dir]);
  }
  return { dir, version: run('dpkg-deb', ['-f', deb, 'Version']).trim() };
}

/** DEP-5 paragraphs: [{ files: [globs], license, copyright }]. */
function parseCopyright(text) {
  const paras = [];
  for (const block of text.split(/\n\s*\n/)) {
    const fields = {};
    let key = null;
    for (const line of block.split('\n')) {
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (m) {
        key = m[1].toLowerCase();
        fields[key] = m[2];
      } else if (key && /^\s/.test(line)) fields[key] += `\n${line.trim()}`;
    }
    if (fields.files) paras.push({ files: fields.files.split(/\s+/).filter(Boolean), license: fields.license.split('\n')[0].trim(), copyright: (fields.copyright ?? '').split('\n').map((s) => s.trim()).filter(Boolean).join('; ') });
  }
  return paras;
}

/** The last paragraph whose glob matches (DEP-5: '*' and '?' match across '/'). */
function licenceOf(paras, path) {
  let hit = null;
  for (const p of paras) {
    for (const g of p.files) {
      const re = new RegExp(`^${g.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
      if (re.test(path)) hit = p;
    }
  }
  if (!hit) throw new Error(`no licence paragraph covers ${path}`);
  return hit;
}

/** A plasma wallpaper folder's image whose width (its name, WxH.ext) is closest to 1920. */
function plasmaSize(dir) {
  const sizes = readdirSync(dir)
    .map((f) => ({ f, w: Number(/^(\d+)x\d+\./.exec(f)?.[1]) }))
    .filter((s) => s.w > 0)
    .sort((a, b) => Math.abs(a.w - 1920) - Math.abs(b.w - 1920) || b.w - a.w);
  if (!sizes.length) throw new Error(`no WxH images in ${dir}`);
  return sizes[0].f;
}

function main() {
  const args = process.argv.slice(2);
  if (args.length > 1 || args.some((a) => a.startsWith('-'))) {
    const help = args.includes('--help') || args.includes('-h');
    (help ? process.stdout : process.stderr).write('usage: node tools/corpus.mjs [OUT_DIR]   (default corpus/; see the comment at the top of this file)\n');
    process.exit(help ? 0 : 2);
  }
  const out = resolve(args[0] ?? 'corpus');
  const cache = join(out, '.debs');
  for (const d of [cache, join(out, 'train'), join(out, 'val'), join(out, 'licences')]) mkdirSync(d, { recursive: true });
  const rows = [['split', 'file', 'package', 'version', 'source', 'licence', 'copyright']];
  for (const [pkg, src] of Object.entries(SOURCES)) {
    const { dir, version } = unpack(pkg, cache);
    const copyright = readFileSync(join(dir, 'usr/share/doc', pkg, 'copyright'), 'utf8');
    writeFileSync(join(out, 'licences', `${pkg}.copyright`), copyright);
    const paras = parseCopyright(copyright);
    for (const entry of src.files) {
      const rel = entry.endsWith('/') ? entry + plasmaSize(join(dir, src.base, entry)) : entry;
      const from = join(dir, src.base, rel);
      if (!existsSync(from)) throw new Error(`${pkg} ${version} has no ${rel}`);
      const split = VAL.has(`${pkg}/${entry}`) ? 'val' : 'train';
      // Plasma's files are named by size: name them by their wallpaper.
      const name = entry.endsWith('/') ? `${entry.split('/')[0]}-${basename(rel)}` : basename(rel);
      const to = join(out, split, pkg, name);
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(from, to);
      const lic = licenceOf(paras, rel);
      rows.push([split, relative(out, to), pkg, version, join('/', src.base, rel), lic.license, lic.copyright]);
    }
  }
  // The repository's own examples (scikit-image's sample images, BSD-3-Clause), val/ held out as in training.
  const ex = join(ROOT, 'examples/images');
  for (const [split, sub] of [
    ['train', ''],
    ['val', 'val'],
  ]) {
    for (const f of readdirSync(join(ex, sub)).filter((f) => f.endsWith('.png'))) {
      const to = join(out, split, 'examples', f);
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(join(ex, sub, f), to);
      rows.push([split, relative(out, to), 'tok1d examples/images', '', join('examples/images', sub, f), 'BSD-3-Clause', 'the scikit-image team (examples/images/README.md)']);
    }
  }
  writeFileSync(join(out, 'manifest.tsv'), rows.map((r) => r.map((v) => v.replace(/[\t\n]/g, ' ')).join('\t')).join('\n') + '\n');
  const n = (s) => rows.filter((r) => r[0] === s).length;
  console.log(`${n('train')} training and ${n('val')} validation photographs in ${out} (manifest.tsv, licences/)`);
}

main();
