// The demo page: one engine on a device of its own, a tokenizer (the bundled checkpoint
// models/default.safetensors when it exists, else a seeded random `tiny` model), and for each image
// picked or dropped: its tokens as a coloured grid, the reconstruction beside the input, PSNR and
// timings. A TiTok model's tokens are a sequence, coarse to fine: a slider redraws the reconstruction
// from its first k tokens (1 ≤ k ≤ K). Query parameters: model=tiny|small|<checkpoint URL or folder
// URL ending in '/'>, seed=N, sample=<name>|none.
//
// window.tok1dDemo exposes the state for scripted use (the browser test reads it).
import { createEngine, Tokenizer, prepareImage, fromModelOutput, psnr } from 'tok1d/browser';

const SAMPLES = ['astronaut', 'motorcycle_left', 'camera', 'ihc', 'brick', 'grass', 'gravel', 'moon'];
const DEFAULT_CHECKPOINT = '/models/default.safetensors';

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
// Milliseconds since page load (performance.now()) at each start-up step; bench/web-start.ts reads them.
const demo = { ready: null, upgraded: null, kernels: '', firstTokensMs: null, marks: {}, last: null, error: null, model: null, adapter: null };
window.tok1dDemo = demo;

function status(text, isError = false) {
  $('status').textContent = text;
  $('status').className = isError ? 'error' : '';
}

function note(text) {
  $('note').textContent = text;
  $('note').style.display = text ? 'block' : 'none';
}

