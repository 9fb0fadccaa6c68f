// Optimizer kernels: the AdamW update, the global gradient norm (a deterministic two-pass
// reduction), in-place gradient scaling for clipping, and the exponential moving average of the
// weights. Work is laid out 1D like elementwise.wgsl: item i = gid.x + gid.y * stride, with
// stride = groupsX * FLAT_WG, so counts above 65535 workgroups split over y. Entry points ending in 4
// work on vec4 (used when the tensor's element count is a multiple of 4), the others on scalars.
// All are memory-bound.
//
// entry              | what                                                    | bytes / element | FLOPs / element
// adamw4 / adamw1    | decoupled decay + bias-corrected Adam, in place         | 28 (*)          | ~14
// sumsq_partial4 / 1 | per-workgroup sums of g^2 into partials[offset + w]     | 4               | 2
// sumsq_lane4 / 1    | per-invocation sums of g^2 (CPU executors: no barriers) | 4 (+ 4 / 4k)    | 2
// norm_final / 4     | one workgroup: out[0] = sqrt(sum of the partials)       | 4 per partial   | 1 per partial
// clip_scale4 / 1    | g *= min(1, max_norm / (norm[0] + 1e-6)), in place      | 8               | 1
// ema4 / ema1        | e = decay e + (1 - decay) p, in place                   | 12              | 3
// (*) parameter, m and v read and written (24), gradient read (4).
// adamw runs near the copy rate on llvmpipe and on GPUs (docs/performance.md, docs/perf-log.md);
// fused clipping adds no pass.
//
// AdamW, per element, with t the 1-based step, c = min(1, max_norm / (norm + 1e-6)) when clipping
// is fused (else 1):
//   g' = c g
//   m  = beta1 m + (1 - beta1) g'
//   v  = beta2 v + (1 - beta2) g'^2
//   p  = p (1 - lr wd) - (lr / (1 - beta1^t)) m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// which is PyTorch's AdamW (decay applied to the weight before the Adam step, eps added to the
// bias-corrected sqrt(v)). The host computes the step-dependent scalars in float64 and passes
// them as uniforms: step_size = lr / (1 - beta1^t), decay_mul = 1 - lr wd (1 where the parameter
// takes no decay), inv_sqrt_bc2 = 1 / sqrt(1 - beta2^t), and 1 - beta1, 1 - beta2. The gradient
// is only read: fused clipping scales it in registers and leaves the buffer as it was.
//
// The norm is deterministic: each invocation of sumsq_partial sums a fixed strided set of k items
// in a fixed order, the workgroup tree-reduces in workgroup memory, and norm_final (one workgroup)
// sums all partials (of every gradient tensor, each at its own offset) the same way: no atomics,
// the same bits every run. sumsq_lane (CPU executors) skips the workgroup reduction and leaves one
// partial per invocation; norm_final then sums more partials, in the same fixed order. Loop trips
// per invocation (k, and partials / FLAT_WG) stay far below llvmpipe's 65535 cap (the host bounds
// them; see src/train/optim.ts).
//!include flat

struct Params {
  n: u32,             // items (vec4 in the *4 entries); norm_final: partials (norm_final4: / 4)
  stride: u32,        // items per row of the dispatch grid (groupsX * FLAT_WG)
  clip: u32,          // adamw: 1 = scale g by min(1, max_norm / (norm[0] + 1e-6))
  k: u32,             // sumsq_*: items per invocation
  offset: u32,        // sumsq_*: index of this tensor's first partial
  step_size: f32,     // adamw: lr / (1 - beta1^t);  ema: decay
  decay_mul: f32,     // adamw: 1 - lr wd, or 1;     ema: 1 - decay
  beta1: f32,
  beta2: f32,
  one_m_beta1: f32,   // 1 - beta1 (from float64)
  one_m_beta2: f32,   // 1 - beta2 (from float64)
  inv_sqrt_bc2: f32,  // 1 / sqrt(1 - beta2^t)
  eps: f32,
  max_norm: f32,      // adamw (clip = 1) and clip_scale
}

