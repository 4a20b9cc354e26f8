#!/usr/bin/env bash
# The main job on a fresh machine: set up (scripts/setup.sh), then compile and train the digits CNN on
# the GPU (lavapipe on a CPU-only machine), report its held-out accuracy, export it for the browser as
# uint8 TF.js weights plus a WebGPU bundle, and run FaceLandmark68Net's forward pass.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

python3 examples/make_data.py digits
python3 -m wgslgrad summary examples/digits.py
python3 -m wgslgrad train examples/digits.py --data examples/data/digits_train.npz \
    --val examples/data/digits_test.npz --schedule step:6:0.3 --out runs/digits --overwrite
python3 -m wgslgrad export examples/digits.py --batch 1 --weights runs/digits/checkpoint.safetensors \
    --quantize uint8 --js -o examples/web/model
echo "loss plot: runs/digits/loss.png; browser bundle: examples/web/model/model.js"
echo "  to try it: python3 -m http.server -d examples/web 8000, then open http://localhost:8000/?scale=0.0627"

python3 -m wgslgrad summary examples/landmark68.py --batch 1
python3 -m wgslgrad run examples/landmark68.py --batch 1
