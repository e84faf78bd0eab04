"""finite_expressivity.strategies: valid datasets, argument checks, and shrinking to
a few short numbers."""

from __future__ import annotations

from random import Random

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from finite_expressivity import certify, fit
from finite_expressivity.strategies import FAMILIES, LABELS, datasets

_FIND = settings(max_examples=2000, database=None, deadline=None)


def _short(v: float) -> bool:
    """0, 1, -2, 0.5, 1.25: the numbers a shrunk example should be made of."""
    return float(v).is_integer() or len(repr(float(v))) <= 6


@settings(max_examples=60, deadline=None)
@given(datasets())
def test_draws_float64_datasets_whose_identical_points_agree(data):
    X, y = data
    assert X.dtype == y.dtype == np.float64 and X.ndim == 2 and len(X) == len(y) >= 1
    assert np.all(np.isfinite(X)) and np.all(np.isfinite(y))
    _, first, inv = np.unique(X, axis=0, return_index=True, return_inverse=True)
    assert np.array_equal(y, y[first[inv.ravel()]])


@settings(max_examples=20, deadline=None)
@given(
    datasets(
        family=st.sampled_from(["clusters", "duplicates"]),
        n=5,
        d=st.integers(2, 3),
        labels="one-hot",
    )
)
def test_arguments_take_values_or_strategies(data):
    X, y = data
    assert X.shape[0] == 5 and X.shape[1] in (2, 3) and y.shape == (5, 10)
    assert np.all(y.sum(axis=1) == 1)


@settings(max_examples=20, deadline=None)
@given(datasets(family="near-duplicates", labels="binary"))
def test_readme_example(data):
    X, y = data
    net = fit(X, y, seed=0)
    assert net.n_params == 2 * X.shape[0] + X.shape[1]
    assert certify(net, X, y).accuracy == 1.0 or _extreme_gaps(X, net)


def _extreme_gaps(X, net) -> bool:
    """Gaps more than 2**50 times their neighbours: float64's limit (proofs/float64.md, 7)."""
    z = np.unique(X @ np.asarray(net.a))
    g = np.diff(z)
    return len(g) > 1 and bool(np.max(g[1:] / g[:-1]) > 2**50 or np.max(g[:-1] / g[1:]) > 2**50)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"family": "gauss"}, ValueError, r"family must be one of .* got 'gauss'"),
        ({"labels": "multi"}, ValueError, r"labels must be one of .* got 'multi'"),
        ({"n": 0}, ValueError, r"n must be at least 1, got 0"),
        ({"d": 2.5}, TypeError, r"d must be a positive int or a strategy of them, got 2.5"),
        ({"n": True}, TypeError, r"n must be a positive int"),
        ({"max_n": -3}, ValueError, r"max_n must be at least 1, got -3"),
    ],
)
def test_bad_arguments_say_what_was_given_and_what_is_allowed(kwargs, error, match):
    with pytest.raises(error, match=match):
        datasets(**kwargs)


def test_a_bad_value_drawn_from_a_strategy_is_refused_when_drawn():
    @settings(max_examples=1, database=None)
    @given(datasets(family=st.just("nope")))
    def draw(_):
        pass

    with pytest.raises(ValueError, match=r"family must be one of .* got 'nope'"):
        draw()


@pytest.mark.parametrize("family", [f for f in FAMILIES if f != "single-point"])
def test_fewer_than_three_points_shrinks_to_three_short_points(family):
    """A deliberately false property, "every dataset has fewer than 3 points", shrinks
    to exactly 3 points with short coordinates and labels."""
    X, y = find(datasets(family=family), lambda d: len(d[0]) >= 3, settings=_FIND, random=Random(0))
    assert X.shape[0] == 3
    assert all(_short(v) for v in X.ravel()) and all(_short(v) for v in y.ravel())


@pytest.mark.parametrize("family", [f for f in FAMILIES if f not in ("huge-scale", "tiny-scale")])
def test_every_coordinate_below_one_shrinks_to_a_single_one(family):
    """ "Every coordinate is below 1" shrinks to one coordinate equal to 1 (the boundary),
    all others 0, on the fewest points the family allows."""
    X, _ = find(
        datasets(family=family), lambda d: np.any(d[0] >= 1), settings=_FIND, random=Random(0)
    )
    assert np.max(X) == 1.0 and np.count_nonzero(X) <= 2
    assert all(_short(v) for v in X.ravel())
    assert X.shape[0] <= 2


def test_default_datasets_shrink_to_the_smallest_example():
    X, y = find(datasets(), lambda d: np.any(d[0] >= 1), settings=_FIND, random=Random(0))
    assert X.tolist() == [[1.0]] and y.tolist() == [0.0]
    X, _ = find(datasets(), lambda d: len(d[0]) >= 3, settings=_FIND, random=Random(0))
    assert X.tolist() == [[0.0], [0.0], [0.0]]


def test_families_and_labels_are_listed():
    assert "near-duplicate-clusters" in FAMILIES and set(LABELS) == {"real", "binary", "one-hot"}
