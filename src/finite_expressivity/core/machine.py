"""Facts about the machine a result was made on: memory now and at its peak."""

from __future__ import annotations

import os

__all__ = ["available_memory_bytes", "peak_memory_gb"]


def available_memory_bytes() -> int:
    """Host memory available to a new allocation (``MemAvailable``), in bytes."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def peak_memory_gb(gpu_bytes: int | None = None) -> dict:
    """Peak resident memory of this process in GiB (``host``), and ``gpu`` when given."""
    import resource  # noqa: PLC0415 - POSIX only

    out = {"host": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
    if gpu_bytes is not None:
        out["gpu"] = gpu_bytes / 2**30
    return out
