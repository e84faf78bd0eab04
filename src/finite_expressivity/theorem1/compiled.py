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
  the weights, checked exact with TwoSum. Where a slope's grid is coarse
  (next to a much steeper piece) it also searches the kink's position for one
  at which the rounded slope still lands on the label (:func:`_best_kink`).

Numba compiles with IEEE semantics (no fast-math), so every rounding is the one
written. Without Numba the same functions run as plain Python: the construction
then uses them only for the kink search, which no vectorized form has.

The functions are compiled by assignment at the end of the module, not by
decorators: the mutation tool (``scripts/mutation.sh``) skips decorated
functions, and it runs them as plain Python (``NUMBA_DISABLE_JIT=1``).
"""

from __future__ import annotations

import math

import numpy as np

try:
    from numba import njit, prange

    HAVE_NUMBA = True
except ImportError:  # the same loops, as plain Python
    HAVE_NUMBA = False
    prange = range

__all__ = ["HAVE_NUMBA", "project", "slopes_and_weights"]

_EPS = 2.0**-53
_FIRST_PIECE = 2.0**27  # the first kink sits at least this many error bounds below the point
_SEARCH = 2.0**-24  # kinks are searched where a rounded slope can miss its label by this x max|y|
_SEARCH_STOP = 2.0**-28  # ... and the search stops at a kink that misses by less than this
_SEARCH_MAX = 1 << 16  # positions tried per kink ...
_SEARCH_LONG = 1 << 20  # ... or this many while the best still misses by more than _SEARCH


def _jit(fn, **options):
    """``numba.njit(cache=True, **options)(fn)``, or ``fn`` itself without Numba."""
    # not mutated: the mutation run compiles nothing (NUMBA_DISABLE_JIT=1)
    return njit(cache=True, **options)(fn) if HAVE_NUMBA else fn  # pragma: no mutate


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


def _row_top(row, d4, d):
    """max_j abs(row[j]); a NaN may be passed over here (the projection catches it)."""
    t0 = t1 = t2 = t3 = 0.0  # four partial maxima: independent chains
    for j in range(0, d4, 4):
        t0 = max(t0, abs(row[j]))
        t1 = max(t1, abs(row[j + 1]))
        t2 = max(t2, abs(row[j + 2]))
        t3 = max(t3, abs(row[j + 3]))
    for j in range(d4, d):
        t0 = max(t0, abs(row[j]))
    return max(max(t0, t1), max(t2, t3))


def _project(X, a, bits, n_exact, hi, lo, bound, bad):
    n, d = X.shape
    gamma = (d + 1) * _EPS / (1.0 - (d + 1) * _EPS)  # d products and d - 1 additions
    d4 = d - d % 4
    for i in prange(n):
        row = X[i]
        top = _row_top(row, d4, d)
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
    """``X @ a`` as a double-double ``(hi, lo)`` and a bound on its error, per row.

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
    return hi, lo, bound


def _gather(hi, lo, y, err, order, hu, lu, yu, eu):
    for i in prange(order.shape[0]):
        k = order[i]
        hu[i] = hi[k]
        lu[i] = lo[k]
        yu[i] = y[k]
        eu[i] = err[k]


def _round_to(t, q):
    """``t`` rounded to the nearest multiple of the power of two ``q`` (ties to even).

    ``t / q`` is exact and below 2**51, where adding and subtracting 1.5 * 2**52
    rounds to an integer.
    """
    x = t / q
    return ((x + 6755399441055744.0) - 6755399441055744.0) * q


def _next_up(x):
    """The next float64 above a finite ``x`` (``numpy.nextafter(x, inf)``), from its bits."""
    bits = _bits(x)
    if x > 0.0:
        return _float(bits + 1)
    if x < 0.0:
        return _float(bits - 1)
    return 5e-324


def _bits(x):
    return np.float64(x).view(np.int64)


def _float(bits):
    return np.int64(bits).view(np.float64)


