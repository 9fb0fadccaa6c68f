import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DeviceInfo } from './engine.js';
import { deviceDescriptor } from './device-request.js';

export const BACKENDS = ['auto', 'vulkan', 'opengl', 'swiftshader', 'metal', 'd3d12'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** A user-facing failure to get any WebGPU adapter: the CLI prints the message, no stack. */
export class NoAdapterError extends Error {
  override name = 'NoAdapterError';
}

export const INSTALL_HINT =
  'On Debian/Ubuntu install the software GPU drivers: ' +
  'apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri (llvmpipe through OpenGL) ' +
  'and, for SwiftShader through Vulkan, apt-get install chromium libvulkan1.';

const SWIFTSHADER_ICDS = ['/usr/lib/chromium/vk_swiftshader_icd.json', '/usr/lib/chromium-browser/vk_swiftshader_icd.json'];

/**
 * The objects returned by webgpu's create() must stay referenced for as long as their devices live:
 * Dawn crashes at the next mapAsync if one is garbage-collected. They are held here until release.
 */
const live = new Set<unknown>();

interface Attempt {
  backend: Exclude<BackendName, 'auto'>;
  dawn: string;
  featureLevel: 'core' | 'compatibility';
  /** Accept only a hardware adapter (the first step of the automatic order). */
  hardwareOnly?: boolean;
}

function isSoftware(text: string): boolean {
  return /llvmpipe|softpipe|swiftshader|lavapipe|warp|basic render/i.test(text);
}

export function swiftshaderIcd(): string | undefined {
  const env = process.env.TOK1D_SWIFTSHADER_ICD;
  if (env && existsSync(env)) return env;
  return SWIFTSHADER_ICDS.find((p) => existsSync(p));
}

/** tok1d's cache folder: TOK1D_CACHE_DIR, else $XDG_CACHE_HOME/tok1d, else ~/.cache/tok1d. */
export function cacheDir(): string {
  return process.env.TOK1D_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'tok1d');
}

/** Sets the environment the software paths need, without overriding the user's own settings. */
function prepareEnvironment(): void {
  process.env.EGL_PLATFORM ??= 'surfaceless';
  // llvmpipe's compiled shaders persist in tok1d's own cache folder, so a second process skips
  // compilation (and other programs' shaders cannot evict ours).
  if (!process.env.MESA_SHADER_CACHE_DIR) {
    const dir = join(cacheDir(), 'mesa');
    try {
      mkdirSync(dir, { recursive: true });
      process.env.MESA_SHADER_CACHE_DIR = dir;
    } catch {
      /* an unwritable home: Mesa falls back to its default */
    }
  }
  if (!process.env.XDG_RUNTIME_DIR) {
    const dir = join(tmpdir(), `tok1d-runtime-${process.getuid?.() ?? 'user'}`);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      process.env.XDG_RUNTIME_DIR = dir;
    } catch {
      /* Mesa only prints a warning without it */
    }
  }
}

function hardwareAttempts(): Attempt[] {
  if (process.platform === 'darwin') return [{ backend: 'metal', dawn: 'metal', featureLevel: 'core', hardwareOnly: true }];
  if (process.platform === 'win32')
    return [
      { backend: 'd3d12', dawn: 'd3d12', featureLevel: 'core', hardwareOnly: true },
      { backend: 'vulkan', dawn: 'vulkan', featureLevel: 'core', hardwareOnly: true },
    ];
  // Linux: a GPU shows up as a device node; without one, asking Vulkan only makes Dawn print
  // adapter-initialization errors before the software fallbacks.
  if (process.platform === 'linux' && !hasGpuDeviceNode()) return [];
  return [{ backend: 'vulkan', dawn: 'vulkan', featureLevel: 'core', hardwareOnly: true }];
}

function hasGpuDeviceNode(): boolean {
  const listed = (dir: string, re: RegExp) => {
    try {
      return readdirSync(dir).some((f) => re.test(f));
    } catch {
      return false;
    }
  };
  return listed('/dev/dri', /^(renderD|card)\d+/) || listed('/dev', /^nvidia\d+$/) || listed('/dev', /^dxg$/);
}

