"""The refinement loop of the Theorem 1 construction, its projection wrapper and ``fit``'s
plumbing.

``_fit_direction`` recomputes the projection with more exact slices while some piece is
shorter than ``2**26`` error bounds, or while the error bound (not float64's spacing)
keeps two points together; it stops at the slice limit (past float64's exponent range),
after 8 refinements asked for by collisions, when the bound stops halving, or after
``_MAX_REFINE`` recomputations. Here ``_project`` and ``_solve`` are replaced by scripted
stand-ins, so that every step (the number of exact slices asked for, the collision
raised) is checked against the rule worked out by hand. ``_project`` itself, ``_precision``
and ``fit``'s checks, defaults and info fields are tested on small real inputs.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from finite_expressivity import fit
from finite_expressivity.theorem1 import compiled
from finite_expressivity.theorem1 import construction as C
from finite_expressivity.theorem1.exact import SlicePlan, project

_A = np.array([3.0, -5.0])


def _prob(bits=20, n_exact=1, fused=None):
    X = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.25]])
    y = np.array([[1.0], [0.0], [2.0]])
    return C._Problem(X, y, np, "cpu", SlicePlan(1, bits, n_exact), 16, 2048, fused)


class _Script:
    """``_project`` and ``_solve`` stand-ins: the projection with ``n`` exact slices has the
    error bounds ``err_of(n) * (1, 3, 2)``; ``outcome(step, err)`` (err the largest bound)
    returns the precision ratio of a successful solve or raises a ``_Collision``."""

    def __init__(self, monkeypatch, err_of, outcome):
        self.err_of, self.outcome = err_of, outcome
        self.slices, self.fused = [], []  # n_exact of each projection, fused of each solve
        monkeypatch.setattr(C, "_project", self.project)
        monkeypatch.setattr(C, "_solve", self.solve)

    def project(self, prob, a_np, n_exact):
        self.slices.append(n_exact)
        err = self.err_of(n_exact) * np.array([1.0, 3.0, 2.0])
        return np.array([1.0, 2.0, 3.0]), np.zeros(3), err

    def solve(self, X, y, hi, lo, err, xp, fused=None):
        self.fused.append(fused)
        ratio = self.outcome(len(self.slices) - 1, float(np.max(err)))
        return (hi - 0.5, hi), {"duplicates": 0, "precision": ratio}


def _collide(gap, refinable=True):
    def outcome(step, err):
        raise C._Collision("points 0 and 1 collide", refinable=refinable, gap=gap, err=err)

    return outcome


def _collide_first(gap, ratio):
    """A refinable collision at the first projection, then solves of precision ``ratio``."""
    collide = _collide(gap)

    def outcome(step, err):
        return collide(step, err) if step == 0 else ratio

    return outcome


# --- the refinement rule, step by step ----------------------------------------------------


def test_collision_asks_for_the_slices_that_shrink_the_bound_64_times_below_the_gap(
    monkeypatch,
):
    """err 3 * 2**-20 against a gap of 2**-60: the bound must shrink by 64 * 3 * 2**40,
    three 20-bit slices and one to spare; then the pair is separated (ratio 2**40 / 3)."""
    gap = 2.0**-60

    def outcome(step, err):
        if 64 * err > gap:
            raise C._Collision("points 0 and 1 collide", refinable=True, gap=gap, err=err)
        return gap / err

    s = _Script(monkeypatch, lambda n: 2.0 ** (-20 * n), outcome)
    (b, w), stats = C._fit_direction(_prob(), _A)
    assert s.slices == [1, 5]
    assert stats == {"duplicates": 0, "slices": 6, "projection_error_bound": 3 * 2.0**-100}
    assert np.array_equal(b, [0.5, 1.5, 2.5]) and np.array_equal(w, [1.0, 2.0, 3.0])


def test_a_shrink_of_exactly_one_slice_width_asks_for_two_slices(monkeypatch):
    """64 err / gap = 2**20 with 20-bit slices: ceil(20 / 20) + 1 = 2 more slices."""
    gap = 2.0**-34 * 3  # the largest row's bound is 3 err_of(n)
    s = _Script(monkeypatch, lambda n: 2.0 ** (-20 * n), _collide_first(gap, 2.0**40))
    assert C._fit_direction(_prob(), _A)[1]["slices"] == 4
    assert s.slices == [1, 3]


def test_a_tie_asks_for_two_more_slices(monkeypatch):
    """A tie (gap 0) gives no factor to shrink by: two more slices."""
    s = _Script(monkeypatch, lambda n: 2.0**-30 / 4**n, _collide_first(0.0, 2.0**30))
    assert C._fit_direction(_prob(), _A)[1]["slices"] == 4
    assert s.slices == [1, 3]


def test_a_gap_below_one_is_still_a_gap(monkeypatch):
    """The shrink factor is used for every positive gap, however small or large."""
    outcome = _collide_first(0.5, math.inf)
    s = _Script(monkeypatch, lambda n: 2.0**-27, outcome)  # 64 * 3 * 2**-27 / 0.5 < 1
    assert C._fit_direction(_prob(), _A)[1]["slices"] == 3
    assert s.slices == [1, 2]


def test_collisions_refine_at_most_eight_times(monkeypatch):
    """Each refinement shrinks the bound 2.5 times (more than the 2 that counts as
    progress): after 8 refinements the ninth collision is raised, not precision-limited,
    carrying the last projection for the repair."""
    s = _Script(monkeypatch, lambda n: 2.0**-30 * 0.4 ** (n - 1), _collide(gap=1.0))
    with pytest.raises(C._Collision) as info:
        C._fit_direction(_prob(), _A)
    assert s.slices == list(range(1, 10))
    exc = info.value
    assert exc.refinable and not exc.precision_limited
    hi, lo, err = exc.projections
    assert np.array_equal(err, 2.0**-30 * 0.4**8 * np.array([1.0, 3.0, 2.0]))


def test_a_bound_that_does_not_shrink_is_precision_limited(monkeypatch):
    s = _Script(monkeypatch, lambda n: 2.0**-30, _collide(gap=1.0))
    with pytest.raises(C._Collision) as info:
        C._fit_direction(_prob(), _A)
    assert s.slices == [1, 2]
    assert info.value.precision_limited and info.value.err == 3 * 2.0**-30


def test_a_bound_that_only_halves_is_precision_limited(monkeypatch):
    """Shrinking by exactly 2 is not progress (``err >= last / 2``)."""
    s = _Script(monkeypatch, lambda n: 2.0 ** -(29 + n), _collide(gap=1.0))
    with pytest.raises(C._Collision) as info:
        C._fit_direction(_prob(), _A)
    assert s.slices == [1, 2] and info.value.precision_limited


def test_a_collision_the_bound_does_not_cause_is_raised_at_once(monkeypatch):
    s = _Script(monkeypatch, lambda n: 2.0**-30, _collide(gap=2.0**-40, refinable=False))
    with pytest.raises(C._Collision) as info:
        C._fit_direction(_prob(), _A)
    assert s.slices == [1]
    exc = info.value
    assert not exc.precision_limited and not exc.refinable
    assert np.array_equal(exc.projections[0], [1.0, 2.0, 3.0])


def test_a_collision_at_the_slice_limit_is_raised_at_once(monkeypatch):
    """20-bit slices: the limit is ceil(2200 / 20) + 1 = 111, or the plan's own count."""
    s = _Script(monkeypatch, lambda n: 2.0**-30 * 0.4**n, _collide(gap=1.0))
    with pytest.raises(C._Collision) as info:
        C._fit_direction(_prob(n_exact=200), _A)
    assert s.slices == [200] and not info.value.precision_limited


