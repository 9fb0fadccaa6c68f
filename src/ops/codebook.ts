import { grid, type Engine } from '../gpu/engine.js';
import { FIXED_WG, LOOP_BUDGET, MAX_GROUPS } from '../gpu/limits.js';
import { type KernelParams } from '../gpu/params.js';
import { CODEBOOK } from '../gpu/uniforms.js';
import { shapeStr, type Tensor } from '../tensor.js';
import { gatherRows, linearLaunch } from './elementwise.js';
import { L2_EPS, l2normalize } from './normalize.js';

/**
 * Codebook search for a vector quantizer (kernels/codebook.wgsl): for each query row of z [N, D] the
 * nearest code row of the codebook [K, D] in squared L2 distance, ties to the lowest index.
 */

const KERNEL = 'codebook';
/** Invocations per workgroup of every entry point (the kernel's WG override). */
const WG = FIXED_WG;
/** Queries and codes per register tile of pass 1 (the kernel's TILE). */
const TILE = 16;
/** Cosine mode: norms are clamped to at least this before dividing (zero rows stay zero). */
const EPS = L2_EPS;
/** Most partial minima per query (pass 2 loops over them). */
const MAX_CHUNKS = 8192;

/** 'texture': codes read through an rgba32float texture (faster on llvmpipe); 'storage': a storage buffer. */
export type CodebookVariant = 'storage' | 'texture';

export interface CodebookSearchOptions {
  /** Compare l2-normalized queries and codes (inputs are not modified); distance = ‖ẑ − ê‖² = 2 − 2 cos. */
  cosine?: boolean;
  /** ‖e_k‖² from codebookNorms(); computed (and released) inside when absent. */
  norms?: Tensor;
  /** Force a kernel variant (tests, bench); default: picked per device. */
  variant?: CodebookVariant;
}

export interface CodebookSearchResult {
  /** [N] u32: index of the nearest code. */
  indices: Tensor;
  /** [N] f32: ‖z − e‖² of that code (cosine: ‖ẑ − ê‖²). */
  distances: Tensor;
}

function dims(t: Tensor, what: string): [number, number] {
  if (t.shape.length !== 2 || t.dtype !== 'f32') throw new Error(`${what}: expected a 2D f32 tensor, got ${t.dtype} ${shapeStr(t.shape)}`);
  const [rows, cols] = t.shape as [number, number];
  if (rows < 1 || cols < 1) throw new Error(`${what}: empty shape ${shapeStr(t.shape)}`);
  return [rows, cols];
}

/** The fields of codebook.wgsl's Params an entry point sets (d4 follows from d, eps is EPS; the rest are 0). */
interface Params {
  n: number;
  k: number;
  d: number;
  tpi?: number;
  nchunks?: number;
  stride?: number;
}

function params(p: Params): KernelParams {
  return CODEBOOK.withZeros({ n: p.n, k: p.k, d: p.d, d4: Math.ceil(p.d / 4), tpi: p.tpi, nchunks: p.nchunks, stride: p.stride, eps: EPS });
}


/** ‖e_k‖² for every row of the codebook [K, D] → [K] f32. */
export function codebookNorms(engine: Engine, codebook: Tensor): Tensor {
  const [k, d] = dims(codebook, 'codebookNorms codebook');
  const out = engine.empty([k]);
  const { groups, stride } = linearLaunch(engine, k, WG);
  engine.dispatch(KERNEL, 'row_norms', [codebook, out], params({ n: k, k, d, stride }), groups, { WG });
  return out;
}

/** Rows of src [rows, D] as zero-padded vec4 rows [rows, 4·ceil(D/4)], l2-normalized when asked. */
function prepRows(engine: Engine, src: Tensor, normalize: boolean): Tensor {
  const [rows, d] = dims(src, 'codebook prep');
  const out = engine.empty([rows, 4 * Math.ceil(d / 4)]);
  const { groups, stride } = linearLaunch(engine, rows, WG);
  engine.dispatch(KERNEL, 'prep_rows', [src, out], params({ n: rows, k: 0, d, stride }), groups, { WG, NORMALIZE: normalize ? 1 : 0 });
  return out;
}

// ---------------------------------------------------------------- per-engine textures

/** Usage of the textures codebooks are packed into (a function: the WebGPU globals may load after this module). */
const textureUsage = (): GPUTextureUsageFlags => GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.COPY_DST;

