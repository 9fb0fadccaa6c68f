import type { Engine } from '../gpu/engine.js';

/** The limits `tok1d doctor` prints and the bench records, in this order. */
export const KEY_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'maxTextureDimension2D',
  'maxStorageBuffersPerShaderStage',
] as const;

/** Adapter facts, key limits and features of an engine's device, as JSON reports carry them. */
export function describeEngine(engine: Engine): Record<string, unknown> & { limits: Record<string, number>; features: string[] } {
  const limits: Record<string, number> = {};
  for (const k of KEY_LIMITS) limits[k] = (engine.limits as unknown as Record<string, number>)[k]!;
  return { ...engine.info, limits, features: [...engine.features].sort() };
}
