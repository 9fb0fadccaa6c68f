enable subgroups;
// Workgroup reductions over subgroup operations: the functions of reduce.wgsl (same names, same
// contract: every invocation of a FLAT_WG-invocation workgroup calls them and gets the result), for
// devices with the 'subgroups' feature. The engine includes this file instead of reduce.wgsl when
// the variant passed its start-up parity check against the tree and was chosen for the device
// (src/ops/reductions.ts).
//
// With subgroups of w invocations: each subgroup reduces its values at once; the first invocation
// of each subgroup writes the result to red[], and the next level reduces those FLAT_WG / w values the
// same way, until at most w are left; then every subgroup reads all of them and reduces them at
// once, so every invocation has the result without a final broadcast. w = 32: 256 -> 8 -> 1, 4
// barriers per call (2 of them in sg_width, which also keeps a call's writes after every read of
// the previous call's) against the tree's 10; w = 4 (SwiftShader): 256 -> 64 -> 16 -> 4 -> 1, 8.
// The slot of a subgroup's value is t / w: subgroups are taken to be runs of w consecutive local
// invocation indices (so on every device tested); where a device differs, the parity check fails
// and the engine keeps the tree. The order of additions is fixed for a device and subgroup width,
// so results are deterministic there, though not bitwise equal to the tree's.
//!include flat
var<workgroup> red: array<f32, FLAT_WG>;
var<workgroup> red_w: u32;

// The subgroup width, uniform over the workgroup (loop bounds below hold barriers).
fn sg_width(t: u32) -> u32 {
  let w = subgroupAdd(1u);
  if (t == 0u) { red_w = w; }
  return workgroupUniformLoad(&red_w);
}

fn sg_op(x: f32, op_max: bool) -> f32 {
  if (op_max) { return subgroupMax(x); }
  return subgroupAdd(x);
}

fn wg_reduce(t: u32, v: f32, op_max: bool) -> f32 {
  let w = sg_width(t);
  var s = sg_op(v, op_max);
  // n: values of the last level still to be combined, one per subgroup.
  for (var n = FLAT_WG / w; n > 1u; n = select((n + w - 1u) / w, 1u, n <= w)) {
    workgroupBarrier();
    if (t % w == 0u) { red[t / w] = s; }
    workgroupBarrier();
    // At most w left: every subgroup reads them all; else invocation t reads value t. Slots past
    // n add 0 to a sum and repeat slot 0 (a value of the set) for a maximum.
    let i = select(t, t % w, n <= w);
    let x = red[select(0u, i, i < n)];
    s = sg_op(select(select(0.0, x, i < n), x, op_max), op_max);
  }
  return s;
}

fn wg_sum(t: u32, v: f32) -> f32 { return wg_reduce(t, v, false); }
fn wg_max(t: u32, v: f32) -> f32 { return wg_reduce(t, v, true); }
