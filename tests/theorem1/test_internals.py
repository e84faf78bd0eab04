"""The construction's and the certificate's helpers, on small cases worked out by hand:
the collision search, the refinement rule, ties, and the diagnostics."""

from __future__ import annotations

import math
import re
from fractions import Fraction

import numpy as np
import pytest

from finite_expressivity import TwoLayerReLU, certify, diagnose, fit
from finite_expressivity.theorem1 import construction as C
from finite_expressivity.theorem1 import oracle
from finite_expressivity.theorem1.certify import _exact_order


def test_more_slices():
    assert C._more_slices(0.0, 29) == 2 and C._more_slices(-1.0, 29) == 2  # a tie: two more
    assert C._more_slices(1.0, 29) == 1 and C._more_slices(0.5, 29) == 1
    assert C._more_slices(2.0**40, 20) == 3  # two slices of 20 bits, and one to spare
    assert C._more_slices(2.0**41, 20) == 4


def test_unique_pairs():
    got = C._unique_pairs(np.array([[3, 1], [1, 3], [2, 5], [5, 2], [0, 4]]))
    assert got.tolist() == [[0, 4], [1, 3], [2, 5]]
    assert C._unique_pairs(np.array([1, 2, 4, 3])).tolist() == [[1, 2], [3, 4]]
    assert C._unique_pairs(np.zeros((0, 2), dtype=np.int64)).shape == (0, 2)


def test_widest_gaps():
    lo = np.array([-0.5, 0.1, 0.25, 2.0, -3.0, np.nan, 0.4, 0.5])
    hi = np.array([-0.2, 0.3, 0.4, 3.0, -2.0, np.nan, 0.5, 0.6])
    # free: [-1, -0.5] (0.5), [-0.2, 0.1] (0.3), [0.6, 1] (0.4); touching at 0.4 and 0.5
    assert C._widest_gaps(lo, hi) == pytest.approx([-0.75, 0.8, -0.05], abs=1e-15)
    assert C._widest_gaps(np.array([-2.0]), np.array([2.0])) == []
    assert C._widest_gaps(np.zeros(0), np.zeros(0)) == [0.0]


def test_failing_sets():
    # between its roots: |0.5 + t| < 0.1 for t in (-0.6, -0.4)
    lo, hi = C._failing_sets(np.array([0.5]), np.array([1.0]), np.array([0.1]), np.array([0.0]))
    assert lo.tolist() == pytest.approx([-0.6]) and hi.tolist() == pytest.approx([-0.4])
    # outside its roots: |0.5 + 0.1 t| < |0.1 + 0.5 t| for |t| > 1
    lo, hi = C._failing_sets(np.array([0.5]), np.array([0.1]), np.array([0.1]), np.array([0.5]))
    assert lo.tolist() == pytest.approx([-math.inf, 1.0]) and hi.tolist() == pytest.approx(
        [-1.0, math.inf]
    )
    # a flat factor (h = cB): the other factor's sign decides, on a half-line
    # (g = 0.05: -0.05 (0.15 + t) < 0 for t > -0.15; g = 0.5: 0.4 (0.6 + t) < 0 for t < -0.6)
    for g, want in ((0.05, [(-0.15, math.inf)]), (0.5, [(-math.inf, -0.6)])):
        lo, hi = C._failing_sets(np.array([g]), np.array([0.5]), np.array([0.1]), np.array([0.5]))
        assert list(zip(lo, hi)) == [pytest.approx(w, rel=1e-15) for w in want]
    # h = -cB: (-0.05 - t) 0.15 < 0 for t > -0.05
    lo, hi = C._failing_sets(np.array([0.05]), np.array([-0.5]), np.array([0.1]), np.array([0.5]))
    assert list(zip(lo, hi)) == [pytest.approx((-0.05, math.inf), rel=1e-15)]
    # h - cB = 1, h + cB = 0: (0.4 + t) 0.6 < 0 for t < -0.4
    lo, hi = C._failing_sets(np.array([0.5]), np.array([0.5]), np.array([0.1]), np.array([-0.5]))
    assert list(zip(lo, hi)) == [pytest.approx((-math.inf, -0.4), rel=1e-15)]
    # both factors flat (h = cB = 0): fails everywhere when they differ in sign, else nowhere
    for g, want in ((0.05, [(-math.inf, math.inf)]), (0.5, [])):
        lo, hi = C._failing_sets(np.array([g]), np.array([0.0]), np.array([0.1]), np.array([0.0]))
        assert list(zip(lo, hi)) == want
    # slopes whose product underflows are still slopes: between the roots
    lo, hi = C._failing_sets(
        np.array([1e-300]), np.array([2e-300]), np.array([1e-301]), np.array([1e-301])
    )
    assert len(lo) == 1 and lo[0] < hi[0] < 0


