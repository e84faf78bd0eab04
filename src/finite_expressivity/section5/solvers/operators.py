"""The kernel matrix as an operator: stored in memory, or computed block by block.

Both give ``matmul(A)`` (``K @ A`` in float64, computed in ``K``'s precision),
``rows(idx)`` and ``block(rows, cols)``, so the iterative solvers work with either.
"""

from __future__ import annotations

import numpy as np

from ..gram import Kernel, Points, center, kernel_block, rows_per_block
from ..paths import stored_matmul

__all__ = ["StoredKernel", "OnTheFlyKernel"]


class StoredKernel:
    """``K`` held in memory (float32 or float64) on a backend.

    Parameters
    ----------
    K : array, shape (n, n)
        Symmetric.
    backend : Backend
    kv : {"gemm", "transposed", "columns", "blocked"}
        How ``K @ A`` is computed (:func:`~..paths.stored_matmul`; measured per
        machine by :func:`~..paths.choose_paths`).
    kv_gemm : {"torch", "numpy"}, optional
        The GEMM library on torch's CPU backend.
    """

    def __init__(self, K, backend, *, kv: str = "gemm", kv_gemm: str | None = None):
        self.K = K
        self.backend = backend
        self.n = K.shape[0]
        self.dtype = np.dtype(str(K.dtype).replace("torch.", ""))
        self.kv, self.kv_gemm = kv, kv_gemm

    def matmul(self, A):
        """``K @ A`` in ``K``'s precision, returned in float64."""
        be = self.backend
        out = stored_matmul(be, self.K, be.astype(A, self.dtype), kv=self.kv, kv_gemm=self.kv_gemm)
        return be.astype(out, np.float64)

    def rows(self, idx):
        """``K[idx, :]``."""
        return self.K[idx]

    def block(self, rows, cols):
        """``K[rows, cols]`` for index arrays ``rows`` and ``cols``."""
        return self.K[rows[:, None], cols[None, :]]


class OnTheFlyKernel:
    """``K(X, X)`` never stored: each product computes kernel blocks afresh.

    Parameters
    ----------
    X : array, shape (n, d)
    kernel : Kernel
    backend : Backend
    dtype : {"float32", "float64"}
    workspace : int
        Bytes for one block of kernel values.
    fused : bool
        On CuPy, compute ``K @ A`` with the fused CUDA kernel
        (``kernels/fused_kernel_matvec.cu``) instead of GEMM-built blocks.
    distances, gemm : str, optional
        The distance path and GEMM library (:class:`~..gram.Points`).
    """

    def __init__(
        self,
        X,
        kernel: Kernel,
        backend,
        dtype="float32",
        workspace: int = 1 << 30,
        fused: bool = False,
        *,
        distances: str = "float32",
        gemm: str | None = None,
    ):
        if fused and backend.name != "cupy":
            raise ValueError(f"fused=True needs the CuPy backend, got {backend.name!r}")
        self.fused = fused
        self.backend = backend
        self.kernel = kernel
        self.dtype = np.dtype(dtype)
        self.gemm = gemm
        self.points = Points(
            X,
            dtype=self.dtype,
            backend=backend,
            distances=distances,
            gemm=gemm,
            shift=center(X, backend),
        )
        self.n = self.points.n
        self.workspace = workspace

    def _size(self, idx) -> int:
        return len(range(*idx.indices(self.n))) if isinstance(idx, slice) else len(idx)

    def rows(self, idx):
        """``K[idx, :]``, computed now."""
        return self.block(idx, slice(None))

    def block(self, rows, cols):
        """``K[rows, cols]``, computed now (index arrays or slices)."""
        out = self.backend.empty((self._size(rows), self._size(cols)), self.dtype)
        return kernel_block(self.kernel, out, self.points, rows, self.points, cols)

    def matmul(self, A):
        """``K @ A`` from blocks of ``workspace`` bytes, returned in float64."""
        be = self.backend
        A32 = be.astype(A, self.dtype)
        if self.fused:
            from ..cuda import fused_kernel_matvec  # noqa: PLC0415

            x = self.points.x
            return be.astype(fused_kernel_matvec(x, x, A32, kernel=self.kernel), np.float64)
        out = be.empty((self.n, A.shape[1]), self.dtype)
        block = rows_per_block(self.n, self.dtype.itemsize, self.workspace)
        for i0 in range(0, self.n, block):
            i1 = min(i0 + block, self.n)
            be.matmul(self.rows(slice(i0, i1)), A32, out=out[i0:i1], gemm=self.gemm)
        return be.astype(out, np.float64)
