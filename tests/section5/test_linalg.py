"""The tiled Cholesky (SciPy LAPACK on tiles) against NumPy's, in float64 and float32."""

from __future__ import annotations

import numpy as np
import pytest

from finite_expressivity.section5.linalg import blocked_cho_solve, blocked_cholesky


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
