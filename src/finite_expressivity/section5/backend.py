"""Where the kernel arithmetic runs: NumPy, torch (CPU or CUDA) or CuPy.

A :class:`Backend` wraps the dozen array operations the kernels and solvers need,
so that the numerics are written once. NumPy needs nothing else; torch and CuPy are
imported only when asked for. On the CPU, torch is preferred when installed: its
``exp`` is vectorised and threaded (about ten times NumPy's on float32 here) and its
GEMV streams a stored kernel matrix at about twice NumPy's speed.
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
    """

    def __init__(self, name: str, device: str = "cpu"):
        self.name = name
        self.device = device
        if name == "torch":
            import torch  # noqa: PLC0415 - optional

            self._t = torch
            self.xp = torch
        elif name == "cupy":
            import cupy  # noqa: PLC0415 - optional

            self.xp = cupy
        else:
            self.xp = np

    def __repr__(self):
        return f"Backend({self.name!r}, {self.device!r})"

    @property
    def is_gpu(self) -> bool:
        return self.device.startswith("cuda")

    # -- dtypes and transfers ------------------------------------------------------
    def dtype(self, dtype):
        """The library's dtype for a NumPy dtype (float32 or float64)."""
        if not isinstance(dtype, (str, np.dtype, type)):  # a torch dtype
            dtype = str(dtype).replace("torch.", "")
        dtype = np.dtype(dtype)
        if self.name == "torch":
            return {np.float32: self._t.float32, np.float64: self._t.float64}[dtype.type]
        return dtype

    def asarray(self, a, dtype=None):
        """``a`` (NumPy or this library) as an array of this backend, on its device."""
        if self.name == "torch":
            t = self._t
            if not isinstance(a, t.Tensor):
                a = t.from_numpy(np.ascontiguousarray(a))
            return a.to(device=self.device, dtype=None if dtype is None else self.dtype(dtype))
        if dtype is None:
            return self.xp.asarray(a)
        return self.xp.asarray(a, dtype=self.dtype(dtype))

    def to_numpy(self, a) -> np.ndarray:
        if self.name == "torch":
            return a.detach().cpu().numpy()
        if self.name == "cupy":
            return self.xp.asnumpy(a)
        return np.asarray(a)

    def empty(self, shape, dtype):
        if self.name == "torch":
            return self._t.empty(shape, dtype=self.dtype(dtype), device=self.device)
        return self.xp.empty(shape, dtype=self.dtype(dtype))

    def zeros(self, shape, dtype):
        if self.name == "torch":
            return self._t.zeros(shape, dtype=self.dtype(dtype), device=self.device)
        return self.xp.zeros(shape, dtype=self.dtype(dtype))

    def copy(self, a):
        return a.clone() if self.name == "torch" else a.copy()

    def astype(self, a, dtype):
        if self.name == "torch":
            return a.to(self.dtype(dtype))
        return a.astype(self.dtype(dtype), copy=False)

    # -- arithmetic ------------------------------------------------------------------
    def matmul(self, a, b, out=None):
        if self.name == "torch":
            return self._t.matmul(a, b, out=out)
        return self.xp.matmul(a, b, out=out)

    def exp_(self, a):
        if self.name == "torch":
            return a.exp_()
        return self.xp.exp(a, out=a)

    def sqrt_(self, a):
        if self.name == "torch":
            return a.sqrt_()
        return self.xp.sqrt(a, out=a)

    def clamp_min_(self, a, lo):
        if self.name == "torch":
            return a.clamp_min_(lo)
        return self.xp.maximum(a, lo, out=a)

    def row_sq_norms(self, a):
        """``sum(a**2, axis=1)`` without a full-size temporary."""
        if self.name == "torch":
            return self._t.einsum("ij,ij->i", a, a)
        return self.xp.einsum("ij,ij->i", a, a)

    def sq_dists_into(self, out, a, b, a_sq, b_sq):
        """``out = |a_i|^2 + |b_j|^2 - 2 a_i.b_j``, clamped at 0, in place."""
        if self.name == "torch":
            self._t.addmm(b_sq[None, :], a, b.T, beta=1.0, alpha=-2.0, out=out)
            out += a_sq[:, None]
        else:
            if (
                self.name == "numpy"
                and a.shape == b.shape
                and a.shape[0] > 8192
                and a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            ):
                b = b.copy()  # a @ a.T would take OpenBLAS's threaded syrk (see linalg.py)
            self.xp.matmul(a, b.T, out=out)
            out *= -2.0
            out += a_sq[:, None]
            out += b_sq[None, :]
        return self.clamp_min_(out, 0.0)

    def add_diagonal_(self, a, value):
        """``a += value * I`` in place."""
        if self.name == "torch":
            a.diagonal().add_(value)
        else:
            i = self.xp.arange(min(a.shape))
            a[i, i] += value
        return a

    def argmax_rows(self, a):
        return self.to_numpy(a.argmax(1) if self.name != "torch" else a.argmax(dim=1))

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
            t = self._t
            info = t.empty((), dtype=t.int32, device=a.device)
            try:
                t.linalg.cholesky_ex(a, out=(a, info))
            except RuntimeError:  # a build that refuses an aliased output: one more copy
                a, info = t.linalg.cholesky_ex(a)
            if int(info) != 0:
                raise np.linalg.LinAlgError(f"leading minor {int(info)} is not positive definite")
            return a
        factor = self.xp.linalg.cholesky(a)
        if not bool(self.xp.isfinite(factor[-1, -1])):
            raise np.linalg.LinAlgError("matrix is not positive definite")
        return factor

    def cholesky_solve(self, factor, b):
        """Solve ``L L^T x = b`` for lower ``L`` (only the lower triangle is read)."""
        if not self.is_gpu:
            from .linalg import blocked_cho_solve  # noqa: PLC0415

            if self.name == "torch":
                return self._t.from_numpy(blocked_cho_solve(factor.numpy(), b.numpy()))
            return blocked_cho_solve(factor, b)
        if self.name == "torch":
            return self._t.cholesky_solve(b, factor, upper=False)
        from cupyx.scipy.linalg import solve_triangular  # noqa: PLC0415

        z = solve_triangular(factor, b, lower=True)
        return solve_triangular(factor, z, lower=True, trans="T")

    def eigh(self, a):
        """Eigenvalues (descending) and eigenvectors of a small symmetric matrix."""
        if self.name == "torch" and not self.is_gpu:
            # One thread: on two cores shared with other work, LAPACK's eigensolver
            # ran 15x slower with two spinning threads than with one.
            before = self._t.get_num_threads()
            self._t.set_num_threads(1)
            try:
                w, v = self._t.linalg.eigh(a)
            finally:
                self._t.set_num_threads(before)
            return w.flip(0), v.flip(1)
        if self.name == "numpy":
            import scipy.linalg as sla  # noqa: PLC0415

            w, v = sla.eigh(a, driver="evr", check_finite=False)
            return w[::-1].copy(), v[:, ::-1].copy()
        if self.name == "torch":
            w, v = self._t.linalg.eigh(a)
            return w.flip(0), v.flip(1)
        w, v = self.xp.linalg.eigh(a)
        return w[::-1].copy(), v[:, ::-1].copy()

    def synchronize(self):
        if self.name == "torch" and self.is_gpu:
            self._t.cuda.synchronize()
        elif self.name == "cupy":
            self.xp.cuda.runtime.deviceSynchronize()

    def peak_gpu_bytes(self) -> int | None:
        """Peak GPU memory this process allocated through the library (None on a CPU)."""
        if not self.is_gpu:
            return None
        if self.name == "torch":
            return int(self._t.cuda.max_memory_allocated())
        return int(self.xp.get_default_memory_pool().total_bytes())

    def memory_bytes(self) -> int:
        """Memory this backend may use: free GPU memory, or available host RAM."""
        if self.name == "torch" and self.is_gpu:
            free, _ = self._t.cuda.mem_get_info(self._t.device(self.device))
            return int(free)
        if self.name == "cupy":
            free, _ = self.xp.cuda.runtime.memGetInfo()
            return int(free)
        return available_memory_bytes()


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _cuda_torch() -> bool:
    if not _has("torch"):
        return False
    import torch  # noqa: PLC0415

    return torch.cuda.is_available()


