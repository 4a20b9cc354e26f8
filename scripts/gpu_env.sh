# Sourced by the GPU scripts (gpu_bench.sh, char_lstm_gpu.sh) from the repository root: on a machine that cannot
# reach PyPI or lacks a Vulkan loader, installs the wheels in .whl/ (wgpu, cffi, pycparser, rendercanvas, lark for
# its Python) into a private folder when wgpu is missing, unpacks the loader packages in .gl/ (libvulkan1 and
# libglvnd's, which NVIDIA's ICD loads through) when ldconfig knows no libvulkan, and points Vulkan at NVIDIA's
# ICD. Both folders are ignored by git; BENCHMARKS.md says how to fill them.
if ! python3 -c "import wgpu" 2>/dev/null && compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/wgslgrad-site \
        .whl/*.whl
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