def _grid_of(g):
    """``2**(frexp(g)[1] - 49)`` for ``g >= 0``, from the bits."""
    biased = (_bits(g) >> 52) & 0x7FF
    return _float((biased - 48) << 52) if biased > 48 else math.ldexp(1.0, int(biased) - 1071)


def _grids(s, u, ymax, q):
    """q_i = 2**(frexp(g_i)[1] - 49), g_i the largest |slope| among i and its neighbours,
    at least ``2**-60 max|y| / u_i`` (``construction._slope_grid``)."""
    m = s.shape[0]
    for i in prange(m):
        g = abs(s[i])
        if i > 0:
            g = max(g, abs(s[i - 1]))
        if i + 1 < m:
            g = max(g, abs(s[i + 1]))
        floor = 2.0**-60 * ymax
        if g * u[i] < floor:  # the floor binds: gentle slopes (divide only then)
            g = floor / u[i]
        q[i] = _grid_of(max(g, 2.0**-1000))


def _first_span(hu, err):  # err: the first point's error bound
    """How far below the first point its kink sits (``construction._first_span``)."""
    h0 = abs(hu[0])
    if hu.shape[0] > 1:
        span = hu[1] - hu[0]
    elif h0 != 0.0:
        span = h0
    else:
        span = 1.0
    return max(max(span, 2.0**-40 * h0), max(_FIRST_PIECE * err, 2.0**-1000))


def _place_kinks(hu, lu, yu, eu, b, u, s, Vs):
    """Biases, the gaps ``u_i = z_i - b_i``, the values ``Vs`` at the kinks and the slopes
    of the exact value recurrence.

    ``eu`` holds each point's projection error bound. ``b_0`` sits
    :func:`_first_span` below ``z_0``; ``b_i`` is the first float64 certainly above
    ``z_{i-1}`` (``z_{i-1}`` itself when that is an exact float64). Returns
    ``(status, index, min u_i, min u_i / eu_i (i >= 1), max|s|, max|y|)``: status
    0 ok, 1 too close, 2 a slope overflows, 4 tied projections.
    """
    m = hu.shape[0]
    b[0] = -_next_up(-(hu[0] - _first_span(hu, eu[0])))
    u[0] = (hu[0] - b[0]) + lu[0]
    if not u[0] > 2.0 * eu[0]:
        return 1, 0, 0.0, 0.0, 0.0, 0.0
    V = 0.0
    umin = np.inf
    worst_u, worst_e = np.inf, 1.0  # the smallest u_i / eu_i, kept as a fraction
    top = 0.0
    ymax = 0.0
    for i in range(m):
        ymax = max(ymax, abs(yu[i]))
        Vs[i] = V
        s[i] = (yu[i] - V) / u[i]
        if not abs(s[i]) <= 1.7e308:
            return 2, i, umin, worst_u / worst_e, top, ymax
        top = max(top, abs(s[i]))
        if i + 1 < m:
            if (hu[i + 1] - hu[i]) + (lu[i + 1] - lu[i]) <= eu[i] + eu[i + 1]:
                return 4, i + 1, umin, worst_u / worst_e, top, ymax  # ties: the slow path
            if eu[i] == 0.0 and lu[i] == 0.0:
                b[i + 1] = hu[i]  # weak interleaving: the kink sits on the exact point
            else:
                b[i + 1] = _next_up(hu[i] + (lu[i] + 2.0 * eu[i]))
            u[i + 1] = (hu[i + 1] - b[i + 1]) + lu[i + 1]
            eps = (b[i + 1] - hu[i]) - lu[i]
            if _too_close(u[i + 1], eps, eu[i], eu[i + 1]):
                return 1, i + 1, umin, worst_u / worst_e, top, ymax
            umin = min(umin, u[i + 1])
            if u[i + 1] * worst_e < worst_u * eu[i + 1]:  # no division in the loop
                worst_u, worst_e = u[i + 1], eu[i + 1]
            V = yu[i] + (eps / u[i]) * (yu[i] - V)
    return 0, 0, umin, worst_u / worst_e, top, ymax


