"""Exact verification of a stored float64 network, and numerical diagnostics.

:func:`certify` evaluates ``c(x_i) = sum_j w_j relu(<a, x_i> - b_j)`` for the
float64 numbers actually stored in the network, in exact rational arithmetic
(every float64 is a dyadic rational ``m * 2**e``, so Python integers on a common
scale are exact). It never forms the n x n matrix: with the neurons sorted by
bias, the active set at a point is a prefix, so

    c(x_i) = z_i * W_k - P_k,   W_k = sum_{j<k} w_j,   P_k = sum_{j<k} w_j b_j,

with ``k`` the number of biases below ``z_i``: O(n log n) exact work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

import numpy as np

from ..core.validation import check_labels, check_points, namespace, to_numpy
from .exact import exact_slices, plan_slices, to_dyadic_ints

__all__ = [
    "Certificate",
    "Diagnostics",
    "Projections",
    "certify",
    "diagnose",
    "exact_outputs",
    "exact_projections",
]

_LIMB = 20  # bits of a per exact pass


@dataclass(frozen=True)
class Certificate:
    """The exact residuals of a stored network on its training points.

    Attributes
    ----------
    max_residual : float
        ``max_i |c(x_i) - y_i|`` in exact arithmetic (rounded to float64 at the end).
    residuals : numpy.ndarray, shape (n,) or (n, k)
        Exact residuals, each rounded to float64.
    tol : float
        The tolerance used.
    certified : bool
        Whether every exact residual is at most ``tol`` (decided exactly).
    accuracy : float or None
        Fraction of points (all outputs) with ``|c(x_i) - y_i| < 1/2``, i.e. the
        rounded output equals an integer label; None for non-integer labels.
    """

    max_residual: float
    residuals: np.ndarray
    tol: float
    certified: bool
    accuracy: float | None


@dataclass(frozen=True)
class Diagnostics:
    """How hard the fitted function is for floating point.

    Attributes
    ----------
    min_gap : float
        Smallest gap between distinct projections ``<a, x_i>`` (exact).
    max_abs_projection : float
    max_abs_weight : float
    duplicates : int
        Points whose projection equals another's (identical points).
    projection_digits : float
        ``log10(max|z| / min_gap)``: significant digits needed to tell the
        projections apart.
    digits_needed : float
        ``log10(max_i sum_j |w_j relu(z_i - b_j)| / tol)``: decimal digits a
        plain floating-point evaluation of the sum needs to stay within tol
        (float64 carries about 15.95).
    """

    min_gap: float
    max_abs_projection: float
    max_abs_weight: float
    duplicates: int
    projection_digits: float
    digits_needed: float


def _default_tol(y: np.ndarray) -> float:
    return 1e-6 * max(1.0, float(np.max(np.abs(y)))) if y.size else 1e-6


class Projections(NamedTuple):
    """Exact projections ``X @ a == Z * 2**E`` (Python ints) and the nearest float64s."""

    Z: np.ndarray
    E: int
    approx: np.ndarray


def exact_projections(X: np.ndarray, a: np.ndarray) -> Projections:
    """``X @ a`` exactly, as Python integers ``Z`` with ``X @ a == Z * 2**E``.

    Works for any float64 ``a``: it is split into integer limbs of 20 bits and
    each limb's product is computed error-free by slicing X. Compute it once
    and pass it to :func:`certify` and :func:`diagnose` to save the work.
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    A, Ea = to_dyadic_ints(np.asarray(to_numpy(a), dtype=np.float64))
    top = max((abs(int(v)).bit_length() for v in A), default=0)
    xmax = float(np.max(np.abs(X))) if X.size else 0.0
    terms = []  # (float slice, extra power of two)
    for t in range(max(1, math.ceil(top / _LIMB))):
        limb = np.array(
            [(abs(int(v)) >> (_LIMB * t)) % (1 << _LIMB) * (1 if v >= 0 else -1) for v in A],
            dtype=np.float64,
        )
        if not np.any(limb):
            continue
        plan = plan_slices(xmax, d, _LIMB, n=n)
        terms += [(sl, Ea + _LIMB * t) for sl in exact_slices(X, limb, plan)]
    if not terms:
        return Projections(np.zeros(n, dtype=object), 0, np.zeros(n))
    ints = [(to_dyadic_ints(sl), shift) for sl, shift in terms]
    E = min(e + shift for (_, e), shift in ints)
    Z = np.zeros(n, dtype=object)
    for (m, e), shift in ints:
        Z = Z + m * (1 << (e + shift - E))
    # each projection rounded once from its exact value: a float sum of the slices
    # could cancel to far more than the few units in the last place _exact_order allows
    approx = np.array([_int_to_float(int(z), E) for z in Z], dtype=np.float64)
    return Projections(Z, E, approx)


