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
    "DISTANCES",
    "int8_possible",
    "kernel_block",
    "bandwidth_rule",
    "kernel_matrix",
    "kernel_matmul",
    "rows_per_block",
]

KERNELS = ("gaussian", "laplacian")
DISTANCES = ("float32", "int8")
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


def int8_possible(X, backend) -> bool:
    """Whether the exact int8 path can compute ``X``'s distances: uint8 rows of at most
    8,192 features (int32 accumulation stays exact) with torch's ``_int_mm`` on a CPU."""
    return (
        isinstance(X, np.ndarray)
        and X.dtype == np.uint8
        and X.shape[1] <= 8192
        and backend.name == "torch"
        and not backend.is_gpu
        and hasattr(backend.lib, "_int_mm")
    )


def center(ref, backend) -> np.ndarray:
    """The shift for the float path: the column mean of ``ref`` (the training points)."""
    ref = backend.to_numpy(ref) if not isinstance(ref, np.ndarray) else ref
    return np.asarray(ref, dtype=np.float64).mean(0)


class Points:
    """Rows prepared once for blocked squared distances (in the inputs' own units).

    Two ways to compute the same distances (:mod:`.paths` picks one by timing them):

    * ``distances="int8"`` (uint8 inputs on torch's CPU backend): with ``u = x - 128``
      as int8, ``|x - z|^2 = a(x) + a(z) - 2 u.v`` where
      ``a(x) = |x|^2 - 256 sum(x) + 16384 d``, and ``u.v`` is an int8 GEMM with int32
      accumulation (``torch._int_mm``). Every distance is an exact integer, so the
      matrix is exactly symmetric. Fast where the CPU has int8 matrix units
      (AVX-512 VNNI, AMX); on some others torch falls back to a slow loop.
    * ``distances="float32"`` (any inputs): cast to ``dtype`` after subtracting
      ``shift``, then ``|x|^2 + |z|^2 - 2 x.z`` clamped at 0, with the GEMM from
      torch or NumPy's BLAS (``gemm``).

    Parameters
    ----------
    X : array, shape (n, d)
    dtype : float32 or float64
    backend : Backend
    distances : {"float32", "int8"}
        ``"int8"`` applies where :func:`int8_possible`; elsewhere the float path runs.
    gemm : {"torch", "numpy"}, optional
        The float path's GEMM library on torch's CPU backend (default: the backend's).
    shift : numpy.ndarray, shape (d,), optional
        Float path: subtract this (the training mean) first. Distances do not
        change, but the norms in ``|x|^2 + |z|^2 - 2 x.z`` shrink, and with them
        the float32 cancellation error.
    """

    def __init__(self, X, *, dtype, backend: Backend, distances="float32", gemm=None, shift=None):
        if distances not in DISTANCES:
            raise ValueError(f"distances must be one of {DISTANCES}, got {distances!r}")
        self.backend = backend
        self.n, self.d = X.shape
        self.dtype = np.dtype(dtype)
        self.gemm = gemm
        self.int_mode = distances == "int8" and int8_possible(X, backend)
        if self.int_mode:
            t = backend.lib
            xi = t.from_numpy(X)
            self.q = (xi.to(t.int16) - 128).to(t.int8)
            x64 = xi.to(t.int64)
            self.a = ((x64 * x64).sum(1) - 256 * x64.sum(1) + 16384 * self.d).to(t.int32)
        else:
            if shift is not None:
                X = np.asarray(X, dtype=np.float64) - shift
            self.x = backend.asarray(X, dtype)
            self.sq = backend.row_sq_norms(self.x)

    def _int32(self, shape):
        """An int32 scratch block, kept between calls: a fresh one each block would
        fault its pages in anew (on this project's VM, 30 blocks cost 25 s that way)."""
        size = shape[0] * shape[1]
        if getattr(self, "_scratch", None) is None or self._scratch.numel() < size:
            self._scratch = self.backend.lib.empty(size, dtype=self.backend.lib.int32)
        return self._scratch[:size].view(shape)

    @property
    def path(self) -> str:
        """The distance path these points take (``"int8"`` or ``"float32"``)."""
        return "int8" if self.int_mode else "float32"

    def sq_dists_into(self, out, rows, other: Points, cols=slice(None), scale: float = 1.0):
        """``out = scale * |self[rows] - other[cols]|^2``; ``out`` has this dtype."""
        if self.d != other.d:
            raise ValueError(
                f"X and Z must have the same number of features, got {self.d} and {other.d}"
            )
        if self.int_mode != other.int_mode:
            raise ValueError("mixed integer and float points; prepare both with the same inputs")
        if self.int_mode:
            t = self.backend.lib
            g = self._int32(tuple(out.shape))
            t._int_mm(self.q[rows], other.q[cols].T, out=g)  # (b, m) int32, exact
            t.add(self.a[rows][:, None], g, alpha=-2, out=g)
            g.add_(other.a[cols][None, :])
            out.copy_(g)
            return out.mul_(scale) if scale != 1.0 else out
        return _float_sq_dists(
            self.backend,
            out,
            self.x[rows],
            other.x[cols],
            self.sq[rows],
            other.sq[cols],
            scale,
            self.gemm,
        )


