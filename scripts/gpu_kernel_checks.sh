#!/usr/bin/env bash
# GPU checks for the Section 5 kernel part (finite_expressivity.section5), for a lent GPU
# machine with CuPy and torch. Called by scripts/gpu_check.sh; writes logs under $OUT.
# MNIST must be in the cache ($FE_DATA_DIR or ~/.cache/finite-expressivity): the GPU
# machine reaches no registry, so carry the cache folder (e.g. FE_DATA_DIR=.data with
# .data/mnist.npz) or the data runs are skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
status=0
# 1. the fused CUDA kernel against its NumPy reference; kernels and solvers on torch-cuda/CuPy
#    (skipped when scripts/gpu_check.sh has just run every GPU test)
if [ -z "${FE_GPU_TESTS_DONE:-}" ]; then
  python -m pytest -q -m gpu -p no:cacheprovider tests/kernel 2>&1 | tee "$OUT/kernel_gpu_tests.log" || status=1
fi
# 2. fused kernel vs GEMM-built blocks (answers checked before timing)
python - <<'PY' 2>&1 | tee "$OUT/kernel_fused_timing.log" || status=1
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
# 3. the headline run and the solver benchmark on the GPU (needs MNIST cached)
if python -c "from finite_expressivity.data import load; load('mnist', network=False)" 2>/dev/null; then
  fe kernel --dataset mnist --device cuda --json --quiet > "$OUT/kernel_mnist_cuda.json" || status=1
  fe kernel --dataset mnist --device cuda --solver pcg --json --quiet > "$OUT/kernel_mnist_cuda_pcg.json" || status=1
  fe kernel --dataset mnist --features gabor --device cuda --json --quiet > "$OUT/kernel_mnist_gabor_cuda.json" || status=1
  python benchmarks/kernel_solvers.py --device cuda --n 5000 20000 60000 --solvers cholesky pcg \
    --json "$OUT/kernel_solvers_cuda.json" 2>&1 | tee "$OUT/kernel_solvers_cuda.log" || status=1
else
  echo "MNIST not cached on this machine: kernel data runs skipped" | tee "$OUT/kernel_data_skipped.log"
fi
exit $status
