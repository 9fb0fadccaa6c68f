/**
 * GPU memory on an application's own device: tok1d never destroys the device, so everything it made
 * there must be destroyed by tokenizer.dispose() and engine.dispose(). The device handed to the
 * engine is wrapped so that every buffer and texture created through it is recorded, and each
 * destroy() call is seen.
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryTuneStore } from '../src/gpu/autotune.js';
import type { AcquiredDevice } from '../src/gpu/node.js';
import { createEngine } from '../src/node-engine.js';
import { Tokenizer } from '../src/model/tokenizer.js';
import { deviceOrSkip, freshRng, randomF32, TEST_BACKENDS } from './helpers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BUNDLED = join(ROOT, 'models', 'default.safetensors');

interface Tracked {
  device: GPUDevice;
  /** Buffers and textures created through `device` and not destroyed since. */
  alive: Set<GPUBuffer | GPUTexture>;
  created: { buffers: number; textures: number };
}

/**
 * `device` behind a proxy whose createBuffer / createTexture record what they return and wrap its
 * destroy(); everything else goes to the device itself.
 */
function trackDevice(device: GPUDevice): Tracked {
  const alive = new Set<GPUBuffer | GPUTexture>();
  const created = { buffers: 0, textures: 0 };
  const track = <T extends GPUBuffer | GPUTexture>(o: T): T => {
    alive.add(o);
    const destroy = o.destroy.bind(o);
    o.destroy = () => {
      alive.delete(o);
      destroy();
    };
    return o;
  };
  const proxy = new Proxy(device, {
    get(target, prop) {
      if (prop === 'createBuffer')
        return (d: GPUBufferDescriptor) => {
          created.buffers++;
          return track(target.createBuffer(d));
        };
      if (prop === 'createTexture')
        return (d: GPUTextureDescriptor) => {
          created.textures++;
          return track(target.createTexture(d));
        };
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { device: proxy, alive, created };
}

function describeAlive(alive: Set<GPUBuffer | GPUTexture>): string {
  const counts = new Map<string, number>();
  for (const o of alive) counts.set(o.label || '(no label)', (counts.get(o.label || '(no label)') ?? 0) + 1);
  return [...counts].map(([l, n]) => `${n}× ${l}`).join(', ');
}

/** Writes a few words into a new buffer on `device` and reads them back. */
async function roundTrip(device: GPUDevice): Promise<number[]> {
  const data = new Uint32Array([7, 11, 13, 0xdeadbeef]);
  const src = device.createBuffer({ size: 16, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  const dst = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(src, 0, data);
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(src, 0, dst, 0, 16);
  device.queue.submit([enc.finish()]);
  await dst.mapAsync(GPUMapMode.READ);
  const back = Array.from(new Uint32Array(dst.getMappedRange().slice(0)));
  dst.unmap();
  src.destroy();
  dst.destroy();
  return back;
}

for (const backend of TEST_BACKENDS) {
  describe(`disposal on an application's device [${backend}]`, function () {
    let acquired: AcquiredDevice | undefined;
    before(async function () {
      acquired = await deviceOrSkip(this, backend);
    });
    after(() => acquired?.release());

    it('engine.resource(): one value per key; release(owner) frees the derived ones once recorded work is submitted; dispose() the rest', async () => {
      const engine = await createEngine({ device: acquired!.device, tuneStore: new MemoryTuneStore() });
      const destroyed: string[] = [];
      const make = (key: string, owner?: Parameters<typeof engine.resource>[3]) => engine.resource(key, () => ({ key }), (v) => destroyed.push(v.key), owner);
      const w = engine.upload(new Float32Array([1, 2, 3, 4]), [4]);
      const a = make('a');
      expect(make('a'), 'the same key gives the same value').to.equal(a);
      make('w packed', w);
      make('w other', w);
      engine.fill(w, 0); // recorded work that may read what w's resources hold
      engine.release(w);
      expect(engine.peekResource('w packed'), 'forgotten at release').to.equal(undefined);
      expect(destroyed, 'not destroyed before the work recorded is submitted').to.deep.equal([]);
      engine.flush();
      expect(destroyed.sort()).to.deep.equal(['w other', 'w packed']);
      expect(engine.resourceCount).to.equal(1);
      engine.dispose();
      expect(destroyed.sort()).to.deep.equal(['a', 'w other', 'w packed']);
      expect(engine.resourceCount).to.equal(0);
    });

    it('tokenizer.dispose() frees its weight textures, engine.dispose() every other buffer and texture; the device still works', async function () {
      const tracked = trackDevice(acquired!.device);
      const engine = await createEngine({ device: tracked.device, tuneStore: new MemoryTuneStore() });
      const tok = existsSync(BUNDLED) ? await Tokenizer.load(BUNDLED, { engine, tune: 'stored' }) : await Tokenizer.random('tiny', 1, { engine, tune: 'stored' });
      const S = tok.config.imageSize;
      const r = freshRng();
      const images = [randomF32(S * S * 3, r), randomF32(S * S * 3, r)];
      const ids = await tok.encode(images);
      const back = await tok.decode(ids);
      expect(back).to.have.length(2);
      // Software adapters take the texture variants: weights are packed into textures of their own.
      const derived = (labels: string[]) => [...tracked.alive].filter((o) => labels.includes(o.label)).length;
      const WEIGHT_LABELS = ['matmul weight', 'codebook packed'];
      expect(engine.info.software, 'a software adapter').to.equal(true);
      expect(derived(WEIGHT_LABELS), 'weight textures while the tokenizer lives').to.be.greaterThan(0);
      expect(tracked.created.buffers, 'buffers created').to.be.greaterThan(0);

      tok.dispose();
      expect(derived(WEIGHT_LABELS), `weight textures after tokenizer.dispose() (alive: ${describeAlive(tracked.alive)})`).to.equal(0);
      expect(tracked.alive.size, 'the engine still holds its pool and scratch').to.be.greaterThan(0);

      engine.dispose();
      expect(tracked.alive.size, `alive after engine.dispose(): ${describeAlive(tracked.alive)}`).to.equal(0);

      expect(await roundTrip(acquired!.device)).to.deep.equal([7, 11, 13, 0xdeadbeef]);
    });
  });
}
