// Workgroup reductions over a workgroup of FLAT_WG invocations (flat.wgsl), shared by layernorm,
// softmax, normalize, elementwise and adamw (//!include reduce). Every invocation of the workgroup
// calls them (they hold barriers) with its own value and gets the workgroup's result:
//   wg_sum(t, v)    sum of v
//   wg_max(t, v)    maximum of v
// This is the plain path: a tree, pairs (t, t + s) combined for s = FLAT_WG / 2, ..., 1, the
// same fixed order every run, so results are deterministic. Each call starts with a barrier, so a
// kernel may reduce several times over the one array: nobody writes it before every invocation
// has read the previous result. log2(FLAT_WG) + 2 barriers per call (10 at 256).
// reduce_subgroups.wgsl has the same functions over subgroup operations; the engine includes it
// instead where the device has 'subgroups' and the variant passed its start-up parity check and
// was chosen (src/ops/reductions.ts).
//!include flat
var<workgroup> red: array<f32, FLAT_WG>;

fn wg_reduce(t: u32, v: f32, op_max: bool) -> f32 {
  workgroupBarrier();
  red[t] = v;
  for (var s = FLAT_WG / 2u; s > 0u; s = s / 2u) {
    workgroupBarrier();
    if (t < s) { red[t] = select(red[t] + red[t + s], max(red[t], red[t + s]), op_max); }
  }
  workgroupBarrier();
  return red[0];
}

fn wg_sum(t: u32, v: f32) -> f32 { return wg_reduce(t, v, false); }
fn wg_max(t: u32, v: f32) -> f32 { return wg_reduce(t, v, true); }