def _too_close(u, eps, e_prev, e_this):
    """No float64 kink separates the points with the margins of proofs/float64.md (S)."""
    return eps < 0.0 or (e_prev > 0.0 and eps <= e_prev) or u <= 2.0 * e_this + 4.0 * eps


def _targets(hu, lu, yu, i, prev, bk):
    """Target slopes ``t_i`` (and ``eps_i``, ``u_i``) for the kink at each of ``bk``.

    ``prev`` holds ``(b_{i-1}, u_{i-1}, V_{i-1}, c_{i-1}, delta_{i-1}, sigma_{i-1})``;
    the recurrence is the main loop's (:func:`_round_with_feedback`).
    """
    b_prev, u_prev, V_prev, carry_prev, delta_prev, _ = prev
    eps = (bk - hu[i - 1]) - lu[i - 1]
    uk = (hu[i] - bk) + lu[i]
    rho = eps / u_prev
    V = yu[i - 1] + rho * (yu[i - 1] - V_prev)
    carry = delta_prev * (bk - b_prev) - rho * carry_prev
    return (yu[i] - V) / uk - carry / uk, eps, uk


def _scan(hu, lu, yu, eu, i, prev, q, t_max, stop, start, step, count):
    """The best of the kinks ``start + k step`` (k < count): ``(kink, miss)``.

    A kink's miss is ``|round(t, q) - t| u``, how far the rounded slope's line
    passes from ``y_i``; kinks that break the margins of (S) or take the target
    past ``t_max`` (the grid's range) are skipped. ``stop = (early, enough)``:
    the scan ends after the first block of 4096 holding a miss below ``early``,
    or, past ``_SEARCH_MAX`` kinks, below ``enough``.
    """
    early, enough = stop
    best = start
    best_err = np.inf
    for first in range(0, count, 4096):
        bk = start + np.arange(first, min(count, first + 4096)) * step
        t, eps, uk = _targets(hu, lu, yu, i, prev, bk)
        miss = np.abs(_round_to(t, q) - t) * uk
        ok = (uk > 2.0 * eu[i] + 4.0 * eps) & (eps > eu[i - 1]) & (np.abs(t) <= t_max)
        miss = np.where(ok, miss, np.inf)
        j = np.argmin(miss)
        if miss[j] < best_err:
            best = bk[j]
            best_err = miss[j]
        if best_err <= early or (first + 4096 >= _SEARCH_MAX and best_err <= enough):
            break
    return best, best_err


def _best_kink(hu, lu, yu, eu, i, prev, q, t_max, stop, b0):
    """A float64 kink ``b_i >= b0`` at which the rounded slope misses ``y_i`` least.

    Moving the kink right by ``db`` moves the target slope by about
    ``(t - sigma_{i-1}) db / u_i``. After a much steeper piece one ulp already
    moves it by a grid step or more, pseudo-randomly: scan ``_SEARCH_MAX``
    ulps. Otherwise the target moves slowly: put the kink where it meets the
    next grid point (two Newton steps), then scan the ulps around it.
    """
    step = _next_up(b0) - b0
    here = np.array([b0])
    t0, _, u0 = _targets(hu, lu, yu, i, prev, here)
    best, miss = _scan(hu, lu, yu, eu, i, prev, q, t_max, stop, b0, step, 1)
    dt = (t0[0] - prev[5]) / u0[0]  # d t / d b
    if miss <= stop[0] or dt == 0.0:
        return best
    if abs(dt) * step * _SEARCH_MAX >= 2.0 * q:
        found, found_miss = _scan(hu, lu, yu, eu, i, prev, q, t_max, stop, b0, step, _SEARCH_LONG)
        return found if found_miss < miss else best
    goal = math.ceil(t0[0] / q) * q if dt > 0 else math.floor(t0[0] / q) * q
    b1 = b0
    for _ in range(2):
        t1, _, u1 = _targets(hu, lu, yu, i, prev, here)
        b1 = max(b0, b1 + (goal - t1[0]) * u1[0] / (t1[0] - prev[5]))
        here[0] = b1
    step = _next_up(b1) - b1
    found, found_miss = _scan(hu, lu, yu, eu, i, prev, q, t_max, stop, b1 - 16 * step, step, 33)
    return found if found_miss < miss else best