def _float_sq_dists(be, out, a, b, a_sq, b_sq, scale, gemm):
    """``out = scale * (|a_i|^2 + |b_j|^2 - 2 a_i.b_j)``, clamped to the sign of ``scale``."""
    if be.name == "torch" and gemm != "numpy":
        be.lib.addmm(b_sq[None, :] * scale, a, b.T, beta=1.0, alpha=-2.0 * scale, out=out)
    else:
        if (
            be.name == "numpy"
            and a.shape == b.shape
            and a.shape[0] > 8192
            and a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
        ):
            b = b.copy()  # a @ a.T would take OpenBLAS's threaded syrk (see linalg.py)
        be.matmul(a, b.T, out=out, gemm=gemm)
        out *= -2.0 * scale
        out += b_sq[None, :] * scale
    out += a_sq[:, None] * scale
    return be.clamp_(out, hi=0.0) if scale < 0 else be.clamp_(out, lo=0.0)


def kernel_block(kernel: Kernel, out, P: Points, rows, Q: Points, cols=slice(None)):
    """``out = k(P[rows], Q[cols])``: distances straight into ``out``, kernel values in
    place (the Gaussian's ``-1 / (2 s^2)`` folded into the distance step)."""
    be = P.backend
    s = kernel.bandwidth / kernel.scale  # the bandwidth in the inputs' own units
    if kernel.name == "gaussian":
        P.sq_dists_into(out, rows, Q, cols, scale=-1.0 / (2.0 * s * s))
        return be.exp_(out)
    P.sq_dists_into(out, rows, Q, cols)
    be.sqrt_(out)
    out *= -1.0 / s
    return be.exp_(out)


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
    distances: str = "float32",
    gemm: str | None = None,
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
    distances : {"float32", "int8"}
        How squared distances are computed (:class:`Points`).
    gemm : {"torch", "numpy"}, optional
        The float path's GEMM library on torch's CPU backend.

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
    how = dict(dtype=dtype, backend=backend, distances=distances, gemm=gemm)
    shift = center(X if Z is None else Z, backend)
    P = Points(X, shift=shift, **how)
    Q = P if Z is None else Points(Z, shift=shift, **how)
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
        kernel_block(kernel, out[i0:i1, :cols], P, slice(i0, i1), Q, slice(0, cols))
        if mirror:  # fault the rows' upper pages in now, in order: the mirror's strided
            out[i0:i1, i1:] = 0.0  # writes into untouched pages cost 3x more (60,000 rows)
        if Z is None:
            if P.int_mode:
                _check_int_diagonal(out[i0:i1, i0:i1], backend)
            backend.fill_diagonal_(out[i0:i1, i0:i1], 1.0)
        if progress is not None:
            progress(i1, n)
    if mirror:
        _mirror_lower(out, backend)
    return out


def _check_int_diagonal(block, backend):
    """Exact integer distances put exactly k(0) = 1 on the diagonal; anything else means
    this machine's int8 GEMM computed wrong sums."""
    if not bool(backend.xp.all(backend.xp.linalg.diagonal(block) == 1.0)):
        raise ValueError(
            "distances: the int8 GEMM (torch._int_mm) returned wrong sums on this machine "
            "(the kernel's diagonal is not exactly 1); use --paths distances=float32 "
            "(paths='distances=float32')"
        )


def _mirror_lower(a, backend, tile: int = 1024):
    """``a[j, i] = a[i, j]`` for ``i > j``: on the CPU a compiled blocked transpose
    (:func:`~.mirror.mirror_lower`; 60,000 rows in about 4 s here, against 13 s for tiled
    ``copy_`` of transposed views), else tiles of ``tile``."""
    if not backend.is_gpu:
        try:
            from .mirror import mirror_lower  # noqa: PLC0415 - numba, compiled once
        except ImportError:
            mirror_lower = None
        if mirror_lower is not None:
            mirror_lower(a.numpy() if backend.name == "torch" else a, 32)
            return
    n = a.shape[0]
    for i0 in range(0, n, tile):
        i1 = min(i0 + tile, n)
        for j0 in range(0, i1, tile):
            j1 = min(j0 + tile, n)
            src = a[i0:i1, j0:j1]
            if j0 == i0:  # diagonal tile: upper part from its own lower part
                src[...] = backend.xp.tril(src) + backend.xp.tril(src, k=-1).T
            elif backend.name == "torch":
                a[j0:j1, i0:i1].copy_(src.T)
            else:
                a[j0:j1, i0:i1] = src.T


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
    distances: str = "float32",
    gemm: str | None = None,
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
    distances, gemm
        As :func:`kernel_matrix`.

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
    how = dict(dtype=dtype, backend=backend, distances=distances, gemm=gemm)
    shift = center(Z, backend)
    P = Points(X, shift=shift, **how)
    Q = Points(Z, shift=shift, **how)
    Ab = backend.asarray(A, dtype)
    if squeeze:
        Ab = Ab[:, None]
    n, m = P.n, Q.n
    out = backend.empty((n, Ab.shape[1]), dtype)
    block = rows_per_block(m, dtype.itemsize, workspace)
    buf = backend.empty((min(block, n), m), dtype)
    for i0 in range(0, n, block):
        i1 = min(i0 + block, n)
        kb = kernel_block(kernel, buf[: i1 - i0], P, slice(i0, i1), Q)
        backend.matmul(kb, Ab, out=out[i0:i1], gemm=gemm)
        if progress is not None:
            progress(i1, n)
    return out[:, 0] if squeeze else out