/** 1×1 texture bound where the storage variant leaves the texture binding unused (one per engine). */
function placeholderTexture(engine: Engine): GPUTexture {
  return engine.resource(
    'codebook placeholder',
    () => engine.device.createTexture({ label: 'codebook placeholder', size: [1, 1], format: 'rgba32float', usage: GPUTextureUsage.TEXTURE_BINDING }),
    (t) => t.destroy(),
  );
}

/**
 * The texture codebooks that are not `constant` are packed into on every call, at least w × h
 * texels: one per engine, replaced by a larger one when outgrown (the old one is destroyed once the
 * work recorded so far, which may read it, is submitted).
 */
function scratchTexture(engine: Engine, w: number, h: number): GPUTexture {
  const key = 'codebook scratch';
  const had = engine.peekResource<GPUTexture>(key);
  if (had && had.width >= w && had.height >= h) return had;
  engine.freeResource(key);
  const size = [Math.max(w, had?.width ?? 0), Math.max(h, had?.height ?? 0)];
  return engine.resource(key, () => engine.device.createTexture({ label: 'codebook scratch', size, format: 'rgba32float', usage: textureUsage() }), (t) => t.destroy());
}

/**
 * The codebook packed into a texture: texel (j, k) = e_k[4j .. 4j+3], zero-padded. A `constant`
 * tensor (a weight, changed only through writes that call touch()) has a texture of its own,
 * derived from it (released with it), packed again only when its version moved; other tensors are
 * packed into the engine's scratch texture on every call. Rows of a multiple of 64 floats are
 * copied (copyBufferToTexture), others packed by the pack_tex kernel.
 */
function packedCodebook(engine: Engine, codebook: Tensor, k: number, d: number): GPUTexture {
  const d4 = Math.ceil(d / 4);
  let tex: GPUTexture;
  if (codebook.constant) {
    const packed = engine.resource(
      `codebook packed ${codebook.id}`,
      () => ({ texture: engine.device.createTexture({ label: 'codebook packed', size: [d4, k], format: 'rgba32float', usage: textureUsage() }), version: -1 }),
      (p) => p.texture.destroy(),
      codebook,
    );
    if (packed.version === codebook.version) return packed.texture;
    packed.version = codebook.version;
    tex = packed.texture;
  } else tex = scratchTexture(engine, d4, k);
  if ((d * 4) % 256 === 0) {
    const buffer = codebook.buffer;
    engine.recordCommands((enc) => enc.copyBufferToTexture({ buffer, bytesPerRow: d * 4, rowsPerImage: k }, { texture: tex }, [d4, k]));
  } else {
    engine.dispatch(KERNEL, 'pack_tex', [codebook, tex.createView()], params({ n: 0, k, d }), [Math.ceil(d4 / WG), k, 1], { WG });
  }
  return tex;
}

function textureFits(engine: Engine, k: number, d: number): boolean {
  const max = engine.limits.maxTextureDimension2D;
  return k <= max && Math.ceil(d / 4) <= max;
}

/**
 * The variant for this device: textures on software adapters, where they measured faster (llvmpipe
 * 20-30%, SwiftShader 5-40%; figures in docs/perf-log.md), storage elsewhere (not measured on
 * hardware).
 */
function pickVariant(engine: Engine, k: number, d: number): CodebookVariant {
  return engine.info.software && textureFits(engine, k, d) ? 'texture' : 'storage';
}

// ---------------------------------------------------------------- search

/**
 * Nearest code per query. z [N, D], codebook [K, D] → indices [N] u32, distances [N] f32.
 * Pass 1 (search_partial) computes 16 × 16 tiles of ‖e‖² − 2 z·e and keeps per query the minimum of
 * each chunk of code tiles; pass 2 (search_reduce) takes the minimum of the chunk minima (lowest
 * index on ties) and recomputes ‖z − e‖² of the winner directly. Temporaries (partials, padded or
 * normalized query rows, norms when not given) are released before returning. The storage variant
 * with D % 4 ≠ 0 copies the codebook into padded rows on every call.
 */
