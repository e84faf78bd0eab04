"""The tiled Cholesky (SciPy LAPACK on tiles) against NumPy's, in float64 and float32."""

from __future__ import annotations

import numpy as np
import pytest

from finite_expressivity.section5.linalg import (
    blocked_cho_solve,
    blocked_cholesky,
    upper_symmetric_matmul,
)


def _spd(rng, n, dtype):
    A = rng.standard_normal((n, n // 2))
    return (A @ A.T / n + 0.5 * np.eye(n)).astype(dtype)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-4)])
@pytest.mark.parametrize("block", [64, 1000])
def test_factor_and_solve(rng, dtype, tol, block):
    n = 517  # not a multiple of the block
    K = _spd(rng, n, dtype)
    ref = np.linalg.cholesky(K.astype(np.float64))
    b = rng.standard_normal((n, 3))
    L = blocked_cholesky(K.copy(), block=block)
    np.testing.assert_allclose(np.tril(L), ref, atol=tol * 10, rtol=0)
    x = blocked_cho_solve(L, b)
    assert x.dtype == dtype
    np.testing.assert_allclose(K.astype(np.float64) @ x, b, atol=tol * 100, rtol=0)


def test_not_positive_definite_raises_with_the_fix(rng):
    K = _spd(rng, 200, np.float64)
    K[150, 150] = -5.0
    with pytest.raises(np.linalg.LinAlgError, match="leading minor .* not positive definite"):
        blocked_cholesky(K, block=64)


def test_input_checks():
    with pytest.raises(ValueError, match="square"):
        blocked_cholesky(np.ones((3, 4)))
    with pytest.raises(TypeError, match="float32 or float64"):
        blocked_cholesky(np.eye(3, dtype=np.int64))
    with pytest.raises(ValueError, match="C-contiguous"):
        blocked_cholesky(np.asfortranarray(np.eye(4) + 0.1))


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_factorization_keeps_the_upper_triangle_for_products(rng, dtype, tol):
    X = rng.uniform(size=(333, 4))
    K = np.exp(-((X[:, None] - X[None]) ** 2).sum(-1))
    np.fill_diagonal(K, 1.0)
    b = rng.standard_normal((333, 3))
    A = (K + 0.5 * np.eye(333)).astype(dtype)
    blocked_cholesky(A, block=64)
    assert np.array_equal(np.triu(A, 1), np.triu(K.astype(dtype), 1))
    got = upper_symmetric_matmul(A, b)
    assert np.linalg.norm(got - K @ b) / np.linalg.norm(K @ b) < tol