def test_free_points_with_no_pairs_is_the_first_direction():
    X = np.eye(2)
    assert C._free_points(X, np.zeros((0, 2), dtype=np.int64), np.ones(2), np.ones(2)) == [0.0]


def test_close_pairs():
    z = np.array([0.0, 1e-9, 2e-9, 5.0, 5.0 + 1e-9, 10.0, 5.0 + 1e-9])
    X = np.c_[z, np.arange(7.0)]
    X[6] = X[4]  # an identical point: not a pair
    got = C._close_pairs(X, z, np.zeros(7))
    assert sorted(map(tuple, np.sort(got, axis=1).tolist())) == [
        (0, 1),
        (0, 2),
        (1, 2),
        (3, 4),
        (3, 6),
    ]
    # a run of 70 points: each paired with its next 64
    z = np.arange(70) * 1e-12 + 1.0
    got = C._close_pairs(np.c_[z, np.zeros(70)], z, np.zeros(70))
    assert int(np.max(np.abs(got[:, 1] - got[:, 0]))) == 64 and len(got) == sum(
        70 - k for k in range(1, 65)
    )


def test_collision_pairs():
    one_up = np.nextafter(1.0, 2.0)
    hi = np.array([2.0, 1.0, 1.0, 0.0, 1.0, one_up])
    lo = np.array([0.0, 1e-17, 3e-17, 0.0, 1e-17, 0.0])
    X = np.array([[2.0], [1.0], [1.5], [0.0], [1.0], [1.7]])  # rows 1 and 4 identical
    got = C._collision_pairs(X, hi, lo, np.zeros(6))
    # 1 and 4 tie but are one point; 2 lies within an ulp of them, 5 right after
    assert sorted(map(tuple, np.sort(got, axis=1).tolist())) == [(1, 2), (2, 5)]
    ties = C._collision_pairs(X, hi, lo, np.full(6, 1e-16))  # bounds wider than the gaps
    assert (2, 4) in set(map(tuple, np.sort(ties, axis=1).tolist()))  # 4 sorts after 1


def test_check_ties_reports_the_pair_and_its_error_bound():
    X = np.array([[0.0], [1.0], [0.0], [2.0]])
    ys = np.zeros((4, 1))
    order = np.array([0, 2, 3, 1])
    es, gaps = np.array([1e-9, 3e-9, 0.0, 0.0]), np.array([2e-9, 1.0, 1.0])
    C._check_ties(X, ys, order, np.array([True, False, False]), np, es, gaps)  # 0 and 2 identical
    X[2, 0] = 1e-10
    with pytest.raises(
        C._Collision, match=r"^distinct points 0 and 2 have the same projection$"
    ) as info:
        C._check_ties(X, ys, order, np.array([True, False, False]), np, es, gaps)
    exc = info.value
    assert (exc.err, exc.gap, exc.refinable, exc.precision_limited) == (3e-9, 2e-9, True, False)
    with pytest.raises(C._Collision) as info:
        C._check_ties(X, ys, order, np.array([True, False, False]), np, np.zeros(4), gaps)
    assert not info.value.refinable
    X[2, 0] = 0.0
    ys[1] = 1.0  # ys is in sorted order: the second of the tied pair
    with pytest.raises(
        ValueError,
        match=r"^points 0 and 2 are identical but have different labels; no function can fit "
        r"both: remove one or make their labels agree$",
    ):
        C._check_ties(X, ys, order, np.array([True, False, False]), np, es, gaps)


