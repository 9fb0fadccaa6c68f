// Matmul, storage-buffer variant: operands are array<vec4f> in packed layout (see matmul-core).

@group(0) @binding(1) var<storage, read> A: array<vec4f>;
@group(0) @binding(2) var<storage, read> B: array<vec4f>;

fn loadA(b: u32, row: u32, k4: u32) -> vec4f {
  return A[(b * p.aBatchRows + row) * p.K4 + k4];
}

fn loadB(b: u32, k: u32, n4: u32) -> vec4f {
  return B[(b * p.bBatchRows + k) * p.N4 + n4];
}

//!include matmul-core
