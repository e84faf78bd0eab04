"""SGD from zero on a linear model with n <= d lands on X^T (X X^T)^{-1} y."""

from __future__ import annotations

import numpy as np
import pytest

from finite_expressivity.section5.linear import min_norm_solution, sgd_least_squares


def test_min_norm_solution_is_the_pseudoinverse_and_smallest(rng):
    X = rng.standard_normal((30, 80))
    y = rng.standard_normal(30)
    w = min_norm_solution(X, y)
    np.testing.assert_allclose(w, np.linalg.pinv(X) @ y, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(X @ w, y, atol=1e-10)
    # any other interpolant adds a null-space vector and is longer
    null = rng.standard_normal(80)
    null -= np.linalg.pinv(X) @ (X @ null)
    assert np.linalg.norm(X @ (w + null) - y) < 1e-9
    assert np.linalg.norm(w + null) > np.linalg.norm(w)


@pytest.mark.parametrize("batch", [1, 5])
def test_sgd_from_zero_reaches_the_min_norm_solution(rng, batch):
    X = rng.standard_normal((40, 100))
    y = rng.standard_normal((40, 3))
    w, tr = sgd_least_squares(X, y, epochs=400 * batch, rng=rng, batch=batch, record_every=100)
    assert tr.rel_distance[-1] < 1e-6
    assert tr.rel_residual[-1] < 1e-6
    assert max(tr.off_span) < 1e-12  # never leaves the row span
    np.testing.assert_allclose(w, min_norm_solution(X, y), atol=1e-6 * np.abs(w).max())


def test_sgd_from_elsewhere_keeps_its_null_space_part(rng):
    X = rng.standard_normal((20, 60))
    y = rng.standard_normal(20)
    w0 = rng.standard_normal(60)
    w, tr = sgd_least_squares(X, y, epochs=300, rng=rng, w0=w0)
    Q, _ = np.linalg.qr(X.T)
    expected = min_norm_solution(X, y) + (w0 - Q @ (Q.T @ w0))
    np.testing.assert_allclose(w, expected, atol=1e-8)
    assert tr.rel_residual[-1] < 1e-8 and tr.rel_distance[-1] > 0.1  # fits, but not min-norm


def test_input_errors(rng):
    with pytest.raises(ValueError, match="n <= d"):
        min_norm_solution(rng.standard_normal((10, 5)), rng.standard_normal(10))
    with pytest.raises(ValueError, match="y must have shape"):
        min_norm_solution(rng.standard_normal((3, 5)), rng.standard_normal(4))
    X = rng.standard_normal((3, 5))
    with pytest.raises(np.linalg.LinAlgError, match="linearly dependent"):
        min_norm_solution(np.vstack([X, X[:1]]), rng.standard_normal(4))
    with pytest.raises(ValueError, match="epochs"):
        sgd_least_squares(X, rng.standard_normal(3), epochs=0, rng=rng)
    with pytest.raises(ValueError, match="batch"):
        sgd_least_squares(X, rng.standard_normal(3), epochs=1, rng=rng, batch=4)
    with pytest.raises(ValueError, match="lr"):
        sgd_least_squares(X, rng.standard_normal(3), epochs=1, rng=rng, lr=-1.0)
