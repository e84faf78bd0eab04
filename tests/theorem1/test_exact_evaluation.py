"""Exact evaluation of stored networks: certify, diagnose, exact_projections, exact_outputs.

Every expected value is computed here independently, in ``fractions.Fraction``, from the
definition ``c(x) = sum_j w_j relu(<a, x> - b_j)`` on small hand-built networks: kinks exactly
at points, negative projections, duplicate biases and points, several outputs, data at the
ends of the float64 range. Also the helpers (the count of biases below a point for any
starting guess, exact ordering of near-tied projections, rounding to float) and the depth-k
network of ``deep.py`` against the same two-layer function.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from finite_expressivity import TwoLayerReLU, certify, diagnose
from finite_expressivity.theorem1 import certify as C
from finite_expressivity.theorem1.deep import deepen, exact_deep_output


def _frac(v) -> Fraction:
    return Fraction(float(v))


def _projection(a, x) -> Fraction:
    return sum((_frac(xi) * _frac(ai) for xi, ai in zip(x, a)), Fraction(0))


def _outputs(a, b, w, X) -> list[list[Fraction]]:
    """``c(x_i)`` for every point and output, straight from the definition."""
    w2 = np.asarray(w, dtype=np.float64).reshape(len(b), -1)
    rows = []
    for x in X:
        z = _projection(a, x)
        hidden = [max(z - _frac(bj), Fraction(0)) for bj in b]
        rows.append(
            [sum(_frac(w2[j, k]) * hidden[j] for j in range(len(b))) for k in range(w2.shape[1])]
        )
    return rows


def _value(P: C.Projections, i: int) -> Fraction:
    return Fraction(int(P.Z[i])) * Fraction(2) ** P.E


# A hand-built network: unsorted and duplicated biases, points on kinks, negative projections,
# two identical points. Every number is a short dyadic, so every residual is a float64.
A = np.array([1.0, -2.0])
B = np.array([0.5, -1.0, 2.0, 0.5])
W = np.array([3.0, -1.25, 0.75, 2.0])
X = np.array(
    [[0.5, 0.0], [-1.0, 0.0], [2.0, 0.0], [0.0, 1.5], [4.0, 0.25], [4.0, 0.25], [1.0, 0.5]]
)
# projections 0.5, -1, 2, -3, 3.5, 3.5, 0: on the kinks 0.5, -1, 2, below and above all biases


def test_hand_built_network_has_the_outputs_worked_out_by_hand():
    want = [[-1.875], [0.0], [3.75], [0.0], [10.5], [10.5], [-1.25]]
    assert _outputs(A, B, W, X) == [[Fraction(v) for v in row] for row in want]
    C_, E = C.exact_outputs(TwoLayerReLU(A, B, W), X)
    assert C_.shape == (7, 1)
    assert [Fraction(int(c)) * Fraction(2) ** E for c in C_[:, 0]] == [Fraction(v[0]) for v in want]


def test_certify_reports_exact_residuals_and_every_field():
    net = TwoLayerReLU(A, B, W)
    y = np.array([-2.0, 0.0, 4.0, 1.0, 10.0, 11.0, -1.0])
    cert = certify(net, X, y, tol=0.5)
    want = [out[0] - _frac(t) for out, t in zip(_outputs(A, B, W, X), y)]
    assert cert.residuals.dtype == np.float64 and cert.residuals.shape == (7,)
    assert list(cert.residuals) == [float(v) for v in want]  # 0.125, 0, -0.25, -1, 0.5, -0.5, -0.25
    assert cert.max_residual == 1.0
    assert cert.tol == 0.5 and not cert.certified
    # |r| < 1/2 at 0.125, 0, -0.25, -0.25; not at -1, 0.5, -0.5
    assert cert.accuracy == pytest.approx(4 / 7)
    exact = certify(net, X, np.array([float(v[0]) for v in _outputs(A, B, W, X)]), tol=0.0)
    assert exact.max_residual == 0.0 and exact.certified and exact.tol == 0.0
    assert list(exact.residuals) == [0.0] * 7
    assert exact.accuracy is None  # the outputs -1.875, ... are not integers


def test_certified_is_decided_exactly_at_the_tolerance():
    net = TwoLayerReLU(A, B, W)
    y = np.array([float(v[0]) for v in _outputs(A, B, W, X)])
    y[2] += 2.0**-30  # one residual of exactly -2**-30
    assert certify(net, X, y, tol=2.0**-30).certified
    assert not certify(net, X, y, tol=np.nextafter(2.0**-30, 0.0)).certified
    assert certify(net, X, y, tol=1.0).max_residual == 2.0**-30


def test_several_outputs_are_certified_column_by_column():
    W2 = np.stack([W, -0.5 * W, np.array([0.0, 1.0, 0.0, -4.0])], axis=1)
    net = TwoLayerReLU(A, B, W2)
    outs = _outputs(A, B, W2, X)
    Y = np.array([[float(v) for v in row] for row in outs])
    Y[4, 2] += 3.0  # one output off by 3
    cert = certify(net, X, Y, tol=1e-9)
    assert cert.residuals.shape == (7, 3)
    want = np.zeros((7, 3))
    want[4, 2] = -3.0
    assert np.array_equal(cert.residuals, want)
    assert cert.max_residual == 3.0 and not cert.certified
    assert cert.tol == 1e-9


def test_accuracy_threshold_is_one_half_on_the_fine_scale():
    """Outputs 1.375, 2.625, 3.5, 4.25 against the label 3: residuals -1.625, -0.375,
    0.5, 1.25 (scale 2**E far below 1): only |r| = 0.375 rounds to the label."""
    net = TwoLayerReLU(np.array([1.0]), np.array([0.0]), np.array([1.0]))
    Xq = np.array([[1.375], [2.625], [3.5], [4.25]])
    cert = certify(net, Xq, np.full(4, 3.0))
    assert cert.accuracy == 0.25
    assert list(cert.residuals) == [-1.625, -0.375, 0.5, 1.25]
    assert cert.tol == 1e-6 * 3.0
    near = certify(net, np.array([[2.75], [3.3125]]), np.array([3.0, 3.0]))
    assert near.accuracy == 1.0 and near.max_residual == 0.3125


def test_accuracy_with_huge_integer_outputs():
    """Every number a multiple of 2**56 (residual scale 2**E with E >= 0): a residual of
    2**161 - 2**100 is a miss, a zero residual a hit."""
    net = TwoLayerReLU(np.array([2.0**60]), np.array([-(2.0**100)]), np.array([2.0**60]))
    Xh = np.array([[2.0**60], [2.0**61]])
    _, E = C.exact_outputs(net, Xh)
    assert E >= 0
    y = np.array([2.0**180 + 2.0**160, 2.0**181 + 2.0**100 - 2.0**160])
    cert = certify(net, Xh, y)
    assert list(cert.residuals) == [0.0, float(2**161 - 2**100)]
    assert cert.accuracy == 0.5
    assert cert.tol == 1e-6 * float(y[1])


def test_default_tolerance():
    assert C._default_tol(np.zeros(0)) == 1e-6
    assert C._default_tol(np.array([0.25, -0.5])) == 1e-6
    assert C._default_tol(np.array([[3.0, -8.0]])) == 1e-6 * 8.0
    net = TwoLayerReLU(A, B, W)
    assert certify(net, X, np.full(7, -40.0)).tol == 1e-6 * 40.0


def test_exact_projections_match_fractions_including_negative_and_long_mantissas():
    rng = np.random.default_rng(7)
    Xr = rng.standard_normal((6, 3)) * np.array([1e-5, 1.0, 1e4])
    ar = np.array([-0.1, 1 / 3, 2.0**-40 + 1.0])  # 53-bit mantissas: three limbs of a
    P = C.exact_projections(Xr, ar)
    assert P.Z.dtype == object and all(type(z) is int for z in P.Z)
    for i in range(6):
        want = _projection(ar, Xr[i])
        assert _value(P, i) == want
        scale = sum(abs(_frac(x) * _frac(v)) for x, v in zip(Xr[i], ar))
        assert abs(_frac(P.approx[i]) - want) <= scale * Fraction(2.0**-50)


def test_exact_projections_without_coordinates_are_zero():
    """The empty sum: ``X @ a`` of shape (n,) with d = 0 is 0 for every point."""
    P = C.exact_projections(np.zeros((3, 0)), np.zeros(0))
    assert P.E == 0 and list(P.Z) == [0, 0, 0] and P.Z.dtype == object
    assert list(P.approx) == [0.0, 0.0, 0.0]


def test_exact_projections_of_a_zero_direction_are_python_integers():
    P = C.exact_projections(np.array([[1.5, -2.0], [3.0, 7.0]]), np.zeros(2))
    assert P.E == 0 and P.Z.dtype == object and [type(z) for z in P.Z] == [int, int]
    assert list(P.Z) == [0, 0] and list(P.approx) == [0.0, 0.0]


def test_zero_direction_next_to_the_smallest_subnormal_bias():
    """a = 0: every projection is 0; the biases' scale is 2**-1074, so the zero projections
    are rescaled by 2**1074 (beyond float64) on the way: they must stay exact integers."""
    net = TwoLayerReLU(np.zeros(2), np.array([5e-324, -3.0]), np.array([1.0, 0.5]))
    Xz = np.array([[1.0, 2.0], [-4.0, 0.5]])
    C_, E = C.exact_outputs(net, Xz)
    assert [Fraction(int(c)) * Fraction(2) ** E for c in C_[:, 0]] == [Fraction(3, 2)] * 2
    cert = certify(net, Xz, np.array([1.5, 2.0]))
    assert list(cert.residuals) == [0.0, -0.5] and cert.max_residual == 0.5


def test_count_below_is_exact_whatever_the_starting_guess():
    """The float guess only starts the walk: biases 1, 2, 2, 3 and exact points
    0, 1, 2, 2.5, 3, 4 (integers on the scale 2**-1) have 0, 0, 1, 3, 3, 4 biases
    strictly below them; a bias equal to the point is not below it."""
    b = np.array([1.0, 2.0, 2.0, 3.0])
    b_int = np.array([2, 4, 4, 6], dtype=object)
    z_int = np.array([0, 2, 4, 5, 6, 8], dtype=object)
    z = np.array([0.0, 1.0, 2.0, 2.5, 3.0, 4.0])
    want = [0, 0, 1, 3, 3, 4]
    for guess in (z, np.full(6, 100.0), np.full(6, -100.0), z[::-1].copy(), z + 0.5, z - 0.5):
        assert list(C._count_below(b, b_int, z_int, guess)) == want
    seven = np.array([7], dtype=object)
    for guess in (-1.0, 7.0, 9.0):  # one bias, at the point 7: never below it
        assert list(C._count_below(np.array([7.0]), seven, seven, np.array([guess]))) == [0]
    assert list(C._count_below(np.array([7.0]), seven, seven + 1, np.array([-9.0]))) == [1]


def test_outputs_ignore_far_off_projection_approximations():
    net = TwoLayerReLU(A, B, W)
    P = C.exact_projections(X, A)
    want, E = C.exact_outputs(net, X)
    for approx in (np.full(7, 1e9), np.full(7, -1e9), P.approx[::-1].copy()):
        got, E2 = C.exact_outputs(net, X, C.Projections(P.Z, P.E, approx))
        assert E2 == E and list(got[:, 0]) == list(want[:, 0])


def test_int_to_float():
    assert C._int_to_float(3, -2) == 0.75
    assert C._int_to_float(-5, 10) == -5120.0
    assert C._int_to_float(0, 5000) == 0.0
    assert C._int_to_float((1 << 70) + (1 << 20), -70) == 1.0 + 2.0**-50  # above 64 bits
    assert C._int_to_float(1, 2000) == math.inf
    assert C._int_to_float(-1, 2000) == -math.inf
    assert C._int_to_float(1 << 900, 200) == math.inf
    assert C._int_to_float(1, -1074) == 5e-324 and C._int_to_float(1, -1076) == 0.0


def test_given_projections_are_used_and_not_recomputed(monkeypatch):
    """``projections=`` saves the work: exact_projections is not called again."""
    net = TwoLayerReLU(A, B, W)
    y = np.array([-2.0, 0.0, 4.0, 1.0, 13.0, 14.0, -1.0])
    P = C.exact_projections(X, A)
    cert_ref, diag_ref = certify(net, X, y, tol=0.5), diagnose(net, X)
    out_ref = C.exact_outputs(net, X)

    def refuse(*args, **kwargs):
        raise AssertionError("exact_projections recomputed although projections were given")

    monkeypatch.setattr(C, "exact_projections", refuse)
    cert = certify(net, X, y, tol=0.5, projections=P)
    assert list(cert.residuals) == list(cert_ref.residuals) and cert.accuracy == cert_ref.accuracy
    assert diagnose(net, X, projections=P) == diag_ref
    got, E = C.exact_outputs(net, X, P)
    assert E == out_ref[1] and list(got[:, 0]) == list(out_ref[0][:, 0])


def test_diagnose_fields_on_the_hand_built_network():
    net = TwoLayerReLU(A, B, W)
    dg = diagnose(net, X)
    # projections -3, -1, 0, 0.5, 2, 3.5, 3.5: smallest positive gap 0.5, one duplicate
    assert dg.min_gap == 0.5 and dg.duplicates == 1
    assert dg.max_abs_projection == 3.5 and dg.max_abs_weight == 3.0
    assert dg.projection_digits == pytest.approx(math.log10(3.5 / 0.5), rel=1e-15)
    # sum_j |w_j| relu(z - b_j), largest at z = 3.5: 3 * 3 + 1.25 * 4.5 + 0.75 * 1.5 + 2 * 3
    smax = 3 * 3 + 1.25 * 4.5 + 0.75 * 1.5 + 2 * 3
    assert dg.digits_needed == pytest.approx(math.log10(smax / 1e-6), rel=1e-15)
    assert diagnose(net, X, tol=0.25).digits_needed == pytest.approx(math.log10(smax / 0.25))


def test_diagnose_of_two_and_of_one_point():
    net = TwoLayerReLU(np.array([-0.5]), np.array([1.0]), np.array([-2.0]))
    dg = diagnose(net, np.array([[3.0], [-6.0]]))  # projections -1.5 and 3
    assert dg.min_gap == 4.5 and dg.duplicates == 0 and dg.max_abs_projection == 3.0
    assert dg.projection_digits == pytest.approx(math.log10(3.0 / 4.5), rel=1e-15)
    assert dg.digits_needed == pytest.approx(math.log10(2.0 * 2.0 / 1e-6), rel=1e-15)
    single = diagnose(net, np.array([[3.0]]))
    assert single.min_gap == math.inf and single.duplicates == 0
    assert single.projection_digits == 0.0 and single.max_abs_weight == 2.0
    assert single.digits_needed == 0.0  # relu(-1.5 - 1) = 0
    same = diagnose(net, np.array([[2.0], [2.0]]))
    assert same.min_gap == math.inf and same.duplicates == 1 and same.projection_digits == 0.0


def test_diagnose_of_projections_below_the_float64_range():
    """Projections 0 and 2**-1076: distinct exactly, both 0.0 in float64."""
    net = TwoLayerReLU(np.array([0.25]), np.array([-1.0]), np.array([1.0]))
    dg = diagnose(net, np.array([[0.0], [5e-324]]))
    assert dg.duplicates == 0 and dg.min_gap == 0.0 and dg.max_abs_projection == 0.0
    assert dg.projection_digits == 0.0
    assert dg.digits_needed == pytest.approx(6.0, rel=1e-15)  # relu(0 + 1) / 1e-6


def test_exact_order_sorts_every_run_of_tied_approximations():
    """Ties (equal floats) at positions 0-1, 10-11 and 13-14; the exact values of the
    middle pair are reversed: every run must be sorted, wherever it starts."""
    zs = np.arange(15, dtype=np.float64)
    zs[1], zs[11], zs[14] = zs[0], zs[10], zs[13]
    Zs = np.array([int(v) << 60 for v in zs], dtype=object)
    Zs[1] += 2
    Zs[10] += 3  # exact order at 10, 11 is 11 then 10
    Zs[11] += 1
    Zs[14] += 5
    out = C._exact_order(Zs, zs)
    assert list(out) == sorted(Zs)
    assert list(Zs[10:12]) == [(10 << 60) + 3, (10 << 60) + 1]  # the input is left alone


def test_diagnose_finds_the_smallest_gap_inside_a_float_tie():
    """Pairs of points with projections k + j 2**-60 that round to the same float k, at
    sorted positions 0-1, 10-11 and 13-14: the smallest exact gap, 2**-60, is in the
    middle pair, listed in reverse; it must be found (not read as a negative gap)."""
    net = TwoLayerReLU(np.array([1.0, 2.0**-60]), np.array([0.0]), np.array([1.0]))
    rows = [[1.0, 0.0], [1.0, 4.0]] + [[float(k), 0.0] for k in range(2, 10)]
    rows += [[10.0, 3.0], [10.0, 2.0], [11.0, 0.0], [13.0, 0.0], [13.0, 4.0]]
    Xt = np.array(rows)
    P = C.exact_projections(Xt, net.a)
    assert list(P.approx[10:12]) == [10.0, 10.0] and list(P.approx[:2]) == [1.0, 1.0]
    dg = diagnose(net, Xt, projections=P)
    assert dg.min_gap == 2.0**-60 and dg.duplicates == 0
    assert dg.max_abs_projection == 13.0


def test_deep_network_equals_the_two_layer_function():
    rng = np.random.default_rng(3)
    b = np.array([-1.0, 0.5, 0.5, 2.0, 2.75, 4.0, -3.5])
    w = np.array([1.5, -2.0, 0.25, 3.0, -1.0, 0.5, -0.75])
    a = np.array([1.0, -0.5])
    net = TwoLayerReLU(a, b, w)
    Xd = np.concatenate(
        [
            np.array([[0.5, 0.0], [-1.0, 0.0], [2.0, 0.0], [-4.0, 1.0], [5.0, 0.0]]),
            rng.integers(-16, 16, (20, 2)) / 4.0,
        ]
    )  # on kinks, below and above all biases, negative projections; all dyadic
    want = [row[0] for row in _outputs(a, b, w, Xd)]
    for depth in (3, 4, 5, 9):
        deep = deepen(net, depth)
        assert [exact_deep_output(deep, x) for x in Xd] == want
        out = deep(Xd)
        assert out.dtype == np.float64 and out.shape == (25,)
        assert [Fraction(float(v)) for v in out] == want  # short dyadics: float64 is exact
    assert list(deepen(net, 4)(Xd, chunk_rows=3)) == list(deepen(net, 4)(Xd))
