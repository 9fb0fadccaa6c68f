/**
 * tok1d on devices with WebGPU's default limits, as an application that keeps the defaults hands
 * them over: compatibility mode on llvmpipe (Dawn's OpenGL backend: 128 invocations per workgroup,
 * 16 KiB of workgroup storage) and core on SwiftShader (Vulkan). The bundled model must give the
 * same token ids and pixels there as on tok1d's own device of the same backend, a training step the
 * same losses, and every kernel family its float64 self-test. A device (or a model) that needs more
 * than the device has is refused at once, with one line naming the limit.
 */
import { expect } from 'chai';
import { basename } from 'node:path';
import { MemoryTuneStore } from '../src/gpu/autotune.js';
import type { Engine } from '../src/gpu/engine.js';
import { KernelSources } from '../src/gpu/kernels.js';
import { flatWorkgroupSize, largestParameter, LimitError, limitsToRaise, MINIMUM_LIMITS, type Limits } from '../src/gpu/limits.js';
import { packedSource, packingPlan } from '../src/gpu/storage-packing.js';
import { entryBindingCounts, entryBindings, parseWgsl, type BindingCounts } from '../src/gpu/wgsl-bindings.js';
import { acquireNodeDevice, nodeKernelFiles, nodeKernelReader, type AcquiredDevice, type BackendName } from '../src/gpu/node.js';
import { FAMILIES } from '../src/cli/families.js';
import { runSelfTest } from '../src/cli/doctor.js';
import { PRESETS } from '../src/model/config.js';
import { TokenizerModel } from '../src/model/model.js';
import { bundledCheckpoint, Tokenizer } from '../src/model/tokenizer.js';
import { loadCheckpoint } from '../src/model/checkpoint.js';
import { createEngine } from '../src/node-engine.js';
import { Trainer } from '../src/train/trainer.js';
import { layernorm } from '../src/ops/layernorm.js';
import { softmax } from '../src/ops/softmax.js';
import { mse } from '../src/ops/elementwise.js';
import { gradNorm } from '../src/train/optim.js';
import { layernormRef } from '../src/check/layernorm.js';
import { softmaxRef } from '../src/check/softmax.js';
import { mseRef } from '../src/check/elementwise.js';
import { expectNoStack, tok1d } from './cli-run.js';
import { patternedImages } from './patterned-images.js';
import { engineFor, freshRng, randomF32, relL2, TEST_BACKENDS, withLimits, withStorageBufferLimit } from './helpers.js';

/** WebGPU's default limits (core) and Dawn's for compatibility mode, as the devices report them. */
const CORE_DEFAULTS = { maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256, maxComputeWorkgroupStorageSize: 16384 };
const COMPAT_DEFAULTS = { maxComputeInvocationsPerWorkgroup: 128, maxComputeWorkgroupSizeX: 128, maxComputeWorkgroupStorageSize: 16384 };

function limits(over: Partial<Limits>): Limits {
  const base: Limits = {
    maxComputeInvocationsPerWorkgroup: 1024,
    maxComputeWorkgroupSizeX: 1024,
    maxComputeWorkgroupSizeY: 1024,
    maxComputeWorkgroupSizeZ: 64,
    maxComputeWorkgroupStorageSize: 32768,
    maxComputeWorkgroupsPerDimension: 65535,
    maxStorageBuffersPerShaderStage: 8,
    maxStorageTexturesPerShaderStage: 4,
    maxSampledTexturesPerShaderStage: 16,
    maxUniformBufferBindingSize: 65536,
    maxStorageBufferBindingSize: 134217728,
    maxBufferSize: 268435456,
    maxTextureDimension2D: 8192,
  };
  return { ...base, ...over };
}

// ---------------------------------------------------------------- static: what the kernels bind

const KERNEL_NAMES = nodeKernelFiles().map((f) => basename(f, '.wgsl'));

