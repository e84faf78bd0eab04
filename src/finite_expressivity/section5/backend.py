"""Where the kernel arithmetic runs: NumPy, torch (CPU or CUDA) or CuPy.

The array API (through ``array-api-compat``: ``Backend.xp``) covers creation,
dtypes, casts, reductions and element-wise functions on every library alike. A
:class:`Backend` adds only what that standard lacks and the kernels and solvers
need: in-place element-wise operations, GEMMs into a preallocated ``out=``, GEMMs
through NumPy's BLAS on torch's CPU tensors (zero-copy views), Cholesky
factorizations and solves, a descending ``eigh``, device transfers, and memory
queries. NumPy needs nothing else; torch and CuPy are imported only when asked for.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from ..core.machine import available_memory_bytes

__all__ = ["Backend", "get_backend"]

_NAMES = ("auto", "numpy", "torch", "cupy")


class Backend:
    """An array library on a device.

    Parameters
    ----------
    name : {"numpy", "torch", "cupy"}
    device : str
        ``"cpu"`` or ``"cuda"`` (``"cuda:N"`` for torch).

    Attributes
    ----------
    xp : module
        The library's array-API namespace (``array_api_compat.numpy`` etc.).
    lib : module
        The library itself (``numpy``, ``torch``, ``cupy``).
    """

    def __init__(self, name: str, device: str = "cpu"):
        import array_api_compat  # noqa: PLC0415

        self.name = name
        self.device = device
        self.lib = importlib.import_module(name)
        self.xp = importlib.import_module(f"array_api_compat.{name}")
        self._compat = array_api_compat

    def __repr__(self):
        return f"Backend({self.name!r}, {self.device!r})"

    @property
    def is_gpu(self) -> bool:
        return self.device.startswith("cuda")

    # -- dtypes and transfers ------------------------------------------------------
    def dtype(self, dtype):
        """The library's dtype for a NumPy dtype or a library dtype (float32 or float64)."""
        if not isinstance(dtype, (str, np.dtype, type)):  # a torch dtype
            dtype = str(dtype).replace("torch.", "")
        return getattr(self.xp, np.dtype(dtype).name)

    def _dev(self):
        return None if self.name == "cupy" else self.device

    def asarray(self, a, dtype=None):
        """``a`` (NumPy or this library) as an array of this backend, on its device (no
        copy when it already is one)."""
        if self.name == "torch" and isinstance(a, np.ndarray):
            a = self.lib.from_numpy(np.ascontiguousarray(a))
        dt = None if dtype is None else self.dtype(dtype)
        return self.xp.asarray(a, dtype=dt, device=self._dev())

    def to_numpy(self, a) -> np.ndarray:
        if self.name == "torch":
            return a.detach().cpu().numpy()
        if self.name == "cupy":
            return a.get()
        return np.asarray(a)

    def empty(self, shape, dtype):
        return self.xp.empty(shape, dtype=self.dtype(dtype), device=self._dev())

    def zeros(self, shape, dtype):
        return self.xp.zeros(shape, dtype=self.dtype(dtype), device=self._dev())

    def copy(self, a):
        return self.xp.asarray(a, copy=True)

    def astype(self, a, dtype):
        return self.xp.astype(a, self.dtype(dtype), copy=False)

    # -- what the array API lacks: out=, in place, BLAS choice ---------------------------
    def matmul(self, a, b, out=None, *, gemm: str | None = None):
        """``a @ b`` (into ``out``); ``gemm="numpy"`` runs it through NumPy's BLAS on
        views of torch CPU tensors (no copies)."""
        if gemm == "numpy" and self.name == "torch" and not self.is_gpu:
            res = np.matmul(a.numpy(), b.numpy(), out=None if out is None else out.numpy())
            return out if out is not None else self.lib.from_numpy(res)
        return self.lib.matmul(a, b, out=out)

    def exp_(self, a):
        return a.exp_() if self.name == "torch" else self.lib.exp(a, out=a)

    def sqrt_(self, a):
        return a.sqrt_() if self.name == "torch" else self.lib.sqrt(a, out=a)

    def clamp_(self, a, lo=None, hi=None):
        """Clip ``a`` to ``[lo, hi]`` in place (either bound may be None)."""
        if self.name == "torch":
            return a.clamp_(lo, hi)
        return self.lib.clip(a, lo, hi, out=a)

    def row_sq_norms(self, a):
        """``sum(a**2, axis=1)`` without a full-size temporary."""
        return self.lib.einsum("ij,ij->i", a, a)

    def add_diagonal_(self, a, value):
        """``a += value * I`` in place."""
        if self.name == "torch":
            a.diagonal().add_(value)
        else:
            i = self.lib.arange(min(a.shape))
            a[i, i] += value
        return a

    def fill_diagonal_(self, a, value):
        if self.name == "torch":
            a.fill_diagonal_(value)
        else:
            self.lib.fill_diagonal(a, value)
        return a

    def argmax_rows(self, a) -> np.ndarray:
        return self.to_numpy(self.xp.argmax(a, axis=1))

    # -- dense linear algebra ----------------------------------------------------------
    def cholesky_inplace(self, a):
        """Lower Cholesky factor of SPD ``a``, overwriting ``a`` where the library allows.

        On the CPU this is SciPy's LAPACK on tiles (:mod:`.linalg`), for NumPy arrays
        and torch tensors alike (a CPU tensor is viewed as a NumPy array, no copy);
        on a GPU, torch's or CuPy's Cholesky. Raises ``numpy.linalg.LinAlgError`` if
        ``a`` is not numerically positive definite.
        """
        if not self.is_gpu:
            from .linalg import blocked_cholesky  # noqa: PLC0415

            blocked_cholesky(a.numpy() if self.name == "torch" else a)
            return a
        if self.name == "torch":
            t = self.lib
            info = t.empty((), dtype=t.int32, device=a.device)
            try:
                t.linalg.cholesky_ex(a, out=(a, info))
            except RuntimeError:  # a build that refuses an aliased output: one more copy
                a, info = t.linalg.cholesky_ex(a)
            if int(info) != 0:
                raise np.linalg.LinAlgError(f"leading minor {int(info)} is not positive definite")
            return a
        factor = self.lib.linalg.cholesky(a)
        if not bool(self.lib.isfinite(factor[-1, -1])):
            raise np.linalg.LinAlgError("matrix is not positive definite")
        return factor

    def cholesky_solve(self, factor, b):
        """Solve ``L L^T x = b`` for lower ``L`` (only the lower triangle is read)."""
        if not self.is_gpu:
            from .linalg import blocked_cho_solve  # noqa: PLC0415

            if self.name == "torch":
                return self.lib.from_numpy(blocked_cho_solve(factor.numpy(), b.numpy()))
            return blocked_cho_solve(factor, b)
        if self.name == "torch":
            return self.lib.cholesky_solve(b, factor, upper=False)
        from cupyx.scipy.linalg import solve_triangular  # noqa: PLC0415

        z = solve_triangular(factor, b, lower=True)
        return solve_triangular(factor, z, lower=True, trans="T")

    def eigh(self, a):
        """Eigenvalues (descending) and eigenvectors of a small symmetric matrix."""
        if self.name == "numpy":
            import scipy.linalg as sla  # noqa: PLC0415

            w, v = sla.eigh(a, driver="evr", check_finite=False)
            return w[::-1].copy(), v[:, ::-1].copy()
        if self.name == "torch" and not self.is_gpu:
            # One thread: on two cores shared with other work, LAPACK's eigensolver
            # ran 15x slower with two spinning threads than with one.
            before = self.lib.get_num_threads()
            self.lib.set_num_threads(1)
            try:
                w, v = self.lib.linalg.eigh(a)
            finally:
                self.lib.set_num_threads(before)
        else:
            w, v = self.lib.linalg.eigh(a)
        return self.xp.flip(w, axis=0), self.xp.flip(v, axis=1)

    # -- devices and memory --------------------------------------------------------------
    def synchronize(self):
        if self.name == "torch" and self.is_gpu:
            self.lib.cuda.synchronize()
        elif self.name == "cupy":
            self.lib.cuda.runtime.deviceSynchronize()

    def peak_gpu_bytes(self) -> int | None:
        """Peak GPU memory this process allocated through the library (None on a CPU)."""
        if not self.is_gpu:
            return None
        if self.name == "torch":
            return int(self.lib.cuda.max_memory_allocated())
        return int(self.lib.get_default_memory_pool().total_bytes())

    def memory_bytes(self) -> int:
        """Memory this backend may use: free GPU memory, or available host RAM."""
        if self.name == "torch" and self.is_gpu:
            free, _ = self.lib.cuda.mem_get_info(self.lib.device(self.device))
            return int(free)
        if self.name == "cupy":
            free, _ = self.lib.cuda.runtime.memGetInfo()
            return int(free)
        return available_memory_bytes()


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _torch_or_cupy_on(device) -> Backend:
    from ..core.devices import cuda_available, resolve_device  # noqa: PLC0415

    if cuda_available("torch"):
        return Backend("torch", resolve_device(device, "torch"))
    if cuda_available("cupy"):
        return Backend("cupy", "cuda")
    raise ValueError(
        f"device={device!r} but no CUDA device is visible to torch or CuPy; use device='cpu'"
    )


