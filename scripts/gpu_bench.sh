#!/usr/bin/env bash
# Issue 5's measurement on a GPU machine: FaceLandmark68Net and the digits CNN in wgslgrad beside PyTorch
# (CUDA when it sees the GPU, channels-last, TF32 off) at batch 1, 16, 64, 256, with the wgslgrad variants
# without fusion and without vec4 loads, and a per-kernel profile. Tables go to stdout and, with the rows
# as JSON, to $OUT (default runs/gpu_bench).
#
#   bash scripts/gpu_bench.sh                    # BATCHES=1,16 STEPS=5 for a quick look
#
# For a machine that cannot reach PyPI or lacks a Vulkan loader: wheels in .whl/ (wgpu, cffi, pycparser,
# rendercanvas, lark for its Python) are installed into a private folder when wgpu is missing, and loader
# packages in .gl/ (libvulkan1 and libglvnd's, which NVIDIA's ICD loads through) are unpacked when ldconfig
# knows no libvulkan. Both folders are ignored by git; BENCHMARKS.md says how to fill them.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-runs/gpu_bench}"
batches="${BATCHES:-1,16,64,256}"
steps="${STEPS:-20}"
mkdir -p "$out"

if ! python3 -c "import wgpu" 2>/dev/null && compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/wgslgrad-site .whl/*.whl
    export PYTHONPATH="/tmp/wgslgrad-site${PYTHONPATH:+:$PYTHONPATH}"
fi
if ! ldconfig -p | grep -q libvulkan && compgen -G ".gl/*.deb" >/dev/null; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
fi
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nvidia_icd" ]; then
    export VK_DRIVER_FILES="$nvidia_icd"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true
python3 -c "import torch, wgpu; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), '| wgpu', wgpu.__version__)"
python3 -m wgslgrad.bench.run examples/landmark68.py --batch "$batches" --steps "$steps" --warmup 30 \
    --infer-steps 50 --peers torch,unfused,scalar --profile -o "$out/landmark68.json" | tee "$out/landmark68.txt"
python3 -m wgslgrad.bench.run examples/digits.py --batch "$batches" --steps "$steps" --warmup 30 \
    --infer-steps 50 --peers torch -o "$out/digits.json" | tee "$out/digits.txt"
