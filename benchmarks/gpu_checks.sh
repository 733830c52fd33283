#!/usr/bin/env bash
# What needs an NVIDIA GPU, in one run from the repository root:
#   bash benchmarks/gpu_checks.sh OUTDIR
# the CUDA tests (pytest -m cuda), the GPU-saved model files that the CPU tests read
# (tests/data/gpu_saved, written by make_gpu_saved.py there), and the trace benchmark on the GPU.
set -u
out=${1:?usage: bash benchmarks/gpu_checks.sh OUTDIR}
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
[ -e lstm_viz_app ] || ln -s app lstm_viz_app  # the GUI package's import name, for a clone
python3 -c 'import torch; print("torch", torch.__version__, "on", torch.cuda.get_device_name())'
timeout 30 python3 tests/data/gpu_saved/make_gpu_saved.py "$out/gpu_saved"
timeout 120 python3 -m pytest -q -p no:cacheprovider -rf -m cuda tests/engine 2>&1 \
    | tee "$out/cuda_tests.log" | tail -15
timeout 150 python3 benchmarks/bench_trace.py --device cuda --repeat 5 2>&1 \
    | tee "$out/bench_trace_cuda.log"
