import type { Engine } from '../gpu/engine.js';
import { codebookSearch, type CodebookVariant } from '../ops/codebook.js';
import { randomF32, relL2, rng } from './util.js';

/**
 * Float64 references for the codebook search: plain loops over the rows, distances summed directly
 * as Σ (z_d − e_d)² (not through the ‖e‖² − 2 z·e expansion the kernels use).
 */

/** Cosine mode: rows are divided by max(‖row‖, this), as in the kernels. */
const EPS = 1e-12;
/**
 * Two codes count as a near tie for query z when their f64 distances differ by at most
 * TIE_REL · (‖z‖² + ‖e_best‖²): the f32 score ‖e‖² − 2 z·e carries rounding of that order (the
 * error of a length-D f32 dot product is about √D · 2⁻²⁴ · Σ|z_d e_d|, ≈ 1e-6 of this scale at D = 1024).
 * Either code of a near tie is accepted.
 */
export const TIE_REL = 1e-5;
/** Relative L2 tolerance of the reported distances (f32 sums of D squared differences). */
export const DIST_TOL = 1e-5;

/** ‖row‖² of each row of x [rows, d]. */
export function rowNormsReference(x: Float32Array, rows: number, d: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < d; j++) {
      const v = x[r * d + j]!;
      s += v * v;
    }
    out[r] = s;
  }
  return out;
}

function normalizedRows(x: Float32Array, rows: number, d: number): Float64Array {
  const out = new Float64Array(rows * d);
  const norms = rowNormsReference(x, rows, d);
  for (let r = 0; r < rows; r++) {
    const inv = 1 / Math.max(Math.sqrt(norms[r]!), EPS);
    for (let j = 0; j < d; j++) out[r * d + j] = x[r * d + j]! * inv;
  }
  return out;
}

export interface SearchReference {
  n: number;
  k: number;
  d: number;
  cosine: boolean;
  /** argmin per query, lowest index among exact ties. */
  index: Int32Array;
  /** Smallest and second-smallest distance per query (second = Infinity when K = 1). */
  best: Float64Array;
  second: Float64Array;
  /** ‖z‖² per query and ‖e‖² per code of the compared rows (normalized rows in cosine mode). */
  zNorm: Float64Array;
  eNorm: Float64Array;
  /** ‖z_q − e_j‖² (cosine: of the normalized rows). */
  dist(q: number, j: number): number;
}

/** Exhaustive search over the first `n` rows of z [≥n, d] against codebook [k, d]. */
export function searchReference(z: Float32Array, codebook: Float32Array, n: number, k: number, d: number, cosine = false): SearchReference {
  const zr: Float32Array | Float64Array = cosine ? normalizedRows(z, n, d) : z;
  const er: Float32Array | Float64Array = cosine ? normalizedRows(codebook, k, d) : codebook;
  const zrow = new Float64Array(d);
  const dist = (q: number, j: number): number => {
    let s = 0;
    for (let t = 0; t < d; t++) {
      const v = zr[q * d + t]! - er[j * d + t]!;
      s += v * v;
    }
    return s;
  };
  const index = new Int32Array(n);
  const best = new Float64Array(n);
  const second = new Float64Array(n);
  for (let q = 0; q < n; q++) {
    for (let t = 0; t < d; t++) zrow[t] = zr[q * d + t]!;
    let b = Infinity;
    let s2 = Infinity;
    let bi = -1;
    for (let j = 0; j < k; j++) {
      const base = j * d;
      let s = 0;
      for (let t = 0; t < d; t++) {
        const v = zrow[t]! - er[base + t]!;
        s += v * v;
      }
      if (s < b) {
        s2 = b;
        b = s;
        bi = j;
      } else if (s < s2) s2 = s;
    }
    index[q] = bi;
    best[q] = b;
    second[q] = s2;
  }
  const sq = (x: Float32Array | Float64Array, rows: number): Float64Array => {
    const out = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += x[r * d + t]! * x[r * d + t]!;
      out[r] = s;
    }
    return out;
  };
  return { n, k, d, cosine, index, best, second, zNorm: sq(zr, n), eNorm: sq(er, k), dist };
}

