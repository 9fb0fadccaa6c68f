// The matmul epilogue's activation step with its auxiliary tensor, shared by matmul.wgsl,
// matmul_tex.wgsl and matmul_splitk.wgsl (//!include epilogue; the including file declares ACT).
// aux is [batch, M, N] like C, at binding 6 in every matmul kernel (bound to a 4-element dummy when
// AUX = 0), as vec4s (the host rounds tensor bindings up to 16 bytes). With AUX the layer's
// activation and its backward need no pass of their own:
//   AUX 0: act(x)
//   AUX 1: aux[i] = x, then act(x)        (forward: keep the activation's input for the backward)
//   AUX 2: x * act'(aux[i]), act not applied (backward: the gradient of act's input, from the
//          gradient of its output and the saved input)
// act_aux works on element i; act_aux4 on elements i .. i+3 with i a multiple of 4 (one vec4
// access instead of four).

//!include activation

override AUX: u32 = 0u;

@group(0) @binding(6) var<storage, read_write> aux: array<vec4f>;

fn act_aux(x: f32, i: u32) -> f32 {
  if (AUX == 1u) { aux[i / 4u][i % 4u] = x; }
  if (AUX == 2u) { return x * activate_grad(aux[i / 4u][i % 4u], ACT); }
  return activate(x, ACT);
}

fn act_aux4(x: vec4f, i: u32) -> vec4f {
  if (AUX == 1u) { aux[i / 4u] = x; }
  if (AUX == 2u) {
    let s = aux[i / 4u];
    return x * vec4f(activate_grad(s.x, ACT), activate_grad(s.y, ACT), activate_grad(s.z, ACT), activate_grad(s.w, ACT));
  }
  return vec4f(activate(x.x, ACT), activate(x.y, ACT), activate(x.z, ACT), activate(x.w, ACT));
}
