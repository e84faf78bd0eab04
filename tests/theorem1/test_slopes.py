"""The construction's slopes, on small cases worked out by hand: the value recurrence
(``_values_at_biases``, checked against exact rationals), the neighbour-shared slope grids
(``_slope_grid``, ``_coarse``), the rounding with error feedback (``_round_slopes``: a carry is
passed on exactly when it exceeds the documented noise, and it lands where the docstring's
formula puts it), and ``_solve``'s paths (compiled, array, kink search) with their statistics."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from finite_expressivity import certify, fit
from finite_expressivity.core.validation import namespace
from finite_expressivity.theorem1 import construction as C

try:  # imported here, not in the first test that needs them
    import torch
except ImportError:  # pragma: no cover
    torch = None
try:
    from finite_expressivity.theorem1 import compiled
except ImportError:  # pragma: no cover
    compiled = None

# --------------------------------------------------------------------------- values at biases


def _exact_values(y, rho):
    """V_0 = 0, V_{i+1} = y_i + rho_i (y_i - V_i) in exact rationals (one output)."""
    V = [Fraction(0)]
    for yi, ri in zip(y[:-1], rho):
        V.append(Fraction(yi) + Fraction(ri) * (Fraction(yi) - V[-1]))
    return V


def _values(y, rho):
    y = np.array(y, dtype=float)[:, None]
    V, sweeps = C._values_at_biases(y, np.array(rho, dtype=float), np)
    return V[:, 0], sweeps, _exact_values(y[:, 0], rho)


def test_values_follow_a_move_until_it_drops_to_the_threshold():
    """y = (1, 0, 1/2, 1/4), rho = 2**-20: sweep 1 moves V_2 and V_3 by 2**-40; that moves
    V_3 again by 2**-60 = 2**-60 max|y|, which is not above the threshold: two sweeps."""
    V, sweeps, exact = _values([1.0, 0.0, 0.5, 0.25], [2.0**-20] * 3)
    assert sweeps == 2
    assert [Fraction(v) for v in V[:3]] == exact[:3]
    assert abs(Fraction(V[3]) - exact[3]) <= Fraction(2) ** -60


def test_values_ignore_a_first_move_exactly_at_the_threshold():
    """rho_0 y_0 rho_1 = 2**-60 = 2**-60 max|y|: not followed, one sweep."""
    V, sweeps, exact = _values([1.0, 0.0, 1.0], [2.0**-30, 2.0**-30])
    assert sweeps == 1
    assert abs(Fraction(V[2]) - exact[2]) <= Fraction(2) ** -60


def test_values_threshold_scales_with_the_largest_label():
    """max|y| = 2**20: moves of 2**-40 = 2**-60 max|y| are not followed, larger ones are."""
    big = [0.0, 2.0**20, 2.0**20, 2.0**20]
    V, sweeps, exact = _values(big, [2.0**-20, 2.0**-20, 2.0**-40])
    assert sweeps == 1 and abs(Fraction(V[3]) - exact[3]) <= Fraction(2) ** -40
    V, sweeps, exact = _values(big, [2.0**-20, 2.0**-20, 2.0**-39])
    assert sweeps == 2 and all(abs(Fraction(v) - e) <= Fraction(2) ** -33 for v, e in zip(V, exact))


def test_values_threshold_is_absolute_for_labels_below_one():
    """max|y| = 1: a second-order move of 1.5 * 2**-60 is followed."""
    V, sweeps, exact = _values([0.0, 1.0, 1.0, 1.0], [2.0**-20, 2.0**-20, 1.5 * 2.0**-40])
    assert sweeps == 2 and all(abs(Fraction(v) - e) <= Fraction(2) ** -53 for v, e in zip(V, exact))


def test_values_move_from_a_later_point_only():
    """y_0 = 0: only the move at point 1 (2**-20) reaches V_3 (by 2**-40)."""
    V, sweeps, exact = _values([0.0, 1.0, 1.0, 1.0], [2.0**-20] * 3)
    assert sweeps == 2 and [Fraction(v) for v in V] == exact


def test_values_long_chain_of_undamped_moves():
    """rho = 1 everywhere: every move travels to the end; 250 points need 249 sweeps."""
    rng = np.random.default_rng(3)
    y = rng.integers(-8, 9, 250).astype(float)
    V, sweeps, exact = _values(y, [1.0] * 249)
    assert [Fraction(v) for v in V] == exact  # small integers: exact in float64
    assert sweeps <= 250


# --------------------------------------------------------------------------- slope grids


def _grid_rule(t, u, ymax):
    """q_i = 2**(E_i - 49), 2**E_i > max(|t_{i-1}|, |t_i|, |t_{i+1}|, floor_i)."""
    m = len(t)
    out = []
    for i in range(m):
        top = max(abs(t[j]) for j in range(max(0, i - 1), min(m, i + 2)))
        top = max(top, 2.0**-60 * ymax / u[i], 2.0**-1000)
        out.append(2.0 ** (math.frexp(top)[1] - 49))
    return out


@pytest.mark.parametrize(
    "t, u, ymax",
    [
        ([0.0, 0.0, 3.0, 0.0, 0.0], [1.0] * 5, 0.0),  # all labels zero: the 2**-1000 floor
        ([0.3, -5.0, 0.0, 0.0, 1e-5], [1.0, 2.0, 0.25, 2.0**-10, 1.0], 7.0),
        ([1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 2.0**70, 1.0], 1.0),
    ],
)
def test_slope_grid_follows_its_rule(t, u, ymax):
    want = _grid_rule(t, u, ymax)
    got = C._slope_grid(np.array(t)[:, None], np.array(u), ymax, np)
    assert got[:, 0].tolist() == want


@pytest.mark.parametrize(
    "t, u, ymax",
    [
        ([0.0, 0.0, 3.0, 0.0, 0.0], [1.0] * 5, 0.0),
        ([0.3, -5.0, 0.0, 0.0, 1e-5], [1.0, 2.0, 0.25, 2.0**-10, 1.0], 7.0),
    ],
)
def test_slope_grid_on_torch_follows_the_same_rule(t, u, ymax):
    if torch is None:
        pytest.skip("torch is not installed")
    tt = torch.tensor(t, dtype=torch.float64)[:, None]
    uu = torch.tensor(u, dtype=torch.float64)
    got = C._slope_grid(tt, uu, ymax, namespace(tt))
    assert got.dtype == torch.float64
    assert got[:, 0].tolist() == _grid_rule(t, u, ymax)


@pytest.mark.parametrize(
    "q1, u1, ymax, coarse",
    [
        (2.0**-20, 1.5 * 2.0**-3, 1.0, True),  # q u = 1.5 * 2**-23 > 2 * 2**-24
        (2.0**-30, 1.5 * 2.0**7, 1.0, True),  # the same product from a long piece
        (2.0**-20, 2.0**-3, 1.0, False),  # exactly 2 * 2**-24: not above
        (2.0**-20, 2.0**-2, 4.0, False),  # 2**-22 < 2 * 2**-24 * 4
        (2.0**-20, 1.5 * 2.0**-1, 4.0, True),
    ],
)
def test_coarse_compares_the_worst_miss_with_the_search_threshold(q1, u1, ymax, coarse):
    """A rounded slope misses its label by up to q_i u_i / 2; the kink search starts where
    that can exceed 2**-24 max(1, max|y|). The first piece is not counted."""
    q = np.array([[1.0], [q1]])
    u = np.array([1e9, u1])
    assert C._coarse(q, u, ymax, np) is coarse


# --------------------------------------------------------------------------- rounding


def _noise(s0, u0, ymax):
    return 2.0**-40 * max(1.0, 2 * abs(s0 * u0), ymax)


def _round(s, q, u, off, ymax):
    """_round_slopes on one output; kinks b from the pieces: b_{j+1} = b_j + u_j + off_j."""
    b = np.concatenate([[0.0], np.cumsum(np.add(u[:-1], off))])
    s2 = np.array(s, dtype=float)[:, None]
    s_q, q2, sweeps = C._round_slopes(
        s2.copy(), np.array(q, dtype=float)[:, None], b, np.array(u), np.array(off), np, ymax
    )
    return s_q[:, 0], sweeps


# (slope 0 on its grid, u_0, length of piece 0, ymax, slopes 1 and 2): each makes a different
# term of the noise the largest: ymax; 2 |s_0 u_0|; 1
_REGIMES = {
    "ymax": (1.0, 0.125, 1.0, 8.0, 64.0, -3.0),
    "first": (3.0, 1.0, 2.0, 2.0, 1.0, -1.0),
    "one": (0.25, 1.0, 2.0, 0.5, 0.125, 2.0),
}


@pytest.mark.parametrize("ratio", [0.75, 1.0, 1.25])
@pytest.mark.parametrize("regime", sorted(_REGIMES))
def test_carry_is_passed_on_exactly_when_above_the_noise(regime, ratio):
    """Piece 0 rounds off by delta, shifting the value at kink 1 by delta * length; piece 1
    absorbs that shift (aims at s_1 - carry / u_1) iff it exceeds
    2**-40 max(1, 2 |s_0 u_0|, ymax)."""
    base, u0, length, ymax, s1, s2 = _REGIMES[regime]
    noise = _noise(base, u0, ymax)
    delta = ratio * noise / length  # far below q_0 / 2: slope 0 rounds to base
    s = [base + delta, s1, s2]
    assert delta == ratio * noise / length and (base + delta) - base == delta
    q = [2.0**-30, 2.0**-60, 2.0**-60]
    s_q, sweeps = _round(s, q, [u0, 1.0, 1.0], [length - u0, 0.0], ymax)
    assert s_q[0] == base and s_q[2] == s2
    if ratio > 1:
        assert sweeps == 1
        assert s_q[1] - s1 == pytest.approx(delta * length, rel=1e-6)
    else:
        assert sweeps == 0 and s_q[1] == s1


def test_no_carries_where_rounding_is_far_below_the_noise():
    """Ordinary slopes round to 2**-49 of themselves: nothing is carried, whatever the
    scale of the labels."""
    rng = np.random.default_rng(0)
    for scale in (2.0**-20, 1.0, 2.0**20):
        u = rng.uniform(0.5, 2.0, 6)
        s = rng.standard_normal(6) * scale
        q = C._slope_grid(s[:, None], u, scale, np)[:, 0]
        s_q, sweeps = _round(s, q, u, np.full(5, 0.25), 2 * scale)
        assert sweeps == 0
        assert s_q.tolist() == (np.round(s / q) * q).tolist()


# piece 0 rounds 2**-4 + 2**-14 to 2**-4 on its grid 2**-12: it leaves a value error
# c_1 = -2**-14 l_0 at kink 1
_S0 = 2.0**-4 + 2.0**-14


@pytest.mark.parametrize(
    "l0, u1, off1, q1",
    [
        (2.0**-23, 3 * 2.0**-10, 2.0**-10, 2.0**-29),  # e_1 l_1 and eps_2 (s_1 - t_1) cancel
        (2.0**-24, 2.0**-9, 2.0**-11, 2.0**-29),  # ... leave exactly the noise 2**-40
    ],
)
def test_carry_stops_where_the_kink_offset_cancels_it(l0, u1, off1, q1):
    """Slope 1 = 2**-4 lies on its grid; absorbing c_1 moves it up one step q_1. What is left
    at kink 2, c_2 = (s_q1 - t_1) l_1 - eps_2 (s_1 - t_1), is at most the noise: one sweep,
    and piece 2 keeps its own rounding."""
    t1 = Fraction(2**-4) + Fraction(2**-14) * Fraction(l0) / Fraction(u1)
    s_q1 = Fraction(2**-4) + Fraction(q1)
    c2 = (s_q1 - t1) * Fraction(u1 + off1) - Fraction(off1) * (Fraction(2**-4) - t1)
    assert abs(c2) <= 2**-40 == _noise(_S0, l0 / 2, 1.0) < abs(2**-14 * l0)
    s_q, sweeps = _round(
        [_S0, 2.0**-4, 0.75], [2.0**-12, q1, 2.0**-50], [l0 / 2, u1, 1.0], [l0 / 2, off1], 1.0
    )
    assert sweeps == 1
    assert s_q.tolist() == [2.0**-4, float(s_q1), 0.75]


# slope 1 just below 2**-4: a carry c_1 = -2**-30 u_1 lifts its target to 2**-4 + 2**-31,
# which its grid 2**-29 rounds back to 2**-4, leaving e_1 = -2**-31 and s_1 - t_1 = -2**-30
_S1 = 2.0**-4 - 2.0**-31


def test_carry_travels_to_the_last_piece_with_the_offset_term():
    """Carry c_2 = e_1 l_1 - eps_2 (s_1 - t_1) = -2**-37 + 2**-38 reaches the last piece,
    whose fine grid shows its target s_2 - c_2 / u_2 = 1/2 + 2**-38 exactly."""
    l1, off1 = 2.0**-6, 2.0**-8
    u1 = l1 - off1  # 3 * 2**-8
    carry1 = -(2.0**-30) * u1
    length0 = -carry1 / 2.0**-14  # 3 * 2**-24
    u0 = 2.0**-24
    s = [_S0, _S1, 0.5]
    q = [2.0**-12, 2.0**-29, 2.0**-50]
    s_q, sweeps = _round(s, q, [u0, u1, 1.0], [length0 - u0, off1], 1.0)
    c2 = Fraction(-(2**-31)) * Fraction(l1) - Fraction(off1) * Fraction(-(2**-30))
    assert c2 == Fraction(-1, 2**38)
    assert sweeps == 2
    assert s_q.tolist() == [2.0**-4, 2.0**-4, float(Fraction(1, 2) - c2)]  # u_2 = 1


def test_carry_between_two_pieces():
    """Two pieces: the first's rounding (-2**-14 over a length 3 * 2**-24) is carried into
    the second, whose fine grid keeps the whole correction 2**-30."""
    u0, u1 = 2.0**-24, 3 * 2.0**-8
    length0 = 3 * 2.0**-24
    s_q, sweeps = _round([_S0, _S1], [2.0**-12, 2.0**-50], [u0, u1], [length0 - u0], 1.0)
    assert sweeps == 1 and s_q[0] == 2.0**-4
    assert s_q[1] == _S1 + 2.0**-30  # carry -2**-14 * 3 * 2**-24 over u_1 = 3 * 2**-8


# --------------------------------------------------------------------------- the solve


def _line(x, y, err=0.0):
    """Inputs of _solve for points on a line (z = x exactly)."""
    X = np.array(x, dtype=float)[:, None]
    Y = np.array(y, dtype=float)
    Y = Y[:, None] if Y.ndim == 1 else Y
    hi = X[:, 0].copy()
    xp = namespace(X, Y)
    return X, Y, hi, np.zeros_like(hi), np.full_like(hi, err), xp


def _compiled():
    if compiled is None or not compiled.HAVE_NUMBA:
        pytest.skip("numba is not installed")
    return compiled


def _outputs(b, w, x):
    """Exact network outputs sum_j w_j relu(x - b_j) at the points x."""
    return [
        sum(Fraction(wj) * max(Fraction(xi) - Fraction(bj), Fraction(0)) for bj, wj in zip(b, w))
        for xi in x
    ]


def test_array_path_statistics_by_hand():
    """x = (1, 2, 4), y = (1, -2, 4): kinks -5e-324, 1, 2; slopes 1, -3, 3 lie on their grid
    2**-47; weights 1, -4, 6; float64_limit = max(q u) / 2 + 8 eps max|y|."""
    X, Y, hi, lo, err, xp = _line([1.0, 2.0, 4.0], [1.0, -2.0, 4.0])
    (b, w), st = C._solve(X, Y, hi, lo, err, xp)
    assert b.tolist() == [-5e-324, 1.0, 2.0] and w[:, 0].tolist() == [1.0, -4.0, 6.0]
    assert st["float64_limit"] == 2.0**-47 + 8 * 2.0**-53 * 4
    assert st["max_abs_weight"] == 6.0 and st["min_projection_gap"] == 1.0
    assert (st["duplicates"], st["jacobi_sweeps"], st["carry_sweeps"]) == (0, 1, 0)
    out = _outputs(b, w[:, 0], [1.0, 2.0, 4.0])
    assert all(abs(o - v) <= 2**-1000 for o, v in zip(out, [1, -2, 4]))


def test_compiled_path_for_one_output():
    k = _compiled()
    X, Y, hi, lo, err, xp = _line([0.0, 1.0, 3.0, 3.5], [1.0, -2.0, 4.0, 0.5])
    (b, w), st = C._solve(X, Y, hi, lo, err, xp, fused=k)
    assert st["jacobi_sweeps"] == "sequential" and st["duplicates"] == 0
    _, _, b2, w2, _ = k.slopes_and_weights(hi, lo, Y[:, 0], np.arange(4), err)
    assert b.tolist() == b2.tolist() and w[:, 0].tolist() == w2.tolist()
    (_, w3), st3 = C._solve(X, np.c_[Y, -Y], hi, lo, err, xp, fused=k)  # two outputs: array
    assert w3.shape == (4, 2) and st3["jacobi_sweeps"] == 1


def test_compiled_path_with_duplicates():
    """Point 3 repeats point 0: the compiled loops on the unique points, then each
    duplicate gets its twin's bias and weight 0."""
    k = _compiled()
    X, Y, hi, lo, err, xp = _line([0.0, 1.0, 3.0, 0.0, 3.5], [1.0, -2.0, 4.0, 1.0, 0.5])
    (b, w), st = C._solve(X, Y, hi, lo, err, xp, fused=k)
    assert st["jacobi_sweeps"] == "sequential" and st["duplicates"] == 1
    assert b.shape == (5,) and w.shape == (5, 1)
    assert b.tolist() == sorted(b.tolist()) and np.flatnonzero(np.diff(b) == 0).tolist() == [0]
    assert w[1, 0] == 0.0  # the second neuron at z = 0
    out = _outputs(b, w[:, 0], X[:, 0])
    assert all(abs(o - Fraction(v)) <= 2**-40 for o, v in zip(out, Y[:, 0]))


