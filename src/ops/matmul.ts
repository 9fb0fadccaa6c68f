/**
 * Matmul (C = act(alpha · op(A) · op(B) + bias) + beta · C) and its backward, by concern:
 *   matmul/plan.ts      plans (variant and tile), their names, shape classes and the fixed rule
 *   matmul/textures.ts  operands in textures: constant weights' cached textures (f16 when exact),
 *                       pooled activation textures, the pack kernel
 *   matmul/dispatch.ts  matmul(): picks the plan, binds the operands, dispatches
 *   matmul/tune.ts      timing the candidate plans per device, start-up parity checks
 *   matmul/backward.ts  matmulBackward(): the gradients through the transposed forms
 */
export { defaultMatmulVariant, defaultPlan, fusesColumnSums, matmulShapeClass, matmulTile, parsePlan, planName, type Activation, type Dims, type MatmulOptions, type MatmulPlan, type MatmulVariant, type StorageTile } from './matmul/plan.js';
export { HALF_TEXTURE_MIN, wantsHalfTexture } from './matmul/textures.js';
export { matmul } from './matmul/dispatch.js';
export * from './matmul/tune.js';
export { matmulBackward, type MatmulGrads } from './matmul/backward.js';
