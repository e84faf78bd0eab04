"""Point families and labels for the checker, built from Hypothesis primitives.

Every coordinate and label is drawn by a Hypothesis strategy (``arrays`` with
an element strategy per family, ``@composite`` for the families with
structure), never by a drawn seed fed to NumPy's RNG: Hypothesis can then
shrink the values themselves, and a failure shrinks to a few points with
short coordinates (0, 1, 0.5, ...) instead of seventeen-digit floats.

Identical points always get identical labels (the theorem's hypothesis).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

__all__ = ["FAMILIES", "LABELS", "points", "labels", "dataset_strategy"]

FAMILIES = (
    "gaussian",
    "uniform",
    "single-point",
    "one-dimensional",
    "wide",
    "subspace",
    "integer-grid",
    "clusters",
    "near-duplicates",
    "near-duplicate-clusters",
    "huge-scale",
    "tiny-scale",
    "duplicates",
)
LABELS = ("real", "binary", "one-hot")


def _snap(v: float) -> float:
    """Magnitudes below 1e-30 become 0.

    Within one point, coordinates 1e-100 times smaller than the others cannot
    tell it from a point without them: an integer direction weighs every
    coordinate alike, and float64 resolves a projection to about 1e-16 of its
    size (the README's limits). Rows of different sizes are the scaled families'
    business.
    """
    return 0.0 if abs(v) < 1e-30 else v


# moderate reals: what most families are made of (shrinks towards 0 and integers)
_REAL = st.floats(-10, 10, allow_nan=False, allow_infinity=False, allow_subnormal=False).map(_snap)
_UNIT = st.floats(-1, 1, allow_nan=False, allow_infinity=False, allow_subnormal=False).map(_snap)


def _matrix(draw, shape, elements=_REAL) -> np.ndarray:
    # fill=nothing: every entry drawn (and shrunk) on its own, none a shared background
    return draw(arrays(np.float64, shape, elements=elements, fill=st.nothing()))


def _small_ints(draw, shape, bound: int) -> np.ndarray:
    ints = st.integers(-bound, bound)
    return draw(arrays(np.int64, shape, elements=ints, fill=st.nothing())).astype(np.float64)


@st.composite
def _subspace(draw, n: int, d: int) -> np.ndarray:
    """Points on a 1- or 2-dimensional subspace of R^d."""
    k = draw(st.integers(1, 2))
    return _matrix(draw, (n, k)) @ _matrix(draw, (k, d), _UNIT)


@st.composite
def _clusters(draw, n: int, d: int) -> np.ndarray:
    """Up to three centres, each point a centre plus small integers times 10**-e."""
    centres = _matrix(draw, (draw(st.integers(1, 3)), d))
    which = draw(arrays(np.int64, n, elements=st.integers(0, len(centres) - 1), fill=st.nothing()))
    scale = 10.0 ** -draw(st.integers(6, 12))
    return centres[which] + scale * _small_ints(draw, (n, d), 3)


def _nudged(draw, X: np.ndarray, exponents) -> np.ndarray:
    """X moved by small integers times ``10**-e`` relative to its size (plus 10**-e)."""
    scale = 10.0 ** -draw(exponents)
    return X + scale * _small_ints(draw, X.shape, 9) * (np.abs(X) + 1.0)


@st.composite
def _near_duplicates(draw, n: int, d: int) -> np.ndarray:
    """A cloud in which some points are copies of others, 1e-9 to 1e-12 apart (relative)."""
    X = _matrix(draw, (n, d))
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=n))
    for src, dst in pairs:
        if src != dst:
            X[dst] = _nudged(draw, X[src : src + 1], st.integers(9, 12))[0]
    return X


@st.composite
def _near_duplicate_clusters(draw, n: int, d: int) -> np.ndarray:
    """Many tight clusters: n // c centres, c points each, 1e-12 apart (relative)."""
    c = draw(st.integers(2, 5))
    m = max(1, n // c)
    centres = _matrix(draw, (m, d))
    return _nudged(draw, np.repeat(centres, c, axis=0), st.just(12))


@st.composite
def _scaled(draw, n: int, d: int, sign: int) -> np.ndarray:
    """A cloud whose rows are each scaled by 10**(sign * e_i), e_i in [100, 150]:
    rows 1e50 times apart in size (each row's own error bound must resolve it)."""
    e = draw(arrays(np.int64, (n, 1), elements=st.integers(100, 150), fill=st.nothing()))
    return _matrix(draw, (n, d)) * 10.0 ** (sign * e.astype(np.float64))


@st.composite
def _duplicates(draw, n: int, d: int) -> np.ndarray:
    """A cloud in which some rows are exact copies of others."""
    X = _matrix(draw, (n, d))
    copies = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=n))
    for src, dst in copies:
        X[dst] = X[src]
    return X


