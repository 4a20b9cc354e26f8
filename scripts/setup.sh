#!/usr/bin/env bash
# Installs wgslgrad and its test tools, and makes sure wgpu can find a GPU adapter: on a machine
# without one, Mesa's lavapipe (a Vulkan driver on the CPU) is installed so the real WGSL still runs.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install -q --disable-pip-version-check -e ".[test]" 2>&1 | grep -v "Running pip as the 'root' user" || true

# A Vulkan, Metal or D3D12 adapter: wgpu's OpenGL fallback (Mesa's llvmpipe through GL) runs the Python
# suite, but Node's Dawn (the bundle tests) and browsers need Vulkan, so it does not count.
has_adapter() {
    python3 -c 'import wgpu, sys
a = wgpu.gpu.request_adapter_sync()
sys.exit(0 if a and a.info["backend_type"] in ("Vulkan", "Metal", "D3D12") else 1)' >/dev/null 2>&1
}

if ! has_adapter; then
    echo "setup: wgpu found no Vulkan, Metal or D3D12 adapter; installing Mesa's lavapipe (mesa-vulkan-drivers)" >&2
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mesa-vulkan-drivers >/dev/null
    has_adapter || { echo "setup: still no Vulkan adapter for wgpu after installing lavapipe" >&2; exit 1; }
fi
# Test-only peers and references: PyTorch CPU (a local wheel on these machines: never a bare
# `pip install torch`, which pulls a multi-GB CUDA build), TF.js for the benchmarks (wgslgrad/bench/tfjs_peer: in Node,
# and with playwright-core and webgpu for `bench --browser / --node`, the bundle beside TF.js), and face-api.js
# (@vladmandic/face-api with its published weights, on TF.js's pure-JS CPU backend) for tests/test_faceapi.py.
if ! python3 -c 'import torch' >/dev/null 2>&1; then
    python3 -m pip install -q --disable-pip-version-check torch==2.13.0 2>&1 | grep -v "Running pip as the 'root' user" \
        || echo "setup: PyTorch 2.13.0 (CPU) could not be installed; its peer tests will say so" >&2
fi
if command -v npm >/dev/null 2>&1; then
    for dir in wgslgrad/bench/tfjs_peer tests/tfjs tests/faceapi tests/knn; do
        [ -d "$dir/node_modules" ] || npm ci --silent --no-audit --no-fund --prefix "$dir" >/dev/null 2>&1 \
            || echo "setup: npm ci failed in $dir; its tests will say so" >&2
    done
fi

python3 -c 'import wgpu; a = wgpu.gpu.request_adapter_sync(); print("setup: adapter:", a.info["device"], "(" + a.info["adapter_type"] + ", " + a.info["backend_type"] + ")")' 2>/dev/null
