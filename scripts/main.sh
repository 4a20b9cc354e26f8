#!/usr/bin/env bash
# Sets up a fresh machine (scripts/setup.sh), then compiles the FaceLandmark68Net example, prints its
# summary and runs its forward pass on the GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
python3 -m wgslgrad summary examples/landmark68.py
python3 -m wgslgrad run examples/landmark68.py --batch 4
