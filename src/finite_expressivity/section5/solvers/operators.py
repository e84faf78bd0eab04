"""The kernel matrix as an operator: stored in memory, or computed block by block.

Both give ``matmul(A)`` (``K @ A`` in float64, computed in ``K``'s precision),
``rows(idx)`` and ``block(rows, cols)``, so the iterative solvers work with either.
"""

from __future__ import annotations

import numpy as np

from ..gram import Kernel, Points, center, kernel_block, rows_per_block
from ..paths import KvRace, fastest, race_candidates, stored_matmul

__all__ = ["StoredKernel", "OnTheFlyKernel"]


class StoredKernel:
    """``K`` held in memory (float32 or float64) on a backend.

    Parameters
    ----------
    K : array, shape (n, n)
        Symmetric.
    backend : Backend
    kv : {"gemm", "transposed", "columns", "blocked", "race"}
        How ``K @ A`` is computed (:func:`~..paths.stored_matmul`); ``"race"``:
        each of the first products takes the next candidate, timed, and the rest the
        fastest (:class:`~..paths.KvRace`).
    kv_gemm : {"torch", "numpy"}, optional
        The GEMM library on torch's CPU backend.
    """

    def __init__(self, K, backend, *, kv: str = "gemm", kv_gemm: str | None = None):
        self.K = K
        self.backend = backend
        self.n = K.shape[0]
        self.dtype = np.dtype(str(K.dtype).replace("torch.", ""))
        self.kv, self.kv_gemm = kv, kv_gemm
        self.race = KvRace(race_candidates(backend)) if kv == "race" else None

    def kv_choice(self) -> tuple:
        """``(kv, kv_gemm, timings)``: the method in use (after a race, its winner so far)."""
        if self.race is None:
            return self.kv, self.kv_gemm, {}
        kv, lib = self._best()
        return kv, lib, dict(self.race.times)

    def _best(self) -> tuple:
        kv, _, lib = fastest(self.race.times, "gemm:").partition(":")
        return kv, lib or None

    def matmul(self, A):
        """``K @ A`` in ``K``'s precision, returned in float64."""
        be = self.backend
        A32 = be.astype(A, self.dtype)
        if self.race is None:
            out = stored_matmul(be, self.K, A32, kv=self.kv, kv_gemm=self.kv_gemm)
        elif self.race.done:
            kv, lib = self._best()
            out = stored_matmul(be, self.K, A32, kv=kv, kv_gemm=lib)
        else:
            out = self._timed(A32)
        return be.astype(out, np.float64)

    def _timed(self, A32):
        """One product by the race's next candidate, timed (``columns``: one column)."""
        be, race = self.backend, self.race
        kv, lib = race.choice()
        t0 = race.clock()
        if kv == "columns":
            be.matmul(self.K, be.copy(A32[:, 0]), gemm=lib)
            race.record(A32.shape[1] * (race.clock() - t0))
            kv, lib = self._best()
            return stored_matmul(be, self.K, A32, kv=kv, kv_gemm=lib)
        out = stored_matmul(be, self.K, A32, kv=kv, kv_gemm=lib)
        race.record(race.clock() - t0)
        return out

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