def test_compiled_path_with_duplicates_names_a_collision():
    """Points 2 and 3 are one ulp apart with error bounds 2**-60: no bias fits between
    them. The pair is named by its input indices, past the duplicate 4 of point 0."""
    k = _compiled()
    X, Y, hi, lo, err, xp = _line(
        [0.0, 5.0, 1.0, 1.0 + 2.0**-52, 0.0], [1.0, 2.0, 3.0, 4.0, 1.0], err=2.0**-60
    )
    with pytest.raises(C._Collision, match=r"^points 2 and 3 project"):
        C._solve(X, Y, hi, lo, err, xp, fused=k)
    with pytest.raises(C._Collision, match=r"^points 2 and 3 project"):
        C._solve(X, Y, hi, lo, err, xp)


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_slope_overflow_is_reported():
    X, Y, hi, lo, err, xp = _line([0.0, 1e-300], [0.0, 1e300])
    with pytest.raises(ValueError, match=r"\(a slope overflows float64\)"):
        C._solve(X, Y, hi, lo, err, xp)
    k = _compiled()
    X, Y, hi, lo, err, xp = _line([0.0, 1e-300, 0.0], [0.0, 1e300, 0.0])
    with pytest.raises(ValueError, match=r"\(a slope overflows float64\)"):
        C._solve(X, Y, hi, lo, err, xp, fused=k)


