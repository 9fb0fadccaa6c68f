import type { Engine } from '../gpu/engine.js';
import { hasSubgroups, withReductions } from '../ops/reductions.js';
import type { Tensor } from '../tensor.js';
import { relL2, rng } from '../check/util.js';

/** One kernel × variant × shape the bench times. */
export interface BenchCase {
  kernel: string;
  variant: string;
  /** e.g. [M, N, K] for matmul; [batch, heads, seq, headDim] for attention; [rows, cols] for rowwise ops. */
  shape: number[];
  /** Floating-point operations of one run (2·M·N·K for matmul); 0 where bytes are the measure. */
  flops: number;
  /** Bytes one run must move at least (inputs read once + outputs written once). */
  bytes: number;
  /**
   * Allocates inputs (random, never zero) and returns:
   *  run(): records one run's dispatches (no flush, no read-back);
   *  check(): compares one run's output with the float64 CPU reference, null when correct;
   *  dispose(): releases the tensors.
   */
  setup(engine: Engine, seed: number): Promise<BenchInstance>;
  /** Why the case cannot run on this device (it is then reported as skipped), or null. */
  requires?(engine: Engine): string | null;
}

/**
 * The case with the workgroup reductions on the subgroup variant while it records
 * (reduce_subgroups.wgsl; variant "VARIANT-subgroups"), skipped where the device has no
 * 'subgroups'. Its check is the case's own float64 one.
 */
export function subgroupVariant(c: BenchCase): BenchCase {
  return {
    ...c,
    variant: `${c.variant}-subgroups`,
    requires: (engine) => (hasSubgroups(engine) ? null : "no 'subgroups' feature"),
    async setup(engine, seed) {
      const inst = await c.setup(engine, seed);
      return { ...inst, run: () => withReductions(engine, 'subgroups', () => inst.run()) };
    },
  };
}

export interface BenchInstance {
  run(): void;
  check(): Promise<string | null>;
  dispose(): void;
}

type HostArray = Float32Array | Uint32Array | Int32Array;

/** What a case's check compares: the float64 reference of each output by relative L2, or its own check. */
type CaseCheck<D> =
  | {
      /** The reference of each output in run()'s order (a single one when run returns one tensor). */
      reference(data: D): ArrayLike<number> | ArrayLike<number>[];
      /** Largest relative L2 error accepted, per output. */
      tol: number;
      /** Output names for the failure message. */
      names?: string[];
    }
  | { check(got: HostArray[], data: D): string | null };

/**
 * A case from what differs between cases: host inputs from the seeded generator, their upload
 * (plus any untimed preparation), and one run's recording. run() releases the previous run's
 * outputs, then records the op; check() reads back the latest run's outputs; dispose() releases
 * them and the case's tensors. Outputs that are one of the case's tensors (an `out` the op writes
 * into) are never released by run().
 */
export function benchCase<D, T extends Tensor[]>(
  spec: Omit<BenchCase, 'setup'> & {
    inputs(r: () => number, seed: number): D;
    tensors(engine: Engine, data: D): T;
    run(engine: Engine, tensors: T): Tensor | Tensor[];
  } & CaseCheck<D>,
): BenchCase {
  const { kernel, variant, shape, flops, bytes } = spec;
  return {
    kernel,
    variant,
    shape,
    flops,
    bytes,
    async setup(engine, seed) {
      const data = spec.inputs(rng(seed), seed);
      const tensors = spec.tensors(engine, data);
      const own = new Set<Tensor>(tensors);
      let last: Tensor[] = [];
      let single = false;
      const drop = () => engine.release(...last.filter((t) => !own.has(t)));
      return {
        run() {
          drop();
          const out = spec.run(engine, tensors);
          single = !Array.isArray(out);
          last = Array.isArray(out) ? out : [out];
        },
        async check() {
          if (!last.length) return 'no run recorded';
          const got: HostArray[] = [];
          for (const t of last) got.push(await engine.read(t));
          if ('check' in spec) return spec.check(got, data);
          const want = spec.reference(data);
          return relL2Check(got, single ? [want as ArrayLike<number>] : (want as ArrayLike<number>[]), spec.tol, spec.names);
        },
        dispose() {
          drop();
          engine.release(...tensors);
        },
      };
    },
  };
}

/** null when every got[i] is within `tol` relative L2 error of want[i], else the first failure. */
export function relL2Check(got: ArrayLike<number>[], want: ArrayLike<number>[], tol: number, names?: string[]): string | null {
  for (let i = 0; i < want.length; i++) {
    const e = relL2(got[i]!, want[i]!);
    if (!(e <= tol)) return `${names?.[i] ? `${names[i]}: ` : ''}relative L2 error ${e.toExponential(2)} > ${tol ? tol.toExponential() : 0}`;
  }
  return null;
}
