"""Theorem 1: the two-layer ReLU network with 2n + d weights that fits n points.

``fit(X, y)`` returns ``c(x) = sum_j w_j relu(<a, x> - b_j)`` with
``c(x_i) = y_i`` for every training point, in O(nd + n log n) time and O(n + d)
memory beyond the input (the n x n matrix is never formed). One implementation
serves NumPy, PyTorch (CPU and CUDA) and CuPy through the array API.

Exact in exact arithmetic is not exact in float64: a random Gaussian ``a``,
midpoint biases and ``w = A^{-1} y`` leave residuals near 1.0 on MNIST with
random labels. The float64 choices here (proved in ``proofs/float64.md``):

1. **Exact projections.** ``a`` holds random integers, and ``z = X @ a`` is
   computed error-free as a double-double by splitting X into slices whose
   products with ``a`` are exact in float64 (:mod:`finite_expressivity.theorem1.exact`).
   The output at a point moves by (local slope x projection error), and slopes
   reach ``|dy| / min gap`` (about 1e9 on MNIST), so a plain dot product is not
   accurate enough.
2. **Kinks right after the previous point.** ``b_i`` is the first float64
   certainly above ``z_{i-1}`` (or ``z_{i-1}`` itself when that is an exact
   float64; ``b_1`` sits about one gap below ``z_1``). Then the
   slope on the piece holding ``z_i`` is essentially the secant slope
   ``(y_i - y_{i-1}) / (z_i - z_{i-1})``: slopes do not build up along the line
   as they do with midpoint biases (``s_i = -s_{i-1} + 2 dy / gap``).
3. **Exactly telescoping weights.** The slopes ``s_i`` solve
   ``V_{i+1} = y_i + rho_i (y_i - V_i)`` (``V_i`` the value at ``b_i``,
   ``rho_i = (b_{i+1} - z_i) / (z_i - b_i)``, tiny), by vectorized Jacobi sweeps.
   Each slope is then rounded to a power-of-two grid shared with its
   neighbours, so ``w_i = s_i - s_{i-1}`` is computed exactly and the exact
   prefix sums of the stored weights equal the stored slopes: no rounding error
   of a weight ever reaches the points to its right. Error feedback passes each
   slope's rounding on to the next piece, and next to a much steeper piece
   (where the grid is coarse) the kink is moved to where the rounded slope
   still meets its label (:mod:`finite_expressivity.theorem1.compiled`).
4. **Pieces long against the projection's error.** The projection error
   ``err_i`` (bounded per row) reaches a point's output through its slope, as
   ``err_i * |s_i|`` with ``|s_i|`` about ``|dy| / u_i`` (``u_i = z_i - b_i``).
   Every piece is kept at least ``2**26 err_i`` long: the first kink sits at
   least ``2**27 err_1`` below the first point, and where two points are closer
   the projection is recomputed with more exact slices.
5. **Collisions repaired, not retried blindly.** Where some pairs of distinct
   points project too close together for a float64 bias between them, the
   directions on random lines through ``a`` are searched exhaustively (the
   directions that fail a pair form intervals on a line; their complement is
   computed exactly) for one that separates every close pair.

The result is checked by :func:`finite_expressivity.theorem1.certify`, which evaluates
the stored float64 network in exact rational arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..core.validation import check_labels, check_points, namespace, to_numpy
from .exact import NonFinite, SlicePlan, check_range, plan_slices, project, two_sum
from .network import TwoLayerReLU

__all__ = ["fit"]

_MAX_JACOBI = 200
_MAX_CARRY = 64
_FUSED_MIN_ROWS = 4096
_EPS = 2.0**-53
# every piece z_i - b_i is at least this many projection-error bounds long, so the
# projection's error moves an output by at most 2**-26 of its label step (proofs/float64.md)
_PRECISION = 2.0**26
_FIRST_PIECE = 2.0**27
# the line search asks each close pair for a gap of this much relative to its projection
# (a float64 bias needs about 5 units in the last place; the search's model is approximate,
# and the construction itself checks every candidate)
_SEARCH_GAP = 3.5 * 2.0**-52
_CLOSE = 2.0**-24  # pairs closer than this (relative to the largest projection) may collide
_WINDOW = 64  # sorted neighbours paired within a run of close points
_MAX_PAIRS = 2_000_000
_CANDIDATES = 8  # free stretches of a line tried, widest first
_MAX_REFINE = 16  # projections recomputed with more slices, at most (each divides err by 2**bits)


class _Collision(Exception):
    """Distinct points project (nearly) onto the same value along ``a``.

    ``projections`` is ``(hi, lo, err)`` for the repair; ``refinable`` says whether
    the projection's error bound (not float64's spacing) made the points too close.
    """

    def __init__(self, message: str, *, refinable=False, gap: float = 0.0, err: float = 0.0):
        super().__init__(message)
        self.projections = None
        self.refinable = bool(refinable)
        self.gap = gap  # the double-double distance of the pair (0 for a tie)
        self.err = err  # the pair's projection error bound
        self.precision_limited = False  # more exact slices no longer shrink the bound


@dataclass
class _Problem:
    """One fit's inputs and plan, passed down instead of a dozen arguments."""

    X: object
    y: object  # (n, k)
    xp: object
    device: object
    plan: SlicePlan
    a_bits: int
    chunk_rows: int
    fused: object  # the compiled module, or None


