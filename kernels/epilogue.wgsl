// The matmul epilogue's activation step with its auxiliary tensor, shared by matmul.wgsl,
// matmul_tex.wgsl and matmul_splitk.wgsl (//!include epilogue; the including file declares ACT).
// aux is [batch, M, N] like C, at binding 6 in every matmul kernel (bound to a 1-element dummy when
// AUX = 0). With AUX the layer's activation and its backward need no pass of their own:
//   AUX 0: act(x)
//   AUX 1: aux[i] = x, then act(x)        (forward: keep the activation's input for the backward)
//   AUX 2: x * act'(aux[i]), act not applied (backward: the gradient of act's input, from the
//          gradient of its output and the saved input)

//!include activation

override AUX: u32 = 0u;

@group(0) @binding(6) var<storage, read_write> aux: array<f32>;

fn act_aux(x: f32, i: u32) -> f32 {
  if (AUX == 1u) { aux[i] = x; }
  if (AUX == 2u) { return x * activate_grad(aux[i], ACT); }
  return activate(x, ACT);
}
