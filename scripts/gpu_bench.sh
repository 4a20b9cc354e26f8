#!/usr/bin/env bash
# Issue 5's measurement on a GPU machine: FaceLandmark68Net and the digits CNN in wgslgrad beside PyTorch
# (CUDA when it sees the GPU, channels-last, TF32 off) at batch 1, 16, 64, 256, with the wgslgrad variants
# without fusion and without vec4 loads, and a per-kernel profile. Tables go to stdout and, with the rows
# as JSON, to $OUT (default runs/gpu_bench).
#
#   bash scripts/gpu_bench.sh                    # BATCHES=1,16 STEPS=5 for a quick look
#   BASELINE=base bash scripts/gpu_bench.sh      # A/B: an old tree (`git archive 54a9bbd | tar -x -C base`)
#                                                # against this checkout, interleaved, with PyTorch beside
#
# The A/B run (sized for about 5 minutes on an H100 or H200; not yet run there): landmark68 and digits at
# BATCHES (default 1,16,256) in ROUNDS (default 2) rounds, each round running the old tree and this one (in
# alternating order) in their own processes, PyTorch after the first round; then scripts/host_cost.py on
# both trees (the host-side cost of a run and of a step, and wgpu calls per call). Tables: $OUT/ab.txt and
# $OUT/host_cost.txt; first, tests/test_wgpu_raw.py on this adapter (when pytest is there).
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
warmup="${WARMUP:-30}"          # an H200 measured the first variant 3-4x slow after 5 warm-up steps
infer_steps="${INFER_STEPS:-50}"
mkdir -p "$out"

source scripts/gpu_env.sh   # wheels (.whl/), Vulkan loader (.gl/), NVIDIA ICD, PYTHONPATH

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true
python3 -c "import wgpu; print('wgpu', wgpu.__version__)"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" || true

if [ -n "${BASELINE:-}" ]; then
    base="$(cd "$BASELINE" && pwd)"
    new="$PWD"
    ab="$(mkdir -p "$out/ab" && cd "$out/ab" && pwd)"
    rm -f "$ab"/*.json
    batches="${BATCHES:-1,16,256}"
    rounds="${ROUNDS:-2}"
    # bench TREE MODEL LABEL PEERS [--no-wgslgrad]: one bench process in TREE (its own wgslgrad first on
    # sys.path), rows to $ab/MODEL_LABEL.json, its table to .txt
    bench() {
        local tree="$1" model="$2" label="$3" peers="$4"
        shift 4
        echo "gpu_bench: $model, $label ($(date +%T))"
        (cd "$tree" && PYTHONPATH="$tree${PYTHONPATH:+:$PYTHONPATH}" python3 -m wgslgrad.bench.run \
            "examples/$model.py" --batch "$batches" --steps "$steps" --warmup "$warmup" \
            --infer-steps "$infer_steps" --peers "$peers" "$@" -o "$ab/${model}_$label.json" \
            > "$ab/${model}_$label.txt")
    }
    # the direct wgpu-native calls (runtime/wgpu_raw.py) against wgpu-py's public API on this adapter first
    if python3 -c "import pytest" 2>/dev/null; then
        python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_wgpu_raw.py 2>&1 | tail -3 \
            | tee "$out/test_wgpu_raw.txt" || true
    fi
    for model in landmark68 digits; do
        for r in $(seq 1 "$rounds"); do
            if [ $((r % 2)) -eq 1 ]; then order="base new"; else order="new base"; fi
            for who in $order; do
                if [ "$who" = base ]; then tree="$base"; else tree="$new"; fi
                bench "$tree" "$model" "${who}_$r" ""
            done
            if [ "$r" -eq 1 ]; then
                bench "$new" "$model" torch torch --no-wgslgrad || echo "gpu_bench: no PyTorch row" >&2
            fi
        done
    done
    python3 scripts/gpu_ab.py "$ab" | tee "$out/ab.txt"
    echo
    python3 scripts/host_cost.py --compare "$base" --landmark68 --rounds "$rounds" --reps "${REPS:-200}" \
        --landmark68-reps "${LANDMARK68_REPS:-20}" \
        | tee "$out/host_cost.txt"
    exit 0
fi

python3 -m wgslgrad.bench.run examples/landmark68.py --batch "$batches" --steps "$steps" --warmup "$warmup" \
    --infer-steps "$infer_steps" --peers torch,unfused,scalar --profile -o "$out/landmark68.json" \
    | tee "$out/landmark68.txt"
python3 -m wgslgrad.bench.run examples/digits.py --batch "$batches" --steps "$steps" --warmup "$warmup" \
    --infer-steps "$infer_steps" --peers torch -o "$out/digits.json" | tee "$out/digits.txt"