def _ratios(hu, lu, b, u, ratio, sig):
    """``ratio_i = (b_i - b_{i-1}) / u_i`` and ``sig_i = (b_i - z_{i-1}) / u_i`` (i >= 1):
    what the carry per unit of piece i owes to the previous piece's rounding and carry."""
    for i in prange(1, b.shape[0]):
        ratio[i] = (b[i] - b[i - 1]) / u[i]
        sig[i] = ((b[i] - hu[i - 1]) - lu[i - 1]) / u[i]


def _move_kink(hu, lu, b, u, ratio, sig, i, new):
    """Put kink i at ``new`` and update what depends on it."""
    b[i] = new
    u[i] = (hu[i] - b[i]) + lu[i]
    ratio[i] = (b[i] - b[i - 1]) / u[i]
    sig[i] = ((b[i] - hu[i - 1]) - lu[i - 1]) / u[i]
    if i + 1 < b.shape[0]:
        ratio[i + 1] = (b[i + 1] - b[i]) / u[i + 1]


def _round_with_feedback(hu, lu, yu, eu, b, u, s, q, s_q, w, Vs, ratio, sig, tau, stop):
    """Slopes rounded to their grids with sequential error feedback; exact weights.

    The carry is the value error at kink i that piece i absorbs,
    ``c_i = delta_{i-1} l_{i-1} - rho_{i-1} c_{i-1}`` (``delta`` the previous
    slope's rounding against its target, ``l`` its piece's length, ``rho`` the
    kink's offset past the previous point over that point's gap); the loop keeps
    it per unit of the piece, ``k_i = c_i / u_i = delta_{i-1} ratio_i - sig_i
    k_{i-1}`` (:func:`_ratios`), so that it only multiplies. Where the grid makes
    the worst miss ``q_i u_i / 2`` exceed ``tau``, the kink is searched; once one
    moved, the values ``Vs`` and slopes ``s`` after it are recomputed. Returns
    ``(status, index, largest miss, max|w|)``: status 0 ok, 2 a weight overflows,
    3 a weight is inexact.
    """
    m = hu.shape[0]
    k = 0.0
    t = 0.0
    limit = 0.0
    wmax = 0.0
    moved = False
    for i in range(m):
        if i > 0:
            delta = s_q[i - 1] - t  # t still holds the previous target
            if q[i] * u[i] > 2.0 * tau:
                prev = (b[i - 1], u[i - 1], Vs[i - 1], k * u[i - 1], delta, s_q[i - 1])
                t_max = 2.0**49 * min(q[i], 4.0 * q[i - 1])  # keeps the weights exact
                new = _best_kink(hu, lu, yu, eu, i, prev, q[i], t_max, (stop, tau), b[i])
                if new != b[i]:
                    _move_kink(hu, lu, b, u, ratio, sig, i, new)
                    moved = True
            if moved:  # the values at the kinks after a moved one
                rho = ((b[i] - hu[i - 1]) - lu[i - 1]) / u[i - 1]
                Vs[i] = yu[i - 1] + rho * (yu[i - 1] - Vs[i - 1])
                s[i] = (yu[i] - Vs[i]) / u[i]
            k = delta * ratio[i] - sig[i] * k
        t = s[i] - k
        if i > 0:  # a carry can take the target past the grid's range: widen the grid
            top = max(abs(t), abs(s_q[i - 1]))
            if top >= 2.0**49 * q[i]:  # below that, _grid_of(top) <= q[i]
                q[i] = _grid_of(top)
        s_q[i] = _round_to(t, q[i])
        limit = max(limit, abs(s_q[i] - t) * u[i])
        if i == 0:
            w[0] = s_q[0]
        else:
            x = s_q[i]
            x2 = -s_q[i - 1]
            d = x + x2
            bp = d - x
            if not abs(d) <= 1.7e308:
                return 2, i, limit, wmax  # a weight overflows
            if (x - (d - bp)) + (x2 - bp) != 0.0:
                return 3, i, limit, wmax
            w[i] = d
        wmax = max(wmax, abs(w[i]))
    return 0, 0, limit, wmax


