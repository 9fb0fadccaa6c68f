import type { Engine } from '../gpu/engine.js';
import { median } from '../util/stats.js';

/**
 * Peer implementations the bench compares with, run on the engine's own GPUDevice so both sides
 * see the same executor. One peer today: tfjs-backend-webgpu's matmul (devDependencies
 * @tensorflow/tfjs-core and @tensorflow/tfjs-backend-webgpu, 4.22.0).
 */

export interface PeerTiming {
  /** Median, min and max milliseconds of one matmul over the timed runs (wall clock). */
  ms: number;
  msMin: number;
  msMax: number;
  reps: number;
}

export interface MatmulPeer {
  readonly name: string;
  /** Times C[M,N] = A[M,K]·B[K,N]. */
  timeMatmul(m: number, n: number, k: number, runs: number, minRunMs: number): Promise<PeerTiming>;
  dispose(): void;
}

type Tf = typeof import('@tensorflow/tfjs-core');
type TfWebgpu = typeof import('@tensorflow/tfjs-backend-webgpu');

const BACKEND = 'webgpu'; // tfjs-backend-webgpu registers its kernels under this name

function unwrap<T>(mod: T | { default: T }): T {
  return mod && typeof mod === 'object' && 'default' in mod && mod.default ? (mod.default as T) : (mod as T);
}

/**
 * Registers tfjs-backend-webgpu on `engine.device` and returns the peer, or the reason it cannot
 * run (not installed, rejected by the device). tfjs reads `navigator.gpu` only to decide that
 * WebGPU exists; Node has none, so a stand-in is installed for as long as the peer lives: it
 * hands out no adapter, since tfjs gets our device directly. Our device already satisfies
 * compatibility mode (llvmpipe), which tfjs's own adapter request would not ask for.
 */
export async function openTfjsPeer(engine: Engine): Promise<MatmulPeer | string> {
  let tf: Tf;
  let tfw: TfWebgpu;
  try {
    tf = unwrap(await import('@tensorflow/tfjs-core'));
  } catch {
    return 'tfjs is not installed (npm install -D @tensorflow/tfjs-core@4.22.0 @tensorflow/tfjs-backend-webgpu@4.22.0)';
  }
  const g = globalThis as { navigator?: { gpu?: unknown } };
  const hadNavigator = 'navigator' in globalThis;
  const stand = { requestAdapter: async () => null };
  let installed = false;
  if (!g.navigator?.gpu) {
    if (!hadNavigator) Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true });
    Object.defineProperty(g.navigator!, 'gpu', { value: stand, configurable: true, writable: true });
    installed = true;
  }
  const restore = (): void => {
    if (!installed) return;
    installed = false;
    if (!hadNavigator) delete (globalThis as { navigator?: unknown }).navigator;
    else delete g.navigator!.gpu;
  };
  try {
    try {
      tfw = unwrap(await import('@tensorflow/tfjs-backend-webgpu'));
    } catch {
      restore();
      return 'tfjs-backend-webgpu is not installed (npm install -D @tensorflow/tfjs-backend-webgpu@4.22.0)';
    }
    if (tf.findBackendFactory(BACKEND)) tf.removeBackend(BACKEND);
    const info = { vendor: engine.info.vendor, architecture: engine.info.architecture } as GPUAdapterInfo;
    tf.registerBackend(BACKEND, () => new tfw.WebGPUBackend(engine.device, info), 100);
    if (!(await tf.setBackend(BACKEND))) {
      restore();
      return 'tfjs could not initialize its WebGPU backend on this device';
    }
    await tf.ready();
    // Keep every op on the GPU (tfjs forwards small CPU-resident inputs to its CPU backend).
    tf.env().set('WEBGPU_CPU_FORWARD', false);
  } catch (e) {
    restore();
    return `tfjs failed to start: ${(e as Error).message?.split('\n')[0]}`;
  }

  return {
    name: 'tfjs-webgpu',
    async timeMatmul(m, n, k, runs, minRunMs) {
      const r = Math.random;
      const av = new Float32Array(m * k).map(() => r() * 2 - 1);
      const bv = new Float32Array(k * n).map(() => r() * 2 - 1);
      const a = tf.tensor2d(av, [m, k]);
      const b = tf.tensor2d(bv, [k, n]);
      try {
        const once = async (reps: number): Promise<number> => {
          const t0 = performance.now();
          const c = tf.tidy(() => {
            let out = tf.matMul(a, b);
            for (let i = 1; i < reps; i++) {
              out.dispose();
              out = tf.matMul(a, b);
            }
            return out;
          });
          const data = (await c.data()) as Float32Array;
          const ms = performance.now() - t0;
          c.dispose();
          if (!Number.isFinite(data[0]!)) throw new Error('tfjs matmul returned a non-finite value');
          return ms;
        };
        await once(1); // compile and upload
        const first = await once(1);
        // Enough repetitions for one timed run to last minRunMs; bounded by the output memory.
        const cap = Math.max(1, Math.min(256, Math.floor((256 << 20) / (m * n * 4))));
        const reps = Math.max(1, Math.min(cap, Math.ceil(minRunMs / Math.max(first, 1e-3))));
        const per: number[] = [];
        for (let i = 0; i < runs; i++) per.push((await once(reps)) / reps);
        return { ms: median(per), msMin: Math.min(...per), msMax: Math.max(...per), reps };
      } finally {
        a.dispose();
        b.dispose();
      }
    },
    dispose() {
      try {
        tf.removeBackend(BACKEND);
      } finally {
        restore();
      }
    },
  };
}