export interface SearchCheck {
  /** null when every index and the distances pass. */
  error: string | null;
  /** Queries whose best and second-best reference distances form a near tie. */
  nearTies: number;
}

/** The reference restricted to its first n queries. */
export function firstQueries(ref: SearchReference, n: number): SearchReference {
  return { ...ref, n, index: ref.index.subarray(0, n), best: ref.best.subarray(0, n), second: ref.second.subarray(0, n), zNorm: ref.zNorm.subarray(0, n) };
}

/**
 * Checks a search result against the reference: each index equals the reference argmin, or, for a
 * near tie, is within the tie tolerance of the best; the distances match ‖z − e‖² of the returned
 * indices (and the best distances) within DIST_TOL relative L2.
 */
export function checkSearch(ref: SearchReference, indices: Uint32Array, distances: Float32Array): SearchCheck {
  const { n, k } = ref;
  let nearTies = 0;
  const ofReturned = new Float64Array(n);
  for (let q = 0; q < n; q++) {
    const tol = TIE_REL * (ref.zNorm[q]! + ref.eNorm[ref.index[q]!]!);
    if (ref.second[q]! - ref.best[q]! <= tol) nearTies++;
    const got = indices[q]!;
    if (!(got < k)) return { error: `query ${q}: index ${got} out of range (K=${k})`, nearTies };
    ofReturned[q] = got === ref.index[q] ? ref.best[q]! : ref.dist(q, got);
    if (ofReturned[q]! - ref.best[q]! > tol)
      return {
        error: `query ${q}: index ${got} (distance ${ofReturned[q]!.toPrecision(8)}) instead of ${ref.index[q]} (${ref.best[q]!.toPrecision(8)}); tie tolerance ${tol.toExponential(2)}`,
        nearTies,
      };
  }
  const eRet = relL2(distances.subarray(0, n), ofReturned);
  if (!(eRet <= DIST_TOL)) return { error: `distances vs ‖z − e‖² of the returned indices: relative L2 ${eRet.toExponential(2)} > ${DIST_TOL}`, nearTies };
  const eBest = relL2(distances.subarray(0, n), ref.best);
  if (!(eBest <= DIST_TOL)) return { error: `distances vs the best distances: relative L2 ${eBest.toExponential(2)} > ${DIST_TOL}`, nearTies };
  return { error: null, nearTies };
}

/** Runs one search on the device and checks it (tensors released). */
export async function runAndCheck(
  engine: Engine,
  z: Float32Array,
  codebook: Float32Array,
  ref: SearchReference,
  variant?: CodebookVariant,
): Promise<SearchCheck> {
  const { n, k, d, cosine } = ref;
  const zt = engine.upload(z.subarray(0, n * d), [n, d]);
  const ct = engine.upload(codebook, [k, d]);
  const { indices, distances } = codebookSearch(engine, zt, ct, { cosine, variant });
  const idx = await engine.readU32(indices);
  const dist = await engine.readF32(distances);
  engine.release(zt, ct, indices, distances);
  return checkSearch(ref, idx, dist);
}

/** `tok1d doctor`: both modes on a small shape that is no multiple of any tile (N 7, K 37, D 13). */
export async function selfTest(engine: Engine): Promise<string | null> {
  const r = rng(0xc0deb00c);
  const [n, k, d] = [7, 37, 13];
  const z = randomF32(n * d, r);
  const codebook = randomF32(k * d, r);
  for (const cosine of [false, true]) {
    const res = await runAndCheck(engine, z, codebook, searchReference(z, codebook, n, k, d, cosine));
    if (res.error) return `codebook search${cosine ? ' (cosine)' : ''}: ${res.error}`;
  }
  return null;
}