def fit(X, y, *, seed=None, max_tries: int = 8, chunk_rows: int | None = None) -> TwoLayerReLU:
    """Construct the Theorem 1 network that reproduces ``y`` on ``X``.

    Parameters
    ----------
    X : array, shape (n, d)
        Points (NumPy, PyTorch or CuPy; any real dtype, used as float64).
    y : array, shape (n,) or (n, k)
        Labels, one real output or k outputs. Identical points must have equal
        labels.
    seed : int or numpy.random.Generator, optional
        Seeds the random direction ``a`` (drawn on the host, so every backend
        and device gets the same network).
    max_tries : int
        Lines of directions to search when some pairs of distinct points project
        too close together for a float64 bias between them. Each line through
        the first direction is searched exhaustively for a direction that
        separates every close pair.
    chunk_rows : int, optional
        Rows per block of the projection (default: 2048, cache-sized; all rows on a GPU).

    Returns
    -------
    TwoLayerReLU
        ``a`` (d,), ``b`` (n,) increasing, ``w`` (n,) or (n, k), arrays of X's
        library on X's device; ``2n + d`` parameters (``d + n + nk`` for k outputs).
        Duplicate points (equal labels) get a zero-weight neuron each.

    Raises
    ------
    ValueError
        Bad shapes, NaN/inf, empty input, identical points with different
        labels (naming both indices), or points that no searched direction
        separates (saying what was searched and why it failed).
    TypeError
        Non-numeric arrays.
    """
    xp = namespace(X, y)
    X = check_points(X, xp, finite=False)  # project() finds NaN/inf block by block
    n, d = X.shape
    y = check_labels(y, n, xp)
    if max_tries < 1:
        raise ValueError(f"max_tries must be at least 1, got {max_tries}")
    rng = np.random.default_rng(seed)
    device = _device(X)
    if chunk_rows is None:
        chunk_rows = 2048 if "cpu" in str(device).lower() else max(n, 1)
    shift = _tiny_shift(X, xp)
    if shift:  # X 2**shift and a 2**shift: the same projections, none underflowing
        X = X * 2.0**shift
    a_bits, grid_data = _direction_bits(X, d)
    plan = plan_slices(1.0, d, a_bits, n=n, grid_data=grid_data)  # e_top is set per block
    y2 = y if y.ndim == 2 else y[:, None]
    prob = _Problem(X, y2, xp, device, plan, a_bits, chunk_rows, _fused_module(X, plan))
    a_np = _random_direction(rng, prob)
    search = {"lines": 0, "directions": 1}
    try:
        (b, w), stats = _fit_direction(prob, a_np)
    except _Collision as exc:
        if exc.precision_limited:
            raise ValueError(_imprecise(exc)) from None
        a_np, (b, w), stats, search = _repair(prob, a_np, exc, rng, max_tries)
    info = {
        "seed": seed if isinstance(seed, (int, type(None))) else "generator",
        "tries": search["directions"],
        "repair_lines": search["lines"],
        "a_bits": a_bits,
        "slice_bits": plan.bits,
        **stats,
    }
    a = xp.asarray(a_np * 2.0**shift, device=device)  # exact: a power of two
    return TwoLayerReLU(a, b, w if y.ndim == 2 else w[:, 0], info)


