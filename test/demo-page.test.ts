/**
 * The page `tok1d reconstruct --compare` writes (DIR/index.html), loaded in headless Chromium
 * (Debian's /usr/bin/chromium through playwright-core): what it says is checked against the
 * command's own output and `tokenize`, what it shows against the PNGs the command wrote.
 */
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, extname, join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { demoScale } from '../src/cli/demo-page.js';
import { decodeImage, type RgbImage } from '../src/io/image.js';
import { tok1d } from './cli-run.js';
import { CHROMIUM } from './helpers.js';

const MODEL = ['--preset', 'tiny', '--random-init', '--seed', '5', '--backend', 'opengl'];
const FILES = ['test/fixtures/chelsea.png', 'test/fixtures/quadrants.jpg', 'test/fixtures/chessboard_GRAY.png'];
/** The tiny preset's image side and the page's enlargement of it. */
const S = 32;
const K = demoScale(S);

interface Shown {
  file: string;
  psnr: string;
  bits: string;
  tokens: number[];
  images: { cls: string; complete: boolean; naturalWidth: number; width: number; height: number; rendering: string; pixels: number[]; x: number; y: number }[];
}

describe('reconstruct --compare: the HTML page in headless Chromium', function () {
  this.timeout(300_000);
  let dir: string;
  let browser: Browser | undefined;
  let page: Page;
  let stdout: string;
  let tokens: Map<string, number[]>;
  let shown: Shown[];

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      console.log(`      skipped: ${CHROMIUM} is missing (apt-get install chromium; tools/setup.sh installs it)`);
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'tok1d-page-'));
    const r = await tok1d(['reconstruct', ...FILES, '-o', dir, '--compare', ...MODEL]);
    expect(r.code, r.stderr).to.equal(0);
    stdout = r.stdout;
    expect(stdout).to.contain(`(page: ${join(dir, 'index.html')})`);
    const t = await tok1d(['tokenize', ...FILES, ...MODEL]);
    expect(t.code, t.stderr).to.equal(0);
    tokens = new Map(t.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; tokens: number[] }).map((x) => [x.file, x.tokens]));
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1200, height: 900 }, deviceScaleFactor: 1 });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`file://${join(dir, 'index.html')}`);
    expect(errors).to.deep.equal([]);
    shown = await page.$$eval('section.entry', (sections) =>
      sections.map((s) => ({
        file: s.querySelector('h2')!.textContent!,
        psnr: s.querySelector('.psnr')!.textContent!,
        bits: s.querySelector('.bits')!.textContent!,
        tokens: [...s.querySelectorAll('table.tokens td')].map((td) => Number(td.textContent)),
        images: [...s.querySelectorAll('img')].map((img) => {
          const canvas = document.createElement('canvas');
          [canvas.width, canvas.height] = [img.naturalWidth, img.naturalHeight];
          const ctx = canvas.getContext('2d')!;
          ctx.drawImage(img, 0, 0);
          const rgba = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
          const box = img.getBoundingClientRect();
          return {
            cls: img.className,
            complete: img.complete,
            naturalWidth: img.naturalWidth,
            width: img.clientWidth,
            height: img.clientHeight,
            rendering: getComputedStyle(img).imageRendering,
            pixels: [...rgba].filter((_, i) => i % 4 !== 3),
            x: box.x + img.clientLeft + window.scrollX,
            y: box.y + img.clientTop + window.scrollY,
          };
        }),
      })),
    );
  });

  after(async () => {
    await browser?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('one section per image: its PSNR as the command printed it, its bits, its token ids as tokenize gives them', () => {
    expect(shown.map((s) => s.file)).to.deep.equal(FILES);
    for (const s of shown) {
      const line = stdout.split('\n').find((l) => l.startsWith(`${s.file}\t`))!;
      expect(line, s.file).to.equal(`${s.file}\t${s.psnr} dB`);
      expect(s.bits).to.equal('96'); // 16 tokens × log2 64
      expect(s.tokens).to.deep.equal(tokens.get(s.file));
    }
  });

  it('input and reconstruction are the images of the side-by-side PNG, shown enlarged with pixelated scaling', () => {
    for (const s of shown) {
      const png = decodeImage(readFileSync(join(dir, `${basename(s.file, extname(s.file))}.png`)));
      const crop = (x0: number): number[] => {
        const out: number[] = [];
        for (let y = 0; y < S; y++) out.push(...png.rgb.subarray((y * png.width + x0) * 3, (y * png.width + x0 + S) * 3));
        return out;
      };
      const [input, recon] = s.images;
      expect(s.images.map((i) => i.cls)).to.deep.equal(['input', 'reconstruction']);
      for (const img of s.images) {
        expect(img.complete && img.naturalWidth).to.equal(S);
        expect([img.width, img.height]).to.deep.equal([S * K, S * K]);
        expect(img.rendering).to.equal('pixelated');
      }
      expect(input!.pixels).to.deep.equal(crop(0));
      expect(recon!.pixels).to.deep.equal(crop(S + 4));
    }
  });

  it('the screenshot shows each image pixel as a uniform K×K block of its colour (no smoothing)', async () => {
    const recon = shown[0]!.images[1]!;
    const shot: RgbImage = decodeImage(await page.screenshot({ clip: { x: recon.x, y: recon.y, width: S * K, height: S * K } }));
    expect([shot.width, shot.height]).to.deep.equal([S * K, S * K]);
    let worst = 0;
    let edges = 0;
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const want = recon.pixels.slice((y * S + x) * 3, (y * S + x) * 3 + 3);
        for (let dy = 0; dy < K; dy++) {
          for (let dx = 0; dx < K; dx++) {
            const p = ((y * K + dy) * shot.width + x * K + dx) * 3;
            for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(shot.rgb[p + c]! - want[c]!));
          }
        }
        if (x > 0 && want.some((v, c) => v !== recon.pixels[(y * S + x - 1) * 3 + c])) edges++;
      }
    }
    expect(edges, 'the image has neighbouring pixels that differ').to.be.greaterThan(100);
    expect(worst).to.be.at.most(2);
  });
});
