"""The construction's collision repair and its input helpers, on cases worked out by hand.

Covers the scaling of tiny data (``_tiny_shift``), the bits of the direction
(``_direction_bits``), the draw of a direction, the choice of the compiled loops, the
statistics of the compiled path, and the repair search: which pairs collide or are close,
the intervals of ``t`` where a pair fails (checked against exact arithmetic), the free
stretches of the line and the message that refuses.
"""

from __future__ import annotations

import math
import re
import types
from fractions import Fraction

import numpy as np
import pytest

from finite_expressivity import fit
from finite_expressivity.theorem1 import compiled
from finite_expressivity.theorem1 import construction as C

# ---------------------------------------------------------------- _tiny_shift


@pytest.mark.parametrize(
    "top,k",
    [
        (2.0**-70, 69),  # frexp: 2**-70 = 0.5 * 2**-69
        (-0.75 * 2.0**-64, 64),  # just below 2**-64 (and negative)
        (2.0**-1000, 960),  # capped: a's entries times 2**k stay finite
        (5e-324, 960),
    ],
)
def test_tiny_shift_puts_the_largest_entry_in_half_to_one(top, k):
    X = np.array([[top, top / 4], [0.0, -top / 8]])
    assert C._tiny_shift(X, np) == k
    if k < 960:
        assert 0.5 <= np.max(np.abs(X * 2.0**k)) < 1.0


@pytest.mark.parametrize("top", [2.0**-64, 1.0, 3.0e5])
def test_tiny_shift_leaves_data_from_two_to_the_minus_64_up_alone(top):
    assert C._tiny_shift(np.array([[top, 0.0], [2.0**-70, 1e-300]]), np) == 0


def test_tiny_shift_leaves_zeros_alone():
    assert C._tiny_shift(np.zeros((3, 2)), np) == 0


def test_tiny_shift_looks_at_all_rows_when_the_sample_is_tiny():
    """n = 4096: the glance sees every other row; a larger entry on row 1 still counts."""
    X = np.full((4096, 1), 2.0**-70)
    assert C._tiny_shift(X, np) == 69
    for big in (2.0**-64, 1.0):
        X[1, 0] = big
        assert C._tiny_shift(X, np) == 0


# ---------------------------------------------------------------- _direction_bits


def _rule(d, data_bits):
    log2d = math.ceil(math.log2(d)) if d > 1 else 0
    return min(40, max(16, 53 - log2d - data_bits - 1))


@pytest.mark.parametrize(
    "X,data_bits",
    [
        (np.array([[1.0], [2.0**20 - 1]]), 20),  # integers below 2**20
        (np.array([[1.0, -3.0], [2.0**20 - 1, 2.0]]), 20),
        (np.array([[1.0, 0.0, 7.0, 2.0, 5.0], [0.0, 2.0**20 - 1, -1.0, 4.0, 0.0]]), 20),
        (np.array([[0.0, 1.0], [2.0**20 - 1, 0.0]]), 20),  # zeros do not count
        (np.array([[1.0], [-(2.0**24 - 1)]]), 24),  # the largest grid
        (np.array([[0.5], [0.25]]), 2),  # 53 - 2 - 1: capped at 40
        (np.c_[np.ones((2, 4095)), [[2.0**24 - 1], [3.0]]], 24),  # d = 4096: 16
        (np.c_[np.ones((2, 8191)), [[2.0**24 - 1], [3.0]]], 24),  # d = 8192: at least 16
        (np.arange(-2048, 2048).reshape(1, 4096) / 256.0, 12),  # pixels k / 256, up to 8 = 2**3
        (np.array([[3.0 * 2.0**-30, 2.0**-12]]), 19),  # exponent -11 down to bit -30
    ],
)
def test_direction_bits_of_dyadic_grid_data(X, data_bits):
    """min(40, max(16, 53 - ceil(log2 d) - data_bits - 1)) bits and grid_data True."""
    d = X.shape[1]
    want = _rule(d, data_bits)
    assert C._direction_bits(X, d) == (want, True)


def test_direction_bits_rule_values():
    """The rule itself, at the cases above (so a slip in the helper cannot hide one)."""
    assert [_rule(1, 20), _rule(2, 20), _rule(5, 20), _rule(1, 24)] == [32, 31, 29, 28]
    assert [_rule(1, 2), _rule(4096, 24), _rule(8192, 24), _rule(4096, 12)] == [40, 16, 16, 28]


