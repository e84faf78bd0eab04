"""The fused CUDA kernel against its NumPy reference (GPU), and the reference itself (CPU)."""

from __future__ import annotations

import numpy as np
import pytest

from finite_expressivity.section5.cuda import cu_source_path, fused_kernel_matvec_reference
from finite_expressivity.section5.gram import Kernel


@pytest.mark.parametrize("name", ["gaussian", "laplacian"])
def test_reference_equals_the_direct_kernel(rng, name):
    X = rng.uniform(size=(130, 11))
    Z = rng.uniform(size=(70, 11))
    A = rng.standard_normal((70, 5))
    k = Kernel(name, 0.8)
    np.testing.assert_allclose(
        fused_kernel_matvec_reference(X, Z, A, kernel=k, block=32), k.numpy(X, Z) @ A, atol=1e-12
    )
    ks = Kernel(name, 0.8, scale=1 / 255)  # the scale applies to the inputs
    np.testing.assert_allclose(
        fused_kernel_matvec_reference(255 * X, 255 * Z, A, kernel=ks), k.numpy(X, Z) @ A, atol=1e-11
    )


def test_source_compiles_with_the_entry_points(tmp_path):
    """nvcc (CUDA's compiler, no GPU needed) compiles the source to PTX, which exports the
    per-dtype entry points that section5.cuda asks CuPy for."""
    import shutil
    import subprocess

    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc not found: the CUDA toolkit is not installed")
    ptx = tmp_path / "kernel.ptx"
    proc = subprocess.run(
        [nvcc, "-ptx", "-arch=sm_80", "-o", str(ptx), str(cu_source_path())],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    text = ptx.read_text()
    for dtype in ("float32", "float64"):
        assert f".entry fused_kernel_matvec_{dtype}(" in text


def _cupy():
    cupy = pytest.importorskip("cupy")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA device")
    except Exception:  # noqa: BLE001
        pytest.skip("no CUDA device")
    return cupy


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["gaussian", "laplacian"])
@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 2e-4)])
@pytest.mark.parametrize("n,m,d,c", [(37, 53, 19, 3), (300, 257, 784, 21)])
def test_fused_kernel_matches_reference(rng, name, dtype, tol, n, m, d, c):
    cupy = _cupy()
    from finite_expressivity.section5.cuda import fused_kernel_matvec

    X = rng.uniform(size=(n, d))
    Z = rng.uniform(size=(m, d))
    A = rng.standard_normal((m, c))
    k = Kernel(name, float(np.sqrt(d) / 2))
    ref = fused_kernel_matvec_reference(X, Z, A, kernel=k)
    got = fused_kernel_matvec(*(cupy.asarray(a, dtype=dtype) for a in (X, Z, A)), kernel=k)
    np.testing.assert_allclose(cupy.asnumpy(got), ref, atol=tol * np.abs(ref).max(), rtol=0)


@pytest.mark.gpu
def test_fused_kernel_checks_inputs_on_the_host(rng):
    cupy = _cupy()
    from finite_expressivity.section5.cuda import fused_kernel_matvec

    X = cupy.asarray(rng.uniform(size=(8, 4)))
    k = Kernel("gaussian", 1.0)
    with pytest.raises(TypeError, match="cupy.ndarray"):
        fused_kernel_matvec(np.ones((8, 4)), X, X[:, :2], kernel=k)
    with pytest.raises(TypeError, match="dtype"):
        fused_kernel_matvec(X, X.astype(cupy.float32), X[:, :2], kernel=k)
    with pytest.raises(ValueError, match="columns"):
        fused_kernel_matvec(X, X[:, :3], X[:, :2], kernel=k)


@pytest.mark.gpu
def test_on_the_fly_solver_with_the_fused_kernel(rng):
    _cupy()
    from finite_expressivity.section5.backend import get_backend
    from finite_expressivity.section5.solvers import OnTheFlyKernel

    be = get_backend("cupy", "cuda")
    X = rng.uniform(size=(500, 30))
    A = rng.standard_normal((500, 10))
    k = Kernel("gaussian", 2.0)
    fused = OnTheFlyKernel(X, k, be, dtype="float64", fused=True).matmul(be.asarray(A))
    np.testing.assert_allclose(be.to_numpy(fused), k.numpy(X, X) @ A, atol=1e-9)
