"""Provenance of a result: config, package versions, device, machine, git commit."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

__all__ = ["provenance"]


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=here,
        capture_output=True,
        text=True,
        timeout=5,
    ).stdout.strip()
    return out.stdout.strip() + ("+dirty" if dirty else "")


def provenance(device: str = "cpu", config: dict | None = None) -> dict:
    """What produced a result: config, package versions, device, machine, git commit."""
    import numpy
    import scipy

    versions = {
        "finite_expressivity": _version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
    }
    try:
        import torch  # noqa: PLC0415 - optional

        versions["torch"] = torch.__version__
    except ImportError:
        pass
    return {
        "config": config or {},
        "versions": versions,
        "device": device,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.machine(),
            "cpus": os.cpu_count(),
        },
        "git_commit": _git_commit(),
    }


def _version() -> str:
    try:
        return metadata.version("finite-expressivity")
    except metadata.PackageNotFoundError:  # run from a source tree without installing
        return "unknown"
