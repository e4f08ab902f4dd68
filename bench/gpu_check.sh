#!/usr/bin/env bash
# The GPU half of the workbench on a real GPU: mobilenet_v2 on the JAX and PyTorch backends
# (Keras 3), the allocator peak against NVML per trial, a simulated 2 GB card that must give
# over_budget rows, and a batch that must end oom (bench/gpu_check.py says what and how).
#
# Made for a GPU machine with JAX and PyTorch (CUDA) and no TensorFlow, where nothing can be
# fetched: Keras and the two small packages it needs there (namex, optree for CPython 3.12) come
# along as wheels in bench/wheels (2.8 MB) and are installed into a temporary folder when the
# interpreter has no Keras. Results, reports and summary.md go to $OUT (or runs/gpu_check).
# It finishes in under 8 minutes on an H100 (--deadline-s 450); --tiny runs the same steps at
# 32 px in a few minutes on a CPU, where every GPU figure is reported not available.
#
#   bench/gpu_check.sh            # on the GPU machine
#   PYTHON=.venv/bin/python bench/gpu_check.sh --tiny   # here, without a GPU
#   bench/gpu_check.sh --oom-only docs/gpu/sweep,docs/gpu/oom --deadline-s 240   # the oom step alone, sized from the last run
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT_DIR=${OUT:-runs/gpu_check}
if ! "$PY" -c "import keras" 2>/dev/null; then
  site=$(mktemp -d)
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$site" bench/wheels/*.whl
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
mkdir -p "$OUT_DIR"
set +e
"$PY" bench/gpu_check.py --out "$OUT_DIR" "$@" 2>&1 | tee "$OUT_DIR/gpu_check.log"
code=${PIPESTATUS[0]}
exit "$code"