def _count_below(
    b_sorted: np.ndarray, b_int: np.ndarray, z_int: np.ndarray, z_approx: np.ndarray
) -> np.ndarray:
    """For each point, the number of biases strictly below its exact projection."""
    nb = b_sorted.shape[0]
    k = np.searchsorted(b_sorted, z_approx, side="left")
    b_ext = np.concatenate([b_int, [None]])  # sentinel for k == nb
    for _ in range(nb + 1):  # move up while b[k] < z
        idx = np.nonzero(k < nb)[0]
        up = idx[b_ext[k[idx]] < z_int[idx]]
        if up.size == 0:
            break
        k[up] += 1
    for _ in range(nb + 1):  # move down while b[k-1] >= z
        idx = np.nonzero(k > 0)[0]
        down = idx[b_ext[k[idx] - 1] >= z_int[idx]]
        if down.size == 0:
            break
        k[down] -= 1
    return k


def _int_to_float(v: int, e: int) -> float:
    """``v * 2**e`` rounded once to the nearest float64 (+-inf beyond range).

    Python's integer true division is correctly rounded, subnormals included, so no
    intermediate rounding (or overflow of an intermediate float) can creep in.
    """
    try:
        return v / (1 << -e) if e < 0 else float(v << e)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


def exact_outputs(net, X: np.ndarray, projections: Projections | None = None):
    """Exact network outputs on X: integers ``C`` of shape (n, k) and exponent ``E``.

    ``C * 2**E`` is the exact output of the stored float64 network.
    """
    a, b, w = (np.asarray(to_numpy(t), dtype=np.float64) for t in (net.a, net.b, net.w))
    for name, arr in (("a", a), ("b", b), ("w", w)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"the network's {name} holds NaN or inf: its outputs are not numbers")
    w2 = w[:, None] if w.ndim == 1 else w
    order = np.argsort(b, kind="stable")
    b_sorted, w_sorted = b[order], w2[order]
    Z, Ez, z_approx = projections if projections is not None else exact_projections(X, a)
    B, Eb = to_dyadic_ints(b_sorted)
    m = min(Ez, Eb)
    z_al = Z * (1 << (Ez - m))
    b_al = B * (1 << (Eb - m))
    k = _count_below(b_sorted, b_al, z_al, z_approx)
    cols = []
    Ec_all = []
    for c in range(w2.shape[1]):
        W, Ew = to_dyadic_ints(w_sorted[:, c])
        Wp = np.concatenate([[0], np.cumsum(W)]) if W.size else np.array([0], dtype=object)
        Pp = np.concatenate([[0], np.cumsum(W * b_al)]) if W.size else np.array([0], dtype=object)
        # c = z * W_k - P_k, on scale 2**(Ew + m)
        cols.append(z_al * Wp[k] - Pp[k])
        Ec_all.append(Ew + m)
    E = min(Ec_all)
    C = np.stack([col * (1 << (e - E)) for col, e in zip(cols, Ec_all)], axis=1)
    return C, E