def test_refusal_names_the_closest_pair_and_the_search():
    X = np.array([[1.0, 0.0], [1.0 + 1e-15, 0.0], [5.0, 5.0], [5.001, 5.0]])
    msg = C._refusal(X, np.array([[2, 3], [1, 0]]), [2, 1, 3], (10, 4, 20))
    assert msg.startswith("points 0 and 1 (and 1 other pairs) project too close together")
    for part in (
        "3 directions",
        "on 4 lines",
        "all 10 close pairs",
        "below 2**20",
        "by 1.1e-15 relative",
        "on average 2.0 pairs",
    ):
        assert part in msg, msg
    assert C._refusal(X, np.zeros((0, 2), dtype=np.int64), [0], (0, 1, 20)).startswith(
        "no direction separated the points"
    )


def _clusters(seed, k, rel):
    rng = np.random.default_rng(seed)
    X = np.repeat(rng.standard_normal((k, 8)), 5, axis=0)
    return X * (1 + rel * rng.standard_normal(X.shape)), rng.integers(0, 10, 5 * k).astype(float)


@pytest.mark.parametrize("seed,tries,lines", [(5, 2, 2), (2, 3, 4), (3, 6, 6), (0, 2, 1)])
def test_repair_counts_directions_and_lines(seed, tries, lines):
    """The repair is deterministic: these counts pin its search (candidates that fail
    move on to the next stretch of the line, then to the next line)."""
    X, y = _clusters(seed, 200, 1e-13)
    net = fit(X, y, seed=7)
    assert (net.info["tries"], net.info["repair_lines"]) == (tries, lines)


def test_info_keys():
    net = fit(np.arange(6.0).reshape(3, 2), np.arange(3.0), seed=0)
    assert set(net.info) == {
        "seed",
        "tries",
        "repair_lines",
        "a_bits",
        "slice_bits",
        "duplicates",
        "jacobi_sweeps",
        "carry_sweeps",
        "float64_limit",
        "max_abs_weight",
        "min_projection_gap",
        "slices",
        "projection_error_bound",
    }
    assert net.info["seed"] == 0 and net.info["tries"] == 1 and net.info["repair_lines"] == 0


def test_diagnostics_equal_an_exact_computation(rng):
    X = rng.standard_normal((30, 3))
    X[7] = X[3]
    y = rng.integers(0, 10, 30).astype(float)
    y[7] = y[3]
    net = fit(X, y, seed=2)
    dg = diagnose(net, X, tol=1e-7)
    z, E = oracle._projections(X, net.a)
    zs = sorted(z)
    diffs = [b - a for a, b in zip(zs, zs[1:])]
    min_gap = float(Fraction(min(d for d in diffs if d > 0)) * Fraction(2) ** E)
    assert dg.min_gap == min_gap and dg.duplicates == 1
    zmax = max(abs(float(Fraction(v) * Fraction(2) ** E)) for v in z)
    assert dg.max_abs_projection == pytest.approx(zmax, rel=1e-15)
    assert dg.projection_digits == pytest.approx(math.log10(zmax / min_gap), rel=1e-12)
    smax = max(abs(v) for v in oracle.reference_outputs(net.a, net.b, np.abs(net.w), X)[0])
    assert dg.digits_needed == pytest.approx(math.log10(float(smax) / 1e-7), rel=1e-12)
    assert dg.max_abs_weight == float(np.max(np.abs(net.w)))


def test_diagnostics_of_degenerate_networks():
    one = fit(np.array([[1.0, 2.0]]), np.array([3.0]), seed=0)
    dg = diagnose(one, np.array([[1.0, 2.0]]))
    assert dg.min_gap == math.inf and dg.projection_digits == 0.0 and dg.duplicates == 0
    zero = TwoLayerReLU(np.array([1.0]), np.array([0.0, 1.0]), np.zeros(2))
    assert diagnose(zero, np.array([[2.0], [3.0]])).digits_needed == 0.0


