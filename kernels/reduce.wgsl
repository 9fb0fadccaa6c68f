// Workgroup reductions over a 256-invocation workgroup, shared by layernorm, softmax, normalize,
// elementwise and adamw (//!include reduce). Every invocation of the workgroup calls them (they
// hold barriers) with its own value and gets the workgroup's result:
//   wg_sum(t, v)    sum of v
//   wg_max(t, v)    maximum of v
// This is the plain path: a tree, pairs (t, t + s) combined for s = 128, 64, ..., 1, the same
// fixed order every run, so results are deterministic. Each call starts with a barrier, so a
// kernel may reduce several times over the one array: nobody writes it before every invocation
// has read the previous result. 10 barriers per call.
// reduce_subgroups.wgsl has the same functions over subgroup operations; the engine includes it
// instead where the device has 'subgroups' and the variant passed its start-up parity check and
// was chosen (src/ops/reductions.ts).
const RED_WG: u32 = 256u;
var<workgroup> red: array<f32, RED_WG>;

fn wg_reduce(t: u32, v: f32, op_max: bool) -> f32 {
  workgroupBarrier();
  red[t] = v;
  for (var s = RED_WG / 2u; s > 0u; s = s / 2u) {
    workgroupBarrier();
    if (t < s) { red[t] = select(red[t] + red[t + s], max(red[t], red[t + s]), op_max); }
  }
  workgroupBarrier();
  return red[0];
}

fn wg_sum(t: u32, v: f32) -> f32 { return wg_reduce(t, v, false); }
fn wg_max(t: u32, v: f32) -> f32 { return wg_reduce(t, v, true); }