def certify(
    net, X, y, *, tol: float | None = None, projections: Projections | None = None
) -> Certificate:
    """Evaluate the stored network exactly at every training point.

    Parameters
    ----------
    net : TwoLayerReLU
    X : array, shape (n, d)
    y : array, shape (n,) or (n, k)
    tol : float, optional
        Certification tolerance; default ``1e-6 * max(1, max|y|)``.
    projections : Projections, optional
        ``exact_projections(X, net.a)``, if already computed.

    Returns
    -------
    Certificate
    """
    xp = namespace(X, y)
    X = to_numpy(check_points(X, xp))
    y = to_numpy(check_labels(y, X.shape[0], xp))
    if X.shape[1] != net.d:
        raise ValueError(f"X has {X.shape[1]} coordinates but the network expects d={net.d}")
    if (1 if y.ndim == 1 else y.shape[1]) != net.n_outputs:
        raise ValueError(
            f"y has {1 if y.ndim == 1 else y.shape[1]} outputs but the network has {net.n_outputs}"
        )
    tol = _default_tol(y) if tol is None else float(tol)
    if not tol >= 0:
        raise ValueError(f"tol must be a non-negative number, got {tol}")
    y2 = y[:, None] if y.ndim == 1 else y
    C, Ec = exact_outputs(net, X, projections)
    Yi, Ey = to_dyadic_ints(y2)
    E = min(Ec, Ey)
    R = C * (1 << (Ec - E)) - Yi * (1 << (Ey - E))
    absR = np.abs(R)
    rmax = max(absR.ravel().tolist(), default=0)
    certified = Fraction(rmax) * Fraction(2) ** E <= Fraction(tol)
    integer_labels = bool(np.all(y2 == np.round(y2)))
    accuracy = None
    if integer_labels:
        # |r| * 2**E < 1/2, compared on the integer scale
        ok = absR < (1 << (-E - 1)) if E <= -1 else absR * (1 << (E + 1)) < 1
        accuracy = float(np.mean(np.all(ok.astype(bool), axis=1)))
    residuals = np.array([[_int_to_float(int(v), E) for v in row] for row in R], dtype=np.float64)
    return Certificate(
        max_residual=_int_to_float(int(rmax), E),
        residuals=residuals[:, 0] if y.ndim == 1 else residuals,
        tol=tol,
        certified=bool(certified),
        accuracy=accuracy,
    )


def _exact_order(Zs, zs):
    """The exact projections ``Zs`` in ascending order, given in the order of their float
    approximations ``zs`` (ascending): those can misorder neighbours closer than their
    rounding, so each run of such neighbours (with a margin of 2) is sorted exactly."""
    Zs = Zs.copy()
    close = np.nonzero(np.diff(zs) <= 4 * np.spacing(np.abs(zs[1:])))[0]
    if len(close):
        split = np.nonzero(np.diff(close) > 5)[0]  # further apart: the windows do not touch
        for first, last in zip(close[np.r_[0, split + 1]], close[np.r_[split, len(close) - 1]]):
            lo, hi = max(0, first - 2), min(len(Zs), last + 4)
            Zs[lo:hi] = sorted(Zs[lo:hi])
    return Zs


def diagnose(net, X, *, tol: float = 1e-6, projections: Projections | None = None) -> Diagnostics:
    """Smallest projection gap, largest weight and digits of precision needed.

    Parameters
    ----------
    net : TwoLayerReLU
    X : array, shape (n, d)
        The training points.
    tol : float
        Tolerance for ``digits_needed``.
    projections : Projections, optional
        ``exact_projections(X, net.a)``, if already computed.
    """
    xp = namespace(X)
    X = to_numpy(check_points(X, xp))
    a = np.asarray(to_numpy(net.a), dtype=np.float64)
    proj = projections if projections is not None else exact_projections(X, a)
    Z, Ez, zf = proj
    order = np.argsort(zf, kind="stable")
    Zs = _exact_order(Z[order], zf[order])
    diffs = Zs[1:] - Zs[:-1] if len(Zs) > 1 else np.array([], dtype=object)
    positive = [int(v) for v in diffs if v > 0]
    min_gap = _int_to_float(min(positive), Ez) if positive else math.inf
    duplicates = int(sum(1 for v in diffs if v == 0))
    zmax = float(np.max(np.abs(zf)))
    # sum_j |w_j| relu(z_i - b_j), exactly, with |w| in place of w
    absnet = type(net)(a, np.asarray(to_numpy(net.b)), np.abs(np.asarray(to_numpy(net.w))))
    C, Ec = exact_outputs(absnet, X, proj)
    smax = _int_to_float(int(max(np.abs(C).ravel().tolist(), default=0)), Ec)
    wmax = float(np.max(np.abs(to_numpy(net.w))))
    return Diagnostics(
        min_gap=min_gap,
        max_abs_projection=zmax,
        max_abs_weight=wmax,
        duplicates=duplicates,
        projection_digits=math.log10(zmax / min_gap) if positive and zmax > 0 else 0.0,
        digits_needed=math.log10(smax / tol) if smax > 0 else 0.0,
    )
