#!/usr/bin/env bash
# Issue 15 on a GPU machine: examples/char_lstm.py trained in full (examples/train_char_lstm.py: held-out loss
# beside the unigram model's, samples, the bundle) and scripts/lstm_bench.py (an LSTM training step beside
# PyTorch, CPU and CUDA). Results go to $OUT (default runs/char_lstm_gpu). Wheels and loader packages as
# scripts/gpu_bench.sh takes them (.whl/, .gl/).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-runs/char_lstm_gpu}"
mkdir -p "$out"
source scripts/gpu_env.sh   # wheels (.whl/), Vulkan loader (.gl/), NVIDIA ICD, PYTHONPATH

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true
python3 -c "import torch, wgpu; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), '| wgpu', wgpu.__version__)"
no_run=""
python3 -c "import matplotlib" 2>/dev/null || { echo "no matplotlib: training without a run folder"; no_run="--no-run"; }
timeout "${TRAIN_TIMEOUT:-300}" python3 examples/train_char_lstm.py "$out/char_lstm" $no_run 2>&1 \
    | grep -v "^\s*$" | tr '\r' '\n' | grep -v "it/s\]$" | tee "$out/train.txt"
timeout "${BENCH_TIMEOUT:-240}" python3 scripts/lstm_bench.py --steps "${STEPS:-10}" --warmup "${WARMUP:-10}" \
    --sizes "${SIZES:-1x64,32x64,1x256,32x256}" -o "$out/lstm_bench.json" | tee "$out/lstm_bench.txt"
