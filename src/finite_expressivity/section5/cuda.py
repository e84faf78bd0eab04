"""The fused CUDA step ``K(X, Z) @ A`` (distances -> kernel -> product), and its reference.

``kernels/fused_kernel_matvec.cu`` is compiled lazily by CuPy's ``RawModule``, one
module per ``.cu`` file, with one ``extern "C"`` entry point per dtype
(``fused_kernel_matvec_float32`` / ``_float64``). Inputs are checked on the host
before launch; launches go through :func:`_launch` with named ``grid`` and
``block``. :func:`fused_kernel_matvec_reference` is the NumPy float64 reference
the GPU kernel is tested against (``tests/kernel/test_cuda.py``).

Status: the reference is tested on the CPU; the CUDA kernel has not been run
on a GPU in this project's sessions (no GPU was lent): see
``scripts/gpu_kernel_checks.sh``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .gram import Kernel

__all__ = ["fused_kernel_matvec", "fused_kernel_matvec_reference", "cu_source_path"]

TILE = 16  # must match kernels/fused_kernel_matvec.cu
CMAX = 16
_MODULES: dict = {}


def cu_source_path(name: str = "fused_kernel_matvec") -> Path:
    """Where ``NAME.cu`` lives: package data if installed so, else the repository's ``kernels/``."""
    here = Path(__file__).resolve()
    for folder in (here.parents[1] / "kernels", here.parents[3] / "kernels"):
        path = folder / f"{name}.cu"
        if path.exists():
            return path
    raise FileNotFoundError(
        f"{name}.cu not found in {here.parents[1] / 'kernels'} or "
        f"{here.parents[3] / 'kernels'}; reinstall the package from its "
        f"source tree"
    )


def _module(name: str = "fused_kernel_matvec"):
    """The compiled ``RawModule`` for ``NAME.cu`` (built once per process)."""
    if name not in _MODULES:
        import cupy  # noqa: PLC0415 - optional

        _MODULES[name] = cupy.RawModule(
            code=cu_source_path(name).read_text(), options=("--std=c++14",)
        )
    return _MODULES[name]


def _launch(fn, *, grid, block, args, shared_mem: int = 0):
    """Launch ``fn`` with named grid and block (no positional tuples to swap)."""
    fn(tuple(grid), tuple(block), tuple(args), shared_mem=shared_mem)


def _gamma(kernel: Kernel) -> tuple[float, int]:
    s = kernel.bandwidth / kernel.scale  # bandwidth in the inputs' own units
    if kernel.name == "gaussian":
        return 1.0 / (2.0 * s * s), 0
    return 1.0 / s, 1


def fused_kernel_matvec_reference(X, Z, A, *, kernel: Kernel, block: int = 1024) -> np.ndarray:
    """Float64 NumPy reference of the CUDA kernel: same formula, same clamping.

    Parameters
    ----------
    X : array_like, shape (n, d)
    Z : array_like, shape (m, d)
    A : array_like, shape (m, c)
    kernel : Kernel
    block : int
        Rows of ``X`` per block.

    Returns
    -------
    numpy.ndarray, float64, shape (n, c)
    """
    X = np.asarray(X, dtype=np.float64)
    Z = np.asarray(Z, dtype=np.float64)
    A = np.asarray(A, dtype=np.float64)
    gamma, kind = _gamma(kernel)
    xsq = np.einsum("ij,ij->i", X, X)
    zsq = np.einsum("ij,ij->i", Z, Z)
    out = np.empty((X.shape[0], A.shape[1]))
    for i0 in range(0, X.shape[0], block):
        sq = np.maximum(
            xsq[i0 : i0 + block, None] + zsq[None, :] - 2.0 * X[i0 : i0 + block] @ Z.T, 0
        )
        kv = np.exp(-gamma * (sq if kind == 0 else np.sqrt(sq)))
        out[i0 : i0 + block] = kv @ A
    return out


def _check_inputs(cupy, X, Z, A) -> None:
    """On the host, before launch: types, shapes, one float dtype, int32-sized."""
    arrays = {"X": X, "Z": Z, "A": A}
    for name, a in arrays.items():
        if not isinstance(a, cupy.ndarray):
            raise TypeError(
                f"{name} must be a cupy.ndarray, got {type(a).__name__}; move it with cupy.asarray"
            )
        if a.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
    dtype = X.dtype
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"X must be float32 or float64, got {dtype}; convert with astype")
    for name, a in arrays.items():
        if a.dtype != dtype:
            raise TypeError(f"{name} has dtype {a.dtype} but X has {dtype}; use one dtype")
    (n, d), m = X.shape, Z.shape[0]
    if Z.shape[1] != d:
        raise ValueError(f"Z must have {d} columns like X, got {Z.shape[1]}")
    if A.shape[0] != m:
        raise ValueError(f"A must have one row per row of Z ({m}), got {A.shape[0]}")
    if max(n, m, d) >= 2**31:
        raise ValueError("sizes must be below 2**31 (int32 indices in the kernel)")


def fused_kernel_matvec(X, Z, A, *, kernel: Kernel, out=None):
    """``K(X, Z) @ A`` on the GPU in one fused kernel (CuPy arrays).

    Parameters
    ----------
    X : cupy.ndarray, shape (n, d), float32 or float64, C-contiguous
    Z : cupy.ndarray, shape (m, d), same dtype
    A : cupy.ndarray, shape (m, c), same dtype
    kernel : Kernel
        Its ``scale`` applies to ``X`` and ``Z`` as given.
    out : cupy.ndarray, shape (n, c), optional

    Returns
    -------
    cupy.ndarray, shape (n, c)
    """
    import cupy  # noqa: PLC0415 - optional

    _check_inputs(cupy, X, Z, A)
    n, d = X.shape
    m = Z.shape[0]
    dtype = X.dtype
    c = A.shape[1]
    X, Z, A = (cupy.ascontiguousarray(a) for a in (X, Z, A))
    if out is None:
        out = cupy.empty((n, c), dtype=dtype)
    elif out.shape != (n, c) or out.dtype != dtype or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous {dtype} array of shape {(n, c)}")
    xsq = (X * X).sum(1)
    zsq = (Z * Z).sum(1)
    gamma, kind = _gamma(kernel)
    scalar = np.float32 if dtype == np.float32 else np.float64
    fn = _module().get_function(f"fused_kernel_matvec_{np.dtype(dtype).name}")
    grid = ((n + TILE - 1) // TILE, 1, 1)
    block = (TILE, TILE, 1)
    for c0 in range(0, c, CMAX):
        cc = min(CMAX, c - c0)
        _launch(
            fn,
            grid=grid,
            block=block,
            args=(
                X,
                Z,
                A,
                xsq,
                zsq,
                out,
                np.int32(n),
                np.int32(m),
                np.int32(d),
                np.int32(c),
                np.int32(c),
                np.int32(c0),
                np.int32(cc),
                scalar(gamma),
                np.int32(kind),
            ),
        )
    return out