@group(0) @binding(0) var<uniform> p: Params;

// ---- adamw. Bindings: 1 parameter (rw), 2 gradient, 3 first moment (rw), 4 second moment (rw),
// 5 global norm [1] (read when clip = 1; always bound).
@group(0) @binding(1) var<storage, read_write> w4: array<vec4f>;
@group(0) @binding(2) var<storage, read> g4: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> m4: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> v4: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> w1: array<f32>;
@group(0) @binding(2) var<storage, read> g1: array<f32>;
@group(0) @binding(3) var<storage, read_write> m1: array<f32>;
@group(0) @binding(4) var<storage, read_write> v1: array<f32>;
@group(0) @binding(5) var<storage, read> norm_in: array<f32>;

// The gradient scale: 1, or min(1, max_norm / (norm + 1e-6)) when clipping is fused.
fn grad_scale() -> f32 {
  let c = min(1.0, p.max_norm / (norm_in[0] + 1e-6));
  return select(1.0, c, p.clip != 0u);
}

@compute @workgroup_size(FLAT_WG)
fn adamw4(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let g = g4[i] * grad_scale();
  let m = p.beta1 * m4[i] + p.one_m_beta1 * g;
  let v = p.beta2 * v4[i] + p.one_m_beta2 * (g * g);
  m4[i] = m;
  v4[i] = v;
  let denom = sqrt(v) * p.inv_sqrt_bc2 + p.eps;
  w4[i] = w4[i] * p.decay_mul - p.step_size * (m / denom);
}

@compute @workgroup_size(FLAT_WG)
fn adamw1(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let g = g1[i] * grad_scale();
  let m = p.beta1 * m1[i] + p.one_m_beta1 * g;
  let v = p.beta2 * v1[i] + p.one_m_beta2 * (g * g);
  m1[i] = m;
  v1[i] = v;
  let denom = sqrt(v) * p.inv_sqrt_bc2 + p.eps;
  w1[i] = w1[i] * p.decay_mul - p.step_size * (m / denom);
}

// ---- sumsq_partial: workgroup w, invocation t sums items (w k + j) FLAT_WG + t for j < k, so a
// workgroup covers FLAT_WG k consecutive items, and writes its sum to partials[offset + w].
// Bindings: 1 gradient, 2 partials (rw). The workgroup sum is reduce.wgsl's wg_sum.
//!include reduce
@group(0) @binding(1) var<storage, read> sq4: array<vec4f>;
@group(0) @binding(1) var<storage, read> sq1: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;

@compute @workgroup_size(FLAT_WG)
fn sumsq_partial4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_index) t: u32) {
  let w = wid.x + wid.y * nwg.x;
  var acc = vec4f(0.0);
  let base = w * p.k * FLAT_WG + t;
  for (var j = 0u; j < p.k; j++) {
    let i = base + j * FLAT_WG;
    if (i < p.n) {
      let g = sq4[i];
      acc = fma(g, g, acc);
    }
  }
  let s = wg_sum(t, (acc.x + acc.y) + (acc.z + acc.w));
  if (t == 0u) { partials[p.offset + w] = s; }
}

@compute @workgroup_size(FLAT_WG)
fn sumsq_partial1(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_index) t: u32) {
  let w = wid.x + wid.y * nwg.x;
  var acc = 0.0;
  let base = w * p.k * FLAT_WG + t;
  for (var j = 0u; j < p.k; j++) {
    let i = base + j * FLAT_WG;
    if (i < p.n) {
      let g = sq1[i];
      acc = fma(g, g, acc);
    }
  }
  let s = wg_sum(t, acc);
  if (t == 0u) { partials[p.offset + w] = s; }
}

