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
   certainly above ``z_{i-1}`` (or ``z_{i-1}`` itself when that is an exact float64) (``b_1`` sits about one data range below ``z_1``). Then the
   slope on the piece holding ``z_i`` is essentially the secant slope
   ``(y_i - y_{i-1}) / (z_i - z_{i-1})``: slopes do not build up along the line
   as they do with midpoint biases (``s_i = -s_{i-1} + 2 dy / gap``).
3. **Exactly telescoping weights.** The slopes ``s_i`` solve
   ``V_{i+1} = y_i + rho_i (y_i - V_i)`` (``V_i`` the value at ``b_i``,
   ``rho_i = (b_{i+1} - z_i) / (z_i - b_i)``, tiny), by vectorized Jacobi sweeps.
   Each slope is then rounded to a power-of-two grid shared with its
   neighbours, so ``w_i = s_i - s_{i-1}`` is computed exactly and the exact
   prefix sums of the stored weights equal the stored slopes: no rounding error
   of a weight ever reaches the points to its right.

The result is checked by :func:`finite_expressivity.theorem1.certify`, which evaluates
the stored float64 network in exact rational arithmetic.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.validation import check_labels, check_points, namespace, to_numpy
from .exact import NonFinite, check_range, plan_slices, project, two_sum
from .network import TwoLayerReLU

__all__ = ["fit"]

_MAX_JACOBI = 200
_MAX_CARRY = 64
_FUSED_MIN_ROWS = 4096
_EPS = 2.0**-53


class _Collision(Exception):
    """Two distinct points project (nearly) onto the same value along ``a``."""


def fit(X, y, *, seed=None, max_tries: int = 4, chunk_rows: int | None = None) -> TwoLayerReLU:
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
        Directions to try when two distinct points project too close together
        to be separated in float64.
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
        labels (naming both indices), or points that cannot be separated.
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
    a_bits, grid_data = _direction_bits(X, d)
    plan = plan_slices(1.0, d, a_bits, n=n, grid_data=grid_data)  # e_top is set per block
    y2 = y if y.ndim == 2 else y[:, None]
    last = None
    for attempt in range(max_tries):
        a_np = rng.integers(-(2**a_bits), 2**a_bits + 1, size=d).astype(np.float64)
        if d == 1:  # on a line the points are already sorted by x: z = x exactly
            a_np = np.ones(1)
        if not np.any(a_np):
            continue
        a = xp.asarray(a_np, device=device)
        fused = _fused_module(X, plan)
        if d == 1:  # z = x: no projection error at all
            if not bool(xp.all(xp.isfinite(X))):
                check_points(X, xp, finite=True)
            check_range(float(xp.max(xp.abs(X))))
            hi, lo, err = X[:, 0] * 1.0, xp.zeros((n,), dtype=xp.float64, device=device), 0.0
        elif fused is not None:
            # at most 3 exact slices (grid data such as MNIST need 1); a coarser split only
            # widens the rigorous error bound err, which the solve checks against the gaps
            hi, lo, err = fused.project(X, a_np, plan.bits, min(plan.n_exact, 3))
            if hi is None:
                check_points(X, xp, finite=True)  # names the first bad row
                raise ValueError("X could not be projected: an intermediate overflowed; rescale X")
        else:
            try:
                hi, lo, err = project(X, a, plan, xp, chunk_rows=chunk_rows)
            except NonFinite:
                check_points(X, xp, finite=True)  # names the first bad row
                raise
        try:
            (b, w), stats = _solve(X, y2, hi, lo, err, xp, fused)
        except _Collision as exc:
            last = exc
            continue
        info = {
            "seed": seed if isinstance(seed, (int, type(None))) else "generator",
            "tries": attempt + 1,
            "a_bits": a_bits,
            "slices": plan.n_exact + 1,
            "slice_bits": plan.bits,
            "projection_error_bound": err,
            **stats,
        }
        return TwoLayerReLU(a, b, w if y.ndim == 2 else w[:, 0], info)
    raise ValueError(
        f"{last} (tried {max_tries} random directions); such points cannot be fitted in float64"
    )


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
    try:
        from . import compiled as fused
    except ImportError:  # numba missing: the array-API path computes the same network
        return None
    return fused


