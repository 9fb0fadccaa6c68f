// Matmul, texture variant: operands are rgba32float textures in packed layout (see matmul-core),
// texel (x = k4, y = batch*M + row) for A and (x = n4, y = batch*4*K4 + k) for B. On llvmpipe
// textureLoad is about twice as fast as a storage-buffer load.

@group(0) @binding(1) var A: texture_2d<f32>;
@group(0) @binding(2) var B: texture_2d<f32>;

fn loadA(b: u32, row: u32, k4: u32) -> vec4f {
  return textureLoad(A, vec2u(k4, b * p.aBatchRows + row), 0);
}

fn loadB(b: u32, k: u32, n4: u32) -> vec4f {
  return textureLoad(B, vec2u(n4, b * p.bBatchRows + k), 0);
}

//!include matmul-core