// ---- sumsq_lane: the same sums without the workgroup reduction, for CPU executors (where each
// workgroupBarrier switches every SIMD fiber of the workgroup: ~1.5x slower overall on llvmpipe).
// Invocation c = w * FLAT_WG + t sums items (w k + j) FLAT_WG + t for j < k and writes partials[offset + c]
// (0 past the end), so there are FLAT_WG partials per workgroup. Bindings: 1 gradient, 2 partials (rw).
@compute @workgroup_size(FLAT_WG)
fn sumsq_lane4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) t: u32) {
  let w = wid.x + wid.y * nwg.x;
  var acc = vec4f(0.0);
  let base = w * p.k * FLAT_WG + t;
  for (var j = 0u; j < p.k; j++) {
    let i = base + j * FLAT_WG;
    if (i < p.n) {
      let g = sq4[i];
      acc = fma(g, g, acc);
    }
  }
  partials[p.offset + w * FLAT_WG + t] = (acc.x + acc.y) + (acc.z + acc.w);
}

@compute @workgroup_size(FLAT_WG)
fn sumsq_lane1(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) t: u32) {
  let w = wid.x + wid.y * nwg.x;
  var acc = 0.0;
  let base = w * p.k * FLAT_WG + t;
  for (var j = 0u; j < p.k; j++) {
    let i = base + j * FLAT_WG;
    if (i < p.n) {
      let g = sq1[i];
      acc = fma(g, g, acc);
    }
  }
  partials[p.offset + w * FLAT_WG + t] = acc;
}

// ---- norm_final: one workgroup; out[0] = sqrt(sum(partials[0 .. n))). Bindings: 1 partials, 2 out.
@group(0) @binding(1) var<storage, read> part_in: array<f32>;
@group(0) @binding(2) var<storage, read_write> norm_out: array<f32>;

@compute @workgroup_size(FLAT_WG)
fn norm_final(@builtin(local_invocation_index) t: u32) {
  var acc = 0.0;
  for (var i = t; i < p.n; i += FLAT_WG) { acc += part_in[i]; }
  let s = wg_sum(t, acc);
  if (t == 0u) { norm_out[0] = sqrt(s); }
}

// norm_final4: the same over vec4 of partials (n = partials / 4; sumsq_lane leaves a multiple of
// FLAT_WG), a quarter of the loads: on llvmpipe the single workgroup's loads dominate this pass.
@group(0) @binding(1) var<storage, read> part_in4: array<vec4f>;

@compute @workgroup_size(FLAT_WG)
fn norm_final4(@builtin(local_invocation_index) t: u32) {
  var acc = vec4f(0.0);
  for (var i = t; i < p.n; i += FLAT_WG) { acc += part_in4[i]; }
  let s = wg_sum(t, (acc.x + acc.y) + (acc.z + acc.w));
  if (t == 0u) { norm_out[0] = sqrt(s); }
}

// ---- clip_scale: g *= min(1, max_norm / (norm[0] + 1e-6)), the factor read on the GPU.
// Bindings: 1 gradient (rw), 2 norm [1].
@group(0) @binding(1) var<storage, read_write> cg4: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> cg1: array<f32>;
@group(0) @binding(2) var<storage, read> cnorm: array<f32>;

@compute @workgroup_size(FLAT_WG)
fn clip_scale4(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  cg4[i] = cg4[i] * min(1.0, p.max_norm / (cnorm[0] + 1e-6));
}

@compute @workgroup_size(FLAT_WG)
fn clip_scale1(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  cg1[i] = cg1[i] * min(1.0, p.max_norm / (cnorm[0] + 1e-6));
}

// ---- ema: e = decay e + (1 - decay) p (decay in step_size, 1 - decay in decay_mul).
// Bindings: 1 shadow (rw), 2 parameter.
@group(0) @binding(1) var<storage, read_write> e4: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> e1: array<f32>;
@group(0) @binding(2) var<storage, read> ep4: array<vec4f>;
@group(0) @binding(2) var<storage, read> ep1: array<f32>;

@compute @workgroup_size(FLAT_WG)
fn ema4(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  e4[i] = p.step_size * e4[i] + p.decay_mul * ep4[i];
}

@compute @workgroup_size(FLAT_WG)
fn ema1(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  e1[i] = p.step_size * e1[i] + p.decay_mul * ep1[i];
}
