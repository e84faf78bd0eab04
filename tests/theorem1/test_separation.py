"""The construction's biases, kinks and separation checks, on small sorted arrays made by hand.

Covers ``_first_span``, ``_biases`` and ``_kinks`` (the bias rule of proofs/float64.md,
Section 4 (b): ``b_i = nextafter(hi + (lo + 2 err))``, or ``z_{i-1}`` itself when exact),
``_too_close`` and ``_check_separation`` (condition (S) of proofs/float64.md: ``eps_i > err_{i-1}``
and ``u_i > 2 err_i + 4 eps_i``, and the first point ``u_0 > 2 err_0``), the ``_Collision`` they
raise (the points named in the caller's indexing, also after duplicates are merged; the
``refinable``, ``gap`` and ``err`` fields that drive the refinement), and ``_sorted_unique`` /
``_expand``, which merge identical points and give them back.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from finite_expressivity.theorem1 import construction as C


def _arr(v):
    return np.array(v, dtype=np.float64)


def _separate(hu, lu, b, eu, order=None, keep=None):
    """Run ``_check_separation`` with ``u`` and ``eps`` computed as ``_solve`` computes them."""
    hu, lu, b, eu = _arr(hu), _arr(lu), _arr(b), _arr(eu)
    u = (hu - b) + lu
    eps = (b[1:] - hu[:-1]) - lu[:-1]
    order = np.arange(len(hu)) if order is None else np.array(order)
    C._check_separation(hu, lu, b, u, eps, eu, order, keep, np)


def _collision(*args, **kwargs) -> C._Collision:
    with pytest.raises(C._Collision) as info:
        _separate(*args, **kwargs)
    return info.value


def _chain(pairs):
    """Sorted ``hu`` and biases ``b`` with the given ``(u_i, eps_i)`` for i >= 1 (dyadic, exact).

    The first point sits at 0 with its kink at -1; ``b_i = z_{i-1} + eps_i``, ``z_i = b_i + u_i``.
    """
    hu, b = [0.0], [-1.0]
    for u, eps in pairs:
        b.append(hu[-1] + eps)
        hu.append(b[-1] + u)
    return hu, b


# --- _Collision -------------------------------------------------------------------------------


def test_collision_defaults_describe_a_tie_that_refining_cannot_help():
    exc = C._Collision("points 1 and 2")
    assert str(exc) == "points 1 and 2"
    assert exc.refinable is False and exc.precision_limited is False
    assert exc.gap == 0.0 and exc.err == 0.0 and exc.projections is None
    exc = C._Collision("m", refinable=1, gap=0.5, err=0.25)
    assert exc.refinable is True and (exc.gap, exc.err) == (0.5, 0.25)


# --- _first_span, _biases, _kinks -------------------------------------------------------------


def test_first_span_takes_the_largest_of_its_four_floors():
    assert C._first_span(_arr([2.0**50, 2.0**50 + 1]), 0.0) == 1024.0  # 2**-40 |z_0|
    assert C._first_span(_arr([-(2.0**50), 3.0]), 0.0) == 2.0**50 + 3  # one gap
    assert C._first_span(_arr([1.0, 3.0]), 2.0**-20) == 2.0**7  # 2**27 err
    assert C._first_span(_arr([0.0, 0.0]), 0.0) == 2.0**-1000  # never 0
    assert C._first_span(_arr([2.0**-1010, 2.0**-1009]), 0.0) == 2.0**-1000


def test_first_bias_is_the_float_just_below_one_span():
    hu = _arr([2.0**50, 2.0**50 + 1, 2.0**51])
    b = C._biases(hu, np.zeros(3), np.zeros(3), np)
    # the float64 spacing below 2**50 is 2**-3
    assert b.tolist() == [2.0**50 - 1024 - 2.0**-3, 2.0**50, 2.0**50 + 1]
    b = C._biases(_arr([1.0, 3.0]), np.zeros(2), _arr([2.0**-20, 0.0]), np)
    assert b[0] == math.nextafter(1.0 - 2.0**7, -math.inf)  # a span of 2**27 err = 2**7
    assert b[1] == math.nextafter(1.0 + 2.0**-19, math.inf)


def test_kink_is_the_float_above_the_projection_plus_twice_its_error():
    hs, ls = _arr([1.0, 2.0, 4.0]), _arr([0.0, 0.0, 0.0])
    es = _arr([2.0**-50, 2.0**-48, 0.0])
    got = C._kinks(hs, ls, es, np)
    assert got.tolist() == [1.0 + 2.0**-49 + 2.0**-52, 2.0 + 2.0**-47 + 2.0**-51]
    assert got.dtype == np.float64


def test_kink_sits_on_an_exact_projection_and_above_an_inexact_one():
    # z_1 = 2 + 2**-60 is not a float64: its kink is the next float above 2
    hs, ls, es = _arr([1.0, 2.0, 3.0, 5.0]), _arr([0.0, 2.0**-60, 0.0, 0.0]), np.zeros(4)
    assert C._kinks(hs, ls, es, np).tolist() == [1.0, 2.0 + 2.0**-51, 3.0]
    # a negative low part: the exact z_0 = 1 - 2**-60 lies below 1, so 1 is above it,
    # but the rule rounds first and steps up once more
    assert C._kinks(_arr([1.0, 2.0]), _arr([-(2.0**-60), 0.0]), np.zeros(2), np)[0] == (
        1.0 + 2.0**-52
    )


# --- _too_close -------------------------------------------------------------------------------


def _too_close(hu, b, eu, lu=None):
    hu, b, eu = _arr(hu), _arr(b), _arr(eu)
    lu = np.zeros_like(hu) if lu is None else _arr(lu)
    return C._too_close(hu, lu, b, eu, np).tolist()


def test_too_close_when_the_piece_is_not_longer_than_its_margin():
    # u_1 = 5, eps_1 = 1, err_1 = 1/2: u = 2 err + 4 eps exactly is too close
    assert _too_close([0.0, 6.0], [-1.0, 1.0], [0.0, 0.5]) == [True]
    assert _too_close([0.0, 6.25], [-1.0, 1.0], [0.0, 0.5]) == [False]  # u = 5.25 > 5
    assert _too_close([0.0, 5.75], [-1.0, 1.0], [0.0, 0.25]) == [False]  # 4.75 > 4.5
    assert _too_close([0.0, 5.5], [-1.0, 1.0], [0.0, 0.25]) == [True]


def test_too_close_when_the_kink_is_not_above_the_previous_error():
    # eps_1 = err_0 = 1/2 is too close, eps_1 = 3/4 is not; an exact z_0 takes eps = 0
    assert _too_close([0.5, 10.0], [0.0, 1.0], [0.5, 0.0]) == [True]
    assert _too_close([0.25, 10.0], [0.0, 1.0], [0.5, 0.0]) == [False]
    assert _too_close([1.0, 10.0], [0.0, 1.0], [0.0, 0.0]) == [False]
    assert _too_close([1.0, 10.0], [0.0, 0.75], [0.0, 0.0]) == [True]  # kink below z_0


def test_too_close_reads_each_pairs_own_errors():
    # three pairs; only the second kink (eps 1/4) is within its left point's error 1/2
    hu, b = _chain([(100.0, 1.0), (100.0, 0.25), (100.0, 1.0)])
    assert _too_close(hu, b, [0.0, 0.5, 0.0, 0.0]) == [False, True, False]
    assert _too_close(hu, b, [0.0, 0.0, 0.5, 0.0]) == [False, False, False]
    # low parts count: b_2 = hi_1 + 2**-40 is above z_1 = hi_1 - 2**-39, below hi_1 + 2**-39
    hu, b = _chain([(100.0, 1.0), (100.0, 2.0**-40), (100.0, 1.0)])
    assert _too_close(hu, b, np.zeros(4), lu=[0.0, -(2.0**-39), 0.0, 0.0]) == [False] * 3
    assert _too_close(hu, b, np.zeros(4), lu=[0.0, 2.0**-39, 0.0, 0.0]) == [False, True, False]


# --- _check_separation: the first point ------------------------------------------------------


def test_first_point_needs_a_piece_longer_than_twice_its_error():
    hu, b = [1.0, 100.0], [0.0, 1.75]  # u_0 = 1, and the pair (0, 1) is well separated
    exc = _collision(hu, [0.0, 0.0], b, [0.5, 0.25], order=[7, 3])
    assert str(exc) == "point 7 lies too close to 0 along a for its projection error"
    assert (exc.refinable, exc.gap, exc.err) == (True, 1.0, 0.5)
    _separate(hu, [0.0, 0.0], b, [0.4, 0.25], order=[7, 3])  # 1 > 0.8: fine


def test_first_point_on_its_kink_without_error_is_not_refinable():
    exc = _collision([1.0, 100.0], [0.0, 0.0], [1.5, 1.75], [0.0, 0.0], order=[2, 0])
    assert str(exc) == "point 2 lies too close to 0 along a for its projection error"
    assert (exc.refinable, exc.gap, exc.err) == (False, -0.5, 0.0)


def test_a_lone_point_is_only_checked_against_its_own_kink():
    _separate([3.0], [0.0], [0.0], [1.0])
    assert "point 0 lies" in str(_collision([3.0], [0.0], [0.0], [1.5]))


# --- _check_separation: pairs ---------------------------------------------------------------


def test_two_points_too_close_name_both_in_the_callers_order():
    exc = _collision([1.0, 1.5], [0.0, 0.0], [0.0, 1.25], [0.0, 0.0], order=[5, 2])
    assert str(exc) == (
        "points 5 and 2 project to values 0.25 apart, too close to place a float64 bias "
        "between them"
    )
    assert (exc.refinable, exc.gap, exc.err) == (False, 0.5, 0.0)
    _separate([1.0, 2.5], [0.0, 0.0], [0.0, 1.25], [0.0, 0.0])  # u = 1.25 > 4 * 0.25


def test_collision_reports_the_worst_pairs_gap_and_error():
    # pair 2 (sorted positions 1, 2) is the only one too close; low parts and errors differ
    # everywhere, so the fields show which neighbours they were read from
    hu, lu = [0.0, 10.0, 10.5, 30.0], [2.0**-40, 2.0**-38, 2.0**-36, 2.0**-34]
    b, eu = [-1.0, 0.5, 10.25, 10.75], [2.0**-12, 2.0**-8, 2.0**-10, 2.0**-14]
    exc = _collision(hu, lu, b, eu, order=[3, 0, 2, 1])
    assert str(exc).startswith("points 0 and 2 project to values 0.25 apart")
    assert exc.gap == 0.5 + 3 * 2.0**-38  # (10.5 - 10) + (2**-36 - 2**-38), exact
    assert exc.err == 2.0**-8  # the larger of the pair's two bounds
    # 64 err = 1/4 exceeds eps_2 = 1/4 - 2**-38: the error bound is what keeps them together
    assert exc.refinable is True


@pytest.mark.parametrize(
    ("pairs", "eu", "worst"),
    [
        # u - 2 err - 4 eps: -1 against -6.5 (4 eps, not 4 / eps or + 4 eps)
        ([(1.0, 0.5), (1.5, 2.0)], [0.0, 0.0, 0.0], 2),
        # -1 against -1.25 (4 eps, not 5 eps)
        ([(3.0, 1.0), (0.75, 0.5)], [0.0, 0.0, 0.0], 2),
        # -1 against -0.75 (2 err, not + 2 err or 2 / err)
        ([(2.0, 0.25), (0.75, 0.25)], [0.0, 1.0, 0.25], 1),
        # -0.5 against -0.75 (2 err, not 3 err)
        ([(2.5, 0.25), (0.25, 0.25)], [0.0, 1.0, 0.0], 2),
        # the worst pair first, and last, of three
        ([(0.25, 0.25), (3.5, 1.0), (100.0, 1.0)], [0.0, 0.0, 0.0, 0.0], 1),
        ([(100.0, 1.0), (3.5, 1.0), (0.25, 0.25)], [0.0, 0.0, 0.0, 0.0], 3),
    ],
)
def test_collision_names_the_pair_with_the_smallest_margin(pairs, eu, worst):
    hu, b = _chain(pairs)
    order = [10 + k for k in range(len(hu))]
    exc = _collision(hu, np.zeros(len(hu)), b, eu, order=order)
    assert str(exc).startswith(f"points {9 + worst} and {10 + worst} project to values")
    assert exc.gap == hu[worst] - hu[worst - 1]


@pytest.mark.parametrize(
    ("eps", "err", "refinable"),
    [
        (0.25, 2.0**-8, False),  # 64 err = eps: float64's spacing suffices to explain it
        (0.25 + 2.0**-9, 2.0**-8, False),
        (0.25 - 2.0**-9, 2.0**-8, True),
        (0.25, 2.0**-6, True),
        (-0.25, 0.0, False),  # a kink below the previous point, no error: not refinable
    ],
)
def test_collision_is_refinable_when_the_error_bound_dominates_the_kink_offset(eps, err, refinable):
    hu, b = _chain([(100.0, 1.0), (1.0, eps)])
    exc = _collision(hu, np.zeros(3), b, [0.0, 0.0, err])
    assert str(exc).startswith("points 1 and 2 project")
    assert exc.refinable is refinable and exc.err == err


def test_merged_duplicates_are_named_by_their_original_index():
    # unique slots 0, 1, 2, 3 are sorted positions 0, 1, 3, 4 (position 2 repeats position 1)
    hu, b = _chain([(100.0, 1.0), (0.5, 0.25), (100.0, 1.0)])
    keep = np.array([True, True, False, True, True])
    exc = _collision(hu, np.zeros(4), b, np.zeros(4), order=[4, 1, 0, 3, 2], keep=keep)
    assert str(exc).startswith("points 1 and 3 project to values 0.5 apart")


# --- through _solve: sorting, merging and naming together ---------------------------------------


def test_solve_names_the_colliding_points_after_merging_duplicates():
    # points 0 and 2 are one point; 3 lies 2**-28 above it, within a few errors 2**-30
    X = _arr([[2.0, 0.0], [1.0, 0.0], [2.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
    y = _arr([[1.0], [0.0], [1.0], [2.0], [3.0]])
    hi, lo = _arr([2.0, 1.0, 2.0, 2.0 + 2.0**-28, 3.0]), np.zeros(5)
    with pytest.raises(C._Collision) as info:
        C._solve(X, y, hi, lo, np.full(5, 2.0**-30), np)
    exc = info.value
    assert str(exc).startswith("points 0 and 3 project to values ")
    assert (exc.refinable, exc.gap, exc.err) == (True, 2.0**-28, 2.0**-30)


def test_sorted_unique_reports_distinct_points_within_their_errors():
    X = _arr([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    hi, lo, err = _arr([1.0, 2.0, 2.0]), _arr([0.0, 2.0**-60, 0.0]), np.full(3, 2.0**-50)
    y = _arr([[0.0], [1.0], [1.0]])
    with pytest.raises(C._Collision) as info:
        C._sorted_unique(X, y, hi, lo, err, np.argsort(hi), np)
    exc = info.value
    assert str(exc) == "distinct points 1 and 2 have the same projection"
    assert (exc.refinable, exc.gap, exc.err) == (True, 2.0**-60, 2.0**-50)


def test_equal_leading_parts_are_ordered_by_their_low_parts():
    # hi ties, lo decides: z_1 = 1 < z_0 = 1 + 2**-60; with no error they are two points
    X, y = _arr([[1.0, 1.0], [1.0, 0.0]]), _arr([[3.0], [2.0]])
    hi, lo, err = _arr([1.0, 1.0]), _arr([2.0**-60, 0.0]), np.zeros(2)
    order, hu, lu, yu, eu, keep = C._sorted_unique(X, y, hi, lo, err, np.arange(2), np)
    assert order.tolist() == [1, 0] and lu.tolist() == [0.0, 2.0**-60] and keep is None
    b = C._biases(hu, lu, eu, np)
    assert b.tolist() == [1.0 - 2.0**-40 - 2.0**-53, 1.0]  # the second kink sits on z_1 = 1


def test_sorted_unique_marks_the_first_of_each_run_with_a_boolean_mask():
    X = _arr([[2.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    y = _arr([[1.0], [0.0], [1.0], [2.0]])
    hi = _arr([2.0, 1.0, 2.0, 3.0])
    zero = np.zeros(4)
    order, hu, lu, yu, eu, keep = C._sorted_unique(X, y, hi, zero, zero, np.argsort(hi), np)
    assert order.tolist() == [1, 0, 2, 3]
    assert keep.dtype == np.bool_ and keep.tolist() == [True, True, False, True]
    assert hu.tolist() == [1.0, 2.0, 3.0] and yu[:, 0].tolist() == [0.0, 1.0, 2.0]


def test_expand_gives_duplicates_their_twins_bias_and_zero_weight():
    b, w = _arr([1.0, 2.0, 3.0]), _arr([[4.0], [5.0], [6.0]])
    keep = np.array([True, True, False, False, True])
    got_b, got_w = C._expand(b, w, keep, np)
    assert got_b.tolist() == [1.0, 2.0, 2.0, 2.0, 3.0]
    assert got_w[:, 0].tolist() == [4.0, 5.0, 0.0, 0.0, 6.0]
    assert C._expand(b, w, None, np) == (b, w)
