"""Blocked Cholesky on the CPU through SciPy's LAPACK, in place (every CPU backend).

SciPy's threaded ``potrf`` (OpenBLAS 0.3.30 as shipped in its wheels) crashed with a
segmentation fault on this project's machine for matrices from about 16,000 rows
up, while 12,000 rows worked. This right-looking blocked factorization calls
``potrf`` only on diagonal tiles (at most ``block`` rows), ``trsm`` on the panel
below it, and a GEMM update of the trailing matrix, so LAPACK never sees a large
matrix and BLAS keeps its threads. It works in the array's own dtype and in place:
the memory is the matrix plus one panel.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
from scipy.linalg import lapack

__all__ = ["blocked_cholesky", "blocked_cho_solve", "upper_symmetric_matmul"]


def blocked_cholesky(a: np.ndarray, block: int = 2048, progress=None) -> np.ndarray:
    """Overwrite the lower triangle of SPD ``a`` with its Cholesky factor ``L``.

    Parameters
    ----------
    a : numpy.ndarray, shape (n, n), float32 or float64, C-contiguous
        Symmetric positive definite; only its lower triangle is read.
    block : int
        Tile size for ``potrf`` and the panel solves.
    progress : callable, optional
        Called as ``progress(done_rows, n)`` after each panel.

    Returns
    -------
    numpy.ndarray
        ``a`` itself; its lower triangle holds ``L`` with ``L @ L.T == a``. The
        strict upper triangle is left exactly as it was, so a full symmetric ``a``
        can still be multiplied by afterwards (:func:`upper_symmetric_matmul`);
        :func:`blocked_cho_solve` reads only the lower triangle.

    Raises
    ------
    numpy.linalg.LinAlgError
        If a leading minor is not positive definite (in this precision).
    """
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"a must be a square matrix, got shape {a.shape}")
    if a.dtype not in (np.float32, np.float64):
        raise TypeError(f"a must be float32 or float64, got {a.dtype}; convert it with astype")
    if not a.flags.c_contiguous:
        raise ValueError("a must be C-contiguous; pass numpy.ascontiguousarray(a)")
    n = a.shape[0]
    (potrf,) = lapack.get_lapack_funcs(("potrf",), (a,))
    for k in range(0, n, block):
        e = min(k + block, n)
        # potrf on the Fortran view of the tile: the C-order lower triangle is the
        # Fortran-order upper triangle, so ask for the upper factor U = L^T.
        tile = np.ascontiguousarray(a[k:e, k:e])
        u, info = potrf(tile.T, lower=0, clean=0, overwrite_a=1)
        if info != 0:
            raise np.linalg.LinAlgError(f"leading minor {k + info} is not positive definite")
        lower = u.T  # C view of the factor
        np.copyto(a[k:e, k:e], lower, where=np.tri(e - k, dtype=bool))  # the upper stays
        if e == n:
            break
        # panel: P <- P L11^{-T}
        panel = sla.solve_triangular(lower, a[e:, k:e].T, lower=True, check_finite=False).T
        panel = np.ascontiguousarray(panel)
        a[e:, k:e] = panel
        # trailing update of the lower triangle only, one row band at a time
        for r in range(e, n, block):
            re = min(r + block, n)
            band = panel[r - e : re - e]
            a[r:re, e:r] -= band @ panel[: r - e].T
            a[r:re, r:re] -= np.tril(band @ band.T)
        if progress is not None:
            progress(e, n)
    return a


def upper_symmetric_matmul(a: np.ndarray, b: np.ndarray, diagonal: float = 1.0) -> np.ndarray:
    """``S @ b`` for the symmetric ``S`` whose strict upper triangle is ``a``'s and whose
    diagonal is ``diagonal``: a kernel matrix after :func:`blocked_cholesky` overwrote
    its lower triangle (two triangular products, each reading half of ``a``).

    Parameters
    ----------
    a : numpy.ndarray, shape (n, n), float32 or float64, C-contiguous
    b : numpy.ndarray, shape (n, c)
    diagonal : float
        ``S``'s diagonal (``k(0) = 1`` for the Gaussian and Laplacian kernels).

    Returns
    -------
    numpy.ndarray, shape (n, c), ``a``'s dtype
    """
    from scipy.linalg import blas  # noqa: PLC0415

    (trmm,) = blas.get_blas_funcs(("trmm",), (a,))
    f = a.T  # Fortran view: its strict lower triangle holds S's strict lower triangle
    b = np.asfortranarray(b, dtype=a.dtype)
    lower_b = trmm(1.0, f, b, lower=1, diag=1)  # (L + I) b
    upper_b = trmm(1.0, f, b, lower=1, trans_a=1, diag=1)  # (L + I)^T b
    return lower_b + upper_b + (diagonal - 2.0) * b


def blocked_cho_solve(factor: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``L L^T x = b`` with the lower factor from :func:`blocked_cholesky`.

    Parameters
    ----------
    factor : numpy.ndarray, shape (n, n)
        Lower triangle holds ``L``; the upper triangle is ignored.
    b : numpy.ndarray, shape (n,) or (n, k)

    Returns
    -------
    numpy.ndarray, same shape as ``b``, dtype of ``factor``
    """
    b = np.asarray(b, dtype=factor.dtype)
    z = sla.solve_triangular(factor, b, lower=True, check_finite=False)
    return sla.solve_triangular(factor, z, lower=True, trans="T", check_finite=False)
