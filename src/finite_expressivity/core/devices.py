"""The one device rule of the package.

A device is given as ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``. ``"auto"`` is the
first CUDA device when one is visible (to PyTorch, else to CuPy), and the CPU otherwise.
Asking for CUDA where there is none is a ``ValueError`` that says so, never a failure
deep inside a library. Nothing here imports torch or CuPy until asked.
"""

from __future__ import annotations

import importlib.util
import os
from contextlib import contextmanager

__all__ = [
    "resolve_device",
    "torch_device",
    "cuda_available",
    "gpu_count",
    "cpu_count",
    "set_torch_threads",
    "torch_threads",
]


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _torch_gpus() -> int:
    if not _has("torch"):
        return 0
    import torch  # noqa: PLC0415 - optional

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _cupy_gpus() -> int:
    if not _has("cupy"):
        return 0
    try:
        import cupy  # noqa: PLC0415 - optional

        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:  # noqa: BLE001 - CuPy without a driver raises its own errors
        return 0


def gpu_count(library: str | None = None) -> int:
    """CUDA devices visible to ``library`` ("torch" or "cupy"; None: PyTorch, else CuPy)."""
    if library == "torch":
        return _torch_gpus()
    if library == "cupy":
        return _cupy_gpus()
    return _torch_gpus() or _cupy_gpus()


def cuda_available(library: str | None = None) -> bool:
    """Whether a CUDA device is visible (to ``library``, see :func:`gpu_count`)."""
    return gpu_count(library) > 0


def cpu_count() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def resolve_device(device="auto", library: str | None = None) -> str:
    """``"cpu"`` or ``"cuda:N"`` for a device name, by the package's one rule.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"`` (CUDA when visible, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    library : {"torch", "cupy"}, optional
        Count only the devices this library can use (a CPU build of PyTorch sees none).

    Returns
    -------
    str

    Raises
    ------
    ValueError
        An unknown name, or CUDA asked for where no CUDA device is visible.
    """
    name = str(device)
    if name == "auto":
        return "cuda:0" if cuda_available(library) else "cpu"
    if name == "cpu":
        return "cpu"
    if name == "cuda" or name.startswith("cuda:"):
        index = name.partition(":")[2] or "0"
        if not index.isdigit():
            raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}")
        count = gpu_count(library)
        if count == 0:
            who = f" to {library}" if library else " here"
            raise ValueError(
                f"device={name!r} but no CUDA device is visible{who}; use "
                f"device='cpu' or device='auto' (CUDA when present, else CPU)"
            )
        if int(index) >= count:
            raise ValueError(
                f"device={name!r} but only {count} CUDA device(s) are visible "
                f"(cuda:0..cuda:{count - 1})"
            )
        return f"cuda:{index}"
    raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}")


def torch_device(device="auto"):
    """:func:`resolve_device` as a ``torch.device`` (needs PyTorch)."""
    if not _has("torch"):
        raise ValueError("this needs PyTorch: pip install 'finite-expressivity[torch]'")
    import torch  # noqa: PLC0415

    if isinstance(device, torch.device):
        device = str(device)
    return torch.device(resolve_device(device, "torch"))


def set_torch_threads(n: int) -> None:
    """PyTorch's intra-op threads (a no-op where PyTorch is not installed)."""
    if _has("torch"):
        import torch  # noqa: PLC0415

        torch.set_num_threads(int(n))


@contextmanager
def torch_threads(n: int | None):
    """PyTorch's intra-op threads set to ``n`` for the block, then restored (None: as is).

    Small models run fastest with one thread per process, and far slower when threads
    compete for busy cores: sweeps run one single-threaded process per core.
    """
    if n is None or not _has("torch"):
        yield
        return
    import torch  # noqa: PLC0415

    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)
