/**
 * Runs each kernel family on the current device with random inputs and writes inputs and outputs
 * as raw little-endian files plus manifest.json, for tools/torch_check.py (an independent
 * float64 reference in PyTorch). Usage: node dist/tools/dump-cases.js DIR [--backend B]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createEngine } from '../src/node-engine.js';
import type { BackendName } from '../src/gpu/node.js';
import { matmul, gelu, layernorm, softmax, attention, codebookSearch } from '../src/ops/index.js';
import type { Tensor } from '../src/tensor.js';

const dir = process.argv[2] ?? 'cases';
const bi = process.argv.indexOf('--backend');
const backend = (bi > 0 ? process.argv[bi + 1] : undefined) as BackendName | undefined;
mkdirSync(dir, { recursive: true });

let seed = 12345;
function rand(n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    a[i] = ((seed / 4294967296) * 2 - 1) * scale;
  }
  return a;
}

interface Entry {
  name: string;
  op: string;
  params: Record<string, unknown>;
  inputs: Record<string, { file: string; shape: number[] }>;
  outputs: Record<string, { file: string; shape: number[]; dtype: string }>;
}
const manifest: { adapter: unknown; cases: Entry[] } = { adapter: null, cases: [] };

const engine = await createEngine({ backend });
manifest.adapter = engine.info;
try {
  const save = (name: string, data: ArrayBufferView) => {
    writeFileSync(join(dir, name), new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return name;
  };
  async function record(name: string, op: string, params: Record<string, unknown>, ins: Record<string, [Float32Array, number[]]>, run: (t: Record<string, Tensor>) => Record<string, Tensor>) {
    const tensors: Record<string, Tensor> = {};
    const inputs: Entry['inputs'] = {};
    for (const [k, [data, shape]] of Object.entries(ins)) {
      tensors[k] = engine.upload(data, shape);
      inputs[k] = { file: save(`${name}.${k}.bin`, data), shape };
    }
    const outs = run(tensors);
    const outputs: Entry['outputs'] = {};
    for (const [k, t] of Object.entries(outs)) {
      const data = await engine.read(t);
      outputs[k] = { file: save(`${name}.out.${k}.bin`, data), shape: [...t.shape], dtype: t.dtype };
      engine.release(t);
    }
    for (const t of Object.values(tensors)) engine.release(t);
    manifest.cases.push({ name, op, params, inputs, outputs });
  }

  for (const [M, N, K] of [[16, 1024, 12288], [16, 3072, 1024], [256, 1024, 1024], [33, 47, 129]] as const) {
    await record(`matmul_${M}x${N}x${K}`, 'matmul', { act: 'gelu' }, { a: [rand(M * K), [M, K]], b: [rand(K * N), [K, N]], bias: [rand(N), [N]] }, (t) => ({
      c: matmul(engine, t.a!, t.b!, { bias: t.bias, act: 'gelu' }),
    }));
  }
  await record('matmul_bt_64x96x80', 'matmul_bt', {}, { a: [rand(64 * 80), [64, 80]], b: [rand(96 * 80), [96, 80]] }, (t) => ({ c: matmul(engine, t.a!, t.b!, { transB: true }) }));
  await record('matmul_at_64x96x80', 'matmul_at', {}, { a: [rand(80 * 64), [80, 64]], b: [rand(80 * 96), [80, 96]] }, (t) => ({ c: matmul(engine, t.a!, t.b!, { transA: true }) }));
  for (const approx of ['erf', 'tanh'] as const) {
    await record(`gelu_${approx}`, `gelu_${approx}`, {}, { x: [rand(4096 * 1024, 6), [4096, 1024]] }, (t) => ({ y: gelu(engine, t.x!, approx) }));
  }
  await record('layernorm_4096x1024', 'layernorm', { eps: 1e-5 }, { x: [rand(4096 * 1024, 3), [4096, 1024]], gamma: [rand(1024), [1024]], beta: [rand(1024), [1024]] }, (t) => {
    const r = layernorm(engine, t.x!, t.gamma!, t.beta!, 1e-5);
    return { y: r.y, mean: r.mean, rstd: r.rstd };
  });
  await record('softmax_4096x1024', 'softmax', {}, { x: [rand(4096 * 1024, 10), [4096, 1024]] }, (t) => ({ y: softmax(engine, t.x!) }));
  for (const seq of [16, 256, 1024]) {
    const heads = 16;
    const headDim = 64;
    await record(`attention_s${seq}`, 'attention', { batch: 1, seq, heads, headDim }, { qkv: [rand(seq * 3 * heads * headDim, 2), [1, seq, 3 * heads * headDim]] }, (t) => {
      const r = attention(engine, t.qkv!, { batch: 1, seq, heads, headDim });
      return { out: r.out, lse: r.lse };
    });
  }
  for (const n of [16, 256]) {
    await record(`codebook_${n}`, 'codebook', {}, { z: [rand(n * 1024), [n, 1024]], codebook: [rand(8192 * 1024), [8192, 1024]] }, (t) => {
      const r = codebookSearch(engine, t.z!, t.codebook!);
      return { indices: r.indices, distances: r.distances };
    });
  }
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 1));
  console.log(`wrote ${manifest.cases.length} cases to ${dir}`);
} finally {
  engine.dispose();
}
