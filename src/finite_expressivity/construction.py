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
   products with ``a`` are exact in float64 (:mod:`finite_expressivity.exact`).
   The output at a point moves by (local slope x projection error), and slopes
   reach ``|dy| / min gap`` (about 1e9 on MNIST), so a plain dot product is not
   accurate enough.
2. **Kinks right after the previous point.** ``b_i`` is the smallest float64
   above ``z_{i-1}`` (``b_1`` sits about one data range below ``z_1``). Then the
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

The result is checked by :func:`finite_expressivity.certify`, which evaluates
the stored float64 network in exact rational arithmetic.
"""

from __future__ import annotations

import math

import numpy as np

from .exact import plan_slices, project, two_sum
from .network import TwoLayerReLU
from .validation import check_labels, check_points, namespace, to_numpy

__all__ = ["fit"]

_MAX_JACOBI = 200
_MAX_CARRY = 12
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
        Rows per block of the projection (default: 8192, or all rows on a GPU).

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
    X = check_points(X, xp, finite=False)  # finiteness comes with max/min below
    n, d = X.shape
    y = check_labels(y, n, xp)
    if max_tries < 1:
        raise ValueError(f"max_tries must be at least 1, got {max_tries}")
    rng = np.random.default_rng(seed)
    device = _device(X)
    if chunk_rows is None:
        chunk_rows = 8192 if "cpu" in str(device).lower() else max(n, 1)
    xmax = max(float(xp.max(X)), -float(xp.min(X)))  # also NaN/inf if X has any
    if not math.isfinite(xmax):
        check_points(X, xp, finite=True)  # names the first bad row
    a_bits, grid_data = _direction_bits(X, xmax, d)
    plan = plan_slices(xmax, d, a_bits, n=n, grid_data=grid_data)
    y2 = y if y.ndim == 2 else y[:, None]
    last = None
    for attempt in range(max_tries):
        a_np = rng.integers(-(2**a_bits), 2**a_bits + 1, size=d).astype(np.float64)
        if not np.any(a_np):
            continue
        a = xp.asarray(a_np, device=device)
        hi, lo, err = project(X, a, plan, xp, chunk_rows=chunk_rows)
        try:
            b, w, stats = _solve(X, y2, hi, lo, err, xp)
        except _Collision as exc:
            last = exc
            continue
        info = {
            "seed": seed if isinstance(seed, (int, type(None))) else "generator",
            "tries": attempt + 1, "a_bits": a_bits, "slices": plan.n_exact + 1,
            "slice_bits": plan.bits, "projection_error_bound": err, **stats,
        }
        return TwoLayerReLU(a, b, w if y.ndim == 2 else w[:, 0], info)
    raise ValueError(f"{last} (tried {max_tries} random directions); such points cannot be fitted in float64")


def _direction_bits(X, xmax: float, d: int) -> tuple[int, bool]:
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
    if v.size == 0 or xmax == 0:
        return 20, False
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


def _solve(X, y, hi, lo, err, xp):
    """Biases and exactly telescoping weights for sorted projections (see module doc)."""
    n, k = y.shape
    order = xp.argsort(hi, stable=False)  # ties in hi are ordered by lo below
    hs, ls = xp.take(hi, order), xp.take(lo, order)
    if n > 1 and bool(xp.any(hs[1:] == hs[:-1])):  # equal leading parts: order by lo too
        order_np = np.lexsort((to_numpy(lo), to_numpy(hi)))
        order = xp.asarray(order_np, device=_device(hi))
        hs, ls = xp.take(hi, order), xp.take(lo, order)
    ys = xp.take(y, order, axis=0)

    keep = None  # all points distinct
    hu, lu, yu = hs, ls, ys
    if n > 1:
        gh, gl = two_sum(hs[1:], -hs[:-1])
        tied = gh + (gl + (ls[1:] - ls[:-1])) <= 2 * err
        if bool(xp.any(tied)):
            _check_ties(X, ys, order, tied, xp)
            keep = xp.concat([xp.ones((1,), dtype=xp.bool, device=_device(hi)), xp.logical_not(tied)])
            uniq = xp.nonzero(keep)[0]
            hu, lu, yu = xp.take(hs, uniq), xp.take(ls, uniq), xp.take(ys, uniq, axis=0)
    m = hu.shape[0]

    # Biases: b_0 about one data range below z_0; b_i the first float64 above z_{i-1}.
    # b_0 one gap below z_0: a long first piece would magnify its slope's rounding
    span = float(hu[1] - hu[0]) if m > 1 else 0.0
    span = max(span, 2.0**-40 * float(xp.abs(hu[0])), 2.0**-1000)
    b0 = xp.nextafter(hu[:1] - span, xp.asarray(-math.inf, dtype=xp.float64))
    # smallest-ish float64 certainly above the exact z_{i-1} (its error is at most err)
    above = xp.nextafter(hu[:-1] + (lu[:-1] + 2 * err), xp.asarray(math.inf, dtype=xp.float64))
    b = xp.concat([b0, above])
    th, tl = two_sum(hu, -b)
    u = th + (tl + lu)  # z_i - b_i > 0
    eps = (b[1:] - hu[:-1]) - lu[:-1]  # b_{i+1} - z_i > err
    if m > 1 and bool(xp.any(u[1:] <= 2 * err + 4 * xp.abs(eps))) or bool(xp.any(eps <= err)):
        bad = int(xp.argmin(u[1:] - 2 * err - 4 * xp.abs(eps))) + 1 if m > 1 else 0
        slots = to_numpy(xp.nonzero(keep)[0]) if keep is not None else np.arange(m)
        i, j = (int(order[int(slots[bad - 1])]), int(order[int(slots[bad])])) if m > 1 else (0, 0)
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

    s_q, q, carry_sweeps = _round_slopes(s, b, u, xp)
    # What float64 allows here: half a slope-grid step over the distance to the kink.
    limit = float(xp.max(q * u[:, None])) / 2 + 8 * _EPS * float(xp.max(xp.abs(yu)))
    w = xp.concat([s_q[:1], s_q[1:] - s_q[:-1]])  # exact: cumsum(w) == s_q (tested)

    # Back to all n neurons: a duplicate point gets its twin's bias and weight 0.
    b_all, w_all = b, w
    if keep is not None:
        slot = xp.cumulative_sum(xp.astype(keep, xp.int64)) - 1
        b_all = xp.take(b, slot)
        w_all = xp.where(keep[:, None], xp.take(w, slot, axis=0), 0.0)
    stats = {"duplicates": int(n - m), "jacobi_sweeps": sweeps, "carry_sweeps": carry_sweeps,
             "float64_limit": limit,
             "max_abs_weight": float(xp.max(xp.abs(w))), "min_projection_gap": float(xp.min(u[1:])) if m > 1 else None}
    return b_all, w_all, stats


def _values_at_biases(y, rho, xp):
    """Solve ``V_0 = 0, V_{i+1} = y_i + rho_i (y_i - V_i)`` by Jacobi sweeps.

    The iteration matrix is nilpotent, and ``rho`` is tiny except between
    points a few ulps apart, so a couple of full sweeps fix almost every
    entry; later sweeps only revisit the entries whose left neighbour changed.
    """
    m, k = y.shape
    dev = _device(y)
    V = xp.concat([xp.zeros((1, k), dtype=xp.float64, device=dev), y[:-1]])
    if m < 2:
        return V, 0
    rho = rho[:, None]
    V_new = xp.concat([V[:1], y[:-1] + rho * (y[:-1] - V[:-1])])
    changed = xp.nonzero(xp.any(V_new != V, axis=1))[0]
    V = V_new
    sweeps = 1
    while changed.shape[0] and sweeps < _MAX_JACOBI + m:
        src = changed[changed < m - 1]
        if src.shape[0] == 0:
            break
        new = xp.take(y, src, axis=0) + xp.take(rho, src, axis=0) * (
            xp.take(y, src, axis=0) - xp.take(V, src, axis=0))
        dst = src + 1
        moved = xp.any(new != xp.take(V, dst, axis=0), axis=1)
        V[dst, :] = new
        changed = dst[moved]
        sweeps += 1
    return V, sweeps


def _slope_grid(t, xp, *, margin: float = 1.0):
    """Power-of-two grid per slope, shared with its neighbours.

    ``2**E > margin * max(|t_{i-1}|, |t_i|, |t_{i+1}|)`` and the grid is
    ``q_i = 2**(E-51)``: consecutive slopes rounded to their grids are multiples
    of a common power of two with fewer than 2**52 units between them, so
    their difference is exact in float64 (while every |slope| < 2**E).
    """
    k = t.shape[1]
    mag = xp.abs(t)
    pad = xp.zeros((1, k), dtype=xp.float64, device=_device(t))
    neigh = margin * xp.maximum(mag, xp.maximum(xp.concat([pad, mag[:-1]]), xp.concat([mag[1:], pad])))
    expo = xp.floor(xp.log2(xp.where(neigh > 0, neigh, 1.0))) + 2.0
    return xp.pow(2.0, xp.clip(expo - 51.0, -1074.0, None))


def _round_slopes(s, b, u, xp):
    """Grid-rounded slopes whose rounding errors do not pile up along the line.

    Rounding slope i by ``e_i`` shifts every later value by ``e_i * L_i``
    (``L_i`` the piece's length). Error feedback: piece i aims at
    ``s_i - carry_i / u_i``, where ``carry_i`` is the shift left by piece i-1,
    so each value error stays local. The targets depend on the neighbours'
    rounding, so this is iterated (Jacobi) until no rounded slope moves a value
    by more than ``2**-40 max|y|`` (the continuous part of the carry propagates
    along the whole line, so exact convergence would take O(n) sweeps). The
    grids are fixed up front with a 2x margin, so the feedback cannot break
    the exactness of the weight differences.
    """
    m, k = s.shape
    q = _slope_grid(s, xp, margin=2.0)
    t = s
    s_q = xp.round(t / q) * q
    sweep = 0
    if m > 1:
        length = (b[1:] - b[:-1])[:, None]
        zero = xp.zeros((1, k), dtype=xp.float64, device=_device(s))
        values = s * u[:, None]  # what each piece adds at its point, about |dy|
        noise = 2.0**-40 * max(1.0, float(xp.max(xp.abs(values))))
        for sweep in range(1, _MAX_CARRY + 1):
            carry = xp.concat([zero, (s_q[:-1] - t[:-1]) * length])
            t = s - carry / u[:, None]
            s_new = xp.round(t / q) * q
            moved = float(xp.max(xp.abs(s_new[:-1] - s_q[:-1]) * length))
            s_q = s_new
            if moved <= noise:
                break
    if bool(xp.any(xp.abs(s_q) >= q * 2.0**50)):  # feedback outgrew the margin: regrid
        q = _slope_grid(s_q, xp)
        s_q = xp.round(s_q / q) * q
    return s_q, q, sweep


def _check_ties(X, ys, order, tied, xp):
    """Tied projections must come from identical points with identical labels."""
    pos = to_numpy(xp.nonzero(tied)[0])
    order_np = to_numpy(order)
    ys_np = to_numpy(ys)
    for t in pos:
        i, j = int(order_np[t]), int(order_np[t + 1])
        xi, xj = to_numpy(X[i, ...]), to_numpy(X[j, ...])
        if not np.array_equal(xi, xj):
            raise _Collision(f"distinct points {min(i, j)} and {max(i, j)} have the same projection")
        if not np.array_equal(ys_np[t], ys_np[t + 1]):
            i, j = sorted((i, j))
            raise ValueError(
                f"points {i} and {j} are identical but have different labels; no function can fit "
                "both: remove one or make their labels agree"
            )


def _device(x):
    from array_api_compat import device

    return device(x)
