"""Gaussian and Laplacian kernels, computed in row blocks within a memory budget.

``k(x, z) = exp(-|x - z|^2 / (2 s^2))`` (Gaussian) or ``exp(-|x - z| / s)``
(Laplacian), with bandwidth ``s``. Squared distances come from one GEMM per block,
``|x|^2 + |z|^2 - 2 x.z``, clamped at zero; the kernel values overwrite them in
place, so a block needs no memory beyond itself.

Bandwidth rule (:func:`bandwidth_rule`): from the median ``m`` of the pairwise
Euclidean distances on a seeded subsample of at most 2,000 points, ``s = m / 2``
for the Gaussian kernel and ``s = m`` for the Laplacian. On MNIST pixels in [0, 1]
``m`` is about 10.2, so the Gaussian gets ``s`` about 5.1, close to the bandwidth 5
that EigenPro (Ma & Belkin) used on MNIST.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .backend import Backend, get_backend

__all__ = [
    "Kernel",
    "KERNELS",
    "Points",
    "bandwidth_rule",
    "kernel_matrix",
    "kernel_matmul",
    "rows_per_block",
]

KERNELS = ("gaussian", "laplacian")
_WORKSPACE = 512 << 20  # default bytes for one block of kernel values


@dataclass(frozen=True)
class Kernel:
    """A translation-invariant kernel with a bandwidth.

    Parameters
    ----------
    name : {"gaussian", "laplacian"}
    bandwidth : float
        ``s > 0`` in ``exp(-|x-z|^2 / (2 s^2))`` or ``exp(-|x-z| / s)``.
    """

    name: str
    bandwidth: float
    scale: float = 1.0

    def __post_init__(self):
        if self.name not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {self.name!r}")
        b = self.bandwidth
        if (
            isinstance(b, bool)
            or not isinstance(b, (int, float, np.floating, np.integer))
            or not math.isfinite(float(b))
            or float(b) <= 0
        ):
            raise ValueError(
                f"bandwidth must be a finite number > 0, got {b!r}; omit it to use the median rule"
            )
        object.__setattr__(self, "bandwidth", float(b))
        if not (
            isinstance(self.scale, (int, float)) and math.isfinite(self.scale) and self.scale > 0
        ):
            raise ValueError(f"scale must be a finite number > 0, got {self.scale!r}")
        object.__setattr__(self, "scale", float(self.scale))

    def from_sq_dists_(self, sq, backend: Backend):
        """Turn squared distances of the unscaled inputs into kernel values, in place."""
        s = self.bandwidth / self.scale  # the bandwidth in the inputs' own units
        if self.name == "gaussian":
            sq *= -1.0 / (2.0 * s * s)
        else:
            backend.sqrt_(sq)
            sq *= -1.0 / s
        return backend.exp_(sq)

    def numpy(self, X, Z) -> np.ndarray:
        """Float64 reference: the full matrix ``k(X_i, Z_j)`` by direct differences."""
        X = np.asarray(X, dtype=np.float64) * self.scale
        Z = np.asarray(Z, dtype=np.float64) * self.scale
        d2 = ((X[:, None, :] - Z[None, :, :]) ** 2).sum(-1)
        if self.name == "gaussian":
            return np.exp(-d2 / (2 * self.bandwidth**2))
        return np.exp(-np.sqrt(d2) / self.bandwidth)


def _same_width(X, Z):
    if Z is not None and X.shape[1] != Z.shape[1]:
        raise ValueError(
            f"X and Z must have the same number of features, got {X.shape[1]} and {Z.shape[1]}"
        )


def _as_2d(name, X):
    shape = getattr(X, "shape", None)
    if shape is None or len(shape) != 2:
        raise ValueError(
            f"{name} must be a 2-D array (n_samples, n_features), got shape "
            f"{shape}; reshape images with X.reshape(len(X), -1)"
        )
    if shape[0] == 0 or shape[1] == 0:
        raise ValueError(f"{name} must be non-empty, got shape {tuple(shape)}")
    return X


def bandwidth_rule(
    X, kernel: str, *, rng: np.random.Generator, n_sample: int = 2000, scale: float = 1.0
) -> float:
    """Bandwidth from the median pairwise distance of a random subsample.

    Parameters
    ----------
    X : numpy.ndarray, shape (n, d)
    kernel : {"gaussian", "laplacian"}
    rng : numpy.random.Generator
        Picks the subsample (all points if ``n <= n_sample``).
    n_sample : int
    scale : float
        The features are ``scale * X`` (as in :class:`Kernel`).

    Returns
    -------
    float
        ``median / 2`` for the Gaussian kernel, ``median`` for the Laplacian.
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    X = np.asarray(_as_2d("X", X))
    n = X.shape[0]
    if n < 2:
        raise ValueError(f"the median rule needs at least 2 points, got {n}; pass a bandwidth")
    idx = rng.choice(n, size=min(n, n_sample), replace=False)
    S = X[idx].astype(np.float64) * scale
    sq = (S * S).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (S @ S.copy().T), 0.0)
    med = float(np.median(np.sqrt(d2[np.triu_indices(len(S), 1)])))
    if not med > 0:
        raise ValueError("the median pairwise distance is 0 (duplicated points); pass a bandwidth")
    return med / 2.0 if kernel == "gaussian" else med


