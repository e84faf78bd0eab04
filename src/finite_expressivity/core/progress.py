"""The one progress reporter: stage timings, and progress a person can follow.

On a terminal a stage with a known size shows a live tqdm bar; in a log file or a pipe
every update is one plain line (at most one per ``every`` seconds per stage), so logs
never pile carriage returns onto one line. Every stage is timed into :attr:`Progress.seconds`
whether anything is shown or not::

    prog = Progress()                      # stderr; Progress(quiet=True) times silently
    with prog.stage("kernel matrix", total=n) as stage:
        for i in ...:
            stage.update(i + 1)
    prog.message("epoch 3: train error 0.00%")
    prog.seconds["kernel matrix"]
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

__all__ = ["Progress"]


class Progress:
    """Times named stages and reports their progress.

    Parameters
    ----------
    stream : file, optional
        Where progress goes (default ``sys.stderr``).
    quiet : bool
        Show nothing (stages are still timed).
    tag : str
        Prefix of every line (e.g. which run of a sweep speaks).
    every : float
        Seconds between plain-text updates of one stage (a live bar redraws faster).
    min_seconds : float
        A stage that ends sooner prints no "done" line.
    live : bool, optional
        Force the live bar on or off (default: on when ``stream`` is a terminal).
    """

    def __init__(
        self,
        stream=None,
        *,
        quiet: bool = False,
        tag: str = "",
        every: float = 10.0,
        min_seconds: float = 1.0,
        live: bool | None = None,
    ):
        self.stream = sys.stderr if stream is None else stream
        self.quiet = quiet
        self.tag = tag
        self.every = every
        self.min_seconds = min_seconds
        self.live = _isatty(self.stream) if live is None else live
        self.seconds: dict[str, float] = {}
        self._stages: list[_Stage] = []

    @contextmanager
    def stage(self, name: str, total: int | None = None):
        """Time the block as stage ``name`` (seconds add up if a name repeats).

        Yields the stage, whose ``update(done, total=None, extra="")`` reports progress.
        """
        st = _Stage(self, name, total)
        self._stages.append(st)
        try:
            yield st
        finally:
            self._stages.pop()
            dt = st.close()
            self.seconds[name] = self.seconds.get(name, 0.0) + dt
            if dt >= self.min_seconds:
                self._line(f"[{name}] done in {dt:.1f} s")

    def update(self, done, total=None, extra: str = "") -> None:
        """Report ``done`` of ``total`` for the innermost open stage (if any)."""
        if self._stages:
            self._stages[-1].update(done, total, extra)

    def message(self, text: str) -> None:
        """One line of its own (a solver's epoch, a run starting or ending)."""
        where = self._stages[-1].name if self._stages else None
        self._line(f"[{where}] {text}" if where else text)

    def _line(self, text: str) -> None:
        if self.quiet:
            return
        line = f"[{self.tag}] {text}" if self.tag else text
        bar = self._stages[-1].bar if self._stages else None
        if bar is not None:
            bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)


class _Stage:
    """One open stage: its clock, and its bar or its throttle for plain lines."""

    def __init__(self, progress: Progress, name: str, total):
        self.progress, self.name, self.total = progress, name, total
        self.t0 = time.perf_counter()
        self.last = -float("inf")
        self.bar = None
        if progress.quiet:
            return
        if progress.live:
            from tqdm import tqdm  # noqa: PLC0415 - only for a terminal

            desc = f"[{progress.tag}] {name}" if progress.tag else name
            self.bar = tqdm(
                total=total,
                desc=desc,
                file=progress.stream,
                leave=False,
                mininterval=0.5,
                dynamic_ncols=True,
            )
        else:
            progress._line(f"[{name}] started")

    def update(self, done, total=None, extra: str = "") -> None:
        """Report ``done`` of ``total`` (the stage's own total when None)."""
        total = self.total if total is None else total
        if self.bar is not None:
            if total is not None and self.bar.total != total:
                self.bar.total = total
            self.bar.n = done
            if extra:
                self.bar.set_postfix_str(extra, refresh=False)
            self.bar.refresh()
            return
        now = time.perf_counter()
        finished = total is not None and done >= total
        if self.progress.quiet or (now - self.last < self.progress.every and not finished):
            return
        self.last = now
        of = f"/{total} ({100.0 * done / max(total, 1):.0f}%)" if total is not None else ""
        self.progress._line(f"[{self.name}] {done}{of} {now - self.t0:.1f} s {extra}".rstrip())

    def close(self) -> float:
        if self.bar is not None:
            self.bar.close()
        return time.perf_counter() - self.t0


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
