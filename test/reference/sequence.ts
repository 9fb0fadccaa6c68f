/**
 * Float64 references for the TiTok-specific kernels: token-row assembly (sequence.wgsl), the 3×3
 * convolution (conv.wgsl), the value-range affine map, and the reference's pixel shuffle written
 * as its einops pattern on NCHW tensors (independent of tok1d's NHWC unpatchify).
 */

export type RowSourceRef = 'perImage' | 'shared' | 'repeat';

/** x with rows [offset, offset + rows) of every image set to src row + pos[pos0 + r] (x copied). */
export function rowsIntoRef(x: Float64Array | Float32Array, shape: [number, number, number], src: ArrayLike<number>, pos: ArrayLike<number>, o: { offset: number; rows: number; source: RowSourceRef; posOffset?: number }): Float64Array {
  const [B, L, D] = shape;
  const out = Float64Array.from(x);
  const p0 = o.posOffset ?? 0;
  for (let b = 0; b < B; b++)
    for (let r = 0; r < o.rows; r++) {
      const srow = o.source === 'perImage' ? b * o.rows + r : o.source === 'shared' ? r : 0;
      for (let c = 0; c < D; c++) out[(b * L + o.offset + r) * D + c] = src[srow * D + c]! + pos[(p0 + r) * D + c]!;
    }
  return out;
}

/** x[:, offset : offset + rows, :]. */
export function rowsFromRef(x: ArrayLike<number>, shape: [number, number, number], offset: number, rows: number): Float64Array {
  const [B, L, D] = shape;
  const out = new Float64Array(B * rows * D);
  for (let b = 0; b < B; b++) for (let r = 0; r < rows; r++) for (let c = 0; c < D; c++) out[(b * rows + r) * D + c] = x[(b * L + offset + r) * D + c]!;
  return out;
}

/** NHWC 3×3 convolution, stride 1, zero padding 1; weight [cout, cin, 3, 3] (PyTorch layout). */
export function conv3x3Ref(x: ArrayLike<number>, shape: [number, number, number, number], w: ArrayLike<number>, bias: ArrayLike<number>, cout: number): Float64Array {
  const [B, H, W, cin] = shape;
  const out = new Float64Array(B * H * W * cout);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let x0 = 0; x0 < W; x0++)
        for (let o = 0; o < cout; o++) {
          let acc = bias[o]!;
          for (let ky = 0; ky < 3; ky++)
            for (let kx = 0; kx < 3; kx++) {
              const yy = h + ky - 1;
              const xx = x0 + kx - 1;
              if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
              for (let c = 0; c < cin; c++) acc += x[((b * H + yy) * W + xx) * cin + c]! * w[((o * cin + c) * 3 + ky) * 3 + kx]!;
            }
          out[((b * H + h) * W + x0) * cout + o] = acc;
        }
  return out;
}

/**
 * The reference decoder's `Rearrange('b (p1 p2 c) h w -> b c (h p1) (w p2)')` on an NCHW tensor
 * [B, P·P·3, G, G] → [B, 3, G·P, G·P].
 */
export function pixelShuffleNchwRef(x: ArrayLike<number>, B: number, P: number, G: number): Float64Array {
  const S = G * P;
  const out = new Float64Array(B * 3 * S * S);
  for (let b = 0; b < B; b++)
    for (let p1 = 0; p1 < P; p1++)
      for (let p2 = 0; p2 < P; p2++)
        for (let c = 0; c < 3; c++)
          for (let h = 0; h < G; h++)
            for (let w = 0; w < G; w++) {
              const ch = (p1 * P + p2) * 3 + c;
              out[((b * 3 + c) * S + h * P + p1) * S + w * P + p2] = x[((b * P * P * 3 + ch) * G + h) * G + w]!;
            }
  return out;
}

/**
 * rowsInto's backward for one table it read, from dx [B, L, D]: the gradient [tableRows, D] of
 * Σ dx · rowsInto(...) with respect to that table. role: the table's source kind, or 'position'.
 */
export function rowsIntoBackwardRef(dx: ArrayLike<number>, shape: [number, number, number], tableRows: number, o: { offset: number; rows: number; source: RowSourceRef | 'position'; tableOffset?: number }): Float64Array {
  const [B, L, D] = shape;
  const out = new Float64Array(tableRows * D);
  const q0 = o.tableOffset ?? 0;
  for (let b = 0; b < B; b++)
    for (let r = 0; r < o.rows; r++) {
      const q = q0 + (o.source === 'perImage' ? b * o.rows + r : o.source === 'repeat' ? 0 : r);
      for (let c = 0; c < D; c++) out[q * D + c] += dx[(b * L + o.offset + r) * D + c]!;
    }
  return out;
}

/** rowsFrom's backward: dy [B, rows, D] placed at rows [offset, offset + rows) of zeros [B, L, D]. */
export function rowsFromBackwardRef(dy: ArrayLike<number>, shape: [number, number, number], offset: number, rows: number): Float64Array {
  const [B, L, D] = shape;
  const out = new Float64Array(B * L * D);
  for (let b = 0; b < B; b++) for (let r = 0; r < rows; r++) for (let c = 0; c < D; c++) out[(b * L + offset + r) * D + c] = dy[(b * rows + r) * D + c]!;
  return out;
}

/** conv3x3's backward from dy [B, H, W, cout]: dx [B, H, W, cin], dw [cout, cin, 3, 3], db [cout]. */
export function conv3x3BackwardRef(dy: ArrayLike<number>, x: ArrayLike<number>, shape: [number, number, number, number], w: ArrayLike<number>, cout: number): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const [B, H, W, cin] = shape;
  const dx = new Float64Array(B * H * W * cin);
  const dw = new Float64Array(cout * cin * 9);
  const db = new Float64Array(cout);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let x0 = 0; x0 < W; x0++)
        for (let o = 0; o < cout; o++) {
          const g = dy[((b * H + h) * W + x0) * cout + o]!;
          db[o] += g;
          for (let ky = 0; ky < 3; ky++)
            for (let kx = 0; kx < 3; kx++) {
              const yy = h + ky - 1;
              const xx = x0 + kx - 1;
              if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
              for (let c = 0; c < cin; c++) {
                const xi = ((b * H + yy) * W + xx) * cin + c;
                const wi = ((o * cin + c) * 3 + ky) * 3 + kx;
                dx[xi] += g * w[wi]!;
                dw[wi] += g * x[xi]!;
              }
            }
        }
  return { dx, dw, db };
}
