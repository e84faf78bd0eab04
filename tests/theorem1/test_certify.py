"""The exact certificate against an independent Fraction evaluation."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from finite_expressivity import TwoLayerReLU, certify, diagnose
from finite_expressivity.theorem1.certify import exact_projections


def _fraction_outputs(net, X):
    a = [Fraction(float(v)) for v in net.a]
    out = []
    for row in X:
        z = sum(Fraction(float(x)) * ai for x, ai in zip(row, a))
        out.append(
            sum(Fraction(float(w)) * max(z - Fraction(float(b)), 0) for w, b in zip(net.w, net.b))
        )
    return out


def test_certificate_matches_fractions_on_arbitrary_network(rng):
    """Any stored network (not only fitted ones): random float a, b, w."""
    X = rng.standard_normal((40, 3)) * 10 ** rng.uniform(-3, 3, (40, 1))
    net = TwoLayerReLU(
        rng.standard_normal(3), np.sort(rng.standard_normal(25)), rng.standard_normal(25) * 1e3
    )
    y = rng.standard_normal(40)
    cert = certify(net, X, y, tol=1e-3)
    want = [o - Fraction(float(t)) for o, t in zip(_fraction_outputs(net, X), y)]
    assert np.allclose(cert.residuals, [float(v) for v in want], rtol=1e-15, atol=0)
    assert cert.max_residual == float(max(abs(v) for v in want))
    assert cert.certified == (max(abs(v) for v in want) <= Fraction(1e-3))
    assert cert.accuracy is None  # real-valued labels


def test_unsorted_biases_and_point_on_kink(rng):
    X = np.array([[1.0], [2.0], [3.0]])
    net = TwoLayerReLU(np.array([1.0]), np.array([2.0, 0.5]), np.array([3.0, -1.0]))
    # c(x) = 3 relu(x-2) - relu(x-0.5): at 1, 2, 3 -> -0.5, -1.5, 0.5
    cert = certify(net, X, np.array([-0.5, -1.5, 0.5]), tol=0.0)
    assert cert.max_residual == 0.0 and cert.certified


def test_exact_projection_of_wide_range_data(rng):
    X = rng.standard_normal((20, 6)) * np.array([1e-300, 1e-10, 1.0, 1e10, 1e200, 3.0])
    a = rng.standard_normal(6)
    Z, E, _ = exact_projections(X, a)
    for i in range(20):
        want = sum(Fraction(float(x)) * Fraction(float(v)) for x, v in zip(X[i], a))
        assert Fraction(int(Z[i])) * Fraction(2) ** E == want


def test_detects_a_wrong_network(rng):
    from finite_expressivity import fit

    X = rng.standard_normal((100, 4))
    y = rng.integers(0, 10, 100).astype(float)
    net = fit(X, y, seed=0)
    w = np.array(net.w)
    w[37] *= 1 + 1e-9
    broken = TwoLayerReLU(net.a, net.b, w)
    cert = certify(broken, X, y, tol=1e-12)
    assert not cert.certified and cert.max_residual > 1e-12


def test_diagnostics(rng):
    from finite_expressivity import fit

    X = rng.standard_normal((300, 5))
    y = rng.integers(0, 10, 300).astype(float)
    net = fit(X, y, seed=0)
    dg = diagnose(net, X)
    z = np.sort(X @ net.a)
    assert dg.min_gap == pytest.approx(np.min(np.diff(z)), rel=1e-6)
    assert dg.max_abs_weight == np.max(np.abs(net.w))
    assert dg.duplicates == 0 and dg.digits_needed > 0 and dg.projection_digits > 0


def test_non_finite_networks_are_refused_and_huge_residuals_reported():
    X = np.array([[0.0], [1.0], [2.0]])
    w = np.array([0.0, 1.0, np.nan])
    with pytest.raises(ValueError, match="w holds NaN or inf"):
        certify(TwoLayerReLU(np.ones(1), np.array([-1.0, 0.5, 1.5]), w), X, np.zeros(3))
    net = TwoLayerReLU(np.ones(1), np.array([-1.0, 0.0]), np.array([1e308, 0.0]))
    cert = certify(net, np.array([[0.0], [1e10]]), np.array([0.0, 1.0]))
    assert cert.max_residual == np.inf and not cert.certified


def test_diagnose_orders_long_runs_of_close_projections_exactly():
    from finite_expressivity.theorem1.certify import _exact_order

    zs = np.full(12, 0.5)  # equal floats: the exact order is unknown to them
    zs[0], zs[-1] = 0.25, 0.75
    Zs = np.array([1, *range(20, 10, -1), 30], dtype=object)  # a reversed run of 10
    assert list(_exact_order(Zs, zs)) == [1, *range(11, 21), 30]


def test_accuracy_counts_points_whose_every_output_rounds_to_its_label():
    """|c(x_i) - y_i| < 1/2 for every output, decided exactly on the residuals' own scale
    2**E: 1/2 itself is a miss (E < 0), and so is any nonzero integer residual (E >= 0)."""
    X = np.array([[1.0], [2.0], [3.0]])
    half = TwoLayerReLU(np.array([1.0]), np.array([0.0]), np.array([0.5]))  # 0.5, 1, 1.5
    assert certify(half, X, np.array([1.0, 1.0, 2.0])).accuracy == pytest.approx(1 / 3)
    assert certify(half, X, np.array([0.0, 1.0, 1.0])).accuracy == pytest.approx(1 / 3)
    assert certify(half, X, np.array([1.0, 1.0, 1.0])).accuracy == pytest.approx(1 / 3)
    ident = TwoLayerReLU(np.array([1.0]), np.array([0.0]), np.array([1.0]))
    for scale in (1.0, 2.0, 4.0):  # residual scale E = 0, 1, 2
        cert = certify(ident, X * scale, np.array([1.0, 3.0, 3.0]) * scale)
        assert cert.accuracy == pytest.approx(2 / 3) and cert.max_residual == scale
    Y = np.stack([[1.0, 2.0, 3.0], [1.0, 3.0, 3.0]], axis=1)  # k = 2: one output misses
    two = TwoLayerReLU(ident.a, ident.b, np.array([[1.0, 1.0]]))
    cert = certify(two, X, Y)
    assert cert.residuals.shape == (3, 2) and cert.accuracy == pytest.approx(2 / 3)


def test_default_tolerance_and_mixed_libraries(rng):
    net = TwoLayerReLU(np.array([1.0]), np.array([0.0]), np.array([1.0]))
    X = np.array([[1.0], [2.0]])
    assert certify(net, X, np.array([1.0, 1.5])).tol == 1.5e-6
    assert certify(net, X, np.array([0.1, 0.2])).tol == 1e-6
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="different libraries"):
        certify(net, torch.as_tensor(X), np.array([1.0, 2.0]))


def test_network_without_neurons_and_non_finite_parameters():
    X = np.array([[1.0], [2.0]])
    empty = TwoLayerReLU(np.array([1.0]), np.zeros(0), np.zeros(0))
    cert = certify(empty, X, np.array([0.5, -2.0]))
    assert cert.max_residual == 2.0 and list(cert.residuals) == [-0.5, 2.0]
    for name in "ab":
        parts = {"a": np.array([1.0]), "b": np.array([0.0]), "w": np.array([1.0])}
        parts[name] = np.array([np.inf])
        with pytest.raises(ValueError, match=rf"^the network's {name} holds NaN or inf"):
            certify(TwoLayerReLU(parts["a"], parts["b"], parts["w"]), X, np.zeros(2))


def test_exact_projections_of_a_zero_direction_and_far_off_approximations(rng):
    from finite_expressivity.theorem1.certify import Projections, _int_to_float, exact_outputs

    Z, E, approx = exact_projections(rng.standard_normal((4, 3)), np.zeros(3))
    assert list(Z) == [0, 0, 0, 0] and E == 0 and list(approx) == [0.0] * 4
    # the count of biases below each point is found from the exact values even when the
    # float approximations are far off (here all 0): it walks as far as it must
    X = np.arange(1.0, 9.0)[:, None]
    net = TwoLayerReLU(np.array([1.0]), np.arange(8.0) + 0.5, np.ones(8))
    P = exact_projections(X, net.a)
    C, Ec = exact_outputs(net, X, Projections(P.Z, P.E, np.zeros(8)))
    C2, E2 = exact_outputs(net, X, Projections(P.Z, P.E, np.full(8, 100.0)))
    want, _ = exact_outputs(net, X)
    assert [int(v) for v in C[:, 0]] == [int(v) for v in want[:, 0]] == [int(v) for v in C2[:, 0]]
    assert _int_to_float(-(1 << 2000), 0) == -np.inf and _int_to_float(1 << 2000, 0) == np.inf


def test_accuracy_on_the_integer_scale():
    """Outputs that are exact integers (exponent E >= 0) and exact halves (E = -1):
    a label one off is a miss, a label half off is a miss too (|r| = 1/2 is not
    below 1/2)."""
    net = TwoLayerReLU(np.array([1.0]), np.array([0.0]), np.array([2.0]))  # f(x) = 2 relu(x)
    X = np.array([[1.0], [2.0], [3.0]])
    cert = certify(net, X, np.array([2.0, 5.0, 6.0]))
    assert cert.accuracy == pytest.approx(2 / 3) and cert.max_residual == 1.0
    assert not cert.certified
    half = TwoLayerReLU(np.array([1.0]), np.array([0.0]), np.array([0.5]))  # x / 2
    cert = certify(half, X, np.array([1.0, 1.0, 2.0]))
    assert cert.accuracy == pytest.approx(1 / 3) and cert.max_residual == 0.5
    assert certify(net, X, np.array([2.0, 4.0, 6.0])).accuracy == 1.0


def test_residuals_beyond_float64_range_are_infinite():
    """A residual of 2**1100 is reported as inf, with its sign, never wrapped or
    rounded to a finite number."""
    net = TwoLayerReLU(np.array([1.0]), np.array([0.0]), np.array([2.0**1000]))
    X = np.array([[2.0**100]])
    cert = certify(net, X, np.array([0.0]))
    assert cert.max_residual == np.inf and cert.residuals[0] == np.inf
    neg = TwoLayerReLU(np.array([1.0]), np.array([0.0]), np.array([-(2.0**1000)]))
    assert certify(neg, X, np.array([0.0])).residuals[0] == -np.inf


def test_diagnose_orders_projections_that_cancel():
    """Projections near 0 by cancellation: a float sum of the exact slices was off by
    ~1e15 units in the last place, left points misordered and reported a wrong gap."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal(3)
    X = rng.standard_normal((6, 3)) * np.array([[1e-3, 10.0, 1.0]])
    X[:, 2] = -(X[:, :2] @ a[:2]) / a[2] * (1 + rng.standard_normal(6) * 1e-15)
    P = exact_projections(X, a)
    exact = sorted(Fraction(int(z)) * Fraction(2) ** P.E for z in P.Z)
    want = min(q - p for p, q in zip(exact, exact[1:]) if q > p)
    net = TwoLayerReLU(a, np.zeros(1), np.ones(1))
    assert diagnose(net, X, projections=P).min_gap == float(want)
    # each approximation is the float64 nearest to its exact projection
    assert P.approx.tolist() == [float(Fraction(int(z)) * Fraction(2) ** P.E) for z in P.Z]


def test_exact_integers_round_once_to_the_nearest_float():
    from finite_expressivity.theorem1.certify import _int_to_float

    assert _int_to_float(2**64 + 2**11 + 1, 0) == 2.0**64 + 2.0**12  # not truncated first
    assert _int_to_float(-(2**64 + 2**11 + 1), -3) == -(2.0**61 + 2.0**9)
    assert _int_to_float(3, -1076) == 2.0**-1074  # a subnormal, rounded once
    assert _int_to_float(1, -1076) == 0.0 and _int_to_float(5, 1023) == float("inf")
    assert _int_to_float(-5, 1023) == -float("inf")
