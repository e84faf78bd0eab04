"""Error-free float64 arithmetic: exact projections and exact dyadic integers.

The construction needs the projections ``z = X @ a`` far more accurately than a
float64 dot product gives them: the network's output at a point moves by
(slope x projection error), and slopes reach ``|dy| / min gap`` (about 1e9 on
MNIST). This module computes ``X @ a`` as an unevaluated sum of float64 slices
whose sum is exact (Ozaki-style error-free splitting), using nothing but
ordinary float64 matrix-vector products, so it runs on any array-API backend
(NumPy, PyTorch, CuPy) and on a GPU.

The idea: ``a`` holds integers with ``|a_j| <= 2**M``. Round X to the absolute
grid ``g = 2**(e - B)`` (``2**e >= max|X|``, ``B = 53 - M - ceil(log2 d)``) with
the add-and-subtract trick ``(x + sigma) - sigma``. Every product and every
partial sum of ``X1 @ a`` is then an integer multiple of ``g`` below
``2**53 * g``, so float64 computes ``X1 @ a`` exactly, in any summation order.
The remainder ``R = X - X1`` is exact too and ``|R| <= g / 2``; repeat on R.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["two_sum", "SlicePlan", "plan_slices", "project", "exact_slices", "to_dyadic_ints"]

_EPS = 2.0**-53  # unit roundoff of float64


def two_sum(a, b):
    """Knuth's TwoSum: ``s = fl(a + b)`` and the exact error ``e = a + b - s``."""
    s = a + b
    bp = s - a
    return s, (a - (s - bp)) + (b - bp)


class SlicePlan:
    """How to split X into exactly-projectable slices for a given ``a``.

    Parameters
    ----------
    e_top : int
        ``2**e_top >= max|X|``.
    bits : int
        Bits per slice, ``B = 53 - M - ceil(log2 d)``.
    n_exact : int
        Number of exact slices before the last, rounded, one.
    grid_data : bool
        The data are expected to lie on the first slice's grid (checked per
        block; the remaining slices are skipped where they do).
    """

    def __init__(self, e_top: int, bits: int, n_exact: int, grid_data: bool = False):
        if bits < 1:
            raise ValueError(f"slice width must be at least 1 bit, got {bits}")
        self.e_top, self.bits, self.n_exact, self.grid_data = e_top, bits, n_exact, grid_data

    def with_top(self, xmax: float) -> SlicePlan:
        """The same plan for a block of rows whose largest magnitude is ``xmax``.

        Each row's projection is exact whatever grid its own block uses, so
        blocks can be planned separately (no extra pass over X for its max).
        """
        return SlicePlan(_top_exponent(xmax), self.bits, self.n_exact, self.grid_data)

    def sigma(self, k: int) -> float:
        """The rounding constant for slice ``k``: ``(x + s) - s`` rounds x to its grid."""
        return 1.5 * 2.0 ** (self.e_top - (k + 1) * self.bits + 52)

    def grid(self, k: int) -> float:
        return 2.0 ** (self.e_top - (k + 1) * self.bits)


def plan_slices(xmax: float, d: int, a_bits: int, *, n: int, grid_data: bool = False) -> SlicePlan:
    """Plan the splitting of data with ``max|X| = xmax`` for integer ``a`` of ``a_bits`` bits.

    The number of exact slices is chosen so that the last, rounded slice's error
    is below ``2**-(2 log2 n + 30)`` relative to the projections' scale: gaps
    between n sorted projections can be as small as about ``range / n**2``.
    """
    log2d = max(0, math.ceil(math.log2(d))) if d > 1 else 0
    bits = 53 - a_bits - log2d - 1
    e_top = _top_exponent(xmax)
    target = 2 * math.log2(max(n, 2)) + 30  # bits of relative accuracy wanted
    # error of the rounded last slice ~ d^2 * 2^-53 * 2^-(n_exact * bits) (relative)
    n_exact = max(1, math.ceil((target + 2 * log2d - 53) / bits))
    return SlicePlan(e_top, bits, n_exact, grid_data)


class NonFinite(ValueError):
    """X holds NaN or inf (found while projecting)."""


def _top_exponent(xmax: float) -> int:
    """``2**e_top > xmax``; tiny blocks are planned as if their max were 2**-900.

    A coarser grid than needed only moves more of a row into the later slices.
    """
    if not math.isfinite(xmax):
        raise NonFinite("X contains NaN or inf")
    e_top = math.frexp(xmax)[1] if xmax > 0 else 0
    check_range(xmax)
    return max(e_top, -900)


def check_range(xmax: float) -> None:
    """Refuse data whose largest magnitude would overflow the slicing constants."""
    if xmax >= 2.0**900:
        raise ValueError(
            f"X has max |x| = {xmax:.3g}, at or above 2**900; rescale X (the network is "
            "scale-equivariant) before fitting"
        )


