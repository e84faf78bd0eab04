"""Error-free projections by exact slices (``theorem1/exact.py``), checked against exact
``Fraction`` arithmetic: the slice plan's documented numbers (bits, slices, grids, top
exponent, range check), the double-double projection ``hi + lo`` with its per-row error
bound (rigorous, and equal to the documented ``gamma_{d+2} fl(sum |R||a|) + u sum |l|``),
grid data, blocks, the certificate's exact slices and the dyadic integers."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from finite_expressivity.theorem1 import exact as ex
from finite_expressivity.theorem1.exact import (
    NonFinite,
    SlicePlan,
    exact_slices,
    plan_slices,
    project,
    to_dyadic_ints,
)

U = 2.0**-53


def exact_dot(x, a) -> Fraction:
    return sum((Fraction(float(xj)) * Fraction(float(aj)) for xj, aj in zip(x, a)), Fraction(0))


def assert_rigorous(X, a, hi, lo, err):
    """``|X @ a - (hi + lo)| <= err`` row by row, exactly; ``|lo| <= ulp(hi) / 2``."""
    assert np.all(err >= 0)
    for i in range(X.shape[0]):
        approx = Fraction(float(hi[i])) + Fraction(float(lo[i]))
        assert abs(exact_dot(X[i], a) - approx) <= Fraction(float(err[i])), i
        assert abs(lo[i]) <= np.spacing(abs(hi[i])) / 2, i


def gamma(k: int) -> float:
    return k * U / (1 - k * U)


def lemma_bound(hi, a, plan, n_exact):
    """Lemma 2.1 (proofs/float64.md) with the implementation's gamma_{d+2}: the remainder
    after K = n_exact slices is at most g_K / 2; each of the K - 1 computed values l is at
    most ulp(hi) plus the later products, whose sum is below g_2 ||a||_1."""
    norm1 = float(np.sum(np.abs(a)))
    rem = plan.grid(n_exact - 1) / 2 * norm1
    tail = plan.grid(1) * norm1 if n_exact > 1 else 0.0
    lsum = (n_exact - 1) * (2 * np.spacing(np.abs(hi)) + tail)
    return (gamma(a.size + 2) + 2 * U) * rem + 2 * U * lsum


# --- SlicePlan ---------------------------------------------------------------------------


def test_slice_plan_needs_at_least_one_bit():
    assert SlicePlan(0, 1, 1).bits == 1
    with pytest.raises(ValueError, match="at least 1 bit"):
        SlicePlan(0, 0, 1)


def test_slice_plan_is_off_grid_unless_told_and_with_top_keeps_the_rest():
    assert SlicePlan(3, 10, 2).grid_data is False
    plan = SlicePlan(3, 10, 2, grid_data=True).with_top(5.0)
    assert (plan.e_top, plan.bits, plan.n_exact, plan.grid_data) == (3, 10, 2, True)
    plan = SlicePlan(3, 10, 2).with_top(0.3)
    assert (plan.e_top, plan.grid_data) == (-1, False)


def test_grid_halves_by_bits_per_slice():
    plan = SlicePlan(5, 12, 3)
    assert [plan.grid(k) for k in range(3)] == [2.0**-7, 2.0**-19, 2.0**-31]
    assert SlicePlan(-3, 4, 1).grid(1) == 2.0**-11


def test_sigma_rounds_to_the_nearest_multiple_of_the_grid():
    rng = np.random.default_rng(0)
    plan = SlicePlan(5, 12, 3)
    x = rng.uniform(-32, 32, 50)
    R = x.copy()
    for k in range(3):
        g, s = plan.grid(k), plan.sigma(k)
        Xk = (R + s) - s
        for xi, ri in zip(Xk, R):
            q = Fraction(float(xi)) / Fraction(g)
            assert q.denominator == 1 and abs(Fraction(float(ri)) - Fraction(float(xi))) <= g / 2
        R = R - Xk
    assert np.all(np.abs(R) <= plan.grid(2) / 2)


# --- plan_slices -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("d", "a_bits", "n", "bits", "n_exact"),
    [
        (1, 20, 2, 32, 1),  # B = 53 - M - 0 - 1
        (2, 10, 2, 41, 1),  # ceil(log2 2) = 1
        (3, 20, 1000, 30, 1),  # ceil(log2 3) = 2; (2 log2 1000 + 30 + 4 - 53) / 30 < 1
        # B = 10; target = 2 * 20 + 30 = 70; (70 + 4 - 53) / 10 = 2.1 -> 3 slices
        (4, 40, 2**20, 10, 3),
        # B = 1: every bit counts; target 32 for n <= 2: 32 + 22 - 53 = 1 slice
        (2048, 40, 2, 1, 1),
        (2048, 40, 1, 1, 1),
        (2048, 40, 4, 1, 3),  # target 34: 34 + 22 - 53 = 3
        (2048, 40, 8, 1, 5),  # target 36
    ],
)
def test_plan_slices_bits_and_slices(d, a_bits, n, bits, n_exact):
    plan = plan_slices(1.0, d, a_bits, n=n)
    assert (plan.bits, plan.n_exact) == (bits, n_exact)
    target = 2 * math.log2(max(n, 2)) + 30
    log2d = math.ceil(math.log2(d))
    # the documented accuracy: the rounded slice is 2**-target below the scale, and minimal
    assert 53 + n_exact * bits - 2 * log2d >= target
    assert n_exact == 1 or 53 + (n_exact - 1) * bits - 2 * log2d < target


def test_plan_slices_top_exponent_and_grid_flag():
    assert plan_slices(3.0, 4, 20, n=10).e_top == 2
    assert plan_slices(4.0, 4, 20, n=10).e_top == 3
    assert plan_slices(1.0, 4, 20, n=10).grid_data is False
    assert plan_slices(1.0, 4, 20, n=10, grid_data=True).grid_data is True


# --- _top_exponent and check_range -------------------------------------------------------


@pytest.mark.parametrize(
    ("xmax", "e"), [(1.0, 1), (0.3, -1), (0.5, 0), (3.0, 2), (2.0**-900, -899), (2.0**899, 900)]
)
def test_top_exponent_is_the_next_power_of_two_above(xmax, e):
    assert ex._top_exponent(xmax) == e
    assert 2.0**e > xmax >= 2.0 ** (e - 1)


@pytest.mark.parametrize("xmax", [2.0**-901 * 0.75, 2.0**-1000, 5e-324])
def test_tiny_blocks_are_planned_at_two_to_the_minus_900(xmax):
    assert ex._top_exponent(xmax) == -900


def test_top_exponent_refuses_nan_inf_and_huge():
    for bad in (math.nan, math.inf):
        with pytest.raises(NonFinite):
            ex._top_exponent(bad)
    with pytest.raises(ValueError, match="above 2\\*\\*900"):
        ex._top_exponent(1.5 * 2.0**900)


def test_check_range_refuses_data_at_or_beyond_two_to_the_900():
    ex.check_range(2.0**899)
    ex.check_range(np.nextafter(2.0**900, 0.0))
    for big in (2.0**900, 1.5 * 2.0**900, 2.0**901):
        with pytest.raises(ValueError, match="at or above 2\\*\\*900; rescale X"):
            ex.check_range(big)


# --- project -----------------------------------------------------------------------------


@pytest.mark.parametrize("n_exact", [1, 2, 3])
def test_projection_is_within_its_bound_for_random_data(n_exact):
    rng = np.random.default_rng(n_exact)
    d = 5
    X = rng.standard_normal((40, d)) * 2.0 ** rng.integers(-30, 30, (40, 1))
    a = rng.integers(-(2**20), 2**20, d).astype(np.float64)
    plan = plan_slices(1.0, d, 20, n=40)
    plan = SlicePlan(plan.e_top, plan.bits, n_exact)
    hi, lo, err = project(X, a, plan, np, chunk_rows=7)
    assert_rigorous(X, a, hi, lo, err)
    assert np.all(err <= 2.0**-40 * (np.abs(X) @ np.abs(a)))  # far below the scale
    for i in range(40):  # each row on its own block's grids
        top = plan.with_top(float(np.max(np.abs(X[i // 7 * 7 : i // 7 * 7 + 7]))))
        assert err[i] <= lemma_bound(hi[i], a, top, n_exact)


def test_projection_of_rows_whose_largest_entries_are_negative():
    # the block's scale is max |x|, not max x: a row [-2**31, 1] must not be planned at 2**1
    rng = np.random.default_rng(7)
    d = 4
    X = rng.uniform(-1, 1, (12, d))
    X[:, 0] = -rng.uniform(2.0**30, 2.0**31, 12)
    a = rng.integers(-(2**20), 2**20, d).astype(np.float64)
    plan = plan_slices(1.0, d, 20, n=12)
    for n_exact in (1, 2):
        hi, lo, err = project(X, a, SlicePlan(0, plan.bits, n_exact), np, chunk_rows=4)
        assert_rigorous(X, a, hi, lo, err)


def test_error_bound_is_gamma_d_plus_2_times_the_computed_remainder_sum():
    # one exact slice at grid 2**-20, remainders exact multiples of 2**-40: err must be
    # fl(gamma_{d+2} * sum |R_j| |a_j|) with the sum exact, for d = 3
    rng = np.random.default_rng(3)
    n, d = 16, 3
    C = rng.integers(-(2**19), 2**19, (n, d)) * 2.0**-20
    Rm = rng.integers(-(2**18), 2**18, (n, d)) * 2.0**-40
    C[0], Rm[0] = [0.75, -0.25, 0.5], [2.0**-30, 0.0, 0.0]  # max |x| in [0.5, 1): e_top = 0
    X = C + Rm
    a = np.array([4.0, -7.0, 5.0])
    hi, lo, err = project(X, a, SlicePlan(0, 20, 1), np)
    S = np.array([float(exact_dot(np.abs(row), np.abs(a))) for row in Rm])  # exact: 23 bits
    assert S[0] == 2.0**-28
    assert err[0] == gamma(d + 2) * 2.0**-28
    assert np.array_equal(err, gamma(d + 2) * S)
    assert_rigorous(X, a, hi, lo, err)


@pytest.mark.parametrize("grid_data", [False, True])
def test_error_bound_counts_the_rounding_of_each_addition_into_lo(grid_data):
    # two exact slices leave no remainder, so hi + lo is exact, yet p1 + p2 does not fit a
    # float64: lo != 0 and the bound is the documented u |l| (the remainder term is 0)
    rng = np.random.default_rng(11)
    d = 4
    X = rng.uniform(0.5, 1.0, (20, d)) * rng.choice([-1.0, 1.0], (20, d))
    a = rng.integers(-(2**10), 2**10, d).astype(np.float64)
    # grids 2**-40, 2**-80: 80 bits hold all 53 bits of each entry (grid data or not, the
    # bound is the documented one for the plan's two exact slices)
    plan = SlicePlan(0, 40, 2, grid_data=grid_data)
    hi, lo, err = project(X, a, plan, np)
    assert np.all(lo != 0)
    for i in range(20):
        assert Fraction(float(hi[i])) + Fraction(float(lo[i])) == exact_dot(X[i], a)
    assert np.array_equal(err, U * np.abs(lo))


def test_rows_of_tiny_numbers_get_their_own_block_and_bound():
    # default blocks of 8192 rows: row 8192 is planned on its own and projects exactly,
    # though the rows before it are 2**120 times larger and need the rounded product
    rng = np.random.default_rng(5)
    X = rng.uniform(-1000.0, 1000.0, (8193, 2))
    X[8192] = [3 * 2.0**-100, -(2.0**-101)]
    a = np.array([3.0, -5.0])
    hi, lo, err = project(X, a, SlicePlan(0, 30, 1), np)
    assert err[8192] == 0.0
    assert hi[8192] + lo[8192] == 9 * 2.0**-100 + 5 * 2.0**-101
    assert np.all(err[:8192] > 0)
    rows = [0, 1, 4095, 8190, 8191, 8192]
    assert_rigorous(X[rows], a, hi[rows], lo[rows], err[rows])


def test_grid_data_project_exactly_with_zero_lo_and_zero_bound_in_every_block():
    rng = np.random.default_rng(2)
    X = rng.integers(-255, 256, (30, 6)) / 256.0  # pixels k/256: on every first grid
    a = rng.integers(-(2**20), 2**20, 6).astype(np.float64)
    for n_exact in (1, 2):
        hi, lo, err = project(X, a, SlicePlan(0, 28, n_exact, grid_data=True), np, chunk_rows=8)
        assert np.all(lo == 0.0) and np.all(err == 0.0)
        assert [Fraction(float(h)) for h in hi] == [exact_dot(x, a) for x in X]


@pytest.mark.parametrize("n_exact", [1, 2])
def test_grid_data_plan_still_slices_rigorously_off_the_grid(n_exact):
    d = 2
    a = np.array([3.0, -5.0])
    plan = SlicePlan(0, 20, n_exact, grid_data=True)
    # remainders after the first slice (grid 2**-20): ...
    cases = [
        np.array([[0.5, 0.25 - 2.0**-30], [0.75, 0.125]]),  # ... <= 0, max R == 0
        np.array([[0.5, 0.25 + 2.0**-30], [0.75, 0.125]]),  # ... >= 0
        np.random.default_rng(4).uniform(-1, 1, (9, d)),  # ... of both signs
    ]
    for X in cases:
        hi, lo, err = project(X, a, plan, np)
        assert_rigorous(X, a, hi, lo, err)
        assert n_exact > 1 or not np.all(err == 0.0)
        assert np.all(err <= lemma_bound(hi, a, plan.with_top(np.max(np.abs(X))), n_exact))
    # block max 2**39 + 1: e_top = 40, with 38 bits the grid is 4 and the remainder is 1.0
    X = np.array([[2.0**39 + 1, 8.0], [-(2.0**38), 4.0]])
    plan = SlicePlan(0, 38, n_exact, grid_data=True)
    hi, lo, err = project(X, a, plan, np)
    assert_rigorous(X, a, hi, lo, err)
    assert np.all(err <= lemma_bound(hi, a, plan.with_top(2.0**39 + 1), n_exact))
    assert Fraction(float(hi[0])) + Fraction(float(lo[0])) == 3 * (2**39 + 1) - 40


def test_project_of_no_rows():
    hi, lo, err = project(np.zeros((0, 3)), np.array([1.0, 2.0, 3.0]), SlicePlan(0, 20, 2), np)
    assert hi.shape == lo.shape == err.shape == (0,)


def test_project_names_nan_and_inf():
    X = np.ones((5, 2))
    X[3, 1] = np.nan
    with pytest.raises(NonFinite):
        project(X, np.array([1.0, 1.0]), SlicePlan(0, 20, 1), np)


# --- exact_slices ------------------------------------------------------------------------


def test_exact_slices_sum_to_the_exact_projection():
    rng = np.random.default_rng(9)
    X = rng.standard_normal((10, 4)) * 2.0 ** rng.integers(-40, 40, (10, 1))
    X[2, 1] = 5e-324  # a subnormal needs slices down to the grid 2**-1074
    a = rng.integers(-(2**20), 2**20, 4).astype(np.float64)
    plan = plan_slices(float(np.max(np.abs(X))), 4, 20, n=10)
    slices = exact_slices(X, a, plan)
    for i in range(10):
        assert sum(Fraction(float(s[i])) for s in slices) == exact_dot(X[i], a)
    assert np.all(X[2] != 0)  # X itself is left alone


def test_exact_slices_of_integer_data_and_of_zeros():
    X = np.array([[3, -(2**40) - 1], [7, 1]])  # integers, converted to float64
    a = np.array([2.0**20 - 1, 3.0])
    slices = exact_slices(X, a, plan_slices(2.0**40, 2, 20, n=2))
    for i in range(2):
        assert sum(Fraction(float(s[i])) for s in slices) == sum(
            int(x) * int(aj) for x, aj in zip(X[i], a)
        )
    zero = exact_slices(np.zeros((3, 2)), a, plan_slices(1.0, 2, 20, n=3))
    assert len(zero) == 1 and np.array_equal(zero[0], np.zeros(3))


# --- to_dyadic_ints ----------------------------------------------------------------------


def test_dyadic_ints_are_exact():
    v = np.array([1.0, -0.375, 0.0, 5e-324, -3.0 * 2.0**-1060, 2.0**1000, 0.1])
    m, E = to_dyadic_ints(v)
    assert m.dtype == object and isinstance(E, int)
    assert all(isinstance(mi, int) for mi in m)
    assert [Fraction(mi) * Fraction(2) ** E for mi in m] == [Fraction(x) for x in v]


def test_dyadic_ints_of_an_empty_array_are_an_object_array():
    m, E = to_dyadic_ints(np.zeros((0,)))
    assert m.dtype == object and m.shape == (0,) and isinstance(E, int)
    with pytest.raises(ValueError, match="finite"):
        to_dyadic_ints(np.array([1.0, np.inf]))
