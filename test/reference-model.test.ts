import { expect } from 'chai';
import { paramSpecs, PRESETS, tokensPerImage, type ModelConfig } from '../src/model/config.js';
import { freshRng, randomF32, RUN_SEED } from './helpers.js';
import { erf64 } from './reference/gelu.js';
import { mseRef, patchifyRef } from './reference/elementwise.js';
import {
  blockRef,
  decodeRef,
  encodeRef,
  finiteDifferenceGrads,
  forwardModel,
  nearestCodes,
  randomParams,
} from './reference/model.js';

const tiny = PRESETS.tiny!;
/** A few-token model with a code projection (codeDim ≠ width): 4×4 images, 2×2 patches → 4 tokens. */
const micro: ModelConfig = { ...tiny, imageSize: 4, patch: 2, width: 8, heads: 2, encoderDepth: 1, decoderDepth: 1, mlpRatio: 2, codebookSize: 5, codeDim: 3 };

const seedOf = (r: () => number): number => Math.floor(r() * 2 ** 32);
const images = (c: ModelConfig, B: number, r: () => number): Float64Array => Float64Array.from(randomF32(B * c.imageSize * c.imageSize * 3, r));
const close = (a: number, b: number, rel: number, abs = 0): boolean => Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b)) + abs;

/** Plain row-major matrices for the independent computations below. */
type Mat = number[][];
const matOf = (a: ArrayLike<number>, rows: number, cols: number): Mat => Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => a[i * cols + j]!));
const mul = (x: Mat, w: Mat, b: number[]): Mat => x.map((row) => b.map((bj, j) => row.reduce((s, v, k) => s + v * w[k]![j]!, bj)));
const ln = (x: Mat, g: ArrayLike<number>, b: ArrayLike<number>, eps: number): Mat =>
  x.map((row) => {
    const m = row.reduce((s, v) => s + v, 0) / row.length;
    const v = row.reduce((s, u) => s + (u - m) * (u - m), 0) / row.length;
    return row.map((u, j) => ((u - m) / Math.sqrt(v + eps)) * g[j]! + b[j]!);
  });

