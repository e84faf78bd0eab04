"""Fused CPU loops (Numba) for the construction on NumPy arrays.

The array-API path in :mod:`construction` makes a dozen passes over n-vectors
and slices X block by block with NumPy calls; on a CPU that is several times the
cost of one projection and one sort. These loops compute the same quantities
in one pass over X and two passes over the sorted projections:

* :func:`project`: per row, the error-free split of the row on a power-of-two
  grid (``(x + sigma) - sigma``), the exact product of the slice with the
  integer direction, the rounded product of the remainder, and a rigorous
  bound on that rounding (rows in parallel);
* :func:`slopes_and_weights`: biases, the exact value recurrence, the slopes,
  their neighbour-shared power-of-two grids and the *sequential* error
  feedback that the array path approximates with sparse Jacobi sweeps, then
  the weights, checked exact with TwoSum.

Numba compiles with IEEE semantics (no fast-math), so every rounding is the one
written. Without Numba, :mod:`construction` uses the array-API path.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__ = ["project", "slopes_and_weights"]

_EPS = 2.0**-53


@njit(cache=True, inline="always", error_model="numpy")
def _split(x, aj, sig0, sig1, sig2, n_exact):
    """One entry: its exact slice products and the rounded remainder product."""
    x0 = (x + sig0) - sig0
    x = x - x0
    p1 = p2 = 0.0
    if n_exact >= 2:
        x1 = (x + sig1) - sig1
        x = x - x1
        p1 = x1 * aj
        if n_exact >= 3:
            x2 = (x + sig2) - sig2
            x = x - x2
            p2 = x2 * aj
    return x0 * aj, p1, p2, x * aj


@njit(cache=True, parallel=True, error_model="numpy")
def _project(X, a, bits, n_exact, hi, lo, bound, bad):
    n, d = X.shape
    gamma = (d + 1) * _EPS / (1.0 - (d + 1) * _EPS)  # d products and d - 1 additions
    d4 = d - d % 4
    for i in prange(n):
        row = X[i]
        t0 = t1 = t2 = t3 = 0.0  # four partial maxima: independent chains
        for j in range(0, d4, 4):
            t0 = max(t0, abs(row[j]))
            t1 = max(t1, abs(row[j + 1]))
            t2 = max(t2, abs(row[j + 2]))
            t3 = max(t3, abs(row[j + 3]))
        for j in range(d4, d):
            t0 = max(t0, abs(row[j]))
        top = max(max(t0, t1), max(t2, t3))
        if not top <= 1.7e308:  # NaN or inf somewhere in the row
            bad[i] = 1
            continue
        if top >= 2.0**900:  # beyond the slicing constants' range
            bad[i] = 2
            continue
        e_top = math.frexp(top)[1] if top > 0.0 else 0
        # (x + sigma_k) - sigma_k rounds x to the grid of slice k
        sig0 = math.ldexp(1.5, e_top - bits + 52)
        sig1 = math.ldexp(1.5, e_top - 2 * bits + 52)
        sig2 = math.ldexp(1.5, e_top - 3 * bits + 52)
        # slice sums are exact in any order; the remainder sum is rounded, in a fixed
        # order per row (four interleaved partial sums), so it does not depend on i
        sa0 = sb0 = sc0 = sd0 = s1 = s2 = ra = rb = rc = rd = err = 0.0
        for j in range(0, d4, 4):
            p0, p1, p2, pr = _split(row[j], a[j], sig0, sig1, sig2, n_exact)
            q0, q1, q2, qr = _split(row[j + 1], a[j + 1], sig0, sig1, sig2, n_exact)
            u0, u1, u2, ur = _split(row[j + 2], a[j + 2], sig0, sig1, sig2, n_exact)
            v0, v1, v2, vr = _split(row[j + 3], a[j + 3], sig0, sig1, sig2, n_exact)
            sa0 += p0
            sb0 += q0
            sc0 += u0
            sd0 += v0
            s1 += (p1 + q1) + (u1 + v1)
            s2 += (p2 + q2) + (u2 + v2)
            ra += pr
            rb += qr
            rc += ur
            rd += vr
            err += (abs(pr) + abs(qr)) + (abs(ur) + abs(vr))
        for j in range(d4, d):
            p0, p1, p2, pr = _split(row[j], a[j], sig0, sig1, sig2, n_exact)
            sa0 += p0
            s1 += p1
            s2 += p2
            ra += pr
            err += abs(pr)
        s0 = (sa0 + sb0) + (sc0 + sd0)
        rest = (ra + rb) + (rc + rd)
        # combine the exact sums with the rounded rest as a double-double
        h = s0 + s1
        bp = h - s0
        l = (s0 - (h - bp)) + (s1 - bp)
        l = l + s2
        l2 = l + rest
        h2 = h + l2
        bp = h2 - h
        if not abs(h2) <= 1.7e308:  # a NaN in the row propagates to here
            bad[i] = 1
        hi[i] = h2
        lo[i] = (h - (h2 - bp)) + (l2 - bp)
        # zero for data on the grid (MNIST): the projection is then exact
        bound[i] = gamma * err + _EPS * (abs(l) + abs(l2))


def project(X: np.ndarray, a: np.ndarray, bits: int, n_exact: int):
    """``X @ a`` as a double-double ``(hi, lo)`` and a bound on its error.

    Returns ``None`` for ``hi`` when X holds NaN or inf.
    """
    if n_exact > 3:
        raise ValueError("fused projection supports at most 3 exact slices")
    X = np.ascontiguousarray(X, dtype=np.float64)
    n = X.shape[0]
    hi, lo, bound = np.empty(n), np.empty(n), np.empty(n)
    bad = np.zeros(n, dtype=np.uint8)
    _project(
        X, np.ascontiguousarray(a, dtype=np.float64), int(bits), int(n_exact), hi, lo, bound, bad
    )
    if bad.any():
        if np.any(bad == 2):
            from .exact import check_range

            check_range(float(np.max(np.abs(X))))
        return None, None, 0.0
    return hi, lo, float(bound.max()) if n else 0.0


@njit(cache=True, parallel=True)
def _gather(hi, lo, y, order, hu, lu, yu):
    for i in prange(order.shape[0]):
        k = order[i]
        hu[i] = hi[k]
        lu[i] = lo[k]
        yu[i] = y[k]


@njit(cache=True, inline="always", error_model="numpy")
def _round_to(t, q):
    """``t`` rounded to the nearest multiple of the power of two ``q`` (ties to even).

    ``t / q`` is exact and below 2**51, where adding and subtracting 1.5 * 2**52
    rounds to an integer.
    """
    x = t / q
    return ((x + 6755399441055744.0) - 6755399441055744.0) * q


@njit(cache=True, inline="always")
def _next_up(x):
    """The next float64 above a finite ``x`` (``numpy.nextafter(x, inf)``), from its bits."""
    bits = _bits(x)
    if x > 0.0:
        return _float(bits + 1)
    if x < 0.0:
        return _float(bits - 1)
    return 5e-324


@njit(cache=True, inline="always")
def _bits(x):
    return np.float64(x).view(np.int64)


@njit(cache=True, inline="always")
def _float(bits):
    return np.int64(bits).view(np.float64)


@njit(cache=True, parallel=True, error_model="numpy")
def _grids(s, q, floor):
    """q_i = 2**(frexp(g_i)[1] - 49), g_i the largest |slope| among i and its neighbours."""
    m = s.shape[0]
    for i in prange(m):
        g = abs(s[i])
        if i > 0:
            g = max(g, abs(s[i - 1]))
        if i + 1 < m:
            g = max(g, abs(s[i + 1]))
        g = max(g, floor)
        biased = (_bits(g) >> 52) & 0x7FF
        q[i] = _float((biased - 48) << 52) if biased > 48 else math.ldexp(1.0, biased - 1071)


@njit(cache=True, parallel=True, error_model="numpy")
def _ratios(b, u, out):
    """out_i = (b_i - b_{i-1}) / u_i: how much of piece i-1's shift piece i must absorb."""
    for i in prange(1, b.shape[0]):
        out[i] = (b[i] - b[i - 1]) / u[i]


