import { closeSync, constants, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, unlinkSync, writeSync } from 'node:fs';
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



/** Show what the native layers print on stderr (set by `--verbose`; TOK1D_DEBUG=1 does the same). */
let nativeVerbose = false;

export function setNativeVerbose(on: boolean): void {
  nativeVerbose = on;
}

/**
 * The notices Dawn prints from native code when it builds an OpenGL adapter: it clamps two of the
 * driver's limits to its own maxima. Harmless, nothing a user can act on, and not tok1d's output.
 */
export const DAWN_NOTICE = /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/;

/**
 * Runs `call` (a synchronous native call) with the notices above removed from what it prints on
 * stderr. No Dawn setting silences them and Node has no dup2, so for the duration of the call file
 * descriptor 2 is closed and reopened on an unlinked temporary file (open() takes the lowest free
 * descriptor), then reopened on the original terminal or pipe through /proc/self/fd; every other
 * line captured is passed on. Only on Linux, and only when stderr is a terminal or a pipe, which can
 * be reopened: a socket cannot, and a regular file may share its offset with stdout (`> log 2>&1`),
 * which a reopened descriptor would not; there the notices stay. With TOK1D_DEBUG=1 or --verbose
 * nothing is filtered.
 */
export function withoutDawnNotices<T>(call: () => T): T {
  if (nativeVerbose || process.env.TOK1D_DEBUG === '1' || process.platform !== 'linux') return call();
  const { O_WRONLY, O_NONBLOCK, O_NOCTTY } = constants;
  let original: number;
  try {
    const st = fstatSync(2);
    if (!st.isFIFO() && !st.isCharacterDevice()) return call();
    // Non-blocking: a pipe whose reader is gone fails here (ENXIO) instead of blocking.
    original = openSync('/proc/self/fd/2', O_WRONLY | O_NONBLOCK | O_NOCTTY);
  } catch {
    return call();
  }
  const path = join(tmpdir(), `tok1d-stderr-${process.pid}-${Date.now()}`);
  const restore = () => {
    try {
      const fd = openSync(`/proc/self/fd/${original}`, O_WRONLY | O_NOCTTY);
      if (fd !== 2) closeSync(fd);
    } catch {
      /* the terminal or pipe is gone: nothing can be written to it anyway */
    }
  };
  let captured = '';
  closeSync(2);
  let capture = -1;
  try {
    capture = openSync(path, 'w+', 0o600);
    unlinkSync(path);
  } catch {
    /* no temporary file: the call prints where stderr was */
  }
  if (capture !== 2) {
    // Another thread's descriptor took number 2, or no file could be made: put stderr back first.
    if (capture >= 0) closeSync(capture);
    restore();
  }
  try {
    return call();
  } finally {
    if (capture === 2) {
      const bytes = Buffer.alloc(fstatSync(2).size);
      if (bytes.length) readSync(2, bytes, 0, bytes.length, 0);
      captured = bytes.toString('utf8');
      closeSync(2);
      restore();
    }
    closeSync(original);
    const rest = captured.split('\n').filter((l, i, all) => !DAWN_NOTICE.test(l) && (l !== '' || i < all.length - 1));
    if (rest.length) writeSync(2, `${rest.join('\n')}\n`);
  }
}

export interface AcquireOptions {
  /**
   * Request the device with no requiredLimits or features: WebGPU's default limits for the feature
   * level (what an application that keeps the defaults hands tok1d), not the adapter's.
   */
  defaultLimits?: boolean;
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
export async function acquireNodeDevice(requested?: BackendName, opts: AcquireOptions = {}): Promise<AcquiredDevice> {
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
    // Dawn enumerates the adapters inside this call (synchronously): that is where it prints its notices.
    const adapter = await withoutDawnNotices(() => gpu.requestAdapter({ featureLevel: attempt.featureLevel, powerPreference: 'high-performance' }));
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
      device = await adapter.requestDevice(opts.defaultLimits ? { label: 'tok1d' } : deviceDescriptor(adapter));
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

/** The package's kernels folder (found by walking up from this file). */
function kernelsRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'kernels')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'kernels');
}

/** Every kernel's file, relative to the package: kernels/*.wgsl and kernels/generated/*.wgsl. */
export function nodeKernelFiles(): string[] {
  const root = kernelsRoot();
  return ['', 'generated/'].flatMap((sub) =>
    readdirSync(join(root, sub))
      .filter((f) => f.endsWith('.wgsl'))
      .sort()
      .map((f) => `kernels/${sub}${f}`),
  );
}

/**
 * Reads kernels/NAME.wgsl, or kernels/generated/NAME.wgsl (written by `npm run gen`), from the
 * package.
 */
export function nodeKernelReader(): (name: string) => string {
  const root = kernelsRoot();
  return (name: string) => {
    const own = join(root, `${name}.wgsl`);
    return readFileSync(existsSync(own) ? own : join(root, 'generated', `${name}.wgsl`), 'utf8');
  };
}