describe('reference model (float64)', function () {
  this.timeout(120_000);

  it('tiny preset: parameter count by hand, output shapes, codes in use', () => {
    const c = tiny;
    // Per block: 2 LayerNorms 4·64, qkv 64·192 + 192, proj 64·64 + 64, fc1 64·256 + 256, fc2 256·64 + 64.
    const block = 4 * 64 + (64 * 192 + 192) + (64 * 64 + 64) + (64 * 256 + 256) + (256 * 64 + 64);
    expect(block).to.equal(49984);
    // enc.patch 192·64 + 64, enc.pos 16·64, enc.ln 2·64, codebook 64·64, dec.embed 64·64 + 64, dec.pos 16·64, dec.ln 2·64, dec.out 64·192 + 192.
    const rest = 192 * 64 + 64 + 16 * 64 + 128 + 64 * 64 + (64 * 64 + 64) + 16 * 64 + 128 + (64 * 192 + 192);
    const expected = 4 * block + rest;
    expect(expected).to.equal(235328);
    const p = randomParams(c, seedOf(freshRng()));
    let count = 0;
    for (const v of p.values()) count += v.length;
    expect(count).to.equal(expected);
    expect(p.size).to.equal(paramSpecs(c).length).and.to.equal(4 * 12 + 13);
    expect(p.has('enc.proj.w')).to.equal(false);
    for (const v of p.values()) for (const x of v) expect(Math.fround(x)).to.equal(x);

    const B = 2;
    const T = tokensPerImage(c);
    const out = forwardModel(c, p, images(c, B, freshRng()), B);
    expect(out.indices.length).to.equal(B * T);
    expect(out.z.length).to.equal(B * T * c.codeDim);
    expect(out.reconstruction.length).to.equal(B * 32 * 32 * 3);
    for (const v of [out.total, out.recon, out.codebook, out.commitment]) expect(Number.isFinite(v) && v > 0).to.equal(true);
    expect(out.total).to.equal(out.recon + out.codebook + c.beta * out.commitment);
    // At the base point both VQ terms are mean((z − e)²).
    expect(out.codebook).to.equal(out.commitment);
    expect(new Set(out.indices).size, `codes used by ${B * T} tokens (seed ${RUN_SEED})`).to.be.at.least(6);
    expect(Math.max(...out.indices)).to.be.below(c.codebookSize);
  });

  it('the frozen surrogate at the base point equals the normal forward exactly (tiny; micro with enc.proj)', () => {
    const r = freshRng();
    for (const [c, B] of [
      [tiny, 2],
      [micro, 3],
    ] as const) {
      const p = randomParams(c, seedOf(r));
      const img = images(c, B, r);
      const base = forwardModel(c, p, img, B);
      const frozen = forwardModel(c, p, img, B, base.frozen);
      for (const k of ['total', 'recon', 'codebook', 'commitment'] as const) expect(frozen[k], k).to.equal(base[k]);
      expect(Array.from(frozen.reconstruction)).to.deep.equal(Array.from(base.reconstruction));
      expect(Array.from(frozen.z)).to.deep.equal(Array.from(base.z));
      expect(Array.from(frozen.indices)).to.deep.equal(Array.from(base.indices));
    }
  });

  it('the frozen surrogate holds the indices and stop-gradient values when θ moves', () => {
    const r = freshRng();
    const c = micro;
    const B = 2;
    const p = randomParams(c, seedOf(r));
    const img = images(c, B, r);
    const base = forwardModel(c, p, img, B);
    // Replace the codebook: a fresh search picks new codes, the surrogate keeps the old indices and z0, e0.
    const cb = p.get('vq.codebook')!;
    const old = cb.slice();
    for (let i = 0; i < cb.length; i++) cb[i] = -cb[i]! + 0.5;
    const moved = forwardModel(c, p, img, B, base.frozen);
    expect(Array.from(moved.indices)).to.deep.equal(Array.from(base.indices));
    // The decoder input is z + e0 − z0 = e0 with z unchanged: the reconstruction does not move.
    expect(Array.from(moved.reconstruction)).to.deep.equal(Array.from(base.reconstruction));
    expect(moved.commitment).to.equal(base.commitment);
    let s = 0;
    const C = c.codeDim;
    for (let t = 0; t < B * tokensPerImage(c); t++)
      for (let d = 0; d < C; d++) s += (base.z[t * C + d]! - cb[base.indices[t]! * C + d]!) ** 2;
    expect(close(moved.codebook, s / base.z.length, 1e-14)).to.equal(true);
    cb.set(old);
  });

  it('one block on 3 tokens (width 8, 2 heads) matches a direct computation', () => {
    const r = freshRng();
    const c: ModelConfig = { ...micro, width: 8, heads: 2, mlpRatio: 2 };
    const p = randomParams(c, seedOf(r), 0.3);
    const T = 3;
    const D = 8;
    const Dh = 4;
    const x0 = Float64Array.from(randomF32(T * D, r, -2, 2));
    const got = blockRef(c, p, 'enc.blocks.0', x0, 1, T);
    const P = (n: string): Float64Array => p.get(`enc.blocks.0.${n}`)!;
    const x = matOf(x0, T, D);
    const qkv = mul(ln(x, P('ln1.g'), P('ln1.b'), c.eps), matOf(P('attn.qkv.w'), D, 3 * D), Array.from(P('attn.qkv.b')));
    const att: Mat = x.map(() => new Array<number>(D).fill(0));
    for (let h = 0; h < 2; h++)
      for (let i = 0; i < T; i++) {
        const s = [0, 1, 2].map((j) => {
          let dot = 0;
          for (let d = 0; d < Dh; d++) dot += qkv[i]![h * Dh + d]! * qkv[j]![D + h * Dh + d]!;
          return Math.exp(dot / 2); // √Dh = 2
        });
        const sum = s[0]! + s[1]! + s[2]!;
        for (let d = 0; d < Dh; d++) att[i]![h * Dh + d] = [0, 1, 2].reduce((a, j) => a + (s[j]! / sum) * qkv[j]![2 * D + h * Dh + d]!, 0);
      }
    const proj = mul(att, matOf(P('attn.proj.w'), D, D), Array.from(P('attn.proj.b')));
    const x1 = x.map((row, i) => row.map((v, j) => v + proj[i]![j]!));
    const u = mul(ln(x1, P('ln2.g'), P('ln2.b'), c.eps), matOf(P('mlp.fc1.w'), D, 2 * D), Array.from(P('mlp.fc1.b')));
    const g = u.map((row) => row.map((v) => 0.5 * v * (1 + erf64(v / Math.SQRT2))));
    const y = mul(g, matOf(P('mlp.fc2.w'), 2 * D, D), Array.from(P('mlp.fc2.b')));
    const want = x1.flatMap((row, i) => row.map((v, j) => v + y[i]![j]!));
    // The attention must matter here (std 0.3 weights give non-uniform scores), or the check is weak.
    let branch = 0;
    for (let i = 0; i < T * D; i++) branch = Math.max(branch, Math.abs(proj[Math.floor(i / D)]![i % D]!));
    expect(branch).to.be.above(0.05);
    want.forEach((v, i) => expect(close(got[i]!, v, 1e-12, 1e-14), `element ${i}: ${got[i]} vs ${v}`).to.equal(true));
  });

  it('encoder without blocks: patch order, positions, enc.ln and enc.proj match a direct pixel loop', () => {
    const r = freshRng();
    for (const codeDim of [8, 3]) {
      const c: ModelConfig = { ...micro, encoderDepth: 0, codeDim };
      const p = randomParams(c, seedOf(r), 0.3);
      const B = 2;
      const S = 4;
      const Pt = 2;
      const D = 8;
      const img = images(c, B, r);
      const w = p.get('enc.patch.w')!;
      const rows: Mat = [];
      for (let b = 0; b < B; b++)
        for (let py = 0; py < 2; py++)
          for (let px = 0; px < 2; px++) {
            const t = py * 2 + px;
            const row = Array.from({ length: D }, (_, j) => p.get('enc.patch.b')![j]! + p.get('enc.pos')![t * D + j]!);
            for (let yy = 0; yy < Pt; yy++)
              for (let xx = 0; xx < Pt; xx++)
                for (let ch = 0; ch < 3; ch++) {
                  const pix = img[((b * S + py * Pt + yy) * S + px * Pt + xx) * 3 + ch]!;
                  for (let j = 0; j < D; j++) row[j] += pix * w[((yy * Pt + xx) * 3 + ch) * D + j]!;
                }
            rows.push(row);
          }
      let want = ln(rows, p.get('enc.ln.g')!, p.get('enc.ln.b')!, c.eps);
      if (codeDim !== D) want = mul(want, matOf(p.get('enc.proj.w')!, D, codeDim), Array.from(p.get('enc.proj.b')!));
      const got = encodeRef(c, p, img, B);
      expect(got.length).to.equal(B * 4 * codeDim);
      want.flat().forEach((v, i) => expect(close(got[i]!, v, 1e-12, 1e-14), `codeDim ${codeDim}, element ${i}`).to.equal(true));
    }
  });

  it('decoder output layout: with dec.out.w = 0 every patch of the reconstruction is dec.out.b in (y, x, channel) order', () => {
    const r = freshRng();
    const c = micro;
    const p = randomParams(c, seedOf(r));
    p.get('dec.out.w')!.fill(0);
    const B = 2;
    const rec = decodeRef(c, p, Float64Array.from(randomF32(B * 4 * c.codeDim, r)), B);
    const bias = p.get('dec.out.b')!;
    for (let b = 0; b < B; b++)
      for (let Y = 0; Y < 4; Y++)
        for (let X = 0; X < 4; X++)
          for (let ch = 0; ch < 3; ch++) expect(rec[((b * 4 + Y) * 4 + X) * 3 + ch]).to.equal(bias[((Y % 2) * 2 + (X % 2)) * 3 + ch]);
  });

  it('nearestCodes: the chosen code is no farther than any other; ties go to the lowest index', () => {
    const r = freshRng();
    const [N, K, C] = [33, 17, 5];
    const z = Float64Array.from(randomF32(N * C, r));
    const cb = Float64Array.from(randomF32(K * C, r));
    cb.copyWithin(9 * C, 4 * C, 5 * C); // row 9 duplicates row 4
    z.set(cb.subarray(4 * C, 5 * C), 0); // query 0 sits exactly on rows 4 and 9
    const idx = nearestCodes(z, cb, N, K, C);
    const dist = (n: number, k: number): number => {
      let s = 0;
      for (let d = 0; d < C; d++) s += (z[n * C + d]! - cb[k * C + d]!) ** 2;
      return s;
    };
    expect(idx[0]).to.equal(4);
    for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) expect(dist(n, idx[n]!)).to.be.at.most(dist(n, k));
    expect(Array.from(idx)).to.not.include(9);
  });

  it('finite differences match analytic straight-through gradients (dec.out.b, dec.ln.b, vq.codebook, enc.ln.b, attention k-bias = 0)', () => {
    const r = freshRng();
    const c = tiny;
    const B = 2;
    const N = B * tokensPerImage(c);
    const [C, D, PP3] = [c.codeDim, c.width, c.patch * c.patch * 3];
    const p = randomParams(c, seedOf(r));
    const img = images(c, B, r);
    const base = forwardModel(c, p, img, B);
    // recon = mean((Y − X)²) over Y = patchify(rec), X = patchify(images): dL/dY = 2(Y − X)/n.
    const Y = patchifyRef(base.reconstruction, B, 32, 32, c.patch);
    const X = patchifyRef(img, B, 32, 32, c.patch);
    const G = Y.map((y, i) => (2 * (y - X[i]!)) / Y.length);
    // dec.out.b only enters recon: d/db_j = Σ_rows G[r, j].
    const dOutB = Array.from({ length: PP3 }, (_, j) => {
      let s = 0;
      for (let t = 0; t < N; t++) s += G[t * PP3 + j]!;
      return s;
    });
    // dec.ln.b: its output feeds y = ·dec.out.w, so d/dβ_j = Σ_r Σ_k G[r, k]·W[j, k].
    const W = p.get('dec.out.w')!;
    const dLnB = Array.from({ length: D }, (_, j) => {
      let s = 0;
      for (let t = 0; t < N; t++) for (let k = 0; k < PP3; k++) s += G[t * PP3 + k]! * W[j * PP3 + k]!;
      return s;
    });
    // vq.codebook under straight-through: only the codebook term, d/de_k = 2/(N·C)·Σ_{t: idx_t = k}(e_k − z_t).
    const used = [...new Set(base.indices)].slice(0, 4);
    const unused = [...Array(c.codebookSize).keys()].find((k) => !base.indices.includes(k));
    const cbRows = unused === undefined ? used : [...used, unused];
    const cb = p.get('vq.codebook')!;
    const cbIdx = cbRows.flatMap((k) => [k * C, k * C + 7, k * C + C - 1]);
    const dCb = cbIdx.map((i) => {
      const [k, d] = [Math.floor(i / C), i % C];
      let s = 0;
      for (let t = 0; t < N; t++) if (base.indices[t] === k) s += cb[i]! - base.z[t * C + d]!;
      return (2 * s) / (N * C);
    });
    // enc.ln.b (z = enc.ln output here, codeDim = width): zq moves with z (straight-through), the
    // codebook term does not (z0 frozen), the commitment term gives 2β/(N·C)·Σ_t (z − e0)[t, j]:
    // d/dβ_j = (directional difference of recon along column j of the decoder input) + that.
    expect(C).to.equal(D);
    const lnJ = [0, 17, D - 1];
    const h = 1e-5;
    const reconShifted = (j: number, s: number): number => {
      const zq = base.frozen.e0.slice();
      for (let t = 0; t < N; t++) zq[t * C + j] += s;
      return mseRef(decodeRef(c, p, zq, B), img);
    };
    const dEncLnB = lnJ.map((j) => {
      let commit = 0;
      for (let t = 0; t < N; t++) commit += base.z[t * C + j]! - base.frozen.e0[t * C + j]!;
      return (reconShifted(j, h) - reconShifted(j, -h)) / (2 * h) + (2 * c.beta * commit) / (N * C);
    });
    const qkvB = [0, 5, D, D + 9, 2 * D - 1, 2 * D, 3 * D - 1];
    const sample = [
      ...lnJ.map((index) => ({ name: 'enc.ln.b', index })),
      ...dOutB.map((_, index) => ({ name: 'dec.out.b', index })),
      ...dLnB.map((_, index) => ({ name: 'dec.ln.b', index })),
      ...cbIdx.map((index) => ({ name: 'vq.codebook', index })),
      ...qkvB.map((index) => ({ name: 'enc.blocks.1.attn.qkv.b', index })),
    ];
    const fd = finiteDifferenceGrads(c, p, img, B, sample);
    const check = (name: string, want: number[]): void => {
      const got = fd.get(name)!;
      const scale = Math.max(...want.map(Math.abs));
      expect(scale, name).to.be.above(1e-6);
      want.forEach((v, i) => expect(Math.abs(got[i]! - v), `${name}[${i}]: FD ${got[i]} vs analytic ${v} (seed ${RUN_SEED})`).to.be.at.most(1e-6 * scale));
    };
    check('dec.out.b', dOutB);
    check('dec.ln.b', dLnB);
    check('vq.codebook', dCb);
    check('enc.ln.b', dEncLnB);
    if (unused !== undefined) expect(dCb.slice(-3)).to.deep.equal([0, 0, 0]);
    // A key bias adds q·b_k to every score of a query row: softmax ignores it, so its gradient is 0
    // while the query and value biases matter (a check of the q/k/v column layout).
    const gq = fd.get('enc.blocks.1.attn.qkv.b')!;
    const big = Math.max(...gq.map(Math.abs));
    expect(big).to.be.above(1e-7);
    qkvB.forEach((col, i) => {
      const isKey = col >= D && col < 2 * D;
      // 1e-9: about 20× the rounding noise of a difference quotient of a loss near 1 with h = 1e-5.
      if (isKey) expect(Math.abs(gq[i]!), `k bias ${col}`).to.be.below(1e-9);
    });
    expect(Math.abs(gq[0]!) + Math.abs(gq[1]!)).to.be.above(1e-4 * big);
    expect(Math.abs(gq[5]!) + Math.abs(gq[6]!)).to.be.above(1e-4 * big);
    // The parameters were restored.
    expect(forwardModel(c, p, img, B).total).to.equal(base.total);
  });

  it('finiteDifferenceGrads over every tensor (3 elements each) on tiny, B = 2, in under 20 s', () => {
    const r = freshRng();
    const c = tiny;
    const B = 2;
    const p = randomParams(c, seedOf(r));
    const img = images(c, B, r);
    const used = [...new Set(forwardModel(c, p, img, B).indices)];
    const sample: { name: string; index: number }[] = [];
    for (const s of paramSpecs(c)) {
      const n = p.get(s.name)!.length;
      for (let i = 0; i < 3; i++) {
        // Codebook rows no token chose have zero gradient: sample the used ones.
        const index = s.name === 'vq.codebook' ? used[Math.floor(r() * used.length)]! * c.codeDim + Math.floor(r() * c.codeDim) : Math.floor(r() * n);
        sample.push({ name: s.name, index });
      }
    }
    const t0 = performance.now();
    const fd = finiteDifferenceGrads(c, p, img, B, sample);
    const ms = performance.now() - t0;
    console.log(`      ${sample.length} finite differences (${2 * sample.length + 1} forwards) in ${(ms / 1000).toFixed(2)} s`);
    expect(ms).to.be.below(20_000);
    expect(fd.size).to.equal(paramSpecs(c).length);
    for (const s of paramSpecs(c)) {
      const g = fd.get(s.name)!;
      expect(g.length).to.equal(3);
      for (const v of g) expect(Number.isFinite(v), s.name).to.equal(true);
      // Every element moves the loss, except attention key biases (softmax ignores them: gradient 0).
      const at = sample.filter((e) => e.name === s.name).map((e) => e.index);
      const keyBias = (i: number): boolean => s.name.endsWith('attn.qkv.b') && i >= c.width && i < 2 * c.width;
      // (The largest of the others is checked: one element may have a near-zero gradient by chance.)
      let largest = 0;
      g.forEach((v, i) => {
        if (keyBias(at[i]!)) expect(Math.abs(v), `${s.name}[${at[i]}]`).to.be.below(1e-9);
        else largest = Math.max(largest, Math.abs(v));
      });
      if (!at.every(keyBias)) expect(largest, `${s.name}: ${g.join(', ')} (seed ${RUN_SEED})`).to.be.above(1e-8);
    }
  });
});