describe('device limits: what the kernels need', () => {
  it('FLAT_WG: 256 on core default limits and above, 128 on compatibility defaults, a power of two within every limit', () => {
    expect(flatWorkgroupSize(limits(CORE_DEFAULTS))).to.equal(256);
    expect(flatWorkgroupSize(limits({}))).to.equal(256);
    expect(flatWorkgroupSize(limits(COMPAT_DEFAULTS))).to.equal(128);
    expect(flatWorkgroupSize(limits({ maxComputeInvocationsPerWorkgroup: 200 }))).to.equal(128);
    expect(flatWorkgroupSize(limits({ maxComputeWorkgroupSizeX: 96 }))).to.equal(64);
    expect(flatWorkgroupSize(limits({ maxComputeWorkgroupStorageSize: 512 }))).to.equal(128);
  });

  it('the minimum texture counts are the most any entry point of kernels/*.wgsl binds; the storage-buffer count the most once inputs are packed', () => {
    const kernels = new KernelSources(nodeKernelReader());
    const most: BindingCounts = { storage: 0, storageTextures: 0, sampledTextures: 0 };
    const min = (l: string) => MINIMUM_LIMITS.find((x) => x.limit === l)!.min;
    const storageMin = min('maxStorageBuffersPerShaderStage');
    let entries = 0;
    let packedStorage = 0;
    const over: string[] = [];
    for (const name of KERNEL_NAMES) {
      const source = kernels.get(name);
      const mod = parseWgsl(source);
      for (const [entry, c] of entryBindingCounts(source)) {
        entries++;
        for (const k of Object.keys(most) as (keyof BindingCounts)[]) most[k] = Math.max(most[k], c[k]);
        // Outputs are never packed: with one packed input beside them they must fit the minimum.
        const writable = entryBindings(mod, entry).filter((b) => b.kind === 'storage' && b.access === 'read_write').length;
        expect(writable + 1, `${name}:${entry} writes ${writable} storage buffers`).to.be.at.most(storageMin);
        const plan = packingPlan(source, name, entry, storageMin);
        if (!plan) {
          packedStorage = Math.max(packedStorage, c.storage);
          continue;
        }
        over.push(`${name}:${entry} ${c.storage}`);
        const variant = packedSource(source, name, entry, plan.candidates.slice(0, plan.merge).map((b) => b.binding));
        packedStorage = Math.max(packedStorage, entryBindingCounts(variant.code).get(entry)!.storage);
      }
    }
    expect(entries).to.be.greaterThan(100);
    expect(storageMin).to.equal(packedStorage);
    expect(min('maxStorageTexturesPerShaderStage')).to.equal(most.storageTextures);
    expect(min('maxSampledTexturesPerShaderStage')).to.equal(most.sampledTextures);
    // The entry points docs/embedding-limits.md lists as packed on a 4-buffer device; the core default (8) covers them all.
    expect(over, over.join(', ')).to.have.length(25);
    expect(most.storage).to.equal(7);
  });

  it('workgroup sizes are written once: each dimension an override without a default (the engine or the op sets it), or 1', () => {
    const kernels = new KernelSources(nodeKernelReader());
    let sizes = 0;
    // probe.wgsl holds the bench's ceiling probes, sized by the bench itself.
    for (const name of KERNEL_NAMES.filter((n) => n !== 'probe')) {
      const src = kernels.get(name);
      const bare = new Set([...src.matchAll(/^override\s+(\w+)\s*:\s*u32\s*;/gm)].map((m) => m[1]!));
      for (const m of src.matchAll(/@workgroup_size\(([^)]*)\)/g)) {
        sizes++;
        for (const d of m[1]!.split(',').map((x) => x.trim())) expect(bare.has(d) || /^1u?$/.test(d), `${name}: ${m[0]}`).to.equal(true);
      }
    }
    expect(sizes).to.be.greaterThan(100);
  });

  it('limitsToRaise names each limit below the minimum, and a model parameter larger than a binding', () => {
    expect(limitsToRaise(limits(COMPAT_DEFAULTS), [['w', 1024]])).to.deep.equal([]);
    const low = limitsToRaise(limits({ maxComputeInvocationsPerWorkgroup: 32, maxStorageBufferBindingSize: 1 << 20 }), [
      ['encoder.w', 1 << 19],
      ['codebook', 1 << 10],
    ]);
    expect(low.map((e) => [e.limit, e.have, e.need])).to.deep.equal([
      ['maxComputeInvocationsPerWorkgroup', 32, 64],
      ['maxStorageBufferBindingSize', 1 << 20, 1 << 21],
    ]);
    expect(low[1]!.message).to.include('encoder.w').and.include('requiredLimits: { maxStorageBufferBindingSize: 2097152 }');
  });
});

// ---------------------------------------------------------------- devices with default limits

/**
 * The devices: default limits as reported, and the same devices reporting (and held to) 4 storage
 * buffers per shader stage, the compatibility-mode default of some Dawn builds, which Dawn does not
 * grant in Node (withStorageBufferLimit).
 */
