#!/usr/bin/env bash
# Installs the system packages tok1d needs on Debian/Ubuntu: the software GPU drivers (Mesa's
# llvmpipe through EGL/OpenGL; SwiftShader through Vulkan, which Debian's chromium ships, and
# headless Chromium for the browser test). Refreshes the package lists first. Runs apt-get directly
# as root and through sudo otherwise. Node (≥ 20) and npm are not installed here.
# With --test, also what the test suite's TiTok reference checks run: Debian's PyTorch (CPU) and
# OmegaConf for the reference implementation in ../shared/reference/titok, and a threaded BLAS.
set -euo pipefail

PACKAGES=(libegl1 libegl-mesa0 libgl1-mesa-dri libvulkan1 chromium)
if [ "${1:-}" = "--test" ]; then
  PACKAGES+=(python3-torch python3-omegaconf libopenblas0-pthread)
elif [ $# -gt 0 ]; then
  echo "usage: tools/setup.sh [--test]" >&2
  exit 2
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo > /dev/null; then
  as_root=(sudo)
else
  echo "tools/setup.sh: run as root, or install sudo: apt-get needs root to install ${PACKAGES[*]}" >&2
  exit 3
fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