def test_direction_bits_of_data_off_the_grid():
    """25 bits and more: 26 bits for at most 4096 distinct values, else 20; never grid."""
    assert C._direction_bits(np.array([[1.0], [2.0**25 - 1]]), 1) == (26, False)
    assert C._direction_bits(np.array([[0.1, 0.3], [0.0, 0.7]]), 2) == (26, False)
    values = 1.0 + np.arange(4097) * 2.0**-40  # 4097 distinct values on a 41-bit grid
    assert C._direction_bits(values[None, :4096], 4096) == (26, False)
    assert C._direction_bits(values[None, :], 4097) == (20, False)
    doubled = np.r_[values, values][None, :]  # 4097 distinct among 8194
    assert C._direction_bits(doubled, 8194) == (20, False)


@pytest.mark.parametrize("bad", [0.0, np.nan, np.inf])
def test_direction_bits_without_finite_nonzero_values(bad):
    X = np.zeros((3, 2))
    X[1, 1] = bad
    assert C._direction_bits(X, 2) == (20, False)


def test_direction_bits_decide_on_every_n_over_2048th_row():
    """n = 4096: rows 0, 2, 4, ... decide; a finer value on row 1 is not looked at."""
    X = np.tile([[1.0, 3.0], [2.0, 1.0]], (2048, 1))
    X[1, 0] = 1.0 + 2.0**-30
    assert C._direction_bits(X, 2) == (_rule(2, 2), True)
    X[2, 0] = 1.0 + 2.0**-30
    assert C._direction_bits(X, 2) == (26, False)


# ---------------------------------------------------------------- _random_direction


class _ZerosFirst:
    """An rng whose first ``zeros`` draws are all zero, then all ones."""

    def __init__(self, zeros):
        self.zeros, self.calls = zeros, []

    def integers(self, low, high, size):
        self.calls.append((low, high, size))
        return (
            np.zeros(size, np.int64) if len(self.calls) <= self.zeros else np.ones(size, np.int64)
        )


def test_random_direction_redraws_all_zero_directions_64_times():
    prob = types.SimpleNamespace(X=np.zeros((2, 3)), a_bits=20)
    rng = _ZerosFirst(63)
    a = C._random_direction(rng, prob)
    assert a.tolist() == [1.0, 1.0, 1.0] and a.dtype == np.float64
    assert len(rng.calls) == 64 and rng.calls[0] == (-(2**20), 2**20 + 1, 3)
    with pytest.raises(RuntimeError, match="64 random directions were all zero"):
        C._random_direction(_ZerosFirst(64), prob)


def test_random_direction_on_a_line_is_one():
    prob = types.SimpleNamespace(X=np.zeros((2, 1)), a_bits=20)
    assert C._random_direction(_ZerosFirst(100), prob).tolist() == [1.0]


# ---------------------------------------------------------------- _fused_module


def test_fused_module_only_for_numpy_with_4096_rows_and_numba(monkeypatch):
    want = compiled if compiled.HAVE_NUMBA else None
    assert C._fused_module(np.zeros((4096, 2)), None) is want
    assert C._fused_module(np.zeros((4095, 2)), None) is None
    assert C._fused_module(np.zeros((10, 2)), None) is None
    other = types.SimpleNamespace(shape=(4096, 2))  # another library's array
    assert C._fused_module(other, None) is None
    monkeypatch.setattr(compiled, "HAVE_NUMBA", False)
    assert C._fused_module(np.zeros((4096, 2)), None) is None


# ---------------------------------------------------------------- _fused_stats


def test_fused_stats_fields():
    """float64_limit: the loops' max q u / 2 plus 8 u max|y| (proofs/float64.md)."""
    st = np.array([0.5, 3.0, 0.25, 4.0, 7.0])  # limit, max|w|, min u, max|y|, precision
    got = C._fused_stats(5, 3, st)
    assert got == {
        "precision": 7.0,
        "duplicates": 2,
        "jacobi_sweeps": "sequential",
        "carry_sweeps": "sequential",
        "float64_limit": 0.5 + 2.0**-48,  # 8 * 2**-53 * 4
        "max_abs_weight": 3.0,
        "min_projection_gap": 0.25,
    }
    assert C._fused_stats(2, 2, st)["min_projection_gap"] == 0.25
    assert C._fused_stats(4, 1, st)["min_projection_gap"] is None  # one point: no gap


# ---------------------------------------------------------------- _collision_pairs