def rows_per_block(n_cols: int, itemsize: int, workspace: int = _WORKSPACE) -> int:
    """Rows of an ``n_cols``-wide block that fit in ``workspace`` bytes (at least 1)."""
    return max(1, int(workspace // max(1, n_cols * itemsize)))


def _int_path(X, backend) -> bool:
    return (
        isinstance(X, np.ndarray)
        and X.dtype == np.uint8
        and X.shape[1] <= 8192
        and backend.name == "torch"
        and not backend.is_gpu
    )


def _center(ref, backend):
    """The shift for the float path: the column mean of ``ref`` (None on the integer path)."""
    if _int_path(ref, backend):
        return None
    return np.asarray(
        backend.to_numpy(ref) if not isinstance(ref, np.ndarray) else ref, dtype=np.float64
    ).mean(0)


class Points:
    """Rows prepared once for blocked squared distances (in the inputs' own units).

    uint8 inputs on torch's CPU backend take an exact integer path: with
    ``u = x - 128`` as int8, ``|x - z|^2 = a(x) + a(z) - 2 u.v`` where
    ``a(x) = |x|^2 - 256 sum(x) + 16384 d``, and ``u.v`` is an int8 GEMM with int32
    accumulation (``torch._int_mm``: AMX/VNNI, about three times the float32 GEMM
    here). Every distance is then an exact integer. Other inputs are cast to
    ``dtype`` and use ``|x|^2 + |z|^2 - 2 x.z``, clamped at 0.

    Parameters
    ----------
    X : array, shape (n, d)
    dtype : float32 or float64
    backend : Backend
    exact_int : bool
        Allow the integer path for uint8 inputs.
    shift : numpy.ndarray, shape (d,), optional
        Float path: subtract this (the training mean) first. Distances do not
        change, but the norms in ``|x|^2 + |z|^2 - 2 x.z`` shrink, and with them
        the float32 cancellation error.
    """

    def __init__(self, X, *, dtype, backend: Backend, exact_int: bool = True, shift=None):
        self.backend = backend
        self.n, self.d = X.shape
        self.dtype = np.dtype(dtype)
        self.int_mode = bool(
            exact_int
            and _int_path(X, backend)  # d <= 8192: int32 exact
            and hasattr(backend.xp, "_int_mm")
        )
        if self.int_mode:
            t = backend.xp
            xi = t.from_numpy(X)
            self.q = (xi.to(t.int16) - 128).to(t.int8)
            x64 = xi.to(t.int64)
            self.a = ((x64 * x64).sum(1) - 256 * x64.sum(1) + 16384 * self.d).to(t.int32)
        else:
            if shift is not None:
                X = np.asarray(X, dtype=np.float64) - shift
            self.x = backend.asarray(X, dtype)
            self.sq = backend.row_sq_norms(self.x)

    def sq_dists_into(self, out, rows, other: Points, cols=slice(None)):
        """``out = |self[rows] - other[cols]|^2``; ``out`` has this dtype."""
        be = self.backend
        if self.d != other.d:
            raise ValueError(
                f"X and Z must have the same number of features, got {self.d} and {other.d}"
            )
        if self.int_mode and other.int_mode:
            t = be.xp
            g = t._int_mm(self.q[rows], other.q[cols].T)  # (b, m) int32, exact
            g.mul_(-2).add_(self.a[rows][:, None]).add_(other.a[cols][None, :])
            out.copy_(g)
            return out
        if self.int_mode or other.int_mode:
            raise ValueError("mixed integer and float points; prepare both with the same inputs")
        return be.sq_dists_into(out, self.x[rows], other.x[cols], self.sq[rows], other.sq[cols])


def kernel_matrix(
    X,
    Z=None,
    *,
    kernel: Kernel,
    dtype="float32",
    backend=None,
    out=None,
    lower_only: bool = False,
    max_bytes: int | None = None,
    progress=None,
):
    """The kernel matrix ``K[i, j] = k(X_i, Z_j)``, computed in row blocks, in place.

    Parameters
    ----------
    X : array, shape (n, d)
    Z : array, shape (m, d), optional
        Defaults to ``X``; then the diagonal is set to exactly ``k(0) = 1``.
    kernel : Kernel
    dtype : {"float32", "float64"}
        Precision of the distances and of the stored matrix.
    backend : Backend or str, optional
        Where to compute and store (default: :func:`get_backend`).
    out : array, shape (n, m), optional
        Preallocated result of the backend and dtype.
    lower_only : bool
        With ``Z=None``, compute only the lower block triangle (all a Cholesky
        factorization reads); the rest of ``out`` is left unwritten. Mirroring the
        triangle costs more than computing the whole matrix on the CPU (strided
        transposed copies), so the full matrix is computed otherwise.
    max_bytes : int, optional
        Refuse (``MemoryError``) if the result would take more than this.
    progress : callable, optional
        ``progress(rows_done, n)``.

    Returns
    -------
    array of the backend, shape (n, m)

    Notes
    -----
    Each block's distances are written straight into ``out`` and turned into
    kernel values there: the only memory beyond the result is the data and its
    row norms.
    """
    backend = get_backend(backend or "auto") if not isinstance(backend, Backend) else backend
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    _as_2d("X", X)
    if Z is not None:
        _as_2d("Z", Z)
    _same_width(X, Z)
    n = X.shape[0]
    m = n if Z is None else Z.shape[0]
    need = n * m * dtype.itemsize
    if max_bytes is not None and out is None and need > max_bytes:
        raise MemoryError(
            f"the {n} x {m} {dtype} kernel matrix needs {need / 2**30:.1f} GiB, more than the "
            f"{max_bytes / 2**30:.1f} GiB allowed; use float32, fewer points, or an iterative "
            f"solver that computes kernel blocks on the fly (solver='eigenpro')"
        )
    shift = _center(X if Z is None else Z, backend)
    P = Points(X, dtype=dtype, backend=backend, shift=shift)
    Q = P if Z is None else Points(Z, dtype=dtype, backend=backend, shift=shift)
    # Integer distances are exact, hence symmetric; float GEMM blocks are not (rows
    # i and j come from different calls), and CG needs a symmetric K: compute the
    # lower block triangle and mirror it.
    mirror = Z is None and not lower_only and not P.int_mode
    if out is None:
        out = backend.empty((n, m), dtype)
    elif tuple(out.shape) != (n, m):
        raise ValueError(f"out must have shape {(n, m)}, got {tuple(out.shape)}")
    block = max(256, min(rows_per_block(m, dtype.itemsize), 4096))
    for i0 in range(0, n, block):
        i1 = min(i0 + block, n)
        cols = i1 if (Z is None and (lower_only or mirror)) else m
        dst = out[i0:i1, :cols]
        P.sq_dists_into(dst, slice(i0, i1), Q, slice(0, cols))
        kernel.from_sq_dists_(dst, backend)
        if Z is None:
            _fill_diagonal(out[i0:i1, i0:i1], 1.0, backend)
        if progress is not None:
            progress(i1, n)
    if mirror:
        _mirror_lower(out, backend)
    return out


def _mirror_lower(a, backend, tile: int = 1024):
    """``a[j, i] = a[i, j]`` for ``i > j`` (tiles of ``tile``; cache-sized transposes)."""
    n = a.shape[0]
    for i0 in range(0, n, tile):
        i1 = min(i0 + tile, n)
        for j0 in range(0, i1, tile):
            j1 = min(j0 + tile, n)
            src = a[i0:i1, j0:j1]
            if j0 == i0:  # diagonal tile: upper part from its own lower part
                lower = backend.xp.tril(src, -1) if backend.name != "torch" else src.tril(-1)
                diag = (
                    backend.xp.diag(backend.xp.diag(src))
                    if backend.name != "torch"
                    else src.diagonal().diag()
                )
                src[...] = lower + lower.T + diag
            elif backend.name == "torch":
                a[j0:j1, i0:i1].copy_(src.T)
            else:
                a[j0:j1, i0:i1] = src.T


def _fill_diagonal(a, value, backend):
    if backend.name == "torch":
        a.fill_diagonal_(value)
    else:
        backend.xp.fill_diagonal(a, value)


def kernel_matmul(
    X,
    Z,
    A,
    *,
    kernel: Kernel,
    dtype="float32",
    backend=None,
    workspace: int = _WORKSPACE,
    progress=None,
):
    """``K(X, Z) @ A`` without storing ``K``: one row block of kernel values at a time.

    Parameters
    ----------
    X : array, shape (n, d)
    Z : array, shape (m, d)
    A : array, shape (m, c)
    kernel : Kernel
    dtype : {"float32", "float64"}
        Precision of the kernel blocks; the product is accumulated in it too.
    backend : Backend or str, optional
    workspace : int
        Bytes for one block of kernel values.
    progress : callable, optional

    Returns
    -------
    array of the backend, shape (n, c), in ``dtype``
    """
    backend = get_backend(backend or "auto") if not isinstance(backend, Backend) else backend
    dtype = np.dtype(dtype)
    _as_2d("X", X)
    _as_2d("Z", Z)
    _same_width(X, Z)
    if A.shape[0] != Z.shape[0]:
        raise ValueError(
            f"A must have one row per row of Z ({Z.shape[0]}), got shape {tuple(A.shape)}"
        )
    squeeze = len(A.shape) == 1
    shift = _center(Z, backend)
    P = Points(X, dtype=dtype, backend=backend, shift=shift)
    Q = Points(Z, dtype=dtype, backend=backend, shift=shift)
    Ab = backend.asarray(A, dtype)
    if squeeze:
        Ab = Ab[:, None]
    n, m = P.n, Q.n
    out = backend.empty((n, Ab.shape[1]), dtype)
    block = rows_per_block(m, dtype.itemsize, workspace)
    buf = backend.empty((min(block, n), m), dtype)
    for i0 in range(0, n, block):
        i1 = min(i0 + block, n)
        kb = buf[: i1 - i0]
        P.sq_dists_into(kb, slice(i0, i1), Q)
        kernel.from_sq_dists_(kb, backend)
        backend.matmul(kb, Ab, out=out[i0:i1])
        if progress is not None:
            progress(i1, n)
    return out[:, 0] if squeeze else out