function attemptsFor(backend: BackendName): Attempt[] {
  const opengl: Attempt = { backend: 'opengl', dawn: 'opengl', featureLevel: 'compatibility' };
  const swiftshader: Attempt = { backend: 'swiftshader', dawn: 'vulkan', featureLevel: 'core' };
  switch (backend) {
    case 'auto':
      return [...hardwareAttempts(), opengl, swiftshader];
    case 'opengl':
      return [opengl];
    case 'swiftshader':
      return [swiftshader];
    default:
      return [{ backend, dawn: backend, featureLevel: 'core' }];
  }
}



export interface AcquiredDevice {
  device: GPUDevice;
  info: DeviceInfo;
  release: () => void;
}

function adapterInfo(adapter: GPUAdapter, attempt: Attempt): DeviceInfo {
  const i = adapter.info;
  const description = i.description || '';
  // Dawn reports some device names as slugs ("llvmpipe-llvm-15-0-6-256-bits-"): keep them, trimmed.
  const device = i.device.replace(/-+$/, '');
  const name = [i.vendor, i.architecture, device].filter(Boolean).join(' ') || description || 'unknown adapter';
  return {
    backend: attempt.backend,
    featureLevel: attempt.featureLevel,
    adapter: name,
    vendor: i.vendor,
    architecture: i.architecture,
    description,
    software: isSoftware(`${name} ${description}`),
  };
}

/**
 * Gets a WebGPU device in Node through Dawn. Automatic order: a hardware adapter
 * (Vulkan/Metal/D3D12), then llvmpipe through OpenGL (compatibility), then SwiftShader through
 * Vulkan when its ICD is installed. `TOK1D_BACKEND` or the argument forces one.
 */
export async function acquireNodeDevice(requested?: BackendName): Promise<AcquiredDevice> {
  const backend = (requested ?? (process.env.TOK1D_BACKEND as BackendName | undefined) ?? 'auto') as BackendName;
  if (!BACKENDS.includes(backend)) throw new NoAdapterError(`unknown backend "${backend}"; choose one of ${BACKENDS.join(', ')}`);
  prepareEnvironment();
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  const tried: string[] = [];
  for (const attempt of attemptsFor(backend)) {
    if (attempt.backend === 'swiftshader') {
      const icd = swiftshaderIcd();
      if (!icd) {
        tried.push('swiftshader (no vk_swiftshader_icd.json found)');
        continue;
      }
      process.env.VK_ICD_FILENAMES = icd;
    }
    const gpu = create([`backend=${attempt.dawn}`]);
    const adapter = await gpu.requestAdapter({ featureLevel: attempt.featureLevel, powerPreference: 'high-performance' });
    if (!adapter) {
      tried.push(`${attempt.backend} (no adapter)`);
      continue;
    }
    const info = adapterInfo(adapter, attempt);
    if (attempt.hardwareOnly && info.software) {
      tried.push(`${attempt.backend} (only a software adapter: ${info.adapter})`);
      continue;
    }
    let device: GPUDevice;
    try {
      device = await adapter.requestDevice(deviceDescriptor(adapter));
    } catch (e) {
      tried.push(`${attempt.backend} (requestDevice failed: ${(e as Error).message})`);
      continue;
    }
    live.add(gpu);
    let released = false;
    void device.lost.then((l) => {
      if (!released && l.reason !== 'destroyed') process.stderr.write(`tok1d: GPU device lost: ${l.message}\n`);
    });
    return {
      device,
      info,
      release: () => {
        if (released) return;
        released = true;
        device.destroy();
        // Dawn may still deliver callbacks for this device; drop the reference a tick later.
        setTimeout(() => live.delete(gpu), 0);
      },
    };
  }
  throw new NoAdapterError(`no WebGPU adapter found (tried: ${tried.join('; ')}). ${INSTALL_HINT}`);
}

/** Reads kernels/NAME.wgsl from the package (found by walking up from this file). */
export function nodeKernelReader(): (name: string) => string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'kernels')) && dirname(dir) !== dir) dir = dirname(dir);
  const root = join(dir, 'kernels');
  return (name: string) => readFileSync(join(root, `${name}.wgsl`), 'utf8');
}
