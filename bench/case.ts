import type { Engine } from '../src/gpu/engine.js';

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
}

export interface BenchInstance {
  run(): void;
  check(): Promise<string | null>;
  dispose(): void;
}
