#!/usr/bin/env bash
# GPU checks for Section 5 (finite_expressivity.section5), called by scripts/gpu_check.sh
# (which sets PYTHONPATH, FE_DATA_DIR and the `fe` function; see its header for the
# .gpu-carry/ folder this needs on a machine without a package registry). Writes under $OUT.
# Order: the real MNIST kernel jobs first (the anchor: EigenPro 2, 1.23% test error in
# 6.24 s on one 2018 GPU), then the GPU tests, the fused CUDA kernel, the solver benchmark.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
type fe >/dev/null 2>&1 || fe() { python3 -m finite_expressivity.cli "$@"; }
status=0
if ! python3 -c "from finite_expressivity.data import load; load('mnist', network=False)" \
  >"$OUT/mnist_load.log" 2>&1; then
  echo "MNIST not in FE_DATA_DIR=${FE_DATA_DIR:-unset}: see scripts/gpu_check.sh" | tee -a "$OUT/mnist_load.log"
  exit 1
fi
# 1. the real job: all 60,000 MNIST images, no ridge; auto (float64 Cholesky on a GPU),
#    then PCG and EigenPro (each exits 3 if it does not interpolate)
for solver in auto pcg eigenpro; do
  fe kernel --dataset mnist --device cuda --solver $solver --json \
    >"$OUT/kernel_mnist_cuda_$solver.json" 2>"$OUT/kernel_mnist_cuda_$solver.log" || status=1
  python3 - "$OUT/kernel_mnist_cuda_$solver.json" "$OUT/kernel_mnist_cuda_$solver.log" <<'PY' || status=1
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except ValueError:
    sys.exit(print("no result:", open(sys.argv[2]).read().strip().splitlines()[-1:]))
print(f"{r['solver']}: train {100 * r['train_error']:.2f}%, test {100 * r['test_error']:.2f}%, "
      f"{r['seconds']['total']:.2f} s (floor {r['floor_seconds']:.2f} s, x{r['time_over_floor']}), "
      f"epochs {r['epochs']}, {r['machine'].get('gpu')}, paths {r['paths']['distances']}")
PY
done
# 2. the GPU tests of section5 (skipped when gpu_check.sh runs every GPU test itself)
if [ -z "${FE_GPU_TESTS_DONE:-}" ]; then
  python3 -m pytest -q -m gpu -p no:cacheprovider tests/section5 >"$OUT/section5_gpu_tests.log" 2>&1 || status=1
  tail -3 "$OUT/section5_gpu_tests.log"
fi
# 3. fused kernel vs GEMM-built blocks (answers checked before timing)
python3 - <<'PY' >"$OUT/kernel_fused_timing.log" 2>&1 || status=1
import time, numpy as np, cupy
from finite_expressivity.section5.backend import get_backend
from finite_expressivity.section5.cuda import fused_kernel_matvec, fused_kernel_matvec_reference
from finite_expressivity.section5.gram import Kernel, kernel_matmul
rng = np.random.default_rng(0)
k = Kernel("gaussian", 5.0)
X = rng.uniform(size=(20000, 784)); A = rng.standard_normal((20000, 10))
ref = fused_kernel_matvec_reference(X[:500], X, A, kernel=k)
be = get_backend("cupy", "cuda")
for dt in ("float32", "float64"):
    Xg, Ag = cupy.asarray(X, dtype=dt), cupy.asarray(A, dtype=dt)
    got = cupy.asnumpy(fused_kernel_matvec(Xg[:500], Xg, Ag, kernel=k))
    err = np.abs(got - ref).max() / np.abs(ref).max()
    gem = cupy.asnumpy(kernel_matmul(Xg[:500], Xg, Ag, kernel=k, dtype=dt, backend=be))
    err2 = np.abs(gem - ref).max() / np.abs(ref).max()
    for name, f in (("fused", lambda: fused_kernel_matvec(Xg, Xg, Ag, kernel=k)),
                    ("gemm-blocks", lambda: kernel_matmul(Xg, Xg, Ag, kernel=k, dtype=dt, backend=be))):
        f(); cupy.cuda.runtime.deviceSynchronize(); t = time.perf_counter(); f()
        cupy.cuda.runtime.deviceSynchronize()
        print(f"{dt} {name}: K(X,X)@A, n=20000, d=784: {time.perf_counter() - t:.3f} s "
              f"(rel err fused {err:.1e}, gemm {err2:.1e})")
PY
cat "$OUT/kernel_fused_timing.log" | tail -4
# 4. the solver benchmark on the GPU, beside the GPU's floor
python3 benchmarks/kernel_solvers.py --device cuda --n 5000 20000 60000 --solvers cholesky pcg \
  --sklearn-max 0 --json "$OUT/kernel_solvers_cuda.json" >"$OUT/kernel_solvers_cuda.log" 2>&1 || status=1
cat "$OUT/kernel_solvers_cuda.log"
exit $status
