#!/usr/bin/env bash
# Every GPU check in one call, within 8 minutes on one H100/H200, with no package registry.
#
# The real MNIST kernel job runs first (it is the one this script must not skip); the
# other checks follow while the time budget lasts (FE_GPU_BUDGET seconds, default 450),
# each under `timeout`, so the whole script ends in time however slow a part is.
# Logs and JSON go to ${OUT:-gpu-results}/ (the device tool brings back 8 files at most:
# the summary is $OUT/summary.txt, everything else is in $OUT/logs.tar.gz).
#
# What it needs on the GPU machine: python3 with torch (CUDA), CuPy, NumPy, SciPy,
# numba, hypothesis, tqdm, matplotlib, pytest (the device image has them) plus two
# things that cannot be fetched there and travel in the git-ignored folder .gpu-carry/:
#
#   .gpu-carry/fe-data/mnist.npz, mnist.json   the cached MNIST arrays (FE_DATA_DIR)
#   .gpu-carry/wheels/array_api_compat-*.whl   the one dependency the image lacks
#
# Prepare it once, here, in the repository root (57 MB of the device tool's 64 MiB):
#
#   fe data fetch mnist            # if ~/.cache/finite-expressivity has no mnist.npz yet
#   mkdir -p .gpu-carry/fe-data .gpu-carry/wheels
#   cp ~/.cache/finite-expressivity/mnist.{npz,json} .gpu-carry/fe-data/
#   python3 -m pip download --no-deps --only-binary=:all: -d .gpu-carry/wheels \
#       array-api-compat==1.16.0
#
# and run it on the device machine with carry [".gpu-carry"]:
#
#   run(command="OUT=$OUT bash scripts/gpu_check.sh", carry=[".gpu-carry"], timeout_s=540)
#
# The package itself is not installed (that would need setuptools from a registry): the
# script puts src/ on PYTHONPATH and runs `fe` as `python3 -m finite_expressivity.cli`.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-results}
BUDGET=${FE_GPU_BUDGET:-450}
LOGS="$OUT/logs"
mkdir -p "$LOGS"
export PYTHONUNBUFFERED=1
CARRY=.gpu-carry
if [ -d "$CARRY/wheels" ] && ls "$CARRY"/wheels/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/fe-site "$CARRY"/wheels/*.whl >"$LOGS/pip.log" 2>&1 || echo "pip failed" >>"$OUT/summary.txt"
fi
export PYTHONPATH="$PWD/src:/tmp/fe-site${PYTHONPATH:+:$PYTHONPATH}"
export FE_DATA_DIR="${FE_DATA_DIR:-$PWD/$CARRY/fe-data}"
export FE_PROBE_DIR=/tmp/fe-probes
fe() { python3 -m finite_expressivity.cli "$@"; }
export -f fe
status=0

left() { echo $((BUDGET - SECONDS)); }
# step NAME COMMAND...: run under the time left; one summary line either way
step() {
  local name=$1
  shift
  local t=$(left)
  if [ "$t" -le 10 ]; then
    echo "$name: skipped (time budget spent)" | tee -a "$OUT/summary.txt"
    return
  fi
  local t0=$SECONDS
  timeout "$t" "$@" >"$LOGS/$name.log" 2>&1
  local rc=$?
  [ $rc -ne 0 ] && status=1
  echo "$name: exit $rc in $((SECONDS - t0)) s" | tee -a "$OUT/summary.txt"
}

{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import torch, numpy, scipy; print('torch', torch.__version__, 'numpy', numpy.__version__, 'scipy', scipy.__version__)"
  python3 -c "import cupy; print('cupy', cupy.__version__)" 2>&1
  ls -la "$FE_DATA_DIR" 2>&1
} >"$OUT/summary.txt" 2>&1

# 1. the Section 5 checks: the real MNIST kernel job on the GPU first, then the rest
step section5 env OUT="$LOGS/section5" bash scripts/gpu_kernel_checks.sh
cp "$LOGS"/section5/kernel_mnist_cuda*.json "$OUT"/ 2>/dev/null
# 2. the other parts' GPU tests and benchmarks, while time is left
step gpu_tests python3 -m pytest -q -m gpu -p no:cacheprovider --ignore=tests/section5 tests
step construction python3 benchmarks/construction.py --backend torch --n 100000 1000000 10000000 \
  --json "$LOGS/construction_torch.json"
for backend in cupy torch; do
  step "theorem_$backend" python3 -m finite_expressivity.cli theorem --dataset gaussian --n 1000000 --backend $backend --json --quiet
done
if [ -f scripts/gpu_training_checks.sh ]; then
  step training env OUT="$LOGS/training" FE_GPU_TESTS_DONE=1 bash scripts/gpu_training_checks.sh
fi
echo "total: $SECONDS s of the ${BUDGET} s budget" | tee -a "$OUT/summary.txt"
tar -czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$LOGS"
exit $status
