"""The fused loops of ``theorem1/compiled.py`` on small cases worked out by hand.

Covers the projection (its refusals and its error bound, proofs/float64.md Section 2), the
kink placement (first span, ties, the margins (S) of proofs/float64.md, the statistics), the
slope grids, the carry ratios, the kink search (:func:`_scan`, :func:`_best_kink`,
:func:`_move_kink`) and the rounding with error feedback (exact weights, grid widening).
Expected values come from the documented formulas evaluated in the test, exactly
(``fractions.Fraction``) where the spec is exact.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

pytest.importorskip("numba")

from finite_expressivity.theorem1 import compiled as K  # noqa: E402

EPS = 2.0**-53
INF = math.inf


def _gamma(d):
    return (d + 1) * EPS / (1.0 - (d + 1) * EPS)


def _down(x):
    return float(np.nextafter(x, -INF))


def _up(x):
    return float(np.nextafter(x, INF))


# ---------------------------------------------------------------- projection


def test_projection_bound_is_gamma_d_plus_1_times_the_rounded_remainder():
    """One slice of 20 bits on [1, 2): the remainder products are rounded, the bound is
    gamma_{d+1} sum |r_j a_j| + u |l2| (l = 0 here), and hi + lo is the exact product."""
    for d in (1, 2, 3, 5):
        x = np.array([1.0 + 2.0**-40 * (j + 1) for j in range(d)])
        a = np.array([3.0 - 2 * j for j in range(d)])
        hi, lo, bound = K.project(x[None, :], a, 20, 1)
        r = [2.0**-40 * (j + 1) * a[j] for j in range(d)]  # exact remainder products
        err, rest = sum(abs(v) for v in r), sum(r)
        assert bound[0] == _gamma(d) * err + EPS * abs(rest)
        exact = sum(Fraction(v) * Fraction(w) for v, w in zip(x, a))
        assert Fraction(hi[0]) + Fraction(lo[0]) == exact


def test_projection_on_three_slices_of_17_bits():
    """x = 1 + 2**-20 + 2**-50 sits on the grids 2**-16, 2**-33, 2**-50 of three slices: no
    remainder, the bound is only u (|l| + |l2|) with l = l2 = s_2 = 3 2**-50. One more bit
    (2**-52) is the remainder: gamma_2 3 2**-52 + u (|l| + |l2|), l2 = l + 3 2**-52."""
    x = 1.0 + 2.0**-20 + 2.0**-50
    hi, lo, bound = K.project(np.array([[x]]), np.array([3.0]), 17, 3)
    assert bound[0] == EPS * (6 * 2.0**-50)
    assert Fraction(hi[0]) + Fraction(lo[0]) == 3 * Fraction(x)
    x2 = x + 2.0**-52
    hi, lo, bound = K.project(np.array([[x2]]), np.array([3.0]), 17, 3)
    l, l2 = 3 * 2.0**-50, 3 * 2.0**-50 + 3 * 2.0**-52
    assert bound[0] == _gamma(1) * (3 * 2.0**-52) + EPS * (l + l2)
    assert Fraction(hi[0]) + Fraction(lo[0]) == 3 * Fraction(x2)


def test_projection_refusals():
    """inf: no projection (None); 1.7e308 and 2**900 are beyond the slicing range: the
    ValueError of check_range, also when an earlier row holds an inf."""
    a = np.array([3.0, -2.0])
    X = np.ones((3, 2))
    X[1, 0] = INF
    assert K.project(X, a, 20, 1)[0] is None
    for big in (1.7e308, 2.0**900, 1.5 * 2.0**900):
        X = np.ones((3, 2))
        X[2, 1] = big
        with pytest.raises(ValueError, match="above 2\\*\\*900"):
            K.project(X, a, 20, 1)
        X[0, 0] = -INF
        with pytest.raises(ValueError, match="above 2\\*\\*900"):
            K.project(X, a, 20, 1)
    over = np.array([[2.0**800, 1.0], [INF, 1.0]])  # x a overflows: None, not a range error
    with np.errstate(over="ignore", invalid="ignore"):
        assert K.project(over, np.array([2.0**300, 1.0]), 20, 1)[0] is None
    below = np.ones((2, 2))
    below[1, 1] = _down(2.0**900)
    assert K.project(below, a, 20, 1)[0] is not None


def test_projection_of_exactly_1_7e308_is_finite():
    """x a = 1.7e308 exactly (x < 2**900, a = 2**124): a finite projection, returned."""
    x = 1.7e308 * 2.0**-124
    hi, lo, bound = K.project(np.array([[x, 0.0]]), np.array([2.0**124, 1.0]), 20, 1)
    assert hi is not None and hi[0] + lo[0] == 1.7e308 and bound[0] >= 0.0


# ---------------------------------------------------------------- kink placement


def _place(hu, lu, eu, yu):
    m = len(hu)
    b, u, s, V = (np.full(m, np.nan) for _ in range(4))
    arrs = [np.array(v, dtype=float) for v in (hu, lu, yu, eu)]
    with np.errstate(invalid="ignore"):  # inf * 0 in the worst-ratio test (as plain Python)
        out = K._place_kinks(*arrs, b, u, s, V)
    return out, b, u


def _sw(hu, lu, eu, y):
    """slopes_and_weights on sorted projections."""
    hu, lu, eu, y = (np.array(v, dtype=float) for v in (hu, lu, eu, y))
    with np.errstate(all="ignore"):  # huge error bounds overflow (as plain Python)
        return K.slopes_and_weights(hu, lu, y, np.arange(len(hu)), eu)


def test_first_kink_sits_2_27_error_bounds_below_the_first_point():
    """b_0 = the float below z_0 - max(span, 2**27 err_0): err_0 of the first point."""
    (st, *_), b, _ = _place([0.0, 1.0], [0.0, 0.0], [2.0**-20, 0.0], [1.0, 2.0])
    assert st == 0 and b[0] == _down(-128.0)
    assert b[1] == _up(2.0**-19)  # the first float above z_0 + 2 err_0 (a float here)


def test_next_kink_is_the_first_float_above_z_plus_two_error_bounds():
    (st, *_), b, u = _place([1.0, 2.0], [0.0, 0.0], [2.0**-50, 0.0], [1.0, 2.0])
    assert st == 0 and b[1] == 1.0 + 2.0**-49 + 2.0**-52 and u[1] == 2.0 - b[1]


def test_first_point_whose_bound_swamps_its_piece_is_too_close_at_index_0():
    st, idx, *_ = _sw([0.0, 1.0], [0.0, 0.0], [2.0**1000, 0.0], [1.0, 2.0])
    assert (st, idx) == (1, 0)


@pytest.mark.parametrize(
    "hu, lu, eu",
    [
        ([1.0, 1.0 + 2.0**-52], [2.0**-54, -(2.0**-54)], [2.0**-53, 2.0**-53]),  # gap 2**-53
        ([1.0, 1.0 + 2.0**-52], [2.0**-54, 2.0**-54], [2.0**-53, 2.0**-53]),  # gap = e0 + e1
        ([1.0, 1.0 + 2.0**-52], [0.0, 2.0**-54], [2.0**-53, 2.0**-53]),  # just above: no tie
        ([1.0, 1.0 + 2.0**-52, 4.0], [0.0, 0.0, 2.0**-51], [2.0**-53, 2.0**-53, 0.0]),
        ([0.0, 1.0], [0.0, 0.0], [0.0, 1e3]),  # the second point's bound alone
        ([0.0, 1.0], [0.0, 0.0], [1e3, 0.0]),
    ],
)
def test_tie_exactly_when_the_exact_gap_is_within_both_error_bounds(hu, lu, eu):
    """Status 4 at the second point iff (z_1 + l_1) - (z_0 + l_0) <= e_0 + e_1, exactly."""
    gap = (Fraction(hu[1]) + Fraction(lu[1])) - (Fraction(hu[0]) + Fraction(lu[0]))
    tie = gap <= Fraction(eu[0]) + Fraction(eu[1])
    st, idx, *_ = _sw(hu, lu, eu, [1.0, -2.0, 3.0][: len(hu)])
    assert ((st, idx) == (4, 1)) == tie
    if not tie:
        assert st != 4


def test_margins_of_s_between_two_points():
    """(S): u_1 > 2 e_1 + 4 eps_1, eps_1 = b_1 - z_0 (0 for an exact z_0, b_1 = z_0)."""
    y = [1.0, -1.0]
    assert _sw([0.0, 1.0], [0.0, 0.0], [0.0, 0.5], y)[:2] == (1, 1)  # u = 1 = 2 e_1
    assert _sw([0.0, 1.0], [0.0, 0.0], [0.0, 0.4], y)[:2] == (0, 0)  # 1 > 0.8
    e0 = 2.0**-10  # b_1 = first float above 2**-9: eps_1 = b_1
    b1 = _up(2.0**-9)
    for z1, ok in ((5.25 * 2.0**-9, True), (4.5 * 2.0**-9, False)):
        u1 = z1 - b1
        assert (u1 > 4 * b1) == ok
        assert _sw([0.0, z1], [0.0, 0.0], [e0, 0.0], y)[:2] == ((0, 0) if ok else (1, 1))


def test_statistics_of_slopes_and_weights():
    """stats = (miss, max|w|, min u_i (i >= 1), max|y|, min u_i / e_i (i >= 1))."""
    hu, eu, y = [0.0, 1.0, 3.0], [2.0**-10, 2.0**-20, 2.0**-30], [2.0**-5, -(2.0**-4), 2.0**-6]
    st, idx, b, w, stats = _sw(hu, [0.0] * 3, eu, y)
    assert (st, idx) == (0, 0)
    u = [hu[i] - b[i] for i in range(3)]
    assert stats[2] == min(u[1:]) and stats[3] == 2.0**-4
    assert stats[4] == min(u[1] / eu[1], u[2] / eu[2]) == u[1] / eu[1]
    assert stats[1] == np.max(np.abs(w)) < 1.0


def test_a_slope_of_exactly_1_7e308_is_finite():
    st, idx, b, w, stats = _sw([1.0], [0.0], [0.0], [1.7e308])
    assert (st, idx) == (0, 0) and np.isfinite(w[0]) and abs(w[0] - 1.7e308) <= 2.0**975


# ---------------------------------------------------------------- grids and carry ratios


def _grid(g):
    return 2.0 ** (math.frexp(g)[1] - 49)


def test_grids_take_both_neighbours_and_the_floor():
    q = np.full(6, np.nan)
    s = np.array([2.0**20, 0.5, 1.0, 0.25, 0.5, 2.0**30])
    K._grids(s, np.ones(6), 1.0, q)
    g20, g1, g30 = _grid(2.0**20), _grid(1.0), _grid(2.0**30)
    assert q.tolist() == [g20, g20, g1, g1, g30, g30]
    s = np.array([2.0**-57, 0.0, 2.0**-40])  # floor 2**-60 max|y| / u_i: 2**-56 (u = 1/4)
    q = np.full(3, np.nan)
    K._grids(s, np.array([0.25, 0.25, 1.0]), 4.0, q)
    assert q.tolist() == [_grid(2.0**-56), _grid(2.0**-40), _grid(2.0**-40)]
    q = np.full(4, np.nan)  # all labels 0: the floor is 0, the grid at least that of 2**-1000
    K._grids(np.array([0.0, 0.0, 0.0, 3.0]), np.ones(4), 0.0, q)
    assert q.tolist() == [2.0**-1048, 2.0**-1048, _grid(3.0), _grid(3.0)]


def test_ratios_are_the_carry_coefficients():
    hu = np.array([1.0, 2.0, 4.0])
    lu = np.array([2.0**-54, -(2.0**-53), 2.0**-52])
    b = np.array([0.5, 1.25, 2.25])  # every difference below is exact
    u = (hu - b) + lu
    ratio, sig = np.full(3, np.nan), np.full(3, np.nan)
    K._ratios(hu, lu, b, u, ratio, sig)
    for i in (1, 2):
        fu = Fraction(hu[i]) - Fraction(b[i]) + Fraction(lu[i])
        assert Fraction(u[i]) == fu
        assert ratio[i] == float((Fraction(b[i]) - Fraction(b[i - 1])) / fu)
        assert sig[i] == float((Fraction(b[i]) - Fraction(hu[i - 1]) - Fraction(lu[i - 1])) / fu)


@pytest.mark.parametrize("i", [1, 2])
def test_move_kink_updates_its_gap_ratios_and_the_next_ratio(i):
    hu = np.array([1.0, 2.0, 4.0, 8.0])
    lu = np.array([2.0**-54, -(2.0**-53), 2.0**-52, 0.0])
    b = np.array([0.5, 1.25, 2.25, 6.0])
    u = (hu - b) + lu
    ratio, sig = np.full(4, 7.0), np.full(4, 7.0)
    new = b[i] + 2.0**-4  # every difference below is exact
    K._move_kink(hu, lu, b, u, ratio, sig, i, new)
    F = Fraction
    assert b[i] == new and F(u[i]) == F(hu[i]) - F(new) + F(lu[i])
    assert ratio[i] == float((F(new) - F(b[i - 1])) / F(u[i]))
    assert sig[i] == float((F(new) - F(hu[i - 1]) - F(lu[i - 1])) / F(u[i]))
    assert ratio[i + 1] == float((F(b[i + 1]) - F(new)) / F(u[i + 1]))
    others = [j for j in range(4) if j not in (i, i + 1)]
    assert all(ratio[j] == 7.0 for j in others) and all(sig[j] == 7.0 for j in range(4) if j != i)


def test_targets_gap_includes_the_low_part():
    hu = np.array([1.0, 2.0])
    lu = np.array([0.0, 2.0**-52])
    prev = (0.0, 1.0, 0.0, 0.0, 0.0, 0.0)
    t, eps, uk = K._targets(hu, lu, np.array([0.0, 1.0]), 1, prev, np.array([1.5]))
    assert uk[0] == 0.5 + 2.0**-52 and eps[0] == 0.5 and t[0] == 1.0 / uk[0]


# ---------------------------------------------------------------- kink search
# Two points z_0 = 1 - 2**-20, z_1 = 1 + 2**-10 with labels 0 and y_1, the previous piece of
# slope 0 through V = 0 (no carry): the target at a kink b is t = y_1 / (z_1 - b), and with
# y_1 = 2**-10 - k 2**-52 it is exactly 1 at the k-th float above 1.0.

Z = np.array([1.0 - 2.0**-20, 1.0 + 2.0**-10])
ULP = 2.0**-52  # the spacing of the kinks scanned (from 1.0 up)


def _prev(sigma=0.0):
    return (Z[0] - 1.0, 1.0, 0.0, 0.0, 0.0, sigma)  # b, u, V, carry, delta, sigma of piece 0


def _misses(y1, q, count, start=1.0):
    bk = start + np.arange(count) * ULP
    uk = Z[1] - bk
    t = y1 / uk
    return np.abs(np.round(t / q) * q - t) * uk


def _scan(y1, q, count, stop=(-1.0, -1.0), eu=(0.0, 0.0), t_max=INF, start=1.0):
    yu, eu = np.array([0.0, y1]), np.array(eu)
    return K._scan(Z, np.zeros(2), yu, eu, 1, _prev(), q, t_max, stop, start, ULP, count)


def _cross(k):
    return 2.0**-10 - k * ULP


def test_scan_finds_the_exact_crossing_and_keeps_the_first_candidate():
    assert _scan(_cross(0), 2.0**-24, 5) == (1.0, 0.0)
    assert _scan(_cross(4096), 2.0**-24, 8192) == (1.0 + 4096 * ULP, 0.0)  # a block's first
    assert _scan(_cross(0), 2.0**-24, 5, t_max=0.5) == (1.0, INF)  # no admissible kink


def test_scan_keeps_the_first_of_equal_misses():
    """y_0 = y_1 = V_0: the target is 0 on the grid at every kink: the first one wins."""
    yu = np.array([0.5, 0.5])
    prev = (Z[0] - 1.0, 1.0, 0.5, 0.0, 0.0, 0.0)
    out = K._scan(
        Z, np.zeros(2), yu, np.zeros(2), 1, prev, 2.0**-24, INF, (-1.0, -1.0), 1.0, ULP, 8192
    )
    assert out == (1.0, 0.0)


def test_scan_stops_after_the_first_block_with_a_miss_within_early():
    """Blocks of 4096: the crossing at 6000 is past the first block, whose best (4095)
    already meets ``early`` (with equality): the scan stops there."""
    miss = _misses(_cross(6000), 2.0**-24, 8192)
    early = miss[4095]
    assert early == np.min(miss[:4096]) and miss[4096] < early
    assert _scan(_cross(6000), 2.0**-24, 8192, (early, -1.0)) == (1.0 + 4095 * ULP, early)


def test_scan_past_search_max_stops_within_enough():
    """Past _SEARCH_MAX = 65536 kinks (the 16th block) a best within ``enough`` ends it."""
    miss = _misses(_cross(70000), 2.0**-24, 80000)
    enough = miss[65535]
    assert enough == np.min(miss[:65536]) and enough > 0.0
    assert _scan(_cross(70000), 2.0**-24, 80000, (-1.0, enough)) == (1.0 + 65535 * ULP, enough)


@pytest.mark.parametrize(
    "e0, e1, t_max",
    [
        (0.0, 2.0**-11, INF),  # u = 2 e_1 + 4 eps + ...: too close to the next point
        (0.0, 2.0**-11 - 2.0**-19, INF),  # u = 2 e_1 + 4 eps exactly
        (0.0, 2.0**-18, INF),
        (0.0, 0.34 * 2.0**-10, INF),
        (0.0, 2.0**-11 - 2.25 * 2.0**-20, INF),  # u - 2 e_1 = 4.5 eps
        (2.0**-20, 0.0, INF),  # eps = e_0
        (0.0, 0.0, 1.0),  # |t| = t_max
        (0.0, 0.0, _down(1.0)),
    ],
)
def test_scan_skips_kinks_that_break_the_margins(e0, e1, t_max):
    """A kink counts iff u > 2 e_1 + 4 eps, eps > e_0 and |t| <= t_max (exactly)."""
    eps, u = Fraction(1.0) - Fraction(Z[0]), Fraction(Z[1]) - 1  # kink at 1.0, t = 1
    ok = u > 2 * Fraction(e1) + 4 * eps and eps > Fraction(e0) and t_max >= 1.0
    assert _scan(_cross(0), 2.0**-24, 1, eu=(e0, e1), t_max=t_max) == (1.0, 0.0 if ok else INF)


def _best(y1, q, stop=(-1.0, -1.0), t_max=INF, sigma=0.0):
    yu = np.array([0.0, y1])
    return K._best_kink(Z, np.zeros(2), yu, np.zeros(2), 1, _prev(sigma), q, t_max, stop, 1.0)


def test_best_kink_keeps_b0_when_it_misses_by_at_most_early():
    y1 = _cross(100)
    miss0 = _misses(y1, 2.0**-24, 2)
    assert miss0[1] < miss0[0]
    assert _best(y1, 2.0**-24, (miss0[0], miss0[0] / 2)) == 1.0
    assert _best(y1, 2.0**-24) == 1.0 + 100 * ULP  # else: the crossing, by Newton steps


def test_best_kink_keeps_b0_when_no_kink_is_admissible():
    assert _best(_cross(100), 2.0**-24, t_max=0.5) == 1.0


def test_best_kink_keeps_b0_when_the_target_does_not_move():
    """t_0 = sigma_{i-1}: d t / d b = 0, nothing to search (b_i >= b0 always)."""
    y1 = 2.0**-10 * (1 + 2.0**-7)
    assert _best(y1, 2.0**-5, sigma=y1 / 2.0**-10) == 1.0


def test_best_kink_scans_search_long_ulps_once_dt_step_search_max_reaches_2q():
    """t_0 = 1.3, sigma = 0.3: d t / d b = 2**10, exactly 2 q / (ulp 2**16) for q = 2**-27:
    the long scan, which returns the best of all 2**20 kinks (not the first crossing's)."""
    y1, q = 2.0**-10 * 1.3, 2.0**-27
    miss = _misses(y1, q, K._SEARCH_LONG)
    best = int(np.argmin(miss))
    assert np.min(miss[: best - 1000]) > miss[best]  # the first crossings are worse
    assert _best(y1, q, sigma=1.3 - 1.0) == 1.0 + best * ULP


@pytest.mark.parametrize("sigma, edge", [(0.0, 0), (-1.0, 32)])
def test_best_kink_two_newton_steps_then_the_ulps_around(sigma, edge):
    """q = 2**-5 is coarse: from t_0 = 1 + 2**-7 the next grid point 1 + 2**-5 is far. Two
    Newton steps with the slope (t - sigma) / u (sigma = 0: the true one, they overshoot;
    sigma = -1: twice too steep, they stop short) do not reach it, and the best of the 33 ulps
    around is returned: the window's edge next to the crossing."""
    y1, q = 2.0**-10 * (1 + 2.0**-7), 2.0**-5
    goal = math.ceil((y1 / 2.0**-10) / q) * q
    b1 = 1.0
    for _ in range(2):
        t1 = y1 / (Z[1] - b1)
        b1 = max(1.0, b1 + (goal - t1) * (Z[1] - b1) / (t1 - sigma))
    step = _up(b1) - b1
    assert step == ULP
    miss = _misses(y1, q, 33, start=b1 - 16 * step)
    assert np.min(miss) < _misses(y1, q, 1)[0] and int(np.argmin(miss)) == edge
    assert _best(y1, q, sigma=sigma) == b1 + (edge - 16) * step


# ---------------------------------------------------------------- rounding with error feedback


def _feedback(hu, b, s, q, y=None, tau=INF, stop=0.0, lu=None):
    """_round_with_feedback on hand-made kinks; returns (out, s_q, w, q, b, s)."""
    m = len(hu)
    hu, b, s, q = (np.array(v, dtype=float) for v in (hu, b, s, q))
    lu = np.zeros(m) if lu is None else np.array(lu, dtype=float)
    y = np.zeros(m) if y is None else np.array(y, dtype=float)
    u = (hu - b) + lu
    ratio, sig = np.full(m, np.nan), np.full(m, np.nan)
    K._ratios(hu, lu, b, u, ratio, sig)
    s_q, w, Vs = np.full(m, np.nan), np.full(m, np.nan), np.zeros(m)
    eu = np.zeros(m)
    out = K._round_with_feedback(hu, lu, y, eu, b, u, s, q, s_q, w, Vs, ratio, sig, tau, stop)
    return out, s_q, w, q, b, s


def test_feedback_carries_each_rounding_into_the_next_slope():
    """k_i = delta_{i-1} ratio_i - sig_i k_{i-1}, t_i = s_i - k_i, s_q = round(t_i, q_i),
    w_0 = s_q0, w_i = s_q,i - s_q,i-1; returns (0, 0, max |s_q - t| u, max |w|)."""
    hu, b = [0.0, 1.0, 3.0], [-1.0, 0.25, 1.5]
    s, q = [0.3, -0.2, 0.1], [2.0**-10, 2.0**-12, 2.0**-8]
    (st, idx, limit, wmax), s_q, w, _, _, _ = _feedback(hu, b, s, q)
    u = [hu[i] - b[i] for i in range(3)]
    k, t, sq, miss = 0.0, 0.0, [], []
    for i in range(3):
        if i > 0:
            ratio, sig = (b[i] - b[i - 1]) / u[i], (b[i] - hu[i - 1]) / u[i]
            k = (sq[-1] - t) * ratio - sig * k
        t = s[i] - k
        sq.append(float(np.round(t / q[i]) * q[i]))
        miss.append(abs(sq[-1] - t) * u[i])
    assert s_q.tolist() == sq and w.tolist() == [sq[0], sq[1] - sq[0], sq[2] - sq[1]]
    assert (st, idx) == (0, 0) and limit == max(miss) and wmax == max(abs(w)) < 1.0
    assert all(abs(sq[i] - s[i]) > 0 for i in range(3))  # every slope was rounded


def test_feedback_widens_a_grid_the_target_outgrows():
    """|t_1| = 2**49 q_1: q_1 becomes the grid of |t_1| (2 q_1); just below it stays."""
    out, s_q, w, q, _, _ = _feedback([0.0, 1.0], [-1.0, 0.5], [0.5, 1.0], [2.0**-49] * 2)
    assert out[:2] == (0, 0) and q.tolist() == [2.0**-49, 2.0**-48] and w.tolist() == [0.5, 0.5]
    out, s_q, w, q, _, _ = _feedback([0.0, 1.0], [-1.0, 0.5], [0.5, 1.0 - 2.0**-49], [2.0**-49] * 2)
    assert q.tolist() == [2.0**-49, 2.0**-49] and s_q[1] == 1.0 - 2.0**-49


def test_feedback_checks_each_weight_exact_and_finite():
    exact = _feedback([0.0, 1.0], [-1.0, 0.5], [-(2.0**-51), 3.0], [2.0**-60, 2.0**-47])
    assert exact[0][:2] == (0, 0) and exact[2].tolist() == [-(2.0**-51), 3.0 + 2.0**-51]
    inexact = _feedback([0.0, 1.0], [-1.0, 0.5], [3 * 2.0**-60, 1 + 2.0**-48], [2.0**-60, 2.0**-48])
    assert inexact[0][:2] == (3, 1)  # 1 + 2**-48 - 3 2**-60 has 61 bits
    g = _grid(1e308)
    x = float(np.round(1e308 / g) * g)
    with np.errstate(over="ignore"):
        over = _feedback([0.0, 1.0], [-1.0, 0.5], [-x, x], [g, g])
    assert over[0][:2] == (2, 1)


def _search_case(q0, tau):
    """The kink-search geometry above as kinks 0 and 1 (b_1 = 1.0, q_1 = 2**-5)."""
    y1 = 2.0**-10 * (1 + 2.0**-7)
    hu, b, s = Z, [Z[0] - 1.0, 1.0], [0.0, y1 / 2.0**-10]
    return _feedback(hu, b, s, [q0, 2.0**-5], y=[0.0, y1], tau=tau), y1


def test_feedback_searches_a_kink_where_q_u_exceeds_2_tau():
    """q_1 u_1 = 2**-15: tau = 2**-16 is not exceeded (no search); tau = 2**-15 / 2.5 is,
    and the kink moves where _best_kink puts it; its value and slope follow the move."""
    (out, s_q, w, q, b, s), y1 = _search_case(2.0**-48, 2.0**-16)
    assert b[1] == 1.0 and out[0] == 0
    miss0 = out[2]
    (out, s_q, w, q, b, s), _ = _search_case(2.0**-48, 2.0**-15 / 2.5)
    assert b[1] == _best(y1, 2.0**-5) != 1.0 and s[1] == y1 / (Z[1] - b[1])
    assert out[0] == 0 and out[2] < miss0


def test_feedback_search_keeps_targets_within_2_49_times_4_q_prev():
    """t_max = 2**49 min(q_1, 4 q_0): q_0 = 2**-51 allows |t| <= 1 < t: the kink stays."""
    (out, s_q, w, q, b, s), _ = _search_case(2.0**-51, 2.0**-20)
    assert b[1] == 1.0 and out[0] == 0


def test_feedback_weight_of_exactly_1_7e308_is_finite():
    """s_q = (X - 1.7e308, X), X = 1.7e308 on the grid 2**975: w_1 = 1.7e308 exactly."""
    g = _grid(1.7e308)
    x = float(np.round(1.7e308 / g) * g)
    s0 = x - 1.7e308
    assert Fraction(x) - Fraction(s0) == Fraction(1.7e308)
    with np.errstate(over="ignore"):  # 2**49 q_1 overflows: no widening
        out, s_q, w, *_ = _feedback([0.0, 1.0], [-1.0, 0.5], [s0, 1.7e308], [2.0**971, g])
    assert out[:2] == (0, 0) and w.tolist() == [s0, 1.7e308]


def test_slopes_and_weights_search_the_kink_next_to_a_steep_piece():
    """Piece 2 has slope 2**39: the grid of slope 1 is 2**-9 and q_1 u_1 = 1.5 2**-23 exceeds
    2 tau = 2**-23 (tau = 2**-24 max(1, max|y|)): kink 1 moves off z_0, and every exact
    residual stays within twice the reported largest miss."""
    u1 = 1.5 * 2.0**-14
    hu = np.array([1.0, 1.0 + u1, 1.0 + u1 + 2.0**-40])
    y = np.array([0.25, 0.75, 0.25])
    st, idx, b, w, stats = _sw(hu, np.zeros(3), np.zeros(3), y)
    assert (st, idx) == (0, 0) and b[1] > hu[0] and b[2] == hu[1]
    for i in range(3):
        f = sum(Fraction(w[j]) * (Fraction(hu[i]) - Fraction(b[j])) for j in range(i + 1))
        assert abs(f - Fraction(y[i])) <= 2 * Fraction(stats[0]) < 2.0**-40


@pytest.mark.parametrize("ymax", [0.5, 2.0**10])
def test_slopes_search_and_stop_thresholds_scale_with_the_labels(monkeypatch, ymax):
    """The kink search starts where a rounded slope can miss by 2**-24 max(1, max|y|) and
    stops at a miss below 2**-28 max(1, max|y|) (the module's _SEARCH and _SEARCH_STOP)."""
    seen = []
    feedback = K._round_with_feedback

    def spy(*args):
        seen.append(args[-2:])
        return feedback(*args)

    monkeypatch.setattr(K, "_round_with_feedback", spy)
    slopes = getattr(K._slopes, "py_func", K._slopes)  # the loop as Python, to see the call
    hu, y = np.array([0.0, 1.0, 3.0]), np.array([ymax / 4, -ymax, ymax / 2])
    m = len(hu)
    work = tuple(np.zeros(m) for _ in range(13))  # as slopes_and_weights allocates it
    err = np.full(m, 2.0**-60)
    status, _ = slopes(hu, np.zeros(m), y, err, np.arange(m), work, np.zeros(5))
    assert status == 0
    scale = max(1.0, ymax)
    assert seen == [(2.0**-24 * scale, 2.0**-28 * scale)]


def test_smallest_ratio_when_cross_products_round_equal():
    """u_2 e_1 and u_1 e_2 round to the same float while u_1 / e_1 is one ulp below
    u_2 / e_2: the statistic min u_i / e_i is the smaller, the first."""
    hu, eu = [0.0, 1.0, 2.8147263462160557], [0.0, 9.62762019121505e-13, 1.747149601234107e-12]
    (status, _, _, ratio, _, _), _, u = _place(hu, [0.0] * 3, eu, [0.0, 1.0, 0.0])
    assert status == 0
    assert u[2] * eu[1] == u[1] * eu[2] and u[1] / eu[1] < u[2] / eu[2]  # the case
    assert ratio == u[1] / eu[1]
