// Workgroup tree sum shared by layernorm, softmax, elementwise and adamw (//!include reduce).
// An includer writes its invocation's value to red[t] and then calls reduce_red(t) from every
// invocation of a 256-invocation workgroup: pairs (t, t + s) are added for s = 128, 64, ..., 1, the
// same fixed order every run, so the sum is deterministic. red is this sum's own array: a second
// reduction in the same kernel needs its own array (see layernorm.wgsl: on llvmpipe, reusing one
// array for two reductions raced with the reads of the first one's result).
const RED_WG: u32 = 256u;
var<workgroup> red: array<f32, RED_WG>;

// Tree reduction of red[] over the workgroup; every invocation must call it (barriers inside).
fn reduce_red(t: u32) -> f32 {
  for (var s = RED_WG / 2u; s > 0u; s = s / 2u) {
    workgroupBarrier();
    if (t < s) { red[t] = red[t] + red[t + s]; }
  }
  workgroupBarrier();
  return red[0];
}
