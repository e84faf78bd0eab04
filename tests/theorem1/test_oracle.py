"""The checker's oracles: an exact evaluation, Lemma 1 on the stored matrix, and the
float64 bound from the data, each against an independent computation."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from finite_expressivity import TwoLayerReLU, certify, fit
from finite_expressivity.theorem1 import oracle
from finite_expressivity.theorem1.certify import exact_outputs


def test_reference_outputs_equal_the_certificate_on_any_network(rng):
    X = rng.standard_normal((30, 3)) * 10.0 ** rng.integers(-5, 5, (30, 1))
    net = TwoLayerReLU(
        rng.standard_normal(3), rng.standard_normal(20), rng.standard_normal((20, 2)) * 1e3
    )
    C, E = exact_outputs(net, X)
    ref = oracle.reference_outputs(net.a, net.b, net.w, X)
    for c in range(2):
        assert ref[c] == [Fraction(int(v)) * Fraction(2) ** E for v in C[:, c]]


def test_reference_residuals_by_hand():
    # c(x) = 3 relu(x - 2) - relu(x - 0.5) at 1, 2, 3: -0.5, -1.5, 0.5
    res = oracle.reference_residuals(
        [1.0], [2.0, 0.5], [3.0, -1.0], [[1.0], [2.0], [3.0]], [0, 0, 1]
    )
    assert res == [[Fraction(-1, 2), Fraction(-3, 2), Fraction(-1, 2)]]


def test_integer_determinant():
    assert oracle._det([[2, 1], [1, 3]]) == 5
    assert oracle._det([[0, 1], [1, 0]]) == -1  # a row exchange flips the sign
    assert oracle._det([[1, 2], [2, 4]]) == 0
    M = np.random.default_rng(0).integers(-9, 9, (6, 6))
    assert oracle._det(M.tolist()) == round(np.linalg.det(M))


def test_lemma1_holds_on_fitted_networks_and_fails_on_broken_ones(rng):
    X = rng.standard_normal((12, 3))
    X[5] = X[2]  # a duplicate: its neuron repeats a bias with weight 0
    y = rng.integers(0, 5, 12).astype(float)
    y[5] = y[2]
    net = fit(X, y, seed=0)
    assert oracle.check_lemma1(net.a, net.b, X) is None
    b = np.array(net.b, copy=True)
    b[[3, 4]] = b[[4, 3]]  # the same biases in another order: still Lemma 1's matrix
    assert oracle.check_lemma1(net.a, b, X) is None
    assert "interleave" in oracle.check_lemma1(net.a, np.asarray(net.b) * 2 + 1e9, X)
    b[0] = b[-1]
    assert "distinct biases" in oracle.check_lemma1(net.a, b, X)


def test_lemma1_determinant_and_eigenvalue_by_hand():
    # z = 1, 2 and b = 0, 1.5: A = [[1, 0], [2, 0.5]], det 0.5, eigenvalues 1 and 0.5
    assert oracle.check_lemma1([1.0], [0.0, 1.5], [[1.0], [2.0]]) is None
    # a kink on a point (weak interleaving, relu(0) = 0), points and biases unsorted
    assert oracle.check_lemma1([1.0], [1.0, 0.0], [[2.0], [1.0]]) is None
    assert "interleave" in oracle.check_lemma1([1.0], [0.0, 0.5], [[2.0], [1.0]])


def test_bound_from_the_data_is_small_for_spread_points_and_large_next_to_near_duplicates(rng):
    X = rng.standard_normal((40, 3))
    y = rng.integers(0, 10, 40).astype(float)
    a = np.array([3.0, -5.0, 7.0])
    spread = oracle.residual_bound(X, y, a)
    assert 9 * 2.0**-24 <= spread < 1e-6 * 9
    X[7] = X[3] * (1 + 1e-12)
    assert oracle.residual_bound(X, y, a) > 100 * spread


def test_bound_is_zero_when_distinct_points_share_a_projection_with_other_labels():
    X = np.array([[0.0, 1.0], [0.0, 2.0], [1.0, 0.0]])
    assert oracle.residual_bound(X, np.array([0.0, 1.0, 0.0]), np.array([1.0, 0.0])) == 0.0
    assert oracle.residual_bound(X, np.array([1.0, 1.0, 0.0]), np.array([1.0, 0.0])) > 0


@pytest.mark.parametrize("n", [1, 2, 50])
def test_fitted_networks_stay_within_the_bound(rng, n):
    X = rng.standard_normal((n, 4))
    y = rng.standard_normal(n) * 100
    net = fit(X, y, seed=1)
    assert certify(net, X, y).max_residual <= oracle.residual_bound(X, y, net.a)