def test_exact_order_sorts_every_run_of_close_projections(rng):
    """Exact projections close enough that their float64 values tie or misorder: each
    run (and its margin of two) is sorted exactly, anywhere in the array."""
    for trial in range(20):
        base = 2**60
        Z = np.array(sorted(rng.choice(10**6, 40, replace=False)), dtype=object)
        Z = Z + base  # float64 values of these tie within runs of up to 256
        Z[: trial % 5] -= 2**55  # some well-separated ones before ...
        Z[40 - trial % 7 :] += 2**56  # ... and after
        zs = np.array([float(v) for v in Z])
        order = np.argsort(zs, kind="stable")
        shuffled = Z[order].copy()
        for i in range(0, 40, 3):  # misorder neighbours with equal float values
            if i + 1 < 40 and zs[order][i] == zs[order][i + 1]:
                shuffled[i], shuffled[i + 1] = shuffled[i + 1], shuffled[i]
        got = _exact_order(shuffled, zs[order])
        assert list(got) == sorted(Z), trial


def test_float64_limit_message_of_the_inseparable_refusal():
    c = np.array([1.3, -0.7])
    k = np.arange(-20, 21)
    K1, K2 = np.meshgrid(k, k)
    X = np.stack([c[0] + K1.ravel() * np.spacing(c[0]), c[1] + K2.ravel() * np.spacing(c[1])], 1)
    with pytest.raises(ValueError) as info:
        fit(X, (np.arange(len(X)) % 2).astype(float), seed=0, max_tries=1)
    assert re.search(r"leaves on average \d+\.\d pairs closer", str(info.value))


def test_precision_ratio():
    u = np.array([5.0, 1.0, 2.0, 3.0])
    assert C._precision(u, np.array([0.0, 0.5, 0.0, 0.25]), np) == 2.0  # min(1/0.5, 3/0.25)
    assert C._precision(u, np.zeros(4), np) == math.inf  # exact projections
    assert C._precision(u[:1], np.ones(1), np) == math.inf  # one piece: its own rule
    assert C._precision(u, np.array([9.0, 0.0, 0.0, 0.25]), np) == 12.0  # the first is not counted


def test_free_points_on_a_line_avoid_the_one_pair():
    """One pair 1e-15 apart (relative) along x: on the line a + t v the directions that
    keep it apart are the t where the x-weight dominates; the midpoints lie there."""
    X = np.array([[1.0, 1.0], [1.0 + 4e-15, 1.0]])
    a, v = np.array([1.0, -1.0]), np.array([0.0, 1.0])
    pts = C._free_points(X, np.array([[0, 1]]), a, v)
    assert pts and all(-1 <= t <= 1 for t in pts)
    for t in pts:  # each candidate keeps the pair 3.5 spacings apart
        d = a + t * v
        z = X @ d
        assert abs(z[1] - z[0]) >= 3.5 * 2.0**-52 * np.max(np.abs(z))


def test_array_path_with_several_outputs_and_near_duplicates(rng):
    """k outputs share the kinks (no kink search): the carries alone keep the values right
    next to near-duplicates 1e-6 apart; duplicates get zero weights."""
    X = rng.standard_normal((300, 4))
    X[100:150] = X[:50] * (1 + 1e-6)
    X[200:210] = X[0]
    Y = np.eye(3)[rng.integers(0, 3, 300)]
    Y[200:210] = Y[0]
    net = fit(X, Y, seed=1)
    cert = certify(net, X, Y)
    assert cert.certified and cert.max_residual < 1e-8
    assert net.info["duplicates"] == 10 and int(np.sum(np.all(net.w == 0, axis=1))) >= 10
    assert net.info["min_projection_gap"] == pytest.approx(
        float(np.min(np.diff(np.unique(X @ net.a)))), rel=1e-3
    )


def _spec_bound(x, a, bits, n_exact):
    """The compiled projection's error bound for one row, from proofs/float64.md (Section
    2): slice on the row's own grid, gamma_{d+1} sum |r_j a_j| for the rounded remainder,
    plus u (|l| + |l2|) for the two additions that gather the slices."""
    d = len(x)
    e_top = math.frexp(float(np.max(np.abs(x))))[1] if np.any(x) else 0
    r = x.copy()
    parts = []
    for k in range(n_exact):
        sig = math.ldexp(1.5, e_top - (k + 1) * bits + 52)
        xk = (r + sig) - sig
        r = r - xk
        parts.append(
            Fraction(0) + sum(Fraction(float(v)) * Fraction(float(w)) for v, w in zip(xk, a))
        )
    gamma = (d + 1) * 2.0**-53 / (1 - (d + 1) * 2.0**-53)
    return gamma * float(np.sum(np.abs(r * a))), float(np.sum(r * a))


