#!/usr/bin/env bash
# Builds .devkit/ — what a machine without Node.js or a package registry needs to run tok1d:
# this machine's node binary (xz), the runtime node_modules (webgpu with only its linux-x64
# build, pngjs) and the Vulkan/EGL loader packages. Used with tools/device-run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .devkit && mkdir -p .devkit
xz -T2 -6 -c "$(command -v node)" > .devkit/node.xz
tar -c --exclude='node_modules/webgpu/dist/darwin-*' --exclude='node_modules/webgpu/dist/win32-*' \
  --exclude='node_modules/webgpu/dist/linux-arm64' \
  node_modules/webgpu node_modules/pngjs | xz -T2 -6 > .devkit/modules.tar.xz
mkdir -p .devkit/debs /tmp/amd64/partial
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
apt-get $o update -qq
(cd .devkit/debs && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 2>/dev/null)
du -sh .devkit/*