@pytest.mark.parametrize("bits,limit", [(20, 111), (25, 89), (29, 77)])
def test_short_pieces_refine_up_to_the_slice_limit(monkeypatch, bits, limit):
    """A precision ratio of 2**-900 asks for a shrink of 2**926 each time, i.e.
    ceil(926 / bits) + 1 slices, capped at ceil(2200 / bits) + 1 exact slices."""
    s = _Script(monkeypatch, lambda n: 2.0**-n, lambda step, err: 2.0**-900)
    stats = C._fit_direction(_prob(bits=bits), _A)[1]
    step = math.ceil(926 / bits) + 1
    want = [1 + k * step for k in range((limit - 1) // step + 1)]
    assert s.slices == want + ([limit] if want[-1] < limit else [])
    assert stats["slices"] == limit + 1
    assert stats["projection_error_bound"] == 3 * 2.0**-limit


def test_a_precision_ratio_of_exactly_two_to_the_26_is_enough(monkeypatch):
    s = _Script(monkeypatch, lambda n: 2.0**-40, lambda step, err: 2.0**26)
    stats = C._fit_direction(_prob(n_exact=2), _A)[1]
    assert s.slices == [2] and stats["slices"] == 3
    assert stats["projection_error_bound"] == 3 * 2.0**-40 and "precision" not in stats


def test_short_pieces_recompute_the_projection_at_most_16_times(monkeypatch):
    """A ratio of 2**25 asks for a shrink of 2: two more slices each time; the 17th
    projection is used whatever its ratio."""
    s = _Script(monkeypatch, lambda n: 2.0**-n, lambda step, err: 2.0**25)
    assert C._fit_direction(_prob(), _A)[1]["slices"] == 34
    assert s.slices == list(range(1, 34, 2)) and len(s.slices) == C._MAX_REFINE + 1


def test_a_collision_after_16_recomputations_is_not_projected_again(monkeypatch):
    def outcome(step, err):
        if step < C._MAX_REFINE:
            return 2.0**25
        raise C._Collision("points 0 and 1 collide", refinable=True, gap=1.0, err=err)

    s = _Script(monkeypatch, lambda n: 2.0**-n, outcome)
    with pytest.raises(RuntimeError, match="refined without end"):
        C._fit_direction(_prob(), _A)
    assert len(s.slices) == C._MAX_REFINE + 1


@pytest.mark.parametrize("fused,first", [(None, 5), (compiled, 3)])
def test_the_compiled_loops_start_from_at_most_three_exact_slices(monkeypatch, fused, first):
    """The fused projection handles at most 3 exact slices; the solve gets the same module."""
    s = _Script(monkeypatch, lambda n: 2.0**-40, lambda step, err: math.inf)
    C._fit_direction(_prob(n_exact=5, fused=fused), _A)
    assert s.slices == [first] and s.fused == [fused]


# --- _precision ---------------------------------------------------------------------------


def test_precision_of_two_pieces_is_the_second_ratio():
    u = np.array([5.0, 1.0])
    assert C._precision(u, np.array([7.0, 0.5]), np) == 2.0
    assert C._precision(u, np.array([7.0, 0.0]), np) == math.inf


def test_precision_counts_the_second_piece_even_when_the_rest_are_exact():
    u = np.array([5.0, 1.0, 2.0, 3.0])
    assert C._precision(u, np.array([0.0, 0.25, 0.0, 0.0]), np) == 4.0


def test_precision_of_exact_rows_divides_by_nothing():
    """Rows with a zero bound (exact projections) are skipped without a 0/0."""
    u = np.array([5.0, 0.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert C._precision(u, np.array([1.0, 0.0, 0.5]), np) == 4.0


# --- _project -----------------------------------------------------------------------------


class _FakeFused:
    def __init__(self):
        self.calls = []

    def project(self, X, a_np, bits, n_exact):
        self.calls.append((bits, n_exact))
        return np.full(X.shape[0], 1.5), np.zeros(X.shape[0]), np.zeros(X.shape[0])


@pytest.mark.parametrize("n_exact,fused_used", [(1, True), (3, True), (4, False)])
def test_project_uses_the_fused_loops_for_at_most_three_exact_slices(n_exact, fused_used):
    fake = _FakeFused()
    prob = _prob(bits=29, fused=fake)
    hi, lo, err = C._project(prob, _A, n_exact)
    assert fake.calls == ([(29, n_exact)] if fused_used else [])
    if not fused_used:  # the exact slicing, to the row: 3 - 10 = -7, 9 + 5 = 14, 1.5 - 1.25
        assert np.array_equal(hi + lo, [-7.0, 14.0, 0.25]) and not np.any(err)


def test_project_plans_each_block_of_chunk_rows_from_its_own_entries():
    """With one row per block, a tiny row's error bound is its own, far below the bound
    it gets sharing a block with a large row."""
    rng = np.random.default_rng(1)
    X = np.stack([1 + rng.random(2), 1e-9 * (1 + rng.random(2))])
    prob = C._Problem(X, np.ones((2, 1)), np, "cpu", SlicePlan(1, 20, 1), 16, 1, None)
    hi, lo, err = C._project(prob, _A, 1)
    for i in range(2):
        alone = project(X[i : i + 1], _A, SlicePlan(1, 20, 1), np, chunk_rows=1)
        assert (hi[i], lo[i], err[i]) == tuple(float(v[0]) for v in alone)
    shared = project(X, _A, SlicePlan(1, 20, 1), np, chunk_rows=2)[2]
    assert 0 < err[1] < 1e-3 * shared[1]


def test_points_on_a_line_project_to_themselves_without_error():
    X = np.array([[0.5], [-3.0], [1e-300]])
    prob = C._Problem(X, np.ones((3, 1)), np, "cpu", SlicePlan(1, 20, 1), 16, 2048, None)
    hi, lo, err = C._project(prob, np.ones(1), 1)
    assert np.array_equal(hi, X[:, 0]) and not np.any(lo) and not np.any(err)


@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_point_is_named_by_its_row(d, bad):
    X = np.arange(4.0 * d).reshape(4, d)
    X[2, d - 1] = bad
    with pytest.raises(ValueError, match=r"^X contains NaN or inf \(first at row 2\)"):
        fit(X, np.arange(4.0), seed=0)


def test_labels_are_checked_before_the_points_are_scanned():
    """fit does not scan X for NaN up front (the projection finds it): bad labels are
    reported first."""
    X = np.array([[0.0, 1.0], [math.nan, 2.0], [3.0, 1.0]])
    with pytest.raises(ValueError, match=r"^y contains NaN or inf \(first at row 2\)"):
        fit(X, np.array([0.0, 1.0, math.inf]), seed=0)


# --- fit ------------------------------------------------------------------------------------


class _Stop(Exception):
    pass


def _spy_problem(monkeypatch):
    """Replace _fit_direction by a spy that keeps the problem fit passes down, then stops."""
    seen = []

    def spy(prob, a_np):
        seen.append(prob)
        raise _Stop

    monkeypatch.setattr(C, "_fit_direction", spy)
    return seen


def test_fit_projects_cpu_arrays_in_blocks_of_2048_rows(monkeypatch):
    seen = _spy_problem(monkeypatch)
    X = np.random.default_rng(0).standard_normal((3000, 2))
    for chunk_rows, want in [(None, 2048), (7, 7)]:
        with pytest.raises(_Stop):
            fit(X, np.zeros(3000), seed=0, chunk_rows=chunk_rows)
        assert seen[-1].chunk_rows == want


@pytest.mark.parametrize("n", [1, 5])
def test_fit_projects_gpu_arrays_in_one_block(monkeypatch, n):
    """On a device other than the CPU all rows go in one block (at least one row)."""
    seen = _spy_problem(monkeypatch)
    monkeypatch.setattr(C, "_device", lambda x: "cuda:0")
    with pytest.raises(_Stop):
        fit(np.arange(2.0 * n).reshape(n, 2), np.zeros(n), seed=0)
    assert seen[0].chunk_rows == n


@pytest.mark.parametrize("n", [4095, 4096])
def test_fit_uses_the_compiled_loops_from_4096_numpy_rows(monkeypatch, n):
    seen = _spy_problem(monkeypatch)
    X = np.random.default_rng(0).standard_normal((n, 2))
    with pytest.raises(_Stop):
        fit(X, np.zeros(n), seed=0)
    want = compiled if n >= 4096 and compiled.HAVE_NUMBA else None
    assert seen[0].fused is want


def test_fit_refuses_labels_from_another_library_or_a_list():
    torch = pytest.importorskip("torch")
    X = np.arange(6.0).reshape(3, 2)
    with pytest.raises(TypeError, match="different libraries"):
        fit(X, torch.zeros(3, dtype=torch.float64))
    with pytest.raises(TypeError, match="got list; wrap lists with numpy.asarray"):
        fit(X, [0.0, 1.0, 2.0])


def test_fit_reports_points_the_error_bound_keeps_together(monkeypatch):
    """A precision-limited collision is refused with the pair and the bound, no repair."""

    def limited(prob, a_np):
        exc = C._Collision("points 3 and 5 project 1e-20 apart", refinable=True, err=2.0**-40)
        exc.precision_limited = True
        raise exc

    monkeypatch.setattr(C, "_fit_direction", limited)
    monkeypatch.setattr(C, "_repair", None)  # never called
    with pytest.raises(ValueError) as info:
        fit(np.arange(6.0).reshape(3, 2), np.arange(3.0), seed=0)
    assert str(info.value) == (
        "points 3 and 5 project 1e-20 apart: their distance along a is below the projection's "
        "error bound 9.1e-13, which more exact slices no longer shrink; rescale X or move "
        "these points apart"
    )


def test_fit_searches_eight_lines_by_default(monkeypatch):
    def collide(prob, a_np):
        raise C._Collision("points 0 and 1 collide", refinable=False)

    def repair(prob, a, exc, rng, max_tries):
        raise _Stop(max_tries)

    monkeypatch.setattr(C, "_fit_direction", collide)
    monkeypatch.setattr(C, "_repair", repair)
    for kwargs, want in [({}, 8), ({"max_tries": 3}, 3)]:
        with pytest.raises(_Stop) as info:
            fit(np.arange(6.0).reshape(3, 2), np.arange(3.0), seed=0, **kwargs)
        assert info.value.args == (want,)
    with pytest.raises(ValueError, match="max_tries must be at least 1, got 0"):
        fit(np.arange(6.0).reshape(3, 2), np.arange(3.0), seed=0, max_tries=0)


def test_fit_info_holds_the_seed_the_tries_and_the_slicing():
    X = np.array([[0.5, 0.25], [1.0, -0.75], [0.125, 2.0], [1.5, 1.5]])
    y = np.array([1.0, -2.0, 0.5, 3.0])
    a_bits = C._direction_bits(X, 2)[0]
    for seed, shown in [(3, 3), (None, None), (np.random.default_rng(3), "generator")]:
        info = fit(X, y, seed=seed).info
        assert info["seed"] == shown
        assert (info["tries"], info["repair_lines"]) == (1, 0)
        assert info["a_bits"] == a_bits and info["slice_bits"] == 53 - a_bits - 1 - 1
