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
        e_top = math.frexp(top)[1] if top > 0.0 else 0
        # (x + sigma_k) - sigma_k rounds x to the grid of slice k
        sig0 = math.ldexp(1.5, e_top - bits + 52)
        sig1 = math.ldexp(1.5, e_top - 2 * bits + 52)
        sig2 = math.ldexp(1.5, e_top - 3 * bits + 52)
        # slice sums are exact in any order; the remainder sum is rounded, in a fixed
        # order per row (two interleaved partial sums), so it does not depend on i
        sa0 = sb0 = s1 = s2 = ra = rb = err = 0.0
        for j in range(0, d - d % 2, 2):
            p0, p1, p2, pr = _split(row[j], a[j], sig0, sig1, sig2, n_exact)
            q0, q1, q2, qr = _split(row[j + 1], a[j + 1], sig0, sig1, sig2, n_exact)
            sa0 += p0
            sb0 += q0
            s1 += p1 + q1
            s2 += p2 + q2
            ra += pr
            rb += qr
            err += abs(pr) + abs(qr)
        if d % 2:
            p0, p1, p2, pr = _split(row[d - 1], a[d - 1], sig0, sig1, sig2, n_exact)
            sa0 += p0
            s1 += p1
            s2 += p2
            ra += pr
            err += abs(pr)
        s0 = sa0 + sb0
        rest = ra + rb
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
    _project(X, np.ascontiguousarray(a, dtype=np.float64), int(bits), int(n_exact), hi, lo, bound, bad)
    if bad.any():
        return None, None, 0.0
    return hi, lo, float(bound.max()) if n else 0.0


@njit(cache=True, error_model="numpy")
def _slopes(hi, lo, y, order, err, hu, lu, yu, b, u, s, q, s_q, w, t):
    """Returns (status, index, float64 limit): 0 ok, 1 too close, 2 overflow, 3 inexact, 4 tie."""
    m = hi.shape[0]
    for i in range(m):  # gather in sorted order; tied projections go to the slow path
        k = order[i]
        hu[i] = hi[k]
        lu[i] = lo[k]
        yu[i] = y[k]
        if i > 0 and (hu[i] - hu[i - 1]) + (lu[i] - lu[i - 1]) <= 2.0 * err:
            return 4, i, 0.0
    # biases: b_0 one gap below z_0; b_i the first float64 certainly above z_{i-1}
    span = hu[1] - hu[0] if m > 1 else 0.0
    span = max(span, 2.0**-40 * abs(hu[0]), 2.0**-1000)
    b[0] = np.nextafter(hu[0] - span, -np.inf)
    for i in range(1, m):
        if err == 0.0 and lu[i - 1] == 0.0:
            b[i] = hu[i - 1]  # weak interleaving: the kink sits on the exact point
        else:
            b[i] = np.nextafter(hu[i - 1] + (lu[i - 1] + 2.0 * err), np.inf)
    for i in range(m):
        u[i] = (hu[i] - b[i]) + lu[i]
    # values at the kinks and slopes: V_{i+1} = y_i + rho_i (y_i - V_i), exactly in order
    V = 0.0
    for i in range(m):
        s[i] = (yu[i] - V) / u[i]
        if i + 1 < m:
            eps = (b[i + 1] - hu[i]) - lu[i]
            if eps < 0.0 or (err > 0.0 and eps <= err) or u[i + 1] <= 2.0 * err + 4.0 * eps:
                return 1, i + 1, 0.0
            V = yu[i] + (eps / u[i]) * (yu[i] - V)
        if not abs(s[i]) <= 1.7e308:
            return 2, i, 0.0
    # power-of-two grids shared with the neighbours (2x margin for the feedback)
    top = 0.0
    for i in range(m):
        top = max(top, abs(s[i]))
    floor = max(2.0**-1000, 2.0**-60 * top)
    for i in range(m):
        g = abs(s[i])
        if i > 0:
            g = max(g, abs(s[i - 1]))
        if i + 1 < m:
            g = max(g, abs(s[i + 1]))
        g = max(g, floor)
        q[i] = math.ldexp(1.0, math.frexp(g)[1] - 49)
    # rounding with sequential error feedback: piece i absorbs what piece i-1 left
    limit = 0.0
    for i in range(m):
        if i == 0:
            t[i] = s[i]
        else:
            length = b[i] - b[i - 1]
            t[i] = s[i] - (s_q[i - 1] - t[i - 1]) * (length / u[i])
        s_q[i] = np.round(t[i] / q[i]) * q[i]
        limit = max(limit, q[i] * u[i])
    # exact weight differences, checked with TwoSum
    w[0] = s_q[0]
    for i in range(1, m):
        x = s_q[i]
        y = -s_q[i - 1]
        d = x + y
        bp = d - x
        e = (x - (d - bp)) + (y - bp)
        if e != 0.0:
            return 3, i, 0.0
        w[i] = d
    return 0, 0, limit / 2.0


def slopes_and_weights(hi, lo, y, order, err):
    """Biases ``b``, weights ``w``, ``u = z - b`` and the float64 limit (one output).

    ``order`` sorts the projections ``hi + lo``. Returns ``(status, index, b, w,
    u, limit)``; a non-zero status means two points are too close (1), a slope
    overflows (2), the weights are not exact (3), or two projections tie (4) at
    sorted position ``index``.
    """
    m = hi.shape[0]
    hu, lu, yu, b, u, s, q, s_q, w, t = (np.empty(m) for _ in range(10))
    status, idx, limit = _slopes(hi, lo, np.ascontiguousarray(y, dtype=np.float64),
                                 np.ascontiguousarray(order, dtype=np.int64), float(err),
                                 hu, lu, yu, b, u, s, q, s_q, w, t)
    return int(status), int(idx), b, w, u, float(limit)
