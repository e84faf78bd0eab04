"""Compiled CPU loops for what no array library does fast: the kernel matrix's mirror.

Imported only when needed (numba compiles on first use and caches the machine code on
disk beside this file).
"""

from __future__ import annotations

from numba import njit, prange

__all__ = ["mirror_lower"]


@njit(parallel=True, cache=True)
def mirror_lower(a, t):  # pragma: no cover - compiled
    """``a[j, i] = a[i, j]`` for ``i > j``, in place, in ``t x t`` tiles (one tile row of
    the lower triangle per task: contiguous reads, short strided writes)."""
    n = a.shape[0]
    for bi in prange((n + t - 1) // t):
        i0 = bi * t
        for j0 in range(0, i0 + t, t):
            for i in range(i0, min(i0 + t, n)):
                for j in range(j0, min(j0 + t, i)):
                    a[j, i] = a[i, j]
