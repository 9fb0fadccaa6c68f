/**
 * Random tensors made on the device: the same values as src/train/init.ts's truncNormal, bit for
 * bit, without generating them on the host and uploading them (for the largest presets, hundreds
 * of millions of parameters).
 */
import type { Engine } from '../gpu/engine.js';
import { NORMAL_SALT, mix32, normalTable } from '../train/init.js';
import type { Tensor } from '../tensor.js';
import { INIT } from '../gpu/uniforms.js';
import { checkBindable, linearLaunch } from './elementwise.js';

/** The engine's copy of normalTable() (uploaded at first use, freed with the engine). */
function deviceTable(engine: Engine): Tensor {
  return engine.resource(
    'random normal table',
    () => {
      const values = normalTable();
      const t = engine.upload(values, [values.length]);
      t.constant = true;
      return t;
    },
    (t) => engine.release(t),
  );
}

/** A new [shape] tensor holding truncNormal(size, std, seed). */
export function truncNormalTensor(engine: Engine, shape: readonly number[], std: number, seed: number): Tensor {
  if (!(std >= 0) || !Number.isFinite(std)) throw new Error(`truncNormalTensor: std must be finite and ≥ 0, got ${std}`);
  checkBindable(engine, 'truncNormalTensor', shape);
  const table = deviceTable(engine);
  const out = engine.empty(shape);
  const { groups, stride } = linearLaunch(engine, out.size);
  engine.dispatch('init', 'trunc_normal', [table, out], INIT.with({ n: out.size, stride, key: mix32(seed >>> 0), salt: NORMAL_SALT, scale: std }), groups);
  return out;
}