def _solve(X, y, hi, lo, err, xp, fused=None):
    """Biases and exactly telescoping weights for sorted projections (see module doc)."""
    n, k = y.shape
    order = xp.argsort(hi, stable=False)  # ties in hi are ordered by lo below
    if fused is not None and k == 1:  # gathers, tie check and slopes in one compiled pass
        status, bad, b, w, st = fused.slopes_and_weights(hi, lo, y[:, 0], order, err)
        if status == 0:
            return (b, w[:, None]), _fused_stats(n, n, st)
        # anything else (ties, errors) takes the general path below, which names the points
    hs, ls = xp.take(hi, order), xp.take(lo, order)
    if n > 1 and bool(xp.any(hs[1:] == hs[:-1])):  # equal leading parts: order by lo too
        order_np = np.lexsort((to_numpy(lo), to_numpy(hi)))
        order = xp.asarray(order_np, device=_device(hi))
        hs, ls = xp.take(hi, order), xp.take(lo, order)
    ys = xp.take(y, order, axis=0)

    keep = None  # all points distinct
    hu, lu, yu = hs, ls, ys
    if n > 1:
        # hs[i+1] - hs[i] is exact whenever it is small (Sterbenz), which is all that matters here
        tied = (hs[1:] - hs[:-1]) + (ls[1:] - ls[:-1]) <= 2 * err
        if bool(xp.any(tied)):
            _check_ties(X, ys, order, tied, xp)
            keep = xp.concat(
                [xp.ones((1,), dtype=xp.bool, device=_device(hi)), xp.logical_not(tied)]
            )
            uniq = xp.nonzero(keep)[0]
            hu, lu, yu = xp.take(hs, uniq), xp.take(ls, uniq), xp.take(ys, uniq, axis=0)
    m = hu.shape[0]

    if fused is not None and k == 1 and m > 0:
        idx = np.arange(m) if keep is not None else order
        src = (hu, lu, yu[:, 0]) if keep is not None else (hi, lo, y[:, 0])
        status, bad, b, w, st = fused.slopes_and_weights(*src, idx, err)
        if status == 0:
            return _expand(b, w[:, None], keep, xp), _fused_stats(n, m, st)
        if status == 1 and bad == 0:  # the first point, against b_0
            raise _Collision(
                f"point {int(order[0])} lies too close to 0 along a for its projection error"
            )
        if status == 1:
            slots = to_numpy(xp.nonzero(keep)[0]) if keep is not None else np.arange(m)
            i, j = int(order[int(slots[bad - 1])]), int(order[int(slots[bad])])
            raise _Collision(
                f"points {i} and {j} project too close together to place a float64 bias between them"
            )
        if status == 2:
            raise ValueError(
                "labels are too large for how close some points are (a slope overflows float64); "
                "scale y down or the points apart"
            )
        # status 3 (weights not exact): fall through to the array path, which re-grids

    # Biases: b_0 about one data range below z_0; b_i the first float64 above z_{i-1}.
    # b_0 one gap below z_0: a long first piece would magnify its slope's rounding
    span = float(hu[1] - hu[0]) if m > 1 else 0.0
    span = max(span, 2.0**-40 * float(xp.abs(hu[0])), 4.0 * err, 2.0**-1000)
    b0 = xp.nextafter(hu[:1] - span, xp.asarray(-math.inf, dtype=xp.float64))
    # the first float64 certainly above the exact z_{i-1} (whose error is at most err);
    # where z_{i-1} is itself an exact float64 the kink sits on it (relu(0) = 0, the
    # weak interleaving z_{i-1} <= b_i < z_i of proofs/coq: Theorem1.interpolation_weak)
    above = xp.nextafter(hu[:-1] + (lu[:-1] + 2 * err), xp.asarray(math.inf, dtype=xp.float64))
    if err == 0:
        above = xp.where(lu[:-1] == 0, hu[:-1], above)
    b = xp.concat([b0, above])
    u = (hu - b) + lu  # z_i - b_i > 0, to a relative error of a few ulps
    eps = (b[1:] - hu[:-1]) - lu[:-1]  # b_{i+1} - z_i >= 0, > err if err > 0 (b - hu exact)
    if not float(u[0]) > 2 * err:
        raise _Collision(
            f"point {int(order[0])} lies too close to 0 along a for its projection error"
        )
    if m > 1 and (
        bool(xp.any(u[1:] <= 2 * err + 4 * eps))
        or bool(xp.any(eps < 0))
        or (err > 0 and bool(xp.any(eps <= err)))
    ):
        bad = int(xp.argmin(u[1:] - 2 * err - 4 * eps)) + 1
        slots = to_numpy(xp.nonzero(keep)[0]) if keep is not None else np.arange(m)
        i, j = int(order[int(slots[bad - 1])]), int(order[int(slots[bad])])
        raise _Collision(
            f"points {i} and {j} project to values {float(u[bad]):.3g} apart, too close to place "
            "a float64 bias between them"
        )

    V, sweeps = _values_at_biases(yu, eps / u[:-1], xp)
    s = (yu - V) / u[:, None]
    if not bool(xp.all(xp.isfinite(s))):
        raise ValueError(
            "labels are too large for how close some points are (a slope overflows float64); "
            "scale y down or the points apart"
        )

    ymax = float(xp.max(xp.abs(yu)))
    s_q, q, carry_sweeps = _round_slopes(s, b, u, xp, 2 * ymax)
    w, s_q, q = _exact_differences(s_q, q, xp)  # prefix sums of w are exactly s_q
    # What float64 allows here: half a slope-grid step over the distance to the kink.
    limit = float(xp.max(q * u[:, None])) / 2 + 8 * _EPS * ymax

    return _expand(b, w, keep, xp), _stats(n, m, u, w, limit, sweeps, carry_sweeps)