def test_collision_pairs_two_points_no_bias_separates():
    """z = 1 + 1e-17 and 1 + 3e-17: no float64 lies in between (1 and 1 + 2**-52 do not)."""
    X = np.array([[1.0], [1.5]])
    got = C._collision_pairs(X, np.array([1.0, 1.0]), np.array([1e-17, 3e-17]), np.zeros(2))
    assert np.sort(got, axis=1).tolist() == [[0, 1]]
    far = C._collision_pairs(X, np.array([1.0, 2.0]), np.array([1e-17, 3e-17]), np.zeros(2))
    assert far.shape == (0, 2)


def test_collision_pairs_lowest_pair_counts():
    X = np.array([[1.0], [1.5], [4.0]])
    hi, lo = np.array([1.0, 1.0, 4.0]), np.array([1e-17, 3e-17, 0.0])
    assert np.sort(C._collision_pairs(X, hi, lo, np.zeros(3)), axis=1).tolist() == [[0, 1]]


def test_collision_pairs_error_bounds_are_per_pair():
    """A large bound on one point does not tie two exact projections 2**-30 apart."""
    X = np.array([[0.0], [1.0], [1.0 + 2.0**-30], [5.0]])
    err = np.array([2.0**-20, 0.0, 0.0, 0.0])
    assert C._collision_pairs(X, X[:, 0], np.zeros(4), err).shape == (0, 2)


def test_collision_pairs_skip_identical_points_but_not_distinct_ties():
    """Rows 0 and 1 are one point; rows 2 and 3 differ but project to the same 3."""
    X = np.array([[1.0, 0.0], [1.0, 0.0], [3.0, 0.0], [2.0, 1.0]])
    got = C._collision_pairs(X, X @ np.ones(2), np.zeros(4), np.zeros(4))
    assert np.sort(got, axis=1).tolist() == [[2, 3]]


# ---------------------------------------------------------------- _close_pairs


def test_close_pairs_measure_the_double_double_distance():
    """z_1 = 0.5 + 2**-24 + 2**-53 + 2**-54 is more than 2**-24 (of max |z| = 1) from 0.5."""
    X = np.array([[0.0], [1.0], [2.0]])
    hi = np.array([0.5, 0.5 + 2.0**-24 + 2.0**-53, 1.0])
    lo = np.array([0.0, 2.0**-54, 0.0])
    assert C._close_pairs(X, hi, lo).shape == (0, 2)
    near = C._close_pairs(X, np.array([0.5, 0.5 + 2.0**-25, 1.0]), np.zeros(3))
    assert np.sort(near, axis=1).tolist() == [[0, 1]]


def test_close_pairs_are_capped_near_max_pairs(monkeypatch):
    """With a cap of 2000 pairs, 100 points in one run: each is paired with its next
    2000 // 99 = 20; 1002 points (1001 close neighbours): only neighbours."""
    monkeypatch.setattr(C, "_MAX_PAIRS", 2000)
    for n, width in ((100, 20), (1002, 1)):
        z = 1.0 + np.arange(n) * 2.0**-40
        got = C._close_pairs(z[:, None], z, np.zeros(n))
        assert len(got) == sum(n - k for k in range(1, width + 1)) <= 2000
        assert int(np.max(got[:, 1] - got[:, 0])) == width


# ---------------------------------------------------------------- _failing_sets


def test_failing_sets_of_a_product_that_is_identically_zero_are_empty():
    """(g - cA + t s1)(g + cA + t s2) with g + cA = 0 and s2 = 0 is never < 0: a pair
    exactly at the required gap does not fail (constant, and with s1 != 0)."""
    for g, h, cA, cB in ((-0.1, 0.0, 0.1, 0.0), (0.1, 0.5, -0.1, -0.5), (0.1, -0.5, -0.1, 0.5)):
        lo, hi = C._failing_sets(np.array([g]), np.array([h]), np.array([cA]), np.array([cB]))
        assert len(lo) == 0 and len(hi) == 0, (g, h, cA, cB)
    # just inside the gap, constant: fails everywhere
    lo, hi = C._failing_sets(*(np.array([v]) for v in (-0.05, 0.0, 0.1, 0.0)))
    assert list(zip(lo, hi)) == [(-math.inf, math.inf)]


# ---------------------------------------------------------------- _free_points