def _slopes(hi, lo, y, err, order, work, stats):
    """Returns (status, index): 0 ok, 1 too close, 2 overflow, 3 inexact, 4 tie.

    ``stats`` receives (largest miss of a rounded slope, max|w|, min gap u, max|y|,
    min u_i / err_i).
    """
    hu, lu, yu, eu, b, u, s, q, s_q, w, Vs, ratio, sig = work
    _gather(hi, lo, y, err, order, hu, lu, yu, eu)
    status, idx, umin, precision, top, ymax = _place_kinks(hu, lu, yu, eu, b, u, s, Vs)
    if status != 0:
        return status, idx
    # power-of-two grids shared with the neighbours (2x margin for the feedback)
    _grids(s, u, ymax, q)
    _ratios(hu, lu, b, u, ratio, sig)
    scale = max(1.0, ymax)
    status, idx, limit, wmax = _round_with_feedback(
        hu, lu, yu, eu, b, u, s, q, s_q, w, Vs, ratio, sig, _SEARCH * scale, _SEARCH_STOP * scale
    )
    stats[0] = limit
    stats[1] = wmax
    stats[2] = umin
    stats[3] = ymax
    stats[4] = precision
    return status, idx


def slopes_and_weights(hi, lo, y, order, err):
    """Biases ``b``, weights ``w`` and statistics for one output.

    ``order`` sorts the projections ``hi + lo``, whose error bounds are ``err``
    (one per point). Returns ``(status, index, b, w, stats)`` with ``stats`` =
    (largest miss of a rounded slope at its point, max|w|, smallest gap
    ``z_i - b_i``, max|y|, smallest ``(z_i - b_i) / err_i``); a non-zero status
    means two points are too close (1), a slope overflows (2), the weights are
    not exact (3), or two projections tie (4), at sorted position ``index``.
    """
    m = hi.shape[0]
    work = tuple(np.empty(m) for _ in range(13))
    stats = np.zeros(5)
    status, idx = _slopes(
        *(np.ascontiguousarray(v, dtype=np.float64) for v in (hi, lo, y, err)),
        np.ascontiguousarray(order, dtype=np.int64),
        work,
        stats,
    )
    b, w = work[4], work[9]
    return int(status), int(idx), b, w, stats


# Compiled by assignment, not decoration (see the module docstring). Every
# function keeps IEEE semantics: no fastmath anywhere.
_split = _jit(_split, inline="always", error_model="numpy")
_row_top = _jit(_row_top, inline="always")
_project = _jit(_project, parallel=True, error_model="numpy")
_gather = _jit(_gather, parallel=True)
_round_to = _jit(_round_to, inline="always", error_model="numpy")
_next_up = _jit(_next_up, inline="always")
_bits = _jit(_bits, inline="always")
_float = _jit(_float, inline="always")
_grid_of = _jit(_grid_of, inline="always")
_grids = _jit(_grids, parallel=True, error_model="numpy")
_first_span = _jit(_first_span, error_model="numpy")
_too_close = _jit(_too_close, inline="always")
_place_kinks = _jit(_place_kinks, error_model="numpy")
_targets = _jit(_targets, error_model="numpy")
_scan = _jit(_scan, error_model="numpy")
_best_kink = _jit(_best_kink, error_model="numpy")
_ratios = _jit(_ratios, parallel=True, error_model="numpy")
_move_kink = _jit(_move_kink, error_model="numpy")
_round_with_feedback = _jit(_round_with_feedback, error_model="numpy")
_slopes = _jit(_slopes, error_model="numpy")
