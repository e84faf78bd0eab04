"""Stage timing and progress lines on stderr for stages longer than a second."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

__all__ = ["Progress", "peak_memory_gb"]


class Progress:
    """Times named stages; shows progress of those that run over ``min_seconds``.

    Parameters
    ----------
    stream : file, optional
        Where progress goes (default ``sys.stderr``); ``None`` keeps quiet but
        still times the stages.
    min_seconds : float
        A stage prints nothing until it has run this long.
    """

    def __init__(self, stream=sys.stderr, min_seconds: float = 1.0):
        self.stream = stream
        self.min_seconds = min_seconds
        self.seconds: dict = {}
        self._name = None
        self._t0 = 0.0
        self._last = 0.0
        self._shown = False

    @contextmanager
    def stage(self, name: str):
        """Time the block as stage ``name`` (seconds add up if a name repeats)."""
        outer = (self._name, self._t0, self._shown)
        self._name, self._t0, self._shown, self._last = name, time.perf_counter(), False, 0.0
        try:
            yield self
        finally:
            dt = time.perf_counter() - self._t0
            self.seconds[name] = self.seconds.get(name, 0.0) + dt
            if self.stream is not None and (self._shown or dt >= self.min_seconds):
                print(f"\r[{name}] done in {dt:.1f} s" + " " * 30, file=self.stream, flush=True)
            self._name, self._t0, self._shown = outer

    def update(self, done, total, extra: str = "") -> None:
        """Report ``done`` of ``total`` for the current stage (throttled)."""
        if self.stream is None or self._name is None:
            return
        now = time.perf_counter()
        el = now - self._t0
        if el < self.min_seconds or (now - self._last < 0.5 and done < total):
            return
        self._last = now
        self._shown = True
        pct = 100.0 * done / max(total, 1)
        print(
            f"\r[{self._name}] {done}/{total} ({pct:.0f}%) {el:.1f} s {extra}",
            end="",
            file=self.stream,
            flush=True,
        )

    def message(self, text: str) -> None:
        """A line of its own (solver epochs)."""
        if self.stream is not None:
            print(f"\r[{self._name or 'fe'}] {text}" + " " * 10, file=self.stream, flush=True)
            self._shown = True


def peak_memory_gb(backend=None) -> dict:
    """Peak resident memory of this process (and of the GPU, if used), in GiB."""
    import resource  # noqa: PLC0415 - POSIX only

    out = {"host": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
    if backend is not None and backend.is_gpu:
        if backend.name == "torch":
            out["gpu"] = backend.xp.cuda.max_memory_allocated() / 2**30
        else:
            out["gpu"] = backend.xp.get_default_memory_pool().total_bytes() / 2**30
    return out