/** Draws 8-bit RGB (an RgbImage) on a canvas. */
function draw(canvas, { width, height, rgb }) {
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(width, height);
  for (let p = 0; p < width * height; p++) {
    img.data[4 * p] = rgb[3 * p];
    img.data[4 * p + 1] = rgb[3 * p + 1];
    img.data[4 * p + 2] = rgb[3 * p + 2];
    img.data[4 * p + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/**
 * The ids as a grid, one colour per id (golden-angle hues): in patch order for a patch-token model,
 * in sequence order (row by row) for a TiTok model, whose tokens past the first k are dimmed.
 */
function drawTokens(ids, tok, k = ids.length) {
  const side = tok.titok ? Math.ceil(Math.sqrt(ids.length)) : tok.config.imageSize / tok.config.patch;
  const grid = $('tokens');
  grid.style.gridTemplateColumns = `repeat(${side}, 1fr)`;
  grid.replaceChildren(
    ...Array.from(ids, (id) => {
      const cell = document.createElement('div');
      cell.style.background = `hsl(${(id * 137.508) % 360} 65% ${38 + ((id * 7) % 5) * 6}%)`;
      cell.textContent = side <= 16 ? String(id) : '';
      cell.title = `token ${id}`;
      return cell;
    }),
  );
  [...grid.children].forEach((cell, i) => cell.classList.toggle('off', i >= k));
  $('tokcap').textContent = tok.titok
    ? `${ids.length} token ids (${tok.bitsPerImage.toFixed(0)} bits), first to last; ${k} decoded (${tok.bitsForTokens(k).toFixed(0)} bits)`
    : `${ids.length} token ids (${tok.bitsPerImage.toFixed(0)} bits), in patch order`;
}

function stats(rows) {
  $('stats').replaceChildren(
    ...rows.map(([k, v]) => {
      const tr = document.createElement('tr');
      tr.innerHTML = '<td></td><td></td>';
      tr.children[0].textContent = k;
      tr.children[1].textContent = v;
      return tr;
    }),
  );
}

/** RGBA pixels of an image file or URL, as the file stores them (no colour management). */
async function imageData(source) {
  const blob = typeof source === 'string' ? await (await fetch(source)).blob() : source;
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bitmap, 0, 0);
  return { pixels: ctx.getImageData(0, 0, bitmap.width, bitmap.height), bitmap };
}

async function loadModel(engine) {
  const which = params.get('model');
  const seed = Number(params.get('seed') ?? 1);
  if (which && which !== 'tiny' && which !== 'small') return { tok: await Tokenizer.load(which, { engine }), what: which };
  if (!which) {
    const head = await fetch(DEFAULT_CHECKPOINT, { method: 'HEAD' }).catch(() => null);
    if (head?.ok) return { tok: await Tokenizer.load(DEFAULT_CHECKPOINT, { engine }), what: 'bundled checkpoint models/default.safetensors' };
  }
  const preset = which ?? 'tiny';
  note(
    `${which ? '' : 'No trained checkpoint (models/default.safetensors) is bundled yet: '}this is a randomly initialized ` +
      `\`${preset}\` model (seed ${seed}). Its tokens are real nearest-code ids, but its reconstructions are noise until a trained checkpoint is used.`,
  );
  return { tok: await Tokenizer.random(preset, seed, { engine }), what: `random ${preset} (seed ${seed})` };
}

async function run(tok, source, label) {
  const S = tok.config.imageSize;
  const t0 = performance.now();
  const { pixels, bitmap } = await imageData(source);
  const input = prepareImage(pixels, S);
  const t1 = performance.now();
  const [ids] = await tok.encode([$('gpu').checked ? bitmap : input]);
  const t2 = performance.now();
  if (demo.firstTokensMs === null) {
    demo.firstTokensMs = t2;
    demo.marks.imageReady = t1;
    demo.marks.firstTokens = t2;
  }
  const inRgb = fromModelOutput(input, S);
  draw($('input'), inRgb);
  demo.last = { label, ids: Array.from(ids), input: inRgb, encodeMs: t2 - t1 };
  await showReconstruction(tok, tok.titok ? Number($('k').value) : ids.length);
  const t3 = performance.now();
  demo.marks.firstImage ??= t3;
  demo.last.decodeMs = t3 - t2;
  stats([
    ['image', `${label} (${pixels.width}×${pixels.height} → ${S}×${S})`],
    ['PSNR', `${demo.last.psnr.toFixed(2)} dB`],
    ['decode file + resize (CPU)', `${(t1 - t0).toFixed(1)} ms`],
    ['encode (GPU, with read-back)', `${(t2 - t1).toFixed(1)} ms`],
    ['decode (GPU, with read-back)', `${(t3 - t2).toFixed(1)} ms`],
    ['first tokens after page load', `${demo.firstTokensMs.toFixed(0)} ms`],
    ['adapter', demo.adapter],
    ...(demo.kernels ? [['kernels', demo.kernels]] : []),
    ['model', demo.model],
  ]);
  bitmap.close();
}

/** Decodes the last image from its first k tokens: draws the reconstruction and its tokens, sets its PSNR. */
async function showReconstruction(tok, k) {
  const last = demo.last;
  const [recon] = await tok.decode([Uint32Array.from(last.ids)], { tokens: k });
  const outRgb = fromModelOutput(recon, tok.config.imageSize);
  draw($('recon'), outRgb);
  drawTokens(last.ids, tok, k);
  last.tokens = k;
  last.psnr = psnr(last.input.rgb, outRgb.rgb);
  $('reconcap').textContent = tok.titok ? `reconstruction from the first ${k} tokens: ${last.psnr.toFixed(2)} dB` : 'reconstruction from the tokens';
}

/** The slider (TiTok models): the last image again, from its first k tokens. */
async function redraw(tok, k) {
  $('kout').textContent = `${k} of ${tok.tokensPerImage}`;
  if (demo.last) await showReconstruction(tok, k);
}

async function main() {
  status('creating the WebGPU engine…');
  demo.marks.moduleLoaded = performance.now();
  const engine = await createEngine();
  demo.marks.engine = performance.now();
  demo.adapter = `${engine.info.adapter}${engine.info.description ? ` (${engine.info.description})` : ''}, ${engine.info.featureLevel}${engine.info.software ? ', software' : ''}`;
  status(`adapter: ${demo.adapter}; loading the model…`);
  const { tok, what } = await loadModel(engine);
  demo.marks.model = performance.now();
  // Every pipeline the first image needs, compiled in parallel rather than one by one at first use.
  if (params.get('warmup') !== '0') {
    status(`adapter: ${demo.adapter}; compiling the model's kernels…`);
    await tok.warmup();
    demo.marks.compiled = performance.now();
  }
  const c = tok.config;
  demo.model = tok.titok
    ? `${what}: TiTok, ${c.imageSize}×${c.imageSize}, ${c.tokens} latent tokens, ${c.encoderSize}/${c.decoderSize} encoder/decoder, ${c.quantizeMode === 'vq' ? `${c.codebookSize} codes` : 'continuous (VAE)'}`
    : `${what}: ${c.imageSize}×${c.imageSize}, patch ${c.patch}, width ${c.width}, ${c.encoderDepth}+${c.decoderDepth} layers, ${c.codebookSize} codes`;
  if (tok.titok) {
    const slider = $('k');
    slider.max = String(tok.tokensPerImage);
    slider.value = String(tok.tokensPerImage);
    $('kout').textContent = `${tok.tokensPerImage} of ${tok.tokensPerImage}`;
    $('prefix').style.display = 'block';
    // One redraw at a time; the latest slider position wins.
    let busy = false;
    let want = null;
    slider.oninput = async () => {
      want = Number(slider.value);
      if (busy) return;
      busy = true;
      try {
        while (want !== null) {
          const k = want;
          want = null;
          await redraw(tok, k);
        }
      } catch (e) {
        demo.error = String(e?.message ?? e);
        status(`error: ${demo.error}`, true);
      } finally {
        busy = false;
      }
    };
    demo.redraw = (k) => redraw(tok, k);
  }
  status(`adapter: ${demo.adapter} · model: ${demo.model}`);
  demo.tokenizer = tok;

  const go = (source, label) =>
    run(tok, source, label).catch((e) => {
      demo.error = String(e?.message ?? e);
      status(`error: ${demo.error}`, true);
    });
  for (const name of SAMPLES) {
    const b = document.createElement('button');
    b.textContent = name;
    b.onclick = () => go(`/examples/images/${name}.png`, name);
    $('samples').append(b);
  }
  $('file').onchange = () => {
    const f = $('file').files?.[0];
    if (f) go(f, f.name);
  };
  const drop = $('drop');
  drop.ondragover = (e) => {
    e.preventDefault();
    drop.classList.add('over');
  };
  drop.ondragleave = () => drop.classList.remove('over');
  drop.ondrop = (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const f = e.dataTransfer?.files?.[0];
    if (f) go(f, f.name);
  };
  const sample = params.get('sample') ?? SAMPLES[0];
  if (sample !== 'none') await go(`/examples/images/${sample}.png`, sample);
  demo.again = () => go(`/examples/images/${sample === 'none' ? SAMPLES[0] : sample}.png`, sample);
  // On a CPU adapter the first image ran on kernels that compile quickly; the faster ones compile
  // now, in the background, and later images use them.
  if (engine.info.software && params.get('warmup') !== '0') {
    demo.kernels = 'quick to compile (compiling the faster ones…)';
    demo.upgraded = tok.warmup({ kernels: 'fast' }).then(
      () => {
        demo.marks.fastKernels = performance.now();
        demo.kernels = `fast (compiled ${((demo.marks.fastKernels - demo.marks.firstImage) / 1000).toFixed(1)} s after the first image)`;
      },
      (e) => {
        demo.kernels = `quick to compile (the faster ones failed: ${e?.message ?? e})`;
      },
    );
  }
}

demo.ready = main().catch((e) => {
  demo.error = String(e?.message ?? e);
  status(`error: ${demo.error}`, true);
});