def test_free_points_keep_the_pair_apart_against_both_projections():
    """P = (0, 1), Q = (-delta, 1), a = (1, 0), v = (0, 1), delta = c / 4: the pair is
    delta apart along every a + t v; c |P.(a+tv)| = c |t| and c |Q.(a+tv)| = c |t - delta|,
    so t is free on [-1/4, 1/4] against P and on [delta - 1/4, delta + 1/4] against Q.
    Both: [delta - 1/4, 1/4], midpoint delta / 2 (not 0, where P's gap is 0 relative)."""
    c = C._SEARCH_GAP
    delta = c / 4
    X = np.array([[0.0, 1.0], [-delta, 1.0]])
    pts = C._free_points(X, np.array([[0, 1]]), np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    assert len(pts) == 1
    assert abs(pts[0] - delta / 2) <= delta / 8

    cF, dF = Fraction(c), Fraction(delta)
    t = Fraction(pts[0])
    assert dF >= cF * abs(t) and dF >= cF * abs(t - dF)  # free against both points


# ---------------------------------------------------------------- _widest_gaps


def test_widest_gaps_ties_keep_their_left_to_right_order():
    """Free stretches of widths 1/128 or 2/128 between intervals of 1/128; the last one
    reaches 1 and is widest. Ties come left to right, so the search is the same on every
    platform."""
    widths = [1, 2, 1, 1, 2, 2, 1, 2, 1, 1, 1, 2, 2, 1, 2, 1, 1, 2, 1, 2, 1, 1, 2]
    lo, hi, starts = [], [], []
    x = -1.0
    for w in widths:
        starts.append(x)
        x += w / 128
        lo.append(x)
        hi.append(x + 1 / 128)
        x += 1 / 128
    perm = np.random.default_rng(0).permutation(len(lo))  # input order does not matter
    got = C._widest_gaps(np.array(lo)[perm], np.array(hi)[perm])
    mids = [s + w / 256 for s, w in zip(starts, widths)]
    rank = sorted(range(len(widths)), key=lambda k: -widths[k])  # stable: left first
    assert got == [(x + 1.0) / 2] + [mids[k] for k in rank[:7]]


# ---------------------------------------------------------------- _refusal


def test_refusal_names_the_pair_closest_relative_to_its_size():
    """(0, 1) differ by 2**-50 at size 1; (2, 3) by 2**-31 at size 2**20: 2**-51 relative."""
    X = np.array([[1.0, 0.0], [1.0 + 2.0**-50, 0.0], [2.0**20, 1.0], [2.0**20 + 2.0**-31, 1.0]])
    msg = C._refusal(X, np.array([[0, 1], [3, 2]]), [2, 2], (5, 1, 20))
    assert msg.startswith("points 2 and 3 (and 1 other pairs)")
    assert f"by {2.0**-51:.1e} relative" in msg


# ---------------------------------------------------------------- _repair


def _clusters(seed, k, rel):
    rng = np.random.default_rng(seed)
    X = np.repeat(rng.standard_normal((k, 8)), 5, axis=0)
    return X * (1 + rel * rng.standard_normal(X.shape)), rng.integers(0, 10, 5 * k).astype(float)


def test_repair_searches_exactly_max_tries_lines(monkeypatch):
    """This input needs the 6th line (tests/theorem1/test_internals.py): max_tries = 6
    finds it; max_tries = 5 refuses after 5 directions, and the message's average is over
    the first direction and every candidate that failed."""
    X, y = _clusters(3, 200, 1e-13)
    net = fit(X, y, seed=7, max_tries=6)
    assert (net.info["tries"], net.info["repair_lines"]) == (6, 6)

    found = []
    real = C._collision_pairs

    def record(*args):
        out = real(*args)
        found.append(len(out))
        return out

    monkeypatch.setattr(C, "_collision_pairs", record)
    with pytest.raises(ValueError) as info:
        fit(X, y, seed=7, max_tries=5)
    msg = str(info.value)
    assert len(found) == 5 and "5 directions" in msg and "on 5 lines" in msg
    avg = re.search(r"leaves on average (\S+) pairs", msg).group(1)
    assert avg == f"{np.mean(found):.1f}"


def test_close_pairs_include_a_pair_exactly_two_to_the_minus_24_apart():
    """At most 2**-24 of the largest projection apart: the boundary itself is close."""
    hi = np.array([0.5, 0.5 + 2.0**-24, 1.0])
    X = np.c_[hi, np.arange(3.0)]
    assert C._close_pairs(X, hi, np.zeros(3)).tolist() == [[0, 1]]
    hi[1] = np.nextafter(hi[1], 1.0)  # one spacing further: no longer close
    assert C._close_pairs(np.c_[hi, np.arange(3.0)], hi, np.zeros(3)).tolist() == []
