/** What the engine asks of an adapter when it gets its own device (Node and browser alike). */

/** Limits raised to the adapter's own (never beyond them). */
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxStorageTexturesPerShaderStage',
  'maxSampledTexturesPerShaderStage',
  'maxTextureDimension2D',
  'maxTextureArrayLayers',
  'maxUniformBufferBindingSize',
] as const;

const WANTED_FEATURES = ['timestamp-query', 'shader-f16', 'subgroups'] as const;

/** The device descriptor: the adapter's values of WANTED_LIMITS and whichever WANTED_FEATURES it has. */
export function deviceDescriptor(adapter: GPUAdapter): GPUDeviceDescriptor {
  const requiredLimits: Record<string, number> = {};
  for (const k of WANTED_LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number | undefined>)[k];
    if (typeof v === 'number') requiredLimits[k] = v;
  }
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  return { label: 'tok1d', requiredLimits, requiredFeatures };
}
