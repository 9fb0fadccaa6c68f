// Parameter initialization on the device: out[i] = scale * table[bits >> 16], where bits is
// randomBits(seed, i, 0) of src/train/init.ts (lowbias32 mixes: u32 multiplies wrap as Math.imul
// does) and table is its normalTable() (a truncated normal's inverse CDF at 65536 equally likely
// points). One float32 product per value, exactly rounded, so every device gives the bits that
// truncNormal gives on the CPU, without creating and uploading the values from the host.
// Memory-bound: 4 bytes written per value, table reads hit a 256 KiB table.
//!include flat

struct Params {
  n: u32,       // values
  stride: u32,  // items per row of the dispatch grid (groupsX * FLAT_WG)
  key: u32,     // mix32(seed)
  salt: u32,    // the stream's salt (NORMAL_SALT)
  scale: f32,  // the standard deviation
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn mix32(v: u32) -> u32 {
  var x = v;
  x ^= x >> 16u;
  x *= 0x7feb352du;
  x ^= x >> 15u;
  x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

@compute @workgroup_size(FLAT_WG)
fn trunc_normal(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.stride;
  if (i >= p.n) { return; }
  let bits = mix32(mix32(p.key ^ i) ^ p.salt);
  out[i] = p.scale * table[bits >> 16u];
}