def _expand(b, w, keep, xp):
    """Back to all n neurons: a duplicate point gets its twin's bias and weight 0."""
    if keep is None:
        return b, w
    slot = xp.cumulative_sum(xp.astype(keep, xp.int64)) - 1
    return xp.take(b, slot), xp.where(keep[:, None], xp.take(w, slot, axis=0), 0.0)


def _fused_stats(n, m, st):
    limit, wmax, umin, ymax = (float(v) for v in st)
    return {
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
    while changed.shape[0] and sweeps < _MAX_JACOBI + m:
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


def _slope_grid(t, xp):
    """Power-of-two grid per slope, shared with its neighbours.

    ``q_i = 2**(E_i - 49)`` with ``2**E_i > max(|t_{i-1}|, |t_i|, |t_{i+1}|)``:
    consecutive slopes rounded to their grids are multiples of a common power of
    two, and while every ``|slope| < 2**(E_i + 1)`` (a 2x margin for the error
    feedback) they are fewer than ``2**51`` units apart, so their difference is
    exact in float64.
    """
    neigh = xp.abs(t)
    neigh[1:, ...] = xp.maximum(neigh[1:, ...], xp.abs(t[:-1, ...]))
    neigh[:-1, ...] = xp.maximum(neigh[:-1, ...], xp.abs(t[1:, ...]))
    # zero slopes (equal labels) still get a grid the error feedback can use
    neigh = xp.maximum(neigh, max(2.0**-1000, 2.0**-60 * float(xp.max(neigh))))
    if isinstance(neigh, np.ndarray):  # exact exponents without transcendental functions
        return np.ldexp(1.0, np.frexp(neigh)[1] - 49)
    # floor(log2(x)) + 1 > log2(x); the floor keeps q a power of two
    return xp.pow(2.0, xp.floor(xp.log2(neigh)) - 48.0)


def _round_slopes(s, b, u, xp, ymax: float):
    """Grid-rounded slopes whose rounding errors do not pile up along the line.

    Rounding slope i by ``e_i`` shifts every later value by ``e_i * L_i``
    (``L_i`` the piece's length). Error feedback: piece i aims at
    ``s_i - carry_i / u_i``, where ``carry_i`` is the shift left by piece i-1,
    so each value error stays local. Only carries above ``2**-40 max|dy|`` are
    passed on, so after the first rounding this touches just the pieces next
    to steep ones (near-duplicate points), following each carry to the right
    until it has been absorbed. The grids are fixed up front with a 2x margin;
    :func:`_exact_differences` checks the weights are still exact.
    """
    m, k = s.shape
    q = _slope_grid(s, xp)
    s_q = xp.round(s / q) * q  # q is a power of two: the division is exact
    sweep = 0
    if m > 1:
        length = (b[1:] - b[:-1])[:, None]
        ratio = length / u[1:, None]  # L_{i-1} / u_i
        noise = 2.0**-40 * max(1.0, 2 * float(xp.max(xp.abs(s[:1] * u[:1]))), ymax)
        t = xp.asarray(s, copy=True)
        # pieces whose rounding shifts the values to their right by more than noise
        src = xp.nonzero(_any_row(xp.abs((s_q[:-1, ...] - s[:-1, ...]) * length) > noise, xp))[0]
        while src.shape[0] and sweep < _MAX_CARRY:
            sweep += 1
            dst = src + 1
            carry = (xp.take(s_q, src, axis=0) - xp.take(t, src, axis=0)) * xp.take(
                ratio, src, axis=0
            )
            t_dst = xp.take(s, dst, axis=0) - carry
            q_dst = xp.take(q, dst, axis=0)
            s_dst = xp.round(t_dst / q_dst) * q_dst
            t[dst, :] = t_dst
            s_q[dst, :] = s_dst
            nxt = dst < m - 1
            dst, s_dst, t_dst = dst[nxt], s_dst[nxt, ...], t_dst[nxt, ...]
            left = xp.abs((s_dst - t_dst) * xp.take(length, dst, axis=0)) > noise
            src = dst[_any_row(left, xp)]
    return s_q, q, sweep


def _exact_differences(s_q, q, xp):
    """Weights ``w_i = s_i - s_{i-1}``, checked exact with TwoSum.

    Should the error feedback have pushed a slope past the 2x margin of a
    neighbour's grid, re-grid from the rounded slopes and check again.
    """
    for _ in range(2):
        head, prev = s_q[1:, ...], s_q[:-1, ...]
        diff, err = two_sum(head, -prev)
        if not bool(xp.all(xp.isfinite(diff))):
            raise ValueError(
                "labels are too large for how close some points are (a weight overflows float64); "
                "scale y down or the points apart"
            )
        if not bool(xp.any(err != 0)):
            return xp.concat([s_q[:1, ...], diff]), s_q, q
        q = _slope_grid(s_q, xp)
        s_q = xp.round(s_q / q) * q
    raise RuntimeError("internal error: weight differences are not exact; please report this input")


def _check_ties(X, ys, order, tied, xp):
    """Tied projections must come from identical points with identical labels."""
    pos = to_numpy(xp.nonzero(tied)[0])
    order_np = to_numpy(order)
    ys_np = to_numpy(ys)
    for t in pos:
        i, j = int(order_np[t]), int(order_np[t + 1])
        xi, xj = to_numpy(X[i, ...]), to_numpy(X[j, ...])
        if not np.array_equal(xi, xj):
            raise _Collision(
                f"distinct points {min(i, j)} and {max(i, j)} have the same projection"
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
