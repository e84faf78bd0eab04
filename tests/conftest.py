"""Shared fixtures: ``xp`` runs backend tests over every installed array library."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest


def _backends():
    out = [pytest.param("numpy", id="numpy")]
    if importlib.util.find_spec("torch") is not None:
        out.append(pytest.param("torch", id="torch-cpu"))
        out.append(pytest.param("torch-cuda", id="torch-cuda", marks=pytest.mark.gpu))
    out.append(pytest.param("cupy", id="cupy", marks=pytest.mark.gpu))
    return out


class Backend:
    """An array library on a device: ``asarray`` in, ``to_numpy`` out."""

    def __init__(self, name):
        self.name = name
        if name == "numpy":
            self.asarray = lambda a: np.asarray(a)
        elif name.startswith("torch"):
            import torch

            dev = "cuda" if name == "torch-cuda" else "cpu"
            if dev == "cuda" and not torch.cuda.is_available():
                pytest.skip("CUDA not available")
            self.asarray = lambda a: torch.as_tensor(np.asarray(a), device=dev)
        else:
            cupy = pytest.importorskip("cupy")
            try:
                cupy.cuda.runtime.getDeviceCount()
            except Exception:  # noqa: BLE001 - no driver/GPU
                pytest.skip("CUDA not available")
            self.asarray = cupy.asarray

    @staticmethod
    def to_numpy(a):
        from finite_expressivity.core.validation import to_numpy

        return np.asarray(to_numpy(a))


@pytest.fixture(params=_backends())
def xp(request):
    return Backend(request.param)


@pytest.fixture
def rng(request):
    """A fresh generator, seeded by the test's name so failures reproduce."""
    import zlib

    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


def has_cuda() -> bool:
    try:
        import torch

        if torch.cuda.is_available():
            return True
    except ImportError:
        pass
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001
        return False


@pytest.fixture
def torch_one_thread():
    """Run with one torch thread: tiny models run fastest that way, and far slower when
    threads fight for the cores."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
