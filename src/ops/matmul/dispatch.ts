/** matmul(): the plan for the call, its operands bound, one dispatch (two with split-K). */
import { Engine, grid } from '../../gpu/engine.js';
import { MATMUL, MATMUL_SPLITK, MATMUL_TEX } from '../../gpu/uniforms.js';
import { Tensor, numel, shapeStr } from '../../tensor.js';
import { ACT_CODE, type MatmulOptions, choosePlan, dims, fold, knFits, matmulTile, maxPartialBytes, partialElements, planName, runsTn, splitK, textureWorkgroup, texturesFit } from './plan.js';
import { type Operand, operand } from './textures.js';

/**
 * C = act(alpha · op(A) · op(B) + bias) (+ beta · C), batched over leading dimensions (a batch of 1
 * broadcasts). A: [.., M, K] or [.., K, M] (transA); B: [.., K, N] or [.., N, K] (transB).
 * Result: [batch.., M, N] (leading dims of the larger-batch operand). The kernel and its tile come
 * from the engine's tuner when this shape class was tuned on the device (src/gpu/autotune.ts),
 * else from the fixed rule (defaultMatmulVariant); `variant`, `tile` or `plan` force one.
 */
export function matmul(engine: Engine, a: Tensor, b: Tensor, o: MatmulOptions = {}): Tensor {
  const d0 = dims(a, b, o);
  const d = fold(d0, !!o.transA);
  const { batch, M, N, K } = d;
  const plan = choosePlan(engine, d, o, b);
  const variant = plan.variant;
  if (plan.kn && !knFits(engine, d)) throw new Error(`matmul: plan ${planName(plan)} needs A·B (neither transposed) within the texture limits`);
  if (variant === 'texture' && !plan.kn && !texturesFit(engine, d)) throw new Error(`matmul: shape too large for the texture variant on this device`);
  if (o.bias && o.bias.size !== N) throw new Error(`matmul: bias has ${o.bias.size} values, expected ${N}`);
  const lead = (d0.batchA >= d0.batchB ? a.shape.slice(0, -2) : b.shape.slice(0, -2));
  const outShape = [...lead, d0.M, N];
  if (o.out && o.out.size !== numel(outShape)) throw new Error(`matmul: out has shape ${shapeStr(o.out.shape)}, expected ${shapeStr(outShape)}`);
  const accumulate = o.beta !== undefined && o.beta !== 0;
  if (accumulate && !o.out) throw new Error('matmul: beta needs an out tensor to accumulate into');
  const out = o.out ?? engine.empty(outShape);

  const K4 = Math.ceil(K / 4);
  const bias = o.bias ?? engine.placeholder(0);
  const act = ACT_CODE[o.act ?? 'none'];
  // The epilogue's aux tensor (epilogue.wgsl): 1 keeps act's input, 2 applies act' instead of act.
  if (o.preact && o.actGradOf) throw new Error('matmul: preact and actGradOf exclude each other');
  const auxTensor = o.preact ?? o.actGradOf;
  if (auxTensor && act === 0) throw new Error(`matmul: ${o.preact ? 'preact' : 'actGradOf'} needs an activation (act)`);
  if (auxTensor && auxTensor.size !== out.size) throw new Error(`matmul: ${o.preact ? 'preact' : 'actGradOf'} has ${auxTensor.size} values, expected ${out.size}`);
  const aux = auxTensor ?? engine.placeholder(1);
  const auxMode = o.preact ? 1 : o.actGradOf ? 2 : 0;
  const alpha = o.alpha ?? 1;
  const beta = o.beta ?? 0;
  const tn = runsTn(plan, o);
  const { splits, kChunk4 } = splitK(plan, d, tn);
  if (o.colSums && !(tn && splits === 1 && batch === 1)) throw new Error('matmul: colSums needs a one-pass Aᵀ·B on the texture variant (see fusesColumnSums)');
  if (o.colSums && o.colSums.size !== N) throw new Error(`matmul: colSums has ${o.colSums.size} values, expected ${N}`);
  if (splits > 1 && partialElements(d, splits) * 4 > maxPartialBytes(engine)) throw new Error('matmul: split-K partial sums exceed the binding limit');
  const partial = splits > 1 ? engine.empty([partialElements(d, splits)]) : null;
  const target = partial ?? out;
  // The one-pass kernels apply AUX themselves; with split-K the reduce pass does.
  const AUX = partial ? 0 : auxMode;
  let opA: Operand;
  let opB: Operand;
  if (variant === 'texture') {
    // The tile: 16×16, 16×32 (wide) or 32×32 (tall); kn plans run the 16×16 one.
    const rows = plan.rows ?? 16;
    const cols = rows === 32 ? 32 : (plan.cols ?? 16);
    const tile = rows === 32 ? '_tall' : cols === 32 ? '_wide' : '';
    // Per entry: steps over K (rows for main_tn, vec4s otherwise) and A's and B's batch strides.
    let entry: string;
    let steps = K4;
    let strideA: number;
    let strideB: number;
    if (tn) {
      // A stored [K, M] and B stored [K, N], each as vec4 rows ([K][ceil(M/4)]; packed only to pad).
      opA = operand(engine, a, K, M, K, false, d.batchA, 'storage');
      opB = operand(engine, b, K, N, K, false, d.batchB, 'storage');
      entry = `main_tn${tile}${o.colSums ? '_colsums' : ''}`;
      steps = K;
      strideA = K * Math.ceil(M / 4);
      strideB = K * Math.ceil(N / 4);
    } else if (plan.kn) {
      // A as [M, K] in storage (as main), B as stored: its [K, N] rows are the texture's rows.
      opA = operand(engine, a, M, K, M, false, d.batchA, 'storage');
      opB = operand(engine, b, K, N, K, false, d.batchB, 'texture');
      entry = 'main_kn';
      strideA = M;
      strideB = K;
    } else {
      // Both operands K-major: B as Bᵀ [N, K] in a texture; A as [M, K] in a texture for the wide
      // tiles, in storage for the 16×16 one (the tensor itself when row-major with K % 4 == 0).
      opA = operand(engine, a, M, K, M, !!o.transA, d.batchA, cols === 16 ? 'storage' : variant);
      // B's texture in the panel layout when B is constant (the texture is kept): one memory
      // stream per invocation along K.
      opB = operand(engine, b, N, K, N, !o.transB, d.batchB, variant, true);
      entry = `main${tile}`;
      strideA = M;
      strideB = opB.panel?.batchRows ?? N;
    }
    const wg = plan.wg ?? textureWorkgroup(d, cols, rows);
    engine.dispatch(
      'matmul_tex',
      entry,
      [opA.resource, opB.resource, bias, target, o.colSums ?? null, aux],
      MATMUL_TEX.with({ M, N, K4: steps, aBatchRows: d.batchA === 1 ? 0 : strideA, bBatchRows: d.batchB === 1 ? 0 : strideB, hasBias: o.bias ? 1 : 0, splits, kChunk4, alpha, beta, bShift: opB.panel?.shift ?? 0, bTileRows: opB.panel?.tileRows ?? 0 }),
      [Math.ceil(Math.ceil(N / cols) / wg), Math.ceil(M / rows), batch * splits],
      { WG: wg, ACT: act, ACC: accumulate && splits === 1 ? 1 : 0, PARTIAL: splits > 1 ? 1 : 0, AUX, VEC4: N % 4 === 0 ? 1 : 0, ...(opB.panel ? { BPANEL: 1 } : {}) },
    );
  } else {
    const Kp = K4 * 4;
    opA = operand(engine, a, M, K, M, !!o.transA, d.batchA, variant);
    opB = operand(engine, b, K, N, Kp, !!o.transB, d.batchB, variant);
    const t = o.tile ?? matmulTile(d, plan);
    const N4 = Math.ceil(N / 4);
    engine.dispatch(
      'matmul',
      'main',
      [opA.resource, opB.resource, bias, target, null, aux],
      MATMUL.with({ M, N, K4, N4, aBatchRows: d.batchA === 1 ? 0 : M, bBatchRows: d.batchB === 1 ? 0 : Kp, hasBias: o.bias ? 1 : 0, accumulate: accumulate ? 1 : 0, splits, kChunk4, alpha, beta }),
      [Math.ceil(N4 / (t.tn4 * t.wgx)), Math.ceil(M / (t.tm * t.wgy)), batch * splits],
      { TM: t.tm, TN4: t.tn4, WGX: t.wgx, WGY: t.wgy, ACT: act, AUX },
    );
  }
  if (partial) {
    const total = batch * M * N;
    const g = grid(Math.ceil(total / engine.flatWG));
    engine.dispatch('matmul_splitk', 'reduce', [partial, bias, out, null, null, aux], MATMUL_SPLITK.with({ M, N, total, stride: g[0] * engine.flatWG, splits, hasBias: o.bias ? 1 : 0, accumulate: accumulate ? 1 : 0, alpha, beta }), g, { ACT: act, AUX: auxMode });
    engine.release(partial);
  }
  opA.done();
  opB.done();
  out.touch();
  return out;
}