def test_array_path_searches_kinks_next_to_a_steep_piece_with_duplicates():
    """A pair 2**-30 apart makes the neighbours' grids coarse: the array path hands the one
    output to the sequential kink search, and still returns a neuron per input point."""
    _compiled()
    x = np.array([0.0, 1.0, 1.0 + 2.0**-30, 2.0, 3.0, 0.0, 4.0])
    y = np.array([1.0, 2.0, 0.0, 3.0, 1.0, 1.0, 2.0])
    X = x[:, None]
    net = fit(X, y, seed=0)
    assert net.info["jacobi_sweeps"] == "sequential" and net.info["duplicates"] == 1
    assert net.b.shape == (7,) and net.w.shape == (7,)
    assert np.flatnonzero(np.diff(net.b) == 0).tolist() == [0] and net.w[1] == 0.0
    assert certify(net, X, y).max_residual < 1e-6


def test_min_projection_gap_of_two_and_one_points():
    two = fit(np.array([[1.0], [2.5]]), np.array([1.0, 3.0]))
    assert two.info["min_projection_gap"] == 1.5
    one = fit(np.array([[1.0]]), np.array([2.0]))
    assert one.info["min_projection_gap"] is None


def test_array_path_carries_a_rounding_just_above_the_noise():
    """Two outputs (no kink search). Piece 1 (slope 1/2 + 5 * 2**-40) shares the grid 2**-36
    of its steep neighbour (slope 2**12): it misses by 5 * 2**-40, just above the noise
    2**-40 * 2 max|y| (max|y| about 2), so piece 2 absorbs that: the value at point 2 is
    exact, and only point 1 keeps its own miss."""
    x = np.array([1.0, 2.0, 2.0 + 2.0**-12, 3.0])
    y1 = 1 + 5 * 2.0**-40
    Y = np.array([[0.5, 1.0], [y1, 0.0], [y1 + 1, 0.0], [y1 + 1, 1.0]])
    X, Y, hi, lo, err, xp = _line(x, Y)
    (b, w), st = C._solve(X, Y, hi, lo, err, xp)
    assert st["carry_sweeps"] == 1
    out = _outputs(b, w[:, 0], x)
    assert abs(out[1] - Fraction(y1) + Fraction(5, 2**40)) <= 2**-1000  # b_0 = -5e-324
    assert abs(out[2] - Fraction(y1 + 1)) <= 2**-50 and abs(out[3] - Fraction(y1 + 1)) <= 2**-50


