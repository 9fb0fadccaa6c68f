// FLAT_WG: invocations per workgroup of the flat entry points (one item per invocation, item =
// gid.x + gid.y * stride with stride = groupsX * FLAT_WG) and of the workgroup reductions of
// reduce.wgsl (which sizes its workgroup array by it). A power of two, 256 where the device allows
// it and less under smaller limits; the engine sets it on every pipeline of a kernel that includes
// this file (src/gpu/limits.ts, flatWorkgroupSize), and the ops size their grids by the same value.
override FLAT_WG: u32;