@njit(cache=True, error_model="numpy")
def _slopes(hi, lo, y, order, err, hu, lu, yu, b, u, s, q, s_q, w, stats):
    """Returns (status, index): 0 ok, 1 too close, 2 overflow, 3 inexact, 4 tie.

    ``stats`` receives (float64 limit, max|w|, min gap u, max|y|).
    """
    m = hi.shape[0]
    _gather(hi, lo, y, order, hu, lu, yu)
    # biases (b_0 one gap below z_0; b_i the first float64 certainly above z_{i-1}),
    # then the values at the kinks V_{i+1} = y_i + rho_i (y_i - V_i), exactly in order
    span = hu[1] - hu[0] if m > 1 else 0.0
    span = max(span, 2.0**-40 * abs(hu[0]), 4.0 * err, 2.0**-1000)
    b[0] = -_next_up(-(hu[0] - span))
    u[0] = (hu[0] - b[0]) + lu[0]
    if not u[0] > 2.0 * err:
        return 1, 0
    V = 0.0
    umin = np.inf
    top = 0.0
    ymax = 0.0
    for i in range(m):
        ymax = max(ymax, abs(yu[i]))
        s[i] = (yu[i] - V) / u[i]
        if not abs(s[i]) <= 1.7e308:
            return 2, i
        top = max(top, abs(s[i]))
        if i + 1 < m:
            if (hu[i + 1] - hu[i]) + (lu[i + 1] - lu[i]) <= 2.0 * err:
                return 4, i + 1  # tied projections: the slow path sorts them out
            if err == 0.0 and lu[i] == 0.0:
                b[i + 1] = hu[i]  # weak interleaving: the kink sits on the exact point
            else:
                b[i + 1] = _next_up(hu[i] + (lu[i] + 2.0 * err))
            u[i + 1] = (hu[i + 1] - b[i + 1]) + lu[i + 1]
            eps = (b[i + 1] - hu[i]) - lu[i]
            if eps < 0.0 or (err > 0.0 and eps <= err) or u[i + 1] <= 2.0 * err + 4.0 * eps:
                return 1, i + 1
            umin = min(umin, u[i + 1])
            V = yu[i] + (eps / u[i]) * (yu[i] - V)
    # power-of-two grids shared with the neighbours (2x margin for the feedback)
    _grids(s, q, max(2.0**-1000, 2.0**-60 * top))
    ratio = hu  # reuse: the projections are no longer needed
    _ratios(b, u, ratio)
    # rounding with sequential error feedback (piece i absorbs what piece i-1 left),
    # and the weight differences, checked exact with TwoSum
    limit = 0.0
    wmax = 0.0
    t_prev = s[0]
    s_q[0] = _round_to(s[0], q[0])
    w[0] = s_q[0]
    for i in range(m):
        if i > 0:
            t = s[i] - (s_q[i - 1] - t_prev) * ratio[i]
            s_q[i] = _round_to(t, q[i])
            t_prev = t
            x = s_q[i]
            x2 = -s_q[i - 1]
            d = x + x2
            bp = d - x
            if not abs(d) <= 1.7e308:
                return 2, i  # a weight overflows
            if (x - (d - bp)) + (x2 - bp) != 0.0:
                return 3, i
            w[i] = d
        limit = max(limit, q[i] * u[i])
        wmax = max(wmax, abs(w[i]))
    stats[0] = limit / 2.0
    stats[1] = wmax
    stats[2] = umin
    stats[3] = ymax
    return 0, 0


def slopes_and_weights(hi, lo, y, order, err):
    """Biases ``b``, weights ``w`` and statistics for one output.

    ``order`` sorts the projections ``hi + lo``. Returns ``(status, index, b, w,
    stats)`` with ``stats`` = (float64 limit, max|w|, smallest gap ``z_i - b_i``,
    max|y|); a non-zero status means two points are too close (1), a slope
    overflows (2), the weights are not exact (3), or two projections tie (4), at
    sorted position ``index``.
    """
    m = hi.shape[0]
    hu, lu, yu, b, u, s, q, s_q, w = (np.empty(m) for _ in range(9))
    stats = np.zeros(4)
    status, idx = _slopes(
        hi,
        lo,
        np.ascontiguousarray(y, dtype=np.float64),
        np.ascontiguousarray(order, dtype=np.int64),
        float(err),
        hu,
        lu,
        yu,
        b,
        u,
        s,
        q,
        s_q,
        w,
        stats,
    )
    return int(status), int(idx), b, w, stats