def project(X, a, plan: SlicePlan, xp, *, chunk_rows: int = 8192):
    """Projections ``X @ a`` as a double-double ``(hi, lo)`` plus a rigorous error bound per row.

    Each block of ``chunk_rows`` rows is planned from its own largest entry
    (the plan's ``e_top`` is only a template); a NaN or inf raises
    :class:`NonFinite`.

    Parameters
    ----------
    X : array, shape (n, d), float64
    a : array, shape (d,), float64 holding integers with ``|a_j| <= 2**M``
    plan : SlicePlan
    xp : array namespace

    Returns
    -------
    hi, lo : arrays, shape (n,)
        ``hi + lo`` equals ``X @ a`` up to ``err``; ``|lo| <= ulp(hi) / 2``.
    err : array, shape (n,)
        Bound on ``|X @ a - (hi + lo)|`` for each row: a row of tiny numbers next
        to rows of large ones gets a tiny bound.
    """
    n, d = X.shape
    hi = xp.empty((n,), dtype=xp.float64, device=_device(X))
    lo = xp.empty((n,), dtype=xp.float64, device=_device(X))
    err = xp.zeros((n,), dtype=xp.float64, device=_device(X))
    ranges = [(s, min(n, s + chunk_rows)) for s in range(0, n, chunk_rows)]
    out = (hi, lo, err)
    if _is_numpy(X) and len(ranges) > 8 and (os.cpu_count() or 1) > 1:
        # NumPy releases the GIL in ufuncs and BLAS: split the rows between threads.
        workers = min(4, os.cpu_count() or 1)
        groups = [ranges[i::workers] for i in range(workers)]
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda g: _project_rows(X, a, plan, xp, g, out), groups))
    else:
        _project_rows(X, a, plan, xp, ranges, out)
    return hi, lo, err


def _project_rows(X, a, plan, xp, ranges, out) -> None:
    """Fill ``hi``, ``lo`` and the error bound ``err`` (``out``) for the given row ranges.

    A row's bound: ``|fl(R @ a) - R @ a| <= gamma_d sum_j |R_j| |a_j|`` for the one
    rounded product (its computed sum rounded up by ``gamma_2``), plus ``u |l|``
    for each later addition into the low part (TwoSum is exact).
    """
    hi, lo, err = out
    template = plan
    numpy_path = _is_numpy(X)
    d = X.shape[1]
    gamma = (d + 2) * _EPS / (1 - (d + 2) * _EPS)
    absa = xp.abs(a)
    if numpy_path:  # work buffers, reused block after block
        rows = max((stop - start for start, stop in ranges), default=0)
        bufs = [np.empty((rows, X.shape[1])) for _ in range(2 * template.n_exact)]
    for start, stop in ranges:
        R = X[start:stop, ...]
        plan = template.with_top(max(float(xp.max(R)), -float(xp.min(R))))  # also finds NaN/inf
        parts = []
        r = 1.0
        for k in range(plan.n_exact):
            sigma = plan.sigma(k)
            if numpy_path:  # same arithmetic, without allocating temporaries
                Xk, Rk = bufs[2 * k][: stop - start], bufs[2 * k + 1][: stop - start]
                np.add(R, sigma, out=Xk)
                np.subtract(Xk, sigma, out=Xk)
                R = np.subtract(R, Xk, out=Rk)
            else:
                Xk = (R + sigma) - sigma
                R = R - Xk
            parts.append(Xk @ a)  # exact, so BLAS's summation order does not matter
            if k == 0 and plan.grid_data:
                r = max(float(xp.max(R)), -float(xp.min(R)))
                if r == 0.0:  # data on the grid (MNIST): the projection is already exact
                    break
        bound = 0.0
        if r != 0.0:
            # the one rounded product: a row-wise sum rounds each row the same way
            # wherever it sits (BLAS rounding can depend on a row's place in a block)
            parts.append(np.einsum("ij,j->i", R, a) if numpy_path else xp.sum(R * a, axis=1))
            bound = gamma * (xp.abs(R) @ absa)
        if len(parts) == 1:
            hi[start:stop] = parts[0]
            lo[start:stop] = 0.0
            err[start:stop] = bound
            continue
        h, l = two_sum(parts[0], parts[1])
        for p in parts[2:]:
            l = l + p
            bound = bound + _EPS * xp.abs(l)  # each addition rounds by <= u|l|
        h, l = two_sum(h, l)
        hi[start:stop] = h
        lo[start:stop] = l
        err[start:stop] = bound


def _is_numpy(x) -> bool:
    from array_api_compat import is_numpy_array

    return is_numpy_array(x)


def exact_slices(X: np.ndarray, a: np.ndarray, plan: SlicePlan) -> list[np.ndarray]:
    """Float64 slices whose exact sum is ``X @ a`` (NumPy; for the certificate).

    Keeps slicing until the remainder is exactly zero; every float64 is a
    multiple of ``2**-1074``, so this ends after at most ``(e_top + 1074) / bits``
    slices (two or three for ordinary data).
    """
    R = np.array(X, dtype=np.float64, copy=True)
    out = []
    k = 0
    # The grid 2**-1074 holds every float64, so the slice at that grid leaves R == 0.
    while np.any(R):
        if k * plan.bits > 2200:  # unreachable: the exponent range of float64 is 2098
            raise AssertionError("exact slicing did not terminate")
        sigma = plan.sigma(k)
        Xk = (R + sigma) - sigma
        R -= Xk
        out.append(Xk @ a)
        k += 1
    return out or [np.zeros(X.shape[0])]


def to_dyadic_ints(v: np.ndarray) -> tuple[np.ndarray, int]:
    """Exact integers ``m`` and one exponent ``E`` with ``v == m * 2**E`` (object array).

    Parameters
    ----------
    v : numpy.ndarray of float64 (finite)

    Returns
    -------
    m : numpy.ndarray of object (Python ints), same shape as v
    E : int
    """
    v = np.asarray(v, dtype=np.float64)
    if not np.all(np.isfinite(v)):
        raise ValueError("cannot represent NaN or inf exactly: the array must be finite")
    mant, expo = np.frexp(v)
    im = (mant * 2.0**53).astype(np.int64)  # exact: |mant| < 1
    e = expo.astype(np.int64) - 53
    nz = im != 0
    E = int(e[nz].min()) if np.any(nz) else 0
    shift = np.where(nz, e - E, 0)
    m = (
        im.astype(object) * (2 ** shift.astype(object))
        if v.size
        else np.zeros(v.shape, dtype=object)
    )
    return m, E


def _device(x):
    from array_api_compat import device

    return device(x)