@st.composite
def points(draw, family: str, n: int, d: int) -> np.ndarray:
    """Points of one family: an (n, d) array (some families fix or widen a side).

    ``single-point`` has n = 1, ``one-dimensional`` d = 1, ``wide`` at most 8
    rows and ``16 d + rows`` columns, ``near-duplicate-clusters`` a multiple of
    its cluster size (at most n).
    """
    return _within_float64(_points(draw, family, n, d)) + 0.0  # -0.0 becomes 0.0


def _within_float64(X: np.ndarray) -> np.ndarray:
    """Keep distinct points apart by more than float64 can blur.

    A coordinate below ``2**-40`` of its row's largest becomes 0, and values of a
    column within ``2**-44`` (relative) of each other become equal: otherwise two
    points can differ by a few units in the last place (10 and 9.999999999999998,
    say) in every direction, which no float64 bias separates (README, limits).
    The near-duplicate families stay 1e-12 = 2**-40 apart.
    """
    X = np.where(np.abs(X) < 2.0**-40 * np.max(np.abs(X), axis=1, keepdims=True), 0.0, X)
    for j in range(X.shape[1]):
        order = np.argsort(X[:, j], kind="stable")
        v = X[order, j]
        for k in range(1, len(v)):
            if abs(v[k] - v[k - 1]) <= 2.0**-44 * max(abs(v[k]), abs(v[k - 1])):
                v[k] = v[k - 1]
        X[order, j] = v
    return X


def _points(draw, family: str, n: int, d: int) -> np.ndarray:
    if family in ("gaussian", "uniform"):
        return _matrix(draw, (n, d), _REAL if family == "gaussian" else _UNIT)
    if family == "single-point":
        return _matrix(draw, (1, d))
    if family == "one-dimensional":
        return _matrix(draw, (n, 1))
    if family == "wide":
        rows = min(n, 8)
        return _matrix(draw, (rows, 16 * d + rows))
    if family == "integer-grid":
        return _small_ints(draw, (n, d), 2)
    builders = {
        "subspace": _subspace,
        "clusters": _clusters,
        "near-duplicates": _near_duplicates,
        "near-duplicate-clusters": _near_duplicate_clusters,
        "duplicates": _duplicates,
    }
    if family in builders:
        return draw(builders[family](n, d))
    if family in ("huge-scale", "tiny-scale"):
        return draw(_scaled(n, d, 1 if family == "huge-scale" else -1))
    raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")


@st.composite
def labels(draw, kind: str, X: np.ndarray) -> np.ndarray:
    """Labels for the rows of X: ``real`` in [-1000, 1000], ``binary`` 0/1, or ``one-hot``
    rows of the 10 x 10 identity; identical rows get the first one's label."""
    n = X.shape[0]
    if kind == "real":
        reals = st.floats(-1e3, 1e3, allow_subnormal=False)
        y = draw(arrays(np.float64, n, elements=reals, fill=st.nothing()))
    elif kind == "binary":
        y = _small_ints(draw, (n,), 1)
        y = np.abs(y)
    elif kind == "one-hot":
        digits = st.integers(0, 9)
        y = np.eye(10)[draw(arrays(np.int64, n, elements=digits, fill=st.nothing()))]
    else:
        raise ValueError(f"labels must be one of {LABELS}, got {kind!r}")
    _, first, inverse = np.unique(X, axis=0, return_index=True, return_inverse=True)
    return y[first[inverse.ravel()]]


def _as_strategy(name: str, value, allowed, default):
    """``value`` as a strategy, checking plain values now and drawn ones at draw time."""
    if value is None:
        return default
    if isinstance(value, st.SearchStrategy):
        return value
    if allowed is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(
                f"{name} must be a positive int or a strategy of them, got {value!r} "
                f"({type(value).__name__})"
            )
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}; pass a positive int")
        return st.just(value)
    if value not in allowed:
        raise ValueError(
            f"{name} must be one of {allowed} or a strategy drawing them, got {value!r}"
        )
    return st.just(value)


def _checked(name: str, value, allowed):
    """A drawn value, checked like a plain one."""
    _as_strategy(name, value, allowed, None)
    return value


@st.composite
def _datasets(draw, family, n, d, label_kind, with_meta: bool):
    fam = _checked("family", draw(family), FAMILIES)
    kind = _checked("labels", draw(label_kind), LABELS)
    size, dim = _checked("n", draw(n), int), _checked("d", draw(d), int)
    X = draw(points(fam, size, dim))
    y = draw(labels(kind, X))
    return (fam, kind, X, y) if with_meta else (X, y)


def dataset_strategy(family, n, d, label_kind, max_n, max_d, *, with_meta):
    """``finite_expressivity.strategies.datasets``; with ``with_meta`` it draws
    ``(family, labels, X, y)`` (for the checker)."""
    _as_strategy("max_n", max_n, int, None)
    _as_strategy("max_d", max_d, int, None)
    return _datasets(
        _as_strategy("family", family, FAMILIES, st.sampled_from(FAMILIES)),
        _as_strategy("n", n, int, st.integers(1, max_n)),
        _as_strategy("d", d, int, st.integers(1, max_d)),
        _as_strategy("labels", label_kind, LABELS, st.sampled_from(LABELS)),
        with_meta,
    )
