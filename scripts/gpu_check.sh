#!/usr/bin/env bash
# Every GPU test and benchmark in one call (for a lent GPU machine; CuPy and torch
# are preinstalled there). Writes logs under ${OUT:-gpu-results}/.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
pip install -q --no-deps -e . >/dev/null 2>&1 || pip install -q -e . >/dev/null
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/device.txt"
status=0
# 1. the GPU tests (construction on torch-cuda and CuPy, data loader, kernels, training)
python -m pytest -q -m gpu -p no:cacheprovider tests 2>&1 | tee "$OUT/gpu_tests.log" || status=1
export FE_GPU_TESTS_DONE=1  # the part scripts below skip their own (already run) GPU tests
# 2. Theorem 1 on the GPU: the construction against the floor, CuPy and torch
python benchmarks/construction.py --backend cupy --n 100000 1000000 10000000 --json "$OUT/construction_cupy.json" 2>&1 | tee "$OUT/construction.log" || status=1
python benchmarks/construction.py --backend torch --n 100000 1000000 10000000 --json "$OUT/construction_torch.json" 2>&1 | tee -a "$OUT/construction.log" || status=1
# 3. end to end on the GPU backends (the device machine reaches no registry: gaussian data)
for backend in cupy torch; do
  fe theorem --dataset gaussian --n 1000000 --backend $backend --json --quiet > "$OUT/theorem_gauss_$backend.json" || status=1
done
# 4. the other parts' GPU checks, when present
for part in scripts/gpu_kernel_checks.sh scripts/gpu_training_checks.sh; do
  if [ -f "$part" ]; then bash "$part" 2>&1 | tee -a "$OUT/parts.log" || status=1; fi
done
exit $status