export function codebookSearch(engine: Engine, z: Tensor, codebook: Tensor, opts: CodebookSearchOptions = {}): CodebookSearchResult {
  const [n, d] = dims(z, 'codebookSearch z');
  const [k, dc] = dims(codebook, 'codebookSearch codebook');
  if (dc !== d) throw new Error(`codebookSearch: z ${shapeStr(z.shape)} and codebook ${shapeStr(codebook.shape)} differ in D`);
  if (opts.norms && (opts.norms.size !== k || opts.norms.dtype !== 'f32')) throw new Error(`codebookSearch: norms must be [${k}] f32, got ${shapeStr(opts.norms.shape)}`);
  const cosine = opts.cosine ?? false;
  const variant = opts.variant ?? pickVariant(engine, k, d);
  if (variant === 'texture' && !textureFits(engine, k, d))
    throw new Error(`codebookSearch: codebook ${shapeStr(codebook.shape)} exceeds the ${engine.limits.maxTextureDimension2D}-texel texture limit`);

  const maxBinding = engine.limits.maxStorageBufferBindingSize;
  for (const [t, what] of [
    [z, 'z'],
    [codebook, 'codebook'],
  ] as const)
    if (t.byteLength > maxBinding) throw new Error(`codebookSearch: ${what} ${shapeStr(t.shape)} exceeds the ${maxBinding}-byte storage binding limit`);

  const d4 = Math.ceil(d / 4);
  const queryTiles = Math.ceil(n / TILE);
  if (queryTiles > MAX_GROUPS) throw new Error(`codebookSearch: ${n} queries exceed ${MAX_GROUPS * TILE} per call`);
  const codeTiles = Math.ceil(k / TILE);
  let tpi = Math.max(1, Math.ceil(codeTiles / MAX_CHUNKS), Math.ceil((codeTiles * n * 8) / maxBinding));
  const nchunks = Math.ceil(codeTiles / tpi);
  tpi = Math.ceil(codeTiles / nchunks);
  if (tpi * (d4 + 1) > LOOP_BUDGET || nchunks + d4 > LOOP_BUDGET)
    throw new Error(`codebookSearch: K=${k}, D=${d} exceed the per-invocation loop budget (${LOOP_BUDGET} trips)`);

  const norms = opts.norms ?? codebookNorms(engine, codebook);
  // Queries as padded vec4 rows (ẑ in cosine mode); z itself when it already is that.
  const zq = cosine || d % 4 !== 0 ? prepRows(engine, z, cosine) : z;

  let codes: Tensor;
  let codeTex: GPUTextureView;
  let ownCodes = false;
  if (variant === 'texture') {
    codeTex = packedCodebook(engine, codebook, k, d).createView();
    codes = zq; // placeholder: the texture variant reads no code buffer
  } else {
    ownCodes = d % 4 !== 0;
    codes = ownCodes ? prepRows(engine, codebook, false) : codebook;
    codeTex = placeholderTexture(engine).createView();
  }
  const overrides = { WG, COSINE: cosine ? 1 : 0, USE_TEX: variant === 'texture' ? 1 : 0 };

  const part = engine.empty([n * nchunks * 2], 'u32');
  engine.dispatch(KERNEL, 'search_partial', [zq, codes, codeTex, norms, part], params({ n, k, d, tpi, nchunks }), [Math.ceil(nchunks / WG), queryTiles, 1], {
    ...overrides,
    MULTI_TILE: tpi > 1 ? 1 : 0,
  });

  const indices = engine.empty([n], 'u32');
  const distances = engine.empty([n]);
  const { groups, stride } = linearLaunch(engine, n, WG);
  engine.dispatch(KERNEL, 'search_reduce', [part, zq, codes, codeTex, norms, indices, distances], params({ n, k, d, tpi, nchunks, stride }), groups, overrides);

  engine.release(part);
  if (zq !== z) engine.release(zq);
  if (ownCodes) engine.release(codes);
  if (!opts.norms) engine.release(norms);
  return { indices, distances };
}

/**
 * The code vectors of token ids, as the decoder sees them: rows of the codebook [K, D] picked by
 * indices [N] (u32) → [N, D], each l2-normalized (l2normalize) when `cosine`, which is what the
 * cosine quantizer hands the decoder. An index ≥ K gives a row of zeros.
 */
export function codebookLookup(engine: Engine, codebook: Tensor, indices: Tensor, opts: { cosine?: boolean } = {}): Tensor {
  const rows = gatherRows(engine, codebook, indices);
  if (!opts.cosine) return rows;
  const { y, norm } = l2normalize(engine, rows);
  engine.release(rows, norm);
  return y;
}
