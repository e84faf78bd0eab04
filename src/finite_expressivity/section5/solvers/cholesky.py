"""Exact solves by Cholesky: SciPy LAPACK tiles on the CPU, torch or CuPy on a GPU."""

from __future__ import annotations

import time

import numpy as np

from .outcome import SolveReport

__all__ = ["_solve_cholesky", "safe_ridge", "refusal", "NotPositiveDefinite"]


def safe_ridge(n: int, dtype) -> float:
    """A ridge with which Cholesky of an ``n x n`` kernel matrix succeeds in ``dtype``.

    A kernel matrix with unit diagonal has ``|K|_2 <= n``; Cholesky succeeds when the
    smallest eigenvalue exceeds about ``n eps |K|_2`` (its backward error), and a
    positive semidefinite ``K`` plus ``ridge I`` has ``ridge`` there. Ten times
    ``n^2 eps`` is that bound with room, rounded up to one significant digit.
    """
    bound = 10.0 * n * n * float(np.finfo(np.dtype(dtype)).eps)
    unit = 10.0 ** np.floor(np.log10(bound))
    return float(np.ceil(bound / unit) * unit)


def _solve_cholesky(K, Y, *, ridge: float = 0.0, backend):
    """Solve ``(K + ridge I) alpha = Y`` by Cholesky, overwriting ``K``'s lower triangle.

    Parameters
    ----------
    K : array, shape (n, n)
        Its lower triangle is read and overwritten by the factor.
    Y : array, shape (n, c)
    ridge : float
    backend : Backend

    Returns
    -------
    alpha : array, shape (n, c), float64 on the backend
    report : SolveReport

    Raises
    ------
    numpy.linalg.LinAlgError
        ``K + ridge I`` is not numerically positive definite in ``K``'s precision; the
        message says which precision and what would work
        (:func:`~.dispatch.solve` adds the bandwidths to try).
    """
    t0 = time.perf_counter()
    n = K.shape[0]
    if ridge:
        backend.add_diagonal_(K, ridge)
    dtype = np.dtype(str(K.dtype).replace("torch.", ""))
    try:
        factor = backend.cholesky_inplace(K)
    except np.linalg.LinAlgError as exc:
        raise NotPositiveDefinite(n, dtype, ridge, str(exc)) from None
    alpha = backend.cholesky_solve(factor, backend.asarray(Y, dtype))
    alpha = backend.astype(alpha, np.float64)
    report = SolveReport(solver="cholesky", dtype=str(dtype), converged=True, stopped="exact")
    report.notes["factor_seconds"] = time.perf_counter() - t0
    report.notes["n"] = n
    return alpha, report


class NotPositiveDefinite(np.linalg.LinAlgError):
    """Cholesky refused ``K + ridge I``; :func:`refusal` words the message."""

    def __init__(self, n: int, dtype, ridge: float, why: str):
        self.n, self.dtype, self.ridge, self.why = n, np.dtype(dtype), ridge, why
        super().__init__(refusal(n, dtype, ridge, why))


def refusal(n, dtype, ridge, why, *, repeats: int = 0, bandwidth=None, rule=None) -> str:
    """One line true of the case: what failed, why, and what works there.

    Parameters
    ----------
    repeats : int
        Rows of ``X`` equal to earlier ones: then ``K`` is singular in any precision
        and at any bandwidth, and only a ridge helps.
    bandwidth, rule : float, optional
        The bandwidth used and the median rule's (suggested when smaller).
    """
    where = f"K + {ridge:g} I" if ridge else "K"
    msg = (
        f"Cholesky failed: {where} ({n} x {n}) is not positive definite in {np.dtype(dtype)} "
        f"({why}): the kernel matrix is numerically singular"
    )
    fix = f"a ridge of at least {safe_ridge(n, dtype):.1g}"
    if repeats:
        return f"{msg}, since {repeats} rows of X repeat earlier ones: only {fix} helps"
    if np.dtype(dtype) == np.float32:
        return f"{msg}; use {fix}, or float64 where it fits (solver='cholesky' picks it then)"
    if bandwidth is not None and rule is not None and rule < bandwidth:
        return f"{msg}; use {fix} or a bandwidth below {bandwidth:g} (the median rule gives {rule:.3g})"
    return f"{msg}; use {fix} or a smaller bandwidth"