@pytest.mark.parametrize("d", [1, 2, 3, 4, 5, 7, 8, 9, 13])
@pytest.mark.parametrize("n_exact", [1, 2, 3])
def test_compiled_projection_is_a_double_double_within_its_bound(rng, d, n_exact):
    """Every row: hi + lo is the exact projection to within the row's bound, |lo| is at most
    half an ulp of hi, and the bound is the one of proofs/float64.md (to rounding)."""
    pytest.importorskip("numba")
    from finite_expressivity.theorem1 import compiled

    X = rng.standard_normal((40, d)) * 10.0 ** rng.integers(-3, 4, (40, 1))
    X[0] = 0.0
    a = rng.integers(-(2**20), 2**20 + 1, d).astype(float)
    bits = 53 - 20 - max(0, math.ceil(math.log2(d))) - 1
    hi, lo, err = compiled.project(X, a, bits, n_exact)
    for i in range(40):
        exact = sum(Fraction(float(v)) * Fraction(float(w)) for v, w in zip(X[i], a))
        assert abs(exact - Fraction(float(hi[i])) - Fraction(float(lo[i]))) <= Fraction(
            float(err[i])
        )
        assert abs(lo[i]) <= np.spacing(abs(hi[i])) / 2
        spec, rest = _spec_bound(X[i], a, bits, n_exact)
        # u (|l| + |l2|): the low parts gathered before the last TwoSum
        slack = 4 * 2.0**-53 * (abs(rest) + 2 * np.spacing(abs(hi[i])))
        assert spec <= err[i] <= spec * (1 + 1e-12) + slack


def test_compiled_projection_refuses_non_finite_and_huge_rows():
    pytest.importorskip("numba")
    from finite_expressivity.theorem1 import compiled

    a = np.array([3.0, -2.0, 1.0, 5.0, 7.0])
    X = np.ones((6, 5))
    X[4, 2] = np.nan
    assert compiled.project(X, a, 20, 2)[0] is None
    X[4, 2] = 2.0**950
    with pytest.raises(ValueError, match="above 2\\*\\*900"):
        compiled.project(X, a, 20, 2)
    with pytest.raises(ValueError, match="at most 3 exact slices"):
        compiled.project(np.ones((2, 5)), a, 20, 4)


def test_diagnostics_of_small_projections_and_a_one_unit_gap():
    """Projections below 1 still give digits; a gap of one unit of the exact scale counts."""
    X = np.array([[1e-9], [np.nextafter(1e-9, 1.0)], [3e-9]])  # one ulp apart: one unit
    net = fit(X, np.array([0.0, 1.0, 0.0]), seed=0)
    dg = diagnose(net, X, tol=1e-6)
    assert dg.min_gap == X[1, 0] - X[0, 0] and dg.max_abs_projection < 1
    assert dg.projection_digits == pytest.approx(math.log10(dg.max_abs_projection / dg.min_gap))
    small = TwoLayerReLU(np.array([1.0]), np.array([0.0]), np.array([1e-9]))
    assert diagnose(small, np.array([[0.5]]), tol=1e-12).digits_needed == pytest.approx(
        math.log10(0.5e-9 / 1e-12)
    )


def test_exact_order_repairs_float_values_a_few_ulps_off(rng):
    """The float approximations can be a few ulps off and so misorder neighbours that are
    not equal as floats; within 4 spacings they are sorted exactly."""
    for _ in range(20):
        Z = np.array(sorted(rng.choice(2**12, 30, replace=False)), dtype=object) + 2**60
        zs = np.array([float(v) for v in Z]) + rng.integers(-2, 3, 30) * 256.0  # +-2 ulps
        order = np.argsort(zs, kind="stable")
        got = _exact_order(Z[order], zs[order])
        assert list(got) == sorted(Z)


