"""Kernel matrices in blocks against a float64 reference built from explicit differences."""

from __future__ import annotations

import numpy as np
import pytest

from finite_expressivity.section5.gram import (
    Kernel,
    Points,
    bandwidth_rule,
    kernel_matmul,
    kernel_matrix,
)

TOL = {"float64": 1e-12, "float32": 2e-6}


@pytest.mark.parametrize("name", ["gaussian", "laplacian"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kernel_matrix_matches_reference(kbackend, rng, name, dtype):
    X = rng.uniform(0.1, 1.0, size=(333, 17))
    Z = rng.uniform(0.1, 1.0, size=(45, 17))
    k = Kernel(name, float(rng.uniform(0.5, 2.0)))
    K = kbackend.to_numpy(kernel_matrix(X, kernel=k, dtype=dtype, backend=kbackend))
    np.testing.assert_allclose(K, k.numpy(X, X), atol=TOL[dtype], rtol=0)
    assert np.all(np.diag(K) == 1.0)  # exactly k(0)
    Kz = kbackend.to_numpy(kernel_matrix(X, Z, kernel=k, dtype=dtype, backend=kbackend))
    np.testing.assert_allclose(Kz, k.numpy(X, Z), atol=TOL[dtype], rtol=0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kernel_matmul_matches_reference(kbackend, rng, dtype):
    X = rng.uniform(0.1, 1.0, size=(257, 9))
    Z = rng.uniform(0.1, 1.0, size=(130, 9))
    A = rng.standard_normal((130, 4))
    k = Kernel("gaussian", 0.9)
    got = kbackend.to_numpy(
        kernel_matmul(X, Z, A, kernel=k, dtype=dtype, backend=kbackend, workspace=40 * 130 * 8)
    )  # many small blocks
    np.testing.assert_allclose(got, k.numpy(X, Z) @ A, atol=50 * TOL[dtype], rtol=0)
    one = kbackend.to_numpy(kernel_matmul(X, Z, A[:, 0], kernel=k, dtype=dtype, backend=kbackend))
    np.testing.assert_allclose(one, k.numpy(X, Z) @ A[:, 0], atol=50 * TOL[dtype], rtol=0)


@pytest.mark.parametrize("name", ["gaussian", "laplacian"])
def test_uint8_pixels_with_scale_are_exact(kbackend, rng, name):
    """uint8 inputs (exact integer path on torch's CPU) equal the float64 pixels / 255."""
    X = rng.integers(0, 256, size=(201, 40)).astype(np.uint8)
    Z = rng.integers(0, 256, size=(31, 40)).astype(np.uint8)
    k = Kernel(name, 3.0, scale=1 / 255)
    ref = Kernel(name, 3.0).numpy(X / 255.0, Z / 255.0)
    got = kbackend.to_numpy(kernel_matrix(X, Z, kernel=k, dtype="float64", backend=kbackend))
    np.testing.assert_allclose(got, ref, atol=1e-13, rtol=0)


def test_integer_distances_are_exact_integers(rng):
    torch = pytest.importorskip("torch")
    from finite_expressivity.section5.backend import get_backend

    be = get_backend("torch", "cpu")
    X = rng.integers(0, 256, size=(64, 24)).astype(np.uint8)
    P = Points(X, dtype="float64", backend=be, distances="int8")
    assert P.int_mode and P.path == "int8"
    out = torch.empty(64, 64, dtype=torch.float64)
    P.sq_dists_into(out, slice(0, 64), P)
    ref = ((X[:, None, :].astype(np.int64) - X[None, :, :]) ** 2).sum(-1)
    np.testing.assert_array_equal(out.numpy(), ref)


def test_lower_only_fills_the_lower_block_triangle(kbackend, rng):
    X = rng.uniform(size=(300, 5))
    k = Kernel("laplacian", 1.0)
    K = kbackend.to_numpy(
        kernel_matrix(X, kernel=k, dtype="float64", backend=kbackend, lower_only=True)
    )
    ref = k.numpy(X, X)
    np.testing.assert_allclose(np.tril(K), np.tril(ref), atol=1e-12, rtol=0)


def test_memory_refusal_names_the_numbers(rng):
    X = rng.uniform(size=(100, 3))
    with pytest.raises(MemoryError, match="needs .* GiB, more than"):
        kernel_matrix(
            X, kernel=Kernel("gaussian", 1.0), dtype="float64", backend="numpy", max_bytes=1000
        )


def test_bandwidth_rule(rng):
    X = rng.standard_normal((500, 10))
    g = bandwidth_rule(X, "gaussian", rng=np.random.default_rng(1))
    lap = bandwidth_rule(X, "laplacian", rng=np.random.default_rng(1))
    # the median distance of standard Gaussian points in 10-D is about sqrt(2 * 10)
    assert lap == pytest.approx(2 * g) and 3.5 < lap < 5.5
    assert g == bandwidth_rule(X, "gaussian", rng=np.random.default_rng(1))  # seeded
    assert bandwidth_rule(X, "gaussian", rng=np.random.default_rng(1), scale=2.0) == pytest.approx(
        2 * g
    )


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), True, "5"])
def test_bad_bandwidth_is_refused(bad):
    with pytest.raises(ValueError, match="bandwidth must be a finite number > 0"):
        Kernel("gaussian", bad)


def test_bad_kernel_name_and_shapes(rng):
    with pytest.raises(ValueError, match="kernel must be one of"):
        Kernel("polynomial", 1.0)
    with pytest.raises(ValueError, match="2-D array"):
        kernel_matrix(np.ones(5), kernel=Kernel("gaussian", 1.0), backend="numpy")
    with pytest.raises(ValueError, match="same number of features"):
        kernel_matrix(
            np.ones((3, 2)), np.ones((3, 4)), kernel=Kernel("gaussian", 1.0), backend="numpy"
        )