const DEFAULT_LIMIT_DEVICES: { backend: BackendName; what: string; flatWG: number; storageBuffers?: number }[] = [
  { backend: 'opengl', what: 'compatibility mode, llvmpipe', flatWG: 128 },
  { backend: 'swiftshader', what: 'core, SwiftShader', flatWG: 256 },
  { backend: 'opengl', what: 'compatibility mode, llvmpipe, 4 storage buffers per stage', flatWG: 128, storageBuffers: 4 },
  { backend: 'swiftshader', what: 'core, SwiftShader, 4 storage buffers per stage', flatWG: 256, storageBuffers: 4 },
];

for (const { backend, what, flatWG, storageBuffers } of DEFAULT_LIMIT_DEVICES.filter((d) => TEST_BACKENDS.includes(d.backend))) {
  describe(`default limits: ${what} [${backend}]`, function () {
    let acquired: AcquiredDevice | undefined;
    let app: Engine;
    let own: Engine;
    let held: ReturnType<typeof withStorageBufferLimit> | undefined;
    /** With storageBuffers: an engine on the same device as it reports itself (no packing), for exact comparisons. */
    let plain: Engine | undefined;

    before(async function () {
      const o = await engineFor(backend);
      if (typeof o === 'string') {
        console.log(`      skipped: ${o}`);
        this.skip();
      }
      own = o as Engine;
      acquired = await acquireNodeDevice(backend, { defaultLimits: true });
      // The device as an application made it: handed to createEngine, never destroyed by tok1d.
      held = storageBuffers ? withStorageBufferLimit(acquired.device, storageBuffers) : undefined;
      app = await createEngine({ device: held?.device ?? acquired.device, poison: true, tuneStore: new MemoryTuneStore() });
      if (held) plain = await createEngine({ device: acquired.device, poison: true, tuneStore: new MemoryTuneStore() });
    });

    after(() => {
      app?.dispose();
      plain?.dispose();
      acquired?.release();
    });

    it(`the device has the default limits; FLAT_WG is ${flatWG}`, () => {
      const l = acquired!.device.limits;
      const defaults = backend === 'opengl' ? COMPAT_DEFAULTS : CORE_DEFAULTS;
      for (const [k, v] of Object.entries(defaults)) expect((l as unknown as Record<string, number>)[k], k).to.equal(v);
      expect(app.flatWG).to.equal(flatWG);
      if (storageBuffers) expect(app.limits.maxStorageBuffersPerShaderStage).to.equal(storageBuffers);
      console.log(`      ${l.maxComputeInvocationsPerWorkgroup} invocations, ${l.maxComputeWorkgroupStorageSize} B workgroup storage, ${app.limits.maxStorageBuffersPerShaderStage} storage buffers, ${l.maxStorageBufferBindingSize} B binding`);
    });

    it("the bundled model: encode and decode give the ids and pixels of tok1d's own device", async () => {
      const images = patternedImages(5);
      const run = async (engine: Engine) => {
        const tok = await Tokenizer.load('default', { engine });
        try {
          const ids = await tok.encodePixels(images);
          const back = await tok.decodePixels(ids);
          return { ids: ids.map((a) => Array.from(a)), back };
        } finally {
          tok.dispose();
        }
      };
      const a = await run(app);
      const b = await run(own);
      expect(a.ids).to.deep.equal(b.ids);
      let most = 0;
      a.back.forEach((img, i) => img.data.forEach((v, j) => (most = Math.max(most, Math.abs(v - b.back[i]!.data[j]!)))));
      expect(most, 'largest 8-bit difference of the decoded pixels').to.be.at.most(1);
      if (plain) {
        // Packing moves inputs, not arithmetic: the same device without it gives the same pixels.
        const c = await run(plain);
        expect(a.ids).to.deep.equal(c.ids);
        a.back.forEach((img, i) => expect(Array.from(img.data), `image ${i}`).to.deep.equal(Array.from(c.back[i]!.data)));
      }
    });

    it("a training step (tiny, clipped AdamW): the losses, ids and parameters of tok1d's own device", async () => {
      const tiny = PRESETS.tiny!;
      const S = tiny.imageSize;
      const r = freshRng();
      const x = Float32Array.from({ length: 2 * S * S * 3 }, () => 2 * r() - 1);
      const step = async (engine: Engine) => {
        const model = TokenizerModel.random(engine, tiny, 77);
        const trainer = new Trainer(model, { lr: 1e-3, warmup: 0, totalSteps: 10, clip: 1, weightDecay: 0.01 });
        const input = engine.upload(x, [2, S, S, 3]);
        try {
          const l = trainer.step(input);
          const [recon, indices] = await engine.readMany([l.recon, l.indices]);
          trainer.releaseLosses(l);
          const params = (await engine.readMany([...model.params.values()])) as Float32Array[];
          return { recon: recon![0]!, indices: Array.from(indices!), params };
        } finally {
          engine.release(input, ...model.params.values());
        }
      };
      const a = await step(app);
      const b = await step(own);
      expect(a.indices).to.deep.equal(b.indices);
      expect(Math.abs(a.recon - b.recon) / b.recon).to.be.below(1e-5);
      // AdamW's first step moves each parameter by about ±lr, the sign of its gradient: a gradient
      // element within rounding of zero may round to either sign on two devices whose reductions
      // sum in different orders, and that one parameter then differs by up to 2·lr. Every other
      // parameter must agree to rounding; such flips must stay rare.
      let n = 0;
      let off = 0;
      a.params.forEach((p, i) =>
        p.forEach((v, j) => {
          const w = b.params[i]![j]!;
          n++;
          if (Math.abs(v - w) > 1e-5 * Math.abs(w) + 1e-7) off++;
        }),
      );
      expect(off, `parameters of ${n} that differ beyond rounding`).to.be.at.most(Math.ceil(1e-3 * n));
      if (plain) {
        // Bit for bit against the same device without packing: every parameter after the update.
        const c = await step(plain);
        expect(a.recon).to.equal(c.recon);
        expect(a.indices).to.deep.equal(c.indices);
        a.params.forEach((p, i) => expect(Buffer.from(p.buffer).equals(Buffer.from(c.params[i]!.buffer)), `parameter ${i}`).to.equal(true));
      }
    });

    it('the FLAT_WG reductions against float64: layernorm and softmax (workgroup layout), mse, gradient norm, on odd shapes', async () => {
      const r = freshRng();
      const rows = 5;
      const D = 333;
      const x = randomF32(rows * D, r, -3, 3);
      const gamma = randomF32(D, r);
      const beta = randomF32(D, r);
      const [tx, tg, tb] = [app.upload(x, [rows, D]), app.upload(gamma, [D]), app.upload(beta, [D])];
      const ln = layernorm(app, tx, tg, tb, 1e-5, { layout: 'workgroup' });
      const sm = softmax(app, tx, { layout: 'workgroup' });
      const a = randomF32(12345, r);
      const b = randomF32(12345, r);
      const [ta, tb2] = [app.upload(a, [12345]), app.upload(b, [12345])];
      const m = mse(app, ta, tb2);
      const norm = gradNorm(app, [ta, tx], { layout: 'workgroup' });
      const [y, p, loss, n] = await app.readMany([ln.y, sm, m, norm]);
      expect(relL2(y!, layernormRef(x, gamma, beta, rows, D).y)).to.be.below(1e-5);
      expect(relL2(p!, softmaxRef(x, rows, D))).to.be.below(1e-5);
      expect(Math.abs(loss![0]! - mseRef(a, b)) / mseRef(a, b)).to.be.below(1e-5);
      let sq = 0;
      for (const v of [...a, ...x]) sq += v * v;
      expect(Math.abs(n![0]! - Math.sqrt(sq)) / Math.sqrt(sq)).to.be.below(1e-5);
      app.release(tx, tg, tb, ta, tb2, ln.y, ln.mean, ln.rstd, sm, m, norm);
    });

    it('every kernel family passes its float64 self-test within the default limits', async function () {
      for (const family of FAMILIES) {
        const r = await runSelfTest(app, family);
        expect(r.pass, `${family}: ${r.message}`).to.equal(true);
      }
    });

    if (storageBuffers)
      it(`${storageBuffers} storage buffers: every bind group and pipeline kept within them, through packed variants; none on tok1d's own device`, () => {
        expect(held!.use.bindGroups).to.be.greaterThan(500);
        expect(held!.use.mostInBindGroup).to.equal(storageBuffers);
        expect(held!.use.mostInPipeline).to.equal(storageBuffers);
        expect(app.counters.packedPipelines).to.be.greaterThan(10);
        expect(app.counters.packedCopies).to.be.greaterThan(app.counters.packedPipelines);
        console.log(`      ${app.counters.packedPipelines} packed variants of ${app.counters.pipelinesCompiled} pipelines, ${app.counters.packedCopies} inputs copied over ${app.counters.dispatches} dispatches`);
        expect(own.counters.packedPipelines, "tok1d's own device").to.equal(0);
        expect(own.counters.packedCopies, "tok1d's own device").to.equal(0);
        // The limit is held: a bind group of 5 storage buffers is refused.
        const layout = acquired!.device.createBindGroupLayout({
          entries: Array.from({ length: 5 }, (_, i) => ({ binding: i, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' as const } })),
        });
        const buffers = Array.from({ length: 5 }, () => acquired!.device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE }));
        expect(() => held!.device.createBindGroup({ layout, entries: buffers.map((buffer, i) => ({ binding: i, resource: { buffer } })) })).to.throw(/5 storage buffers, the device allows 4/);
        for (const b of buffers) b.destroy();
      });

    it('a device below a minimum is refused by createEngine, in one line naming the limit, its value and the value needed', async () => {
      const small = withLimits(acquired!.device, { maxComputeInvocationsPerWorkgroup: 32 });
      const err = await createEngine({ device: small }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(LimitError);
      const msg = (err as Error).message;
      expect(msg).to.match(/^this GPU device's maxComputeInvocationsPerWorkgroup is 32; tok1d needs at least 64 \(/);
      expect(msg).to.include('requiredLimits: { maxComputeInvocationsPerWorkgroup: 64 }');
      expect(msg).to.not.include('\n');
      const three = await createEngine({ device: withLimits(acquired!.device, { maxStorageBuffersPerShaderStage: 3 }) }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(three).to.be.instanceOf(LimitError);
      expect((three as Error).message).to.match(/^this GPU device's maxStorageBuffersPerShaderStage is 3; tok1d needs at least 4 \([^\n]*requiredLimits: \{ maxStorageBuffersPerShaderStage: 4 \}[^\n]*$/);
    });

    it('a model whose parameters exceed the binding limit is refused by Tokenizer.load, naming the limit and the size needed', async () => {
      const engine = await createEngine({ device: withLimits(acquired!.device, { maxStorageBufferBindingSize: 64 * 1024 }), tuneStore: new MemoryTuneStore() });
      try {
        const err = await Tokenizer.load('default', { engine }).then(
          (t) => (t.dispose(), null),
          (e: unknown) => e,
        );
        expect(err).to.be.instanceOf(LimitError);
        const msg = (err as Error).message;
        // The whole model is checked before any upload: the value named lets every parameter fit.
        const largest = largestParameter([...(await loadCheckpoint(bundledCheckpoint())).params].map(([n, v]) => [n, v.length]))!;
        expect(msg).to.match(new RegExp(`^this GPU device's maxStorageBufferBindingSize is 65536; tok1d needs at least ${largest.bytes} \\(the model's largest parameter, ${largest.name.replace(/\./g, '\\.')}, is ${largest.bytes} bytes of f32\\)\\. `));
        expect(msg).to.not.include('\n');
        // Nothing reached the device: no validation error is waiting behind the refusal.
        await engine.sync();
      } finally {
        engine.dispose();
      }
    });
  });
}

describe('tok1d doctor --default-limits', () => {
  it('on llvmpipe in compatibility mode: the limits tok1d needs, FLAT_WG 128, nothing to raise, every self-test passing', async function () {
    if (!TEST_BACKENDS.includes('opengl')) this.skip();
    const r = await tok1d(['doctor', '--default-limits', '--backend', 'opengl']);
    expectNoStack(r);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^limits tok1d needs \(device requested with the default limits\)$/m);
    expect(r.stdout).to.match(/^\s+maxComputeInvocationsPerWorkgroup\s+128$/m);
    for (const { limit, min } of MINIMUM_LIMITS) expect(r.stdout).to.match(new RegExp(`^  ok {4}${limit}\\s+needs\\s+(\\d+ [KMG]?i?B \\()?${min}\\)?, has`, 'm'));
    expect(r.stdout).to.match(/^ {2}ok {4}maxStorageBufferBindingSize\s+needs\s+\d+ KiB \(\d+\), has\s+128 MiB \(134217728\)\s+the model's largest parameter, \S+, is \d+ bytes of f32$/m);
    expect(r.stdout).to.match(/^\s+flat workgroup size \(FLAT_WG\)\s+128$/m);
    expect(r.stdout).to.match(/^\s+nothing to raise$/m);
  });
});