def test_exact_differences_regrid_when_a_difference_is_inexact():
    """1 + 2**-40 next to 2**60: their difference has no float64; both are re-gridded on
    the neighbours' shared grid (2**12 here) and the weights telescope exactly."""
    s_q = np.array([[2.0**60], [1.0 + 2.0**-40]])
    q = np.array([[2.0**8], [2.0**-60]])
    w, s2, q2 = C._exact_differences(s_q, q, np.array([1.0, 1.0]), 1.0, np)
    assert s2.ravel().tolist() == [2.0**60, 0.0] and q2.ravel().tolist() == [2.0**12, 2.0**12]
    assert w.ravel().tolist() == [2.0**60, -(2.0**60)]
    with pytest.raises(ValueError, match=r"a weight overflows float64"):
        C._exact_differences(
            np.array([[1.7e308], [-1.7e308]]), np.ones((2, 1)), np.ones(2), 1.0, np
        )


def test_array_path_searches_kinks_like_the_compiled_loops(monkeypatch):
    """Next to steep pieces the array path hands one output to the same sequential loops
    (the kink search): the same network as the compiled path, bit for bit."""
    pytest.importorskip("numba")
    X, y = _clusters(1, 1000, 1e-12)  # 5,000 points: the compiled path
    fast = fit(X, y, seed=1)
    monkeypatch.setattr(C, "_fused_module", lambda X, plan: None)
    slow = fit(X, y, seed=1)
    assert np.array_equal(fast.a, slow.a)
    assert np.max(np.abs(fast.b - slow.b) / np.spacing(np.abs(fast.b))) <= 1  # err per row vs block
    assert certify(slow, X, y).max_residual < 1e-6


def _compiled():
    pytest.importorskip("numba")
    from finite_expressivity.theorem1 import compiled

    return compiled


def test_grid_of_and_next_up_from_the_bits():
    k = _compiled()
    assert (
        k._grid_of(1.0) == 2.0**-48 and k._grid_of(0.75) == 2.0**-49 and k._grid_of(8.0) == 2.0**-45
    )
    assert k._grid_of(2.0**-975) == 2.0**-1023 and k._grid_of(2.0**-974) == 2.0**-1022  # 48, 49
    assert k._grid_of(2.0**-1000) == 2.0**-1048 and k._grid_of(0.0) == 2.0**-1071
    assert k._next_up(0.0) == 5e-324 and k._next_up(-0.0) == 5e-324
    assert k._next_up(1.0) == 1.0 + 2.0**-52 and k._next_up(0.5) == 0.5 + 2.0**-53
    assert k._next_up(-1.0) == -1.0 + 2.0**-53 and k._next_up(-5e-324) == 0.0


def test_first_span():
    k = _compiled()
    assert k._first_span(np.array([1.0, 3.0]), 0.0) == 2.0
    assert k._first_span(np.array([2.0**50, 2.0**50 + 1]), 0.0) == 1024.0  # 2**-40 |z|
    assert (
        k._first_span(np.array([5.0]), 0.0) == 5.0 and k._first_span(np.array([-4.0]), 0.0) == 4.0
    )
    assert k._first_span(np.array([0.0]), 0.0) == 1.0  # a lone point at 0
    assert k._first_span(np.array([1.0, 3.0]), 1e-3) == 2.0**27 * 1e-3
    assert k._first_span(np.array([0.0, 0.0]), 0.0) == 2.0**-1000
    for hu, err in (([1.0, 3.0], 0.0), ([5.0], 0.0), ([0.0], 1e-9)):  # the array path's twin
        assert C._first_span(np.array(hu), err) == k._first_span(np.array(hu), err)


