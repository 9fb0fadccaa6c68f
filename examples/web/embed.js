// The smallest useful embedding (the README's example): tok1d on the application's own device.
import { createEngine, Tokenizer } from 'tok1d/browser';

const adapter = await navigator.gpu.requestAdapter();
const device = await adapter.requestDevice(); // the app's device, with whatever limits it chose

const engine = await createEngine({ device }); // used as it is: never destroyed, limits never raised
const tok = await Tokenizer.load('/models/default.safetensors', { engine }).catch(() => Tokenizer.random('tiny', 1, { engine }));

const img = document.getElementById('photo');
await img.decode();
const bitmap = await createImageBitmap(img);
const [ids] = await tok.encode([bitmap]); // Uint32Array of token ids (resized + centre-cropped on the GPU)

const tokens = await tok.encodeToBuffer([bitmap]); // the same ids in a GPUBuffer (STORAGE) for the app's shaders
const S = tok.config.imageSize;
const picture = device.createTexture({ size: [S, S], format: 'rgba8unorm', usage: GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.TEXTURE_BINDING });
await tok.decodeTo(tokens, [picture]); // the reconstruction, in the app's texture

tok.dispose();
engine.dispose(); // the device stays the app's
document.getElementById('out').textContent = `${ids.length} tokens: ${ids.join(' ')}`;
window.embedResult = { ids: Array.from(ids) };