def get_backend(name="auto", device="auto") -> Backend:
    """Resolve a backend from a name and a device.

    Parameters
    ----------
    name : {"auto", "numpy", "torch", "cupy"} or Backend
        ``"auto"``: torch when installed (CUDA if available and ``device`` allows),
        else CuPy on a GPU, else NumPy.
    device : {"auto", "cpu", "cuda"} or "cuda:N"

    Returns
    -------
    Backend
    """
    from ..core.devices import cuda_available  # noqa: PLC0415

    if isinstance(name, Backend):
        return name
    if name not in _NAMES:
        raise ValueError(f"backend must be one of {_NAMES}, got {name!r}")
    if not (device in ("auto", "cpu") or str(device).startswith("cuda")):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    if name == "numpy":
        if device not in ("auto", "cpu"):
            raise ValueError(
                f"backend 'numpy' runs on the CPU only, got device={device!r}; "
                f"use backend='torch' or 'cupy' for CUDA"
            )
        return Backend("numpy", "cpu")
    if name == "cupy":
        if not cuda_available("cupy"):
            raise ValueError(
                "backend='cupy' needs CuPy and a CUDA device, neither found; "
                "use backend='torch' or 'numpy'"
            )
        return Backend("cupy", "cuda")
    if name == "torch" and not _has("torch"):
        raise ValueError(
            "backend='torch' but torch is not installed; pip install "
            "'finite-expressivity[torch]' or use backend='numpy'"
        )
    if device == "auto" and cuda_available(None if name == "auto" else "torch"):
        return _torch_or_cupy_on("cuda") if name == "auto" else Backend("torch", "cuda")
    if device.startswith("cuda"):
        if name == "torch" and not cuda_available("torch"):
            raise ValueError(f"device={device!r} but torch sees no CUDA device; use device='cpu'")
        return _torch_or_cupy_on(device) if name == "auto" else Backend("torch", device)
    return Backend("torch" if _has("torch") else "numpy", "cpu")