def test_grids_and_slope_grid_agree_with_the_rule():
    k = _compiled()
    s = np.array([0.0, 0.0, 8.0, 0.0, 0.0, 0.0])
    u = np.array([1.0, 2.0, 1.0, 1.0, 1.0, 4.0])
    q = np.empty(6)
    k._grids(s, u, 1.0, q)
    floor = [2.0 ** (math.frexp(2.0**-60 / v)[1] - 49) for v in u]
    want = [floor[0], 2.0**-45, 2.0**-45, 2.0**-45, floor[4], floor[5]]
    assert q.tolist() == want
    assert C._slope_grid(s[:, None], u, 1.0, np)[:, 0].tolist() == want
    two = np.c_[s, np.r_[0.0, 0.0, 0.0, 0.0, 0.0, 16.0]]
    assert C._slope_grid(two, u, 1.0, np)[4:, 1].tolist() == [2.0**-44, 2.0**-44]


def test_any_row():
    m = np.array([[False, True], [False, False], [True, False]])
    assert C._any_row(m, np).tolist() == [True, False, True]
    assert C._any_row(m[:, :1], np).tolist() == [False, False, True]


def test_values_at_biases_solve_the_recurrence():
    """V_0 = 0, V_{i+1} = y_i + rho_i (y_i - V_i): the sweeps reach the sequential values."""
    y = np.array([[1.0], [-2.0], [3.0], [0.5], [4.0]])
    rho = np.array([0.25, 0.5, 1e-3, 0.2])
    V, sweeps = C._values_at_biases(y, rho, np)
    want = [0.0]
    for i in range(4):
        want.append(y[i, 0] + rho[i] * (y[i, 0] - want[-1]))
    assert V[:, 0].tolist() == pytest.approx(want, rel=1e-15) and 2 <= sweeps <= 5
    V, sweeps = C._values_at_biases(y, np.full(4, 1e-30), np)  # nothing moves enough
    assert sweeps == 1 and V[1:, 0].tolist() == pytest.approx(y[:-1, 0].tolist(), rel=1e-15)
    V, sweeps = C._values_at_biases(y[:1], np.zeros(0), np)
    assert sweeps == 0 and V.tolist() == [[0.0]]


def test_place_kinks_statuses_and_statistics():
    k = _compiled()

    def run(hu, lu, eu, yu):
        m = len(hu)
        b, u, s, V = (np.empty(m) for _ in range(4))
        out = k._place_kinks(np.array(hu), np.array(lu), np.array(yu), np.array(eu), b, u, s, V)
        return out, b, u

    (st, i, umin, ratio, top, ymax), b, u = run(
        [0.0, 1.0, 3.0], [0.0, 0.0, 0.0], [0.0] * 3, [1.0, -2.0, 4.0]
    )
    assert (st, i, umin, ratio, ymax) == (0, 0, 1.0, math.inf, 4.0)
    assert b.tolist() == [np.nextafter(-1.0, -2.0), 0.0, 1.0] and top == 3.0
    (st, i, umin, ratio, *_), _, _ = run(
        [0.0, 1.0, 3.0], [0.0, 1e-17, 0.0], [0.0, 1e-9, 1e-9], [1.0, 2.0, 4.0]
    )
    assert st == 0 and ratio == pytest.approx(1.0 / 1e-9, rel=1e-6)
    assert run([0.0, 1.0, 1.0], [0.0, 0.0, 0.0], [0.0, 0.1, 0.1], [1.0, 2.0, 3.0])[0][:2] == (4, 2)
    assert run([0.0, 1.0, 1.0 + 2.0**-52], [0.0, 1e-17, 0.0], [0.0] * 3, [1.0, 2.0, 3.0])[0][
        :2
    ] == (1, 2)
    assert run([0.0, 1e-300], [0.0, 0.0], [0.0, 0.0], [0.0, 1e300])[0][:2] == (2, 1)


def test_two_sum_error_is_exact():
    """s + e equals a + b exactly, in both argument orders and both signs."""
    from finite_expressivity.theorem1.exact import two_sum

    a = np.array([1.0, 2.0**-60, -3.0, 1e300, 0.1])
    b = np.array([2.0**-60, 1.0, 2.0**-55, -1e284, 0.2])
    for x, y in ((a, b), (b, a), (-a, b)):
        s, e = two_sum(x, y)
        for si, ei, xi, yi in zip(s, e, x, y):
            assert Fraction(si) + Fraction(ei) == Fraction(xi) + Fraction(yi)
        assert e[0] != 0 and e[1] != 0  # 2**-60 is lost in s, kept in e
