#!/usr/bin/env bash
# Sets up a fresh machine (scripts/setup.sh) and runs the whole test suite on the real WGSL kernels.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
# setup.sh installed every dependency: a test that skips now fails, saying why (tests/conftest.py).
export WGSLGRAD_NO_SKIP=1
exec python3 -m pytest -q "$@"