def test_a_carry_is_revised_when_the_piece_that_passed_it_moves_again():
    """Pieces 0 and 1 both round off before the first sweep: piece 2 first absorbs a carry
    computed from piece 1's own rounding; once piece 1 has absorbed piece 0's carry, what it
    passes on changes and piece 2 must take the new carry, so that the exact value error
    at points 1, 2 and 3 is 0 (only piece 0's own rounding is left at point 0)."""
    s = [1 + 0.75 * 2.0**-20, 1 + 0.25 * 2.0**-20, 0.5, 0.25]
    q = [2.0**-18, 2.0**-20, 2.0**-50, 2.0**-50]
    s_q, sweeps = _round(s, q, [1.0] * 4, [0.0] * 3, 2.0)
    errors = np.cumsum([Fraction(a) - Fraction(b) for a, b in zip(s_q, s)])
    assert errors.tolist() == [Fraction(-3, 2**22), 0, 0, 0]
    assert sweeps == 2


@pytest.mark.filterwarnings("ignore:overflow encountered", "ignore:invalid value encountered")
def test_weight_overflow_is_reported_as_a_weight_on_every_path():
    """Slopes 0, 1.5e308, -1.5e308 are finite; the weight -3e308 between the last two is
    not. The compiled pass with a duplicate point (0 again) hands it to the array path,
    which says what overflowed."""
    k = _compiled()
    for z, y in (
        ([0.0, 1.0, 2.0], [0.0, 1.5e308, 0.0]),
        ([0.0, 1.0, 2.0, 0.0], [0, 1.5e308, 0, 0]),
    ):
        X, Y, hi, lo, err, xp = _line(z, y)
        for fused in (None, k):
            with pytest.raises(ValueError, match=r"\(a weight overflows float64\)"):
                C._solve(X, Y, hi, lo, err, xp, fused=fused)


def test_a_carry_already_absorbed_is_not_passed_on_again():
    """Two outputs: piece 0 rounds off in output 0, piece 1 in output 1. One sweep moves
    piece 1 (output 0) and piece 2 (output 1); piece 1 is revisited for output 0, but what
    it passes on in output 1 is what piece 2 has already absorbed: no second sweep."""
    tail = 2.0**-20
    s = np.array([[1 + tail, 0.5], [0.5, 1 + tail], [0.25, 0.25], [0.125, 0.125]])
    q = np.array([[2.0**-18, 2.0**-50], [2.0**-50, 2.0**-18], [2.0**-50] * 2, [2.0**-50] * 2])
    u, b = np.ones(4), np.arange(4.0)
    s_q, _, sweeps = C._round_slopes(s.copy(), q, b, u, np.zeros(3), np, 2.0)
    assert sweeps == 1
    want = [[1.0, 0.5], [0.5 + tail, 1.0], [0.25, 0.25 + tail], [0.125, 0.125]]
    assert s_q.tolist() == want
