#!/usr/bin/env bash
# Installs wgslgrad and its test tools, and makes sure wgpu can find a GPU adapter: on a machine
# without one, Mesa's lavapipe (a Vulkan driver on the CPU) is installed so the real WGSL still runs.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install -q --disable-pip-version-check -e ".[test]" 2>&1 | grep -v "Running pip as the 'root' user" || true

has_adapter() {
    python3 -c 'import wgpu, sys; sys.exit(0 if wgpu.gpu.request_adapter_sync() else 1)' >/dev/null 2>&1
}

if ! has_adapter; then
    echo "setup: wgpu found no GPU adapter; installing Mesa's lavapipe (mesa-vulkan-drivers)" >&2
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mesa-vulkan-drivers >/dev/null
    has_adapter || { echo "setup: still no wgpu adapter after installing lavapipe" >&2; exit 1; }
fi
python3 -c 'import wgpu; a = wgpu.gpu.request_adapter_sync(); print("setup: adapter:", a.info["device"], "(" + a.info["adapter_type"] + ", " + a.info["backend_type"] + ")")' 2>/dev/null