def _cuda_cupy() -> bool:
    if not _has("cupy"):
        return False
    try:
        import cupy  # noqa: PLC0415

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001 - no driver
        return False


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
    if isinstance(name, Backend):
        return name
    if name not in _NAMES:
        raise ValueError(f"backend must be one of {_NAMES}, got {name!r}")
    if not (device in ("auto", "cpu") or str(device).startswith("cuda")):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    want_gpu = device != "cpu"
    if name == "auto":
        if want_gpu and _cuda_torch():
            return Backend("torch", "cuda" if device == "auto" else device)
        if want_gpu and _cuda_cupy():
            return Backend("cupy", "cuda")
        if device not in ("auto", "cpu"):
            raise ValueError(
                f"device={device!r} but no CUDA device is visible to torch or CuPy; "
                f"use device='cpu'"
            )
        return Backend("torch" if _has("torch") else "numpy", "cpu")
    if name == "numpy":
        if device not in ("auto", "cpu"):
            raise ValueError(
                f"backend 'numpy' runs on the CPU only, got device={device!r}; "
                f"use backend='torch' or 'cupy' for CUDA"
            )
        return Backend("numpy", "cpu")
    if name == "torch":
        if not _has("torch"):
            raise ValueError(
                "backend='torch' but torch is not installed; pip install "
                "'finite-expressivity[torch]' or use backend='numpy'"
            )
        if device == "auto":
            device = "cuda" if _cuda_torch() else "cpu"
        elif device.startswith("cuda") and not _cuda_torch():
            raise ValueError(f"device={device!r} but torch sees no CUDA device; use device='cpu'")
        return Backend("torch", device)
    if not _cuda_cupy():
        raise ValueError(
            "backend='cupy' needs CuPy and a CUDA device, neither found; "
            "use backend='torch' or 'numpy'"
        )
    return Backend("cupy", "cuda")
