#!/usr/bin/env bash
# Runs on a GPU machine without Node.js or a registry (see tools/device-kit.sh, which builds the
# .devkit/ this script unpacks). Writes doctor, bench and the PyTorch cross-check into $OUT.
#   usage: bash tools/device-run.sh [backend]      (default vulkan)
set -uo pipefail
backend=${1:-vulkan}
out=${OUT:-/tmp/tok1d-out}
mkdir -p "$out"
for f in .devkit/debs/*.deb; do dpkg -x "$f" /; done
ldconfig
mkdir -p /tmp/nodebin && xz -dc .devkit/node.xz > /tmp/nodebin/node && chmod +x /tmp/nodebin/node
export PATH=/tmp/nodebin:$PATH
tar -xJf .devkit/modules.tar.xz
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
  if [ -f "$icd" ]; then export VK_DRIVER_FILES=$icd; break; fi
done
egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
[ -f "$egl" ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$egl
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; node --version; echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"; } > "$out/machine.txt" 2>&1
cat "$out/machine.txt"
timeout 120 node bin/tok1d.js doctor --backend "$backend" 2>&1 | tee "$out/doctor.txt"
timeout 300 node bin/tok1d.js bench --backend "$backend" --json "$out/bench.json" 2>"$out/bench-progress.txt" | tee "$out/bench.txt"
timeout 120 node dist/tools/dump-cases.js /tmp/tok1d-cases --backend "$backend" 2>&1 | tail -2
timeout 120 python3 tools/torch_check.py /tmp/tok1d-cases "$out/torch-check.json" 2>&1 | tee "$out/torch-check.txt"