def _tiny_shift(X, xp) -> int:
    """``k`` such that ``X 2**k`` has its largest entry in [1/2, 1), for tiny data.

    Data whose largest entry is below ``2**-64`` have gaps so small that a
    slope ``dy / gap`` overflows; scaling them (and the direction, so that the
    network is the same function) by a power of two is exact. One glance at
    up to 2048 rows decides whether to look at all of X; ordinary data are
    not scaled (0).
    """
    n = X.shape[0]
    sample = float(xp.max(xp.abs(X[:: max(1, n // 2048), ...])))
    if not sample < 2.0**-64:  # also NaN: found later, with its row
        return 0
    top = float(xp.max(xp.abs(X)))
    if not 0 < top < 2.0**-64:
        return 0
    return min(-math.frexp(top)[1], 960)  # a's entries (<= 2**40) times 2**k stay finite


def _random_direction(rng, prob: _Problem) -> np.ndarray:
    """Integer entries of ``a`` with at most ``a_bits`` bits (``a = 1`` on a line)."""
    d = prob.X.shape[1]
    if d == 1:  # on a line the points are already sorted by x: z = x exactly
        return np.ones(1)
    for _ in range(64):  # all-zero has probability 2**-(21 d)
        a = rng.integers(-(2**prob.a_bits), 2**prob.a_bits + 1, size=d).astype(np.float64)
        if np.any(a):
            return a
    raise RuntimeError("internal error: 64 random directions were all zero; please report")


def _fit_direction(prob: _Problem, a_np: np.ndarray):
    """Biases, weights and statistics along ``a``, refining the projection as needed.

    The projection is recomputed with more exact slices while some piece is
    shorter than ``2**26`` projection-error bounds, or while that error (not
    float64's spacing) keeps two points from being separated.
    """
    plan = prob.plan
    n_exact = plan.n_exact if prob.fused is None else min(plan.n_exact, 3)
    limit = max(n_exact, math.ceil(2200 / plan.bits) + 1)  # past the float64 exponent range
    refines, last = 0, math.inf  # refinements asked for by collisions, and their error bound
    for step in range(_MAX_REFINE + 1):
        hi, lo, err = _project(prob, a_np, n_exact)  # err: a bound per row
        try:
            (b, w), stats = _solve(prob.X, prob.y, hi, lo, err, prob.xp, prob.fused)
        except _Collision as exc:
            exc.projections = (hi, lo, err)
            # the bound's rounding part stops shrinking past some slices
            exc.precision_limited = exc.refinable and exc.err >= last / 2
            if not exc.refinable or exc.precision_limited or n_exact >= limit or refines >= 8:
                raise
            refines, last = refines + 1, exc.err
            shrink = 64 * exc.err / exc.gap if exc.gap > 0 else 0.0
            n_exact = min(limit, n_exact + _more_slices(shrink, plan.bits))
            continue
        ratio = stats.pop("precision")  # min_i (z_i - b_i) / err_i
        if ratio >= _PRECISION or n_exact >= limit or step == _MAX_REFINE:
            emax = float(prob.xp.max(err)) if err.shape[0] else 0.0
            stats.update(slices=n_exact + 1, projection_error_bound=emax)
            return (b, w), stats
        n_exact = min(limit, n_exact + _more_slices(_PRECISION / ratio, plan.bits))
    raise RuntimeError("internal error: the projection was refined without end; please report")


def _more_slices(shrink: float, bits: int) -> int:
    """Exact slices to add so that the error bounds shrink by the factor ``shrink``.

    Each slice leaves ``2**-bits`` of the previous remainder's error; an unknown
    factor (a tie: 0) gets two more.
    """
    if not shrink > 0:
        return 2
    return max(1, math.ceil(math.log2(shrink) / bits) + 1)


def _project(prob: _Problem, a_np: np.ndarray, n_exact: int):
    """``X @ a`` as a double-double ``(hi, lo)`` with an error bound, ``n_exact`` exact slices."""
    X, xp = prob.X, prob.xp
    n, d = X.shape
    if d == 1:  # z = x: no projection error at all
        if not bool(xp.all(xp.isfinite(X))):
            check_points(X, xp, finite=True)
        check_range(float(xp.max(xp.abs(X))))
        zero = xp.zeros((n,), dtype=xp.float64, device=prob.device)
        return X[:, 0] * 1.0, zero, zero
    if prob.fused is not None and n_exact <= 3:
        # a coarser split only widens the rigorous error bound err, which the solve
        # checks against the gaps (grid data such as MNIST need 1 slice)
        hi, lo, err = prob.fused.project(X, a_np, prob.plan.bits, n_exact)
        if hi is None:
            check_points(X, xp, finite=True)  # names the first bad row
            raise ValueError("X could not be projected: an intermediate overflowed; rescale X")
        return hi, lo, err
    plan = SlicePlan(prob.plan.e_top, prob.plan.bits, n_exact, prob.plan.grid_data)
    a = xp.asarray(a_np, device=prob.device)
    try:
        return project(X, a, plan, xp, chunk_rows=prob.chunk_rows)
    except NonFinite:
        check_points(X, xp, finite=True)  # names the first bad row
        raise


def _direction_bits(X, d: int) -> tuple[int, bool]:
    """Bits of the integer entries of ``a``.

    Data on a coarse dyadic grid (MNIST: pixels k/256) get as many bits as keep
    ``X @ a`` exact in a single slice, which also makes accidental ties between
    projections very unlikely; other discrete-valued data get 26 bits and
    continuous data 20 (fewer bits per ``a`` leave more per slice, so fewer
    slices are needed).
    """
    n = X.shape[0]
    rows = to_numpy(X[:: max(1, n // 2048), ...])
    v = rows[rows != 0]
    log2d = math.ceil(math.log2(d)) if d > 1 else 0
    if v.size == 0 or not np.all(np.isfinite(v)):
        return 20, False
    xmax = float(np.max(np.abs(v)))
    mant, expo = np.frexp(np.abs(v))
    im = (mant * 2.0**53).astype(np.int64)
    low_bit = np.log2(im & -im).astype(np.int64)  # trailing zeros of the mantissa
    finest = int((expo.astype(np.int64) - 53 + low_bit).min())
    data_bits = math.frexp(xmax)[1] - finest
    if data_bits <= 24:
        return int(min(40, max(16, 53 - log2d - data_bits - 1))), True
    # Few distinct values (e.g. pixels k/255): integer combinations of them tie
    # more easily, so spread the projections with more bits.
    return (26 if np.unique(v).size <= 4096 else 20), False


def _fused_module(X, plan):
    """The Numba loops for NumPy input on the CPU, or None (array-API path)."""
    if not isinstance(X, np.ndarray) or X.shape[0] < _FUSED_MIN_ROWS:
        return None  # small problems: the array path's fixed costs are lower
    from . import compiled

    # without numba the array-API path computes the same network faster
    return compiled if compiled.HAVE_NUMBA else None


def _solve(X, y, hi, lo, err, xp, fused=None):
    """Biases and exactly telescoping weights for sorted projections (see module doc)."""
    n, k = y.shape
    order = xp.argsort(hi, stable=False)  # ties in hi are ordered by lo below
    if fused is not None and k == 1:  # gathers, tie check and slopes in one compiled pass
        status, _, b, w, st = fused.slopes_and_weights(hi, lo, y[:, 0], order, err)
        if status == 0:
            return (b, w[:, None]), _fused_stats(n, n, st)
        # anything else (ties, collisions, errors) takes the general path below,
        # which merges identical points and names the points that collide
    order, hu, lu, yu, eu, keep = _sorted_unique(X, y, hi, lo, err, order, xp)
    m = hu.shape[0]
    if fused is not None and k == 1 and keep is not None:
        status, _, b, w, st = fused.slopes_and_weights(hu, lu, yu[:, 0], np.arange(m), eu)
        if status == 0:
            return _expand(b, w[:, None], keep, xp), _fused_stats(n, m, st)
        # a collision, an overflow or inexact weights: the array path below names the
        # points, says whether a slope or a weight overflows, or re-grids
    b = _biases(hu, lu, eu, xp)
    u = (hu - b) + lu  # z_i - b_i > 0, to a relative error of a few ulps
    eps = (b[1:] - hu[:-1]) - lu[:-1]  # b_{i+1} - z_i >= 0, > err_i if err_i > 0 (b - hu exact)
    _check_separation(hu, lu, b, u, eps, eu, order, keep, xp)

    V, sweeps = _values_at_biases(yu, eps / u[:-1], xp)
    s = (yu - V) / u[:, None]
    if not bool(xp.all(xp.isfinite(s))):
        raise ValueError(_OVERFLOW.format("slope"))
    ymax = float(xp.max(xp.abs(yu)))
    q = _slope_grid(s, u, ymax, xp)
    if k == 1 and m > 1 and _coarse(q, u, ymax, xp):
        # a slope's grid is coarse against its piece (next to a much steeper one):
        # the sequential loops search its kink (compiled.py; the same on every backend)
        out = _sequential(hu, lu, yu, eu, n, keep, xp)
        if out is not None:
            return out
    s_q, q, carry_sweeps = _round_slopes(s, q, b, u, eps, xp, 2 * ymax)
    w, s_q, q = _exact_differences(s_q, q, u, ymax, xp)  # prefix sums of w are exactly s_q
    # What float64 allows here: half a slope-grid step over the distance to the kink.
    limit = float(xp.max(q * u[:, None])) / 2 + 8 * _EPS * ymax
    stats = _stats(n, m, u, w, limit, sweeps, carry_sweeps)
    stats["precision"] = _precision(u, eu, xp)
    return _expand(b, w, keep, xp), stats


def _precision(u, eu, xp) -> float:
    """``min_i (z_i - b_i) / err_i`` over the points after the first (inf if no error)."""
    if u.shape[0] < 2 or not bool(xp.any(eu[1:] > 0)):
        return math.inf
    ratio = u[1:] / xp.where(eu[1:] > 0, eu[1:], 1.0)
    return float(xp.min(xp.where(eu[1:] > 0, ratio, math.inf)))


def _coarse(q, u, ymax: float, xp) -> bool:
    """Whether some rounded slope could miss its label by more than compiled._SEARCH."""
    from .compiled import _SEARCH

    return bool(xp.any(q[1:, 0] * u[1:] > 2 * _SEARCH * max(1.0, ymax)))


def _sequential(hu, lu, yu, eu, n, keep, xp):
    """Slopes and weights from the sequential loops with the kink search, on the host."""
    from . import compiled

    m = hu.shape[0]
    host = [np.asarray(to_numpy(v), dtype=np.float64) for v in (hu, lu, yu[:, 0], eu)]
    status, _, b, w, st = compiled.slopes_and_weights(*host[:3], np.arange(m), host[3])
    if status != 0:
        return None  # inexact weights: the array path re-grids
    dev = _device(hu)
    b, w = xp.asarray(b, device=dev), xp.asarray(w[:, None], device=dev)
    return _expand(b, w, keep, xp), _fused_stats(n, m, st)


_OVERFLOW = (
    "labels are too large for how close some points are (a {} overflows float64); "
    "scale y down or the points apart"
)


def _sorted_unique(X, y, hi, lo, err, order, xp):
    """Projections in increasing order with identical points merged.

    Returns ``order`` and the sorted unique ``hu, lu, yu, eu`` (``eu`` the error
    bounds), with ``keep`` marking the first of each run of identical points
    (None when all points are distinct).
    """
    n = hi.shape[0]
    hs, ls = xp.take(hi, order), xp.take(lo, order)
    if n > 1 and bool(xp.any(hs[1:] == hs[:-1])):  # equal leading parts: order by lo too
        order = xp.asarray(np.lexsort((to_numpy(lo), to_numpy(hi))), device=_device(hi))
        hs, ls = xp.take(hi, order), xp.take(lo, order)
    ys, es = xp.take(y, order, axis=0), xp.take(err, order)
    if n < 2:
        return order, hs, ls, ys, es, None
    # hs[i+1] - hs[i] is exact whenever it is small (Sterbenz), which is all that matters here
    gaps = (hs[1:] - hs[:-1]) + (ls[1:] - ls[:-1])
    tied = gaps <= es[1:] + es[:-1]
    if not bool(xp.any(tied)):
        return order, hs, ls, ys, es, None
    _check_ties(X, ys, order, tied, xp, es, gaps)
    keep = xp.concat([xp.ones((1,), dtype=xp.bool, device=_device(hi)), xp.logical_not(tied)])
    uniq = xp.nonzero(keep)[0]
    unique = (xp.take(hs, uniq), xp.take(ls, uniq), xp.take(ys, uniq, axis=0), xp.take(es, uniq))
    return order, *unique, keep


def _first_span(hu, err: float) -> float:
    """How far below the first point its kink sits.

    About one gap (a short first piece keeps its slope's rounding small), but at
    least ``2**27`` projection-error bounds, so that error moves the first output by
    at most ``2**-27`` of its label; a lone point gets a piece as long as its
    projection (or 1 when that is 0).
    """
    h0 = abs(float(hu[0]))
    span = float(hu[1] - hu[0]) if hu.shape[0] > 1 else (h0 or 1.0)
    return max(span, 2.0**-40 * h0, _FIRST_PIECE * err, 2.0**-1000)


def _kinks(hs, ls, es, xp):
    """``b_i`` for i >= 1: the first float64 certainly above the exact ``z_{i-1}``.

    Its error is at most ``es[i-1]``; where ``z_{i-1}`` is itself an exact float64
    the kink sits on it (relu(0) = 0, the weak interleaving ``z_{i-1} <= b_i < z_i``
    of proofs/coq: Theorem1.interpolation_weak).
    """
    up = xp.asarray(math.inf, dtype=xp.float64)
    above = xp.nextafter(hs[:-1] + (ls[:-1] + 2 * es[:-1]), up)
    return xp.where(xp.logical_and(es[:-1] == 0, ls[:-1] == 0), hs[:-1], above)


def _biases(hu, lu, eu, xp):
    """All biases: ``b_0`` one gap below ``z_0`` (see :func:`_first_span`), then the kinks."""
    span = _first_span(hu, float(eu[0]))
    b0 = xp.nextafter(hu[:1] - span, xp.asarray(-math.inf, dtype=xp.float64))
    return xp.concat([b0, _kinks(hu, lu, eu, xp)])


def _too_close(hu, lu, b, eu, xp):
    """For each i >= 1: no float64 bias separates ``z_{i-1}`` and ``z_i`` with the margins
    of proofs/float64.md (S): ``b_i - z_{i-1} > err_{i-1}`` and
    ``z_i - b_i > 2 err_i + 4 (b_i - z_{i-1})``."""
    u = (hu[1:] - b[1:]) + lu[1:]
    eps = (b[1:] - hu[:-1]) - lu[:-1]
    bad = xp.logical_or(u <= 2 * eu[1:] + 4 * eps, eps < 0)
    return xp.logical_or(bad, xp.logical_and(eu[:-1] > 0, eps <= eu[:-1]))


def _check_separation(hu, lu, b, u, eps, eu, order, keep, xp):
    """Raise :class:`_Collision` naming the worst pair that no float64 bias separates."""
    if not float(u[0]) > 2 * float(eu[0]):
        e0 = float(eu[0])
        msg = f"point {int(order[0])} lies too close to 0 along a for its projection error"
        raise _Collision(msg, refinable=e0 > 0, gap=float(u[0]), err=e0)
    if hu.shape[0] < 2 or not bool(xp.any(_too_close(hu, lu, b, eu, xp))):
        return
    bad = int(xp.argmin(u[1:] - 2 * eu[1:] - 4 * eps)) + 1
    slots = to_numpy(xp.nonzero(keep)[0]) if keep is not None else np.arange(hu.shape[0])
    i, j = int(order[int(slots[bad - 1])]), int(order[int(slots[bad])])
    e = max(float(eu[bad - 1]), float(eu[bad]))
    raise _Collision(
        f"points {i} and {j} project to values {float(u[bad]):.3g} apart, too close to place "
        "a float64 bias between them",
        # the error bound, not float64's spacing, is what makes them too close
        refinable=e > 0 and 64 * e > float(eps[bad - 1]),
        gap=float((hu[bad] - hu[bad - 1]) + (lu[bad] - lu[bad - 1])),
        err=e,
    )


def _expand(b, w, keep, xp):
    """Back to all n neurons: a duplicate point gets its twin's bias and weight 0."""
    if keep is None:
        return b, w
    slot = xp.cumulative_sum(xp.astype(keep, xp.int64)) - 1
    return xp.take(b, slot), xp.where(keep[:, None], xp.take(w, slot, axis=0), 0.0)


def _fused_stats(n, m, st):
    limit, wmax, umin, ymax, precision = (float(v) for v in st)
    return {
        "precision": precision,
        "duplicates": int(n - m),
        "jacobi_sweeps": "sequential",
        "carry_sweeps": "sequential",
        "float64_limit": limit + 8 * _EPS * ymax,
        "max_abs_weight": wmax,
        "min_projection_gap": umin if m > 1 else None,
    }


def _stats(n, m, u, w, limit, sweeps, carry_sweeps):
    return {
        "duplicates": int(n - m),
        "jacobi_sweeps": sweeps,
        "carry_sweeps": carry_sweeps,
        "float64_limit": limit,
        "max_abs_weight": float(abs(w).max()),
        "min_projection_gap": float(u[1:].min()) if m > 1 else None,
    }


def _any_row(mask, xp):
    """``any`` over the outputs axis (a plain column view for one output)."""
    return mask[:, 0] if mask.shape[1] == 1 else xp.any(mask, axis=1)


def _values_at_biases(y, rho, xp):
    """Solve ``V_0 = 0, V_{i+1} = y_i + rho_i (y_i - V_i)`` by Jacobi sweeps.

    The iteration matrix is nilpotent, and ``rho`` is tiny except between
    points a few ulps apart, so a couple of full sweeps fix almost every
    entry; later sweeps only revisit the entries whose left neighbour changed.
    """
    m, k = y.shape
    dev = _device(y)
    zero = xp.zeros((1, k), dtype=xp.float64, device=dev)
    if m < 2:
        return zero, 0
    rho = rho[:, None]
    # changes below 2**-60 max|y| do not matter (the slopes are rounded far coarser)
    tiny = 2.0**-60 * max(1.0, float(xp.max(xp.abs(y))))
    # sweep 0 gives V = (0, y_0, ..., y_{m-2}); sweep 1 moves V_{i+1} by rho_i (y_i - y_{i-1})
    move = rho * (y[:-1] - xp.concat([zero, y[:-2]]))
    V = xp.concat([zero, y[:-1] + move])
    # V_{i+1} moves by rho_i times V_i's move: follow only moves that will matter
    changed = xp.nonzero(_any_row(xp.abs(move[:-1]) * rho[1:] > tiny, xp))[0] + 1
    sweeps = 1
    # ``changed`` holds the i whose V_i moved enough to move V_{i+1} by more than tiny
    for _ in range(_MAX_JACOBI + m - 1):
        if not changed.shape[0]:
            break
        src = changed
        yv = xp.take(y, src, axis=0)
        new = yv + xp.take(rho, src, axis=0) * (yv - xp.take(V, src, axis=0))
        dst = src + 1
        step = xp.abs(new - xp.take(V, dst, axis=0))
        V[dst, :] = new
        nxt = dst[dst < m - 1]
        changed = nxt[_any_row(step[: nxt.shape[0], ...] * xp.take(rho, nxt, axis=0) > tiny, xp)]
        sweeps += 1
    return V, sweeps


def _slope_grid(t, u, ymax: float, xp):
    """Power-of-two grid per slope, shared with its neighbours.

    ``q_i = 2**(E_i - 49)`` with ``2**E_i > max(|t_{i-1}|, |t_i|, |t_{i+1}|)``:
    consecutive slopes rounded to their grids are multiples of a common power of
    two, and while every ``|slope| < 2**(E_i + 1)`` (a 2x margin for the error
    feedback) they are fewer than ``2**51`` units apart, so their difference is
    exact in float64. Small slopes (equal labels) still get a grid fine enough for
    their own piece: at least ``2**-60 max|y| / u_i`` (a floor relative to the
    largest slope anywhere would round the gentle slopes of long pieces to 0 where
    slopes span more than 2**60, as with rows of very different sizes).
    """
    neigh = xp.abs(t)
    neigh[1:, ...] = xp.maximum(neigh[1:, ...], xp.abs(t[:-1, ...]))
    neigh[:-1, ...] = xp.maximum(neigh[:-1, ...], xp.abs(t[1:, ...]))
    floor = xp.maximum((2.0**-60 * ymax) / u, xp.asarray(2.0**-1000, dtype=xp.float64))
    neigh = xp.maximum(neigh, floor[:, None])
    if isinstance(neigh, np.ndarray):  # exact exponents without transcendental functions
        return np.ldexp(1.0, np.frexp(neigh)[1] - 49)
    # floor(log2(x)) + 1 > log2(x); the floor keeps q a power of two
    return xp.pow(2.0, xp.floor(xp.log2(neigh)) - 48.0)


def _round_slopes(s, q, b, u, eps, xp, ymax: float):
    """Grid-rounded slopes whose rounding errors do not pile up along the line.

    Rounding slope i by ``e_i`` shifts every later value by ``e_i * L_i``
    (``L_i`` the piece's length). Error feedback: piece i aims at
    ``t_i = s_i - c_i / u_i``, where the carry ``c_i`` is the value error left at
    its kink, ``c_i = e_{i-1} L_{i-1} - eps_i (s_{i-1} - t_{i-1})`` (the second
    term: the previous target differs from its slope over the kink's offset
    ``eps_i``, which matters where ``eps_i`` is not tiny against the gap). Only
    carries above ``2**-40 max|dy|`` are passed on, so after the first rounding
    this touches just the pieces next to steep ones (near-duplicate points),
    following each carry to the right until it has been absorbed; a piece whose
    target moves again passes on the change of its carry. The grids
    ``q`` are fixed up front with a 2x margin; :func:`_exact_differences`
    checks the weights are still exact.
    """
    m, k = s.shape
    s_q = xp.round(s / q) * q  # q is a power of two: the division is exact
    sweep = 0
    if m > 1:
        length = (b[1:] - b[:-1])[:, None]
        off = eps[:, None]  # eps[j] = b_{j+1} - z_j
        noise = 2.0**-40 * max(1.0, 2 * float(xp.max(xp.abs(s[:1] * u[:1]))), ymax)
        t = xp.asarray(s, copy=True)
        taken = xp.zeros_like(s)  # the carry each piece has absorbed
        # pieces whose rounding shifts the values to their right by more than noise
        src = xp.nonzero(_any_row(xp.abs((s_q[:-1, ...] - s[:-1, ...]) * length) > noise, xp))[0]
        for _ in range(_MAX_CARRY):  # a for loop: a bound no edit can remove
            if not src.shape[0]:
                break
            sweep += 1
            dst = src + 1
            t_src = xp.take(t, src, axis=0)
            carry = (xp.take(s_q, src, axis=0) - t_src) * xp.take(length, src, axis=0) - xp.take(
                off, src, axis=0
            ) * (xp.take(s, src, axis=0) - t_src)
            t_dst = xp.take(s, dst, axis=0) - carry / xp.take(u, dst, axis=0)[:, None]
            q_dst = xp.take(q, dst, axis=0)
            s_dst = xp.round(t_dst / q_dst) * q_dst
            t[dst, :] = t_dst
            s_q[dst, :] = s_dst
            taken[dst, :] = carry
            nxt = dst < m - 1
            dst, s_dst, t_dst = dst[nxt], s_dst[nxt, ...], t_dst[nxt, ...]
            following = (s_dst - t_dst) * xp.take(length, dst, axis=0) - xp.take(
                off, dst, axis=0
            ) * (xp.take(s, dst, axis=0) - t_dst)
            # pass a carry on again where it moved from what the next piece absorbed
            moved = following - xp.take(taken, dst + 1, axis=0)
            src = dst[_any_row(xp.abs(moved) > noise, xp)]
    return s_q, q, sweep


def _exact_differences(s_q, q, u, ymax, xp):
    """Weights ``w_i = s_i - s_{i-1}``, checked exact with TwoSum.

    Should the error feedback have pushed a slope past the 2x margin of a
    neighbour's grid, re-grid from the rounded slopes and check again.
    """
    for _ in range(2):
        head, prev = s_q[1:, ...], s_q[:-1, ...]
        diff, err = two_sum(head, -prev)
        if not bool(xp.all(xp.isfinite(diff))):
            raise ValueError(_OVERFLOW.format("weight"))
        if not bool(xp.any(err != 0)):
            return xp.concat([s_q[:1, ...], diff]), s_q, q
        q = _slope_grid(s_q, u, ymax, xp)
        s_q = xp.round(s_q / q) * q
    raise RuntimeError("internal error: weight differences are not exact; please report this input")


def _check_ties(X, ys, order, tied, xp, es, gaps):
    """Tied projections must come from identical points with identical labels."""
    pos = to_numpy(xp.nonzero(tied)[0])
    order_np = to_numpy(order)
    ys_np = to_numpy(ys)
    for t in pos:
        i, j = int(order_np[t]), int(order_np[t + 1])
        xi, xj = to_numpy(X[i, ...]), to_numpy(X[j, ...])
        if not np.array_equal(xi, xj):
            e = max(float(es[int(t)]), float(es[int(t) + 1]))
            raise _Collision(
                f"distinct points {min(i, j)} and {max(i, j)} have the same projection",
                refinable=e > 0,
                gap=float(gaps[int(t)]),
                err=e,
            )
        if not np.array_equal(ys_np[t], ys_np[t + 1]):
            i, j = sorted((i, j))
            raise ValueError(
                f"points {i} and {j} are identical but have different labels; no function can fit "
                "both: remove one or make their labels agree"
            )


def _device(x):
    from array_api_compat import device

    return device(x)


def _repair(prob: _Problem, a: np.ndarray, exc: _Collision, rng, max_tries: int):
    """Search lines of directions through ``a`` for one that separates every close pair.

    Along the line ``a + t v`` (``v`` random, ``|t| <= 1``) the directions that leave a
    pair too close form at most two intervals of ``t``; the rest of the line is computed
    exactly, and its widest free stretches are tried (the construction itself checks
    each). Pairs that a candidate still fails join the search.
    """
    Xh = np.asarray(to_numpy(prob.X), dtype=np.float64)
    found = _collision_pairs(Xh, *exc.projections)
    pairs = _unique_pairs(np.concatenate([_close_pairs(Xh, *exc.projections[:2]), found]))
    counts = [len(found)]
    for line in range(1, max_tries + 1):
        v = _random_direction(rng, prob)
        for t in _free_points(Xh, pairs, a, v):
            a2 = np.round((a + t * v) / (1 + abs(t)))  # entries stay within 2**a_bits
            try:
                solved = _fit_direction(prob, a2)
            except _Collision as again:
                found = _collision_pairs(Xh, *again.projections)
                counts.append(len(found))
                pairs = _unique_pairs(np.concatenate([pairs, found]))
                continue
            return a2, *solved, {"lines": line, "directions": len(counts) + 1}
    raise ValueError(_refusal(Xh, found, counts, (len(pairs), max_tries, prob.a_bits)))


def _collision_pairs(Xh, hi, lo, err) -> np.ndarray:
    """Every pair (i, j) of distinct points that no float64 bias separates along ``a``."""
    hi, lo, err = (np.asarray(to_numpy(v), dtype=np.float64) for v in (hi, lo, err))
    order = np.lexsort((lo, hi))
    hs, ls, es = hi[order], lo[order], err[order]
    tied = (hs[1:] - hs[:-1]) + (ls[1:] - ls[:-1]) <= es[1:] + es[:-1]
    same = np.zeros_like(tied)
    same[tied] = np.all(Xh[order[1:][tied]] == Xh[order[:-1][tied]], axis=1)
    out = [np.stack([order[:-1][tied & ~same], order[1:][tied & ~same]], axis=1)]
    slots = np.flatnonzero(np.r_[True, ~tied])
    hu, lu, eu = hs[slots], ls[slots], es[slots]
    if len(slots) > 1:
        b = np.r_[-np.inf, _kinks(hu, lu, eu, np)]
        k = np.flatnonzero(_too_close(hu, lu, b, eu, np)) + 1
        out.append(np.stack([order[slots[k - 1]], order[slots[k]]], axis=1))
    return np.concatenate(out).astype(np.int64)


def _close_pairs(Xh, hi, lo) -> np.ndarray:
    """Pairs of distinct points close enough that some direction could project them together.

    Runs of sorted projections at most ``2**-24`` of the largest apart hold them;
    within a run, each point is paired with its next ``_WINDOW`` neighbours.
    """
    hi, lo = np.asarray(to_numpy(hi)), np.asarray(to_numpy(lo))
    order = np.lexsort((lo, hi))
    z = hi[order] + lo[order]
    close = np.diff(z) <= _CLOSE * float(np.max(np.abs(z)))
    run = np.cumsum(np.r_[0, ~close])
    longest = int(np.max(np.bincount(run))) if len(run) else 0
    width = max(1, min(_WINDOW, longest - 1, _MAX_PAIRS // max(1, int(np.sum(close)))))
    out = []
    for k in range(1, width + 1):
        same_run = run[:-k] == run[k:]
        out.append(np.stack([order[:-k][same_run], order[k:][same_run]], axis=1))
    pairs = np.concatenate(out) if out else np.zeros((0, 2), dtype=np.int64)
    return pairs[np.any(Xh[pairs[:, 0]] != Xh[pairs[:, 1]], axis=1)].astype(np.int64)


def _unique_pairs(pairs: np.ndarray) -> np.ndarray:
    pairs = np.sort(pairs.reshape(-1, 2), axis=1)
    return np.unique(pairs, axis=0) if len(pairs) else pairs


def _rowdot(M, v):
    """Row-wise dot products, each rounded the same way wherever its row sits."""
    return np.einsum("ij,j->i", M, v)


def _free_points(Xh, pairs, a, v) -> list[float]:
    """Midpoints of the widest stretches of ``t`` in [-1, 1] where ``a + t v`` leaves every
    pair at least ``_SEARCH_GAP`` apart relative to its projection.

    A pair fails where ``|g + t h| < c |A + t B|`` (g, h: the pair's difference along
    a and v; A, B: one point's projections), i.e. where the two linear functions
    ``(g -+ c A) + t (h -+ c B)`` have opposite signs: between their roots, or
    outside them.
    """
    if len(pairs) == 0:
        return [0.0]
    D = Xh[pairs[:, 0]] - Xh[pairs[:, 1]]
    g, h = _rowdot(D, a), _rowdot(D, v)
    lows, highs = [], []
    for end in (0, 1):  # the gap is measured against both points' projections
        A, B = _rowdot(Xh[pairs[:, end]], a), _rowdot(Xh[pairs[:, end]], v)
        lo, hi = _failing_sets(g, h, _SEARCH_GAP * A, _SEARCH_GAP * B)
        lows.append(lo)
        highs.append(hi)
    return _widest_gaps(np.concatenate(lows), np.concatenate(highs))


def _failing_sets(g, h, cA, cB):
    """Intervals ``(lo, hi)`` of t where ``(g - cA + t (h - cB)) (g + cA + t (h + cB)) < 0``."""
    s1, s2, k1, k2 = h - cB, h + cB, g - cA, g + cA
    with np.errstate(divide="ignore", invalid="ignore"):
        r1, r2 = -k1 / s1, -k2 / s2
    lo, hi = np.minimum(r1, r2), np.maximum(r1, r2)
    sign = np.sign(s1) * np.sign(s2)  # not s1 * s2, which can underflow to 0
    between, outside = sign > 0, sign < 0  # a parabola opening upwards or downwards
    # one factor constant: the other's sign decides, on a half-line from its root
    line = (sign == 0) & ((s1 != 0) | (s2 != 0))
    root = np.where(s1 == 0, r2, r1)
    side = np.where(s1 == 0, np.sign(k1) * np.sign(s2), np.sign(k2) * np.sign(s1))  # > 0: left
    left, right = line & (side > 0), line & (side < 0)
    always = (s1 == 0) & (s2 == 0) & (np.sign(k1) * np.sign(k2) < 0)  # constants of opposite sign
    inf = np.full(len(g), np.inf)
    los = [lo[between], -inf[outside], hi[outside], -inf[left], root[right], -inf[always]]
    his = [hi[between], lo[outside], inf[outside], root[left], inf[right], inf[always]]
    return np.concatenate(los), np.concatenate(his)


def _widest_gaps(lo, hi) -> list[float]:
    """Midpoints of the widest parts of [-1, 1] outside every interval (lo, hi)."""
    keep = (hi > -1) & (lo < 1) & ~np.isnan(lo) & ~np.isnan(hi)
    lo, hi = lo[keep], hi[keep]
    order = np.argsort(lo, kind="stable")
    lo, hi = np.r_[lo[order], 1.0], np.r_[hi[order], np.inf]
    reach = np.maximum.accumulate(np.r_[-1.0, hi[:-1]])  # right end of the union so far
    width = lo - reach
    free = np.flatnonzero(width > 0)
    best = free[np.argsort(-width[free], kind="stable")][:_CANDIDATES]
    return [float((lo[k] + reach[k]) / 2) for k in best]


def _imprecise(exc: _Collision) -> str:
    """One line for points the projection's error bound, not the direction, keeps together."""
    return (
        f"{exc}: their distance along a is below the projection's error bound {exc.err:.1e}, "
        "which more exact slices no longer shrink; rescale X or move these points apart"
    )


def _refusal(Xh, found, counts, searched) -> str:
    """One line: which points, what was searched, and why it did not work."""
    n_pairs, max_tries, bits = searched
    if len(found) == 0:
        return "no direction separated the points (internal error; please report this input)"
    diff = np.max(np.abs(Xh[found[:, 0]] - Xh[found[:, 1]]), axis=1)
    size = np.maximum(np.max(np.abs(Xh[found[:, 0]]), axis=1), np.finfo(float).tiny)
    k = int(np.argmin(diff / size))
    i, j = sorted(int(v) for v in found[k])
    lam = float(np.mean(counts))
    return (
        f"points {i} and {j} (and {len(found) - 1} other pairs) project too close together "
        f"for a float64 bias between them along every direction tried: {len(counts)} "
        f"directions, the first random, the others the best on {max_tries} lines through it, "
        f"each line searched exhaustively for a direction separating all {n_pairs} close "
        f"pairs (integer entries below 2**{bits}). Points {i} and {j} differ by "
        f"{diff[k] / size[k]:.1e} relative to their size; a bias needs their projections "
        "several float64 spacings (about 1e-15 relative to the projection) apart, and a "
        f"direction leaves on average {lam:.1f} pairs closer than that. Spread or rescale "
        "such points, or merge them, before fitting"
    )
