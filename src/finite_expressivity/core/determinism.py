"""The one place for the settings that make PyTorch bit-for-bit reproducible.

Library calls that promise the same numbers for the same seeds (training a model,
anything a sweep runs) wrap their work in :func:`deterministic`, so a Python caller gets
the guarantee without going through the ``fe`` command.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager

__all__ = ["deterministic", "CUBLAS_WORKSPACE"]

#: cuBLAS's fixed workspace for deterministic GEMMs; read when CUDA creates its handle.
CUBLAS_WORKSPACE = ":4096:8"


@contextmanager
def deterministic(on: bool = True):
    """Deterministic PyTorch for the block, restored afterwards.

    Turns on ``torch.use_deterministic_algorithms`` (warn-only, for ops that have no
    deterministic kernel) and turns off cuDNN autotuning. cuBLAS also needs
    ``CUBLAS_WORKSPACE_CONFIG``, which it reads once, when CUDA starts in the process:
    it is set here (for the process) if CUDA has not started yet; if CUDA started
    earlier without it, a warning says that GPU GEMMs may not be bit-for-bit.
    """
    if not on:
        yield
        return
    import torch  # noqa: PLC0415

    _cublas_workspace(torch)
    prev = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    prev_bench = torch.backends.cudnn.benchmark
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev, warn_only=prev_warn)
        torch.backends.cudnn.benchmark = prev_bench


def _cublas_workspace(torch) -> None:
    if os.environ.get("CUBLAS_WORKSPACE_CONFIG"):
        return
    if torch.cuda.is_initialized():
        warnings.warn(
            "CUDA started before CUBLAS_WORKSPACE_CONFIG was set: GPU matrix "
            f"products may differ between runs; set CUBLAS_WORKSPACE_CONFIG="
            f"{CUBLAS_WORKSPACE} before the first CUDA call",
            stacklevel=3,
        )
        return
    os.environ["CUBLAS_WORKSPACE_CONFIG"] = CUBLAS_WORKSPACE
