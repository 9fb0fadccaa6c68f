/**
 * Headless Chromium with WebGPU on SwiftShader, for the browser benches and tests (driven through
 * playwright-core, a development dependency: nothing here imports it).
 */

/** Debian's chromium, or the browser TOK1D_CHROMIUM names. */
export const CHROMIUM = process.env.TOK1D_CHROMIUM ?? '/usr/bin/chromium';

/** Launch flags for WebGPU on SwiftShader (playwright adds --headless and a fresh profile). */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-unsafe-swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--enable-features=Vulkan',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
