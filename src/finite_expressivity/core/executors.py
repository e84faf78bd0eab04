"""Where an artifact's runs execute: in this process, or in worker processes.

Every executor ends in :func:`execute`, which runs one :class:`~.artifact.Run` and writes
its records (with provenance) atomically to ``OUT/runs/<name>/result.json``; the runner
reads the results back from disk, so an executor only has to get runs done. The local
pool gives each worker one CPU core, or one GPU (pinned with ``CUDA_VISIBLE_DEVICES``)
when runs want GPUs and several are visible. Executors elsewhere (a SLURM cluster,
:mod:`.slurm`) have a ``run(runs, out, env, tags)`` method; one that returns before every
run is done raises :class:`RunsPending` or :class:`RunsFailed`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .artifact import Run, RunContext, result_path
from .files import atomic_write_json
from .progress import Progress
from .provenance import provenance

__all__ = ["RunEnv", "RunsPending", "RunsFailed", "execute", "run_inline", "run_pool", "gpu_slots"]


class RunsPending(Exception):
    """Runs were handed on (e.g. submitted to SLURM without waiting) and are not done yet.

    The message says what was submitted and how to collect the results; ``job_ids``
    maps run names to the jobs that run them.
    """

    def __init__(self, message: str, job_ids: dict | None = None):
        super().__init__(message)
        self.job_ids = dict(job_ids or {})


class RunsFailed(Exception):
    """Some runs ended without a result (e.g. their SLURM jobs failed); one line says
    which, where their logs are, and that rerunning the command redoes only those."""


@dataclass(frozen=True)
class RunEnv:
    """Settings shared by every run of one ``run_artifact`` call.

    Attributes
    ----------
    data_dir : str or None
    device : str
        As asked ("auto", "cpu", "cuda[:N]").
    options : dict
        Passed to each run's context.
    quiet : bool
        No progress lines.
    threads : int or None
        torch threads per run (None: leave torch's default).
    """

    data_dir: str | None = None
    device: str = "auto"
    options: dict = field(default_factory=dict)
    quiet: bool = False
    threads: int | None = None


def execute(
    run: Run, out, env: RunEnv, *, tag: str = "", check=None, live=None, extra=None
) -> list:
    """Run ``run`` now, in this process, and write its records; return them.

    ``extra`` (a dict) is added to every record: what the executor knows about where the
    run ran (e.g. ``slurm_job_id``).
    """
    run_dir = Path(out) / "runs" / run.name
    run_dir.mkdir(parents=True, exist_ok=True)
    progress = Progress(quiet=env.quiet, tag=tag or run.label or run.name, live=live)
    ctx = RunContext(
        run_dir=run_dir,
        data_dir=env.data_dir,
        device=env.device,
        progress=progress,
        options=env.options,
        check=check or (lambda: None),
    )
    out_ = run.fn(dict(run.spec), ctx)
    records = [out_] if isinstance(out_, dict) else list(out_)
    for rec in records:
        rec.setdefault("run", run.name)
        rec.setdefault("provenance", provenance(str(rec.get("device", env.device)), run.spec))
        rec.update(extra or {})
    atomic_write_json(result_path(out, run), records)
    for stale in run_dir.glob("checkpoint*"):  # the result is safe: checkpoints are not needed
        stale.unlink(missing_ok=True)
    return records


def run_inline(runs, out, env: RunEnv, tags) -> None:
    """Every run, one after another, in this process (``tags`` name them in progress)."""
    from .devices import torch_threads

    with torch_threads(env.threads):
        for run, tag in zip(runs, tags):
            execute(run, out, env, tag=tag)


# ---- worker processes -----------------------------------------------------------------
_STOP = None  # in a worker process: the pool's stop event (set by _init_worker)


def gpu_slots(workers: int, gpus: int) -> list[str]:
    """The ``CUDA_VISIBLE_DEVICES`` value of each of ``workers`` workers: the first ``gpus``
    visible GPUs in turn (as this process sees them: its own ``CUDA_VISIBLE_DEVICES``
    entries where that is set, else ``0 .. gpus-1``)."""
    if gpus < 1 or workers < 1:
        raise ValueError(f"gpu_slots needs workers >= 1 and gpus >= 1, got {workers}, {gpus}")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [s.strip() for s in visible.split(",") if s.strip()] if visible else []
    ids = ids[:gpus] if ids else [str(i) for i in range(gpus)]
    return [ids[i % len(ids)] for i in range(workers)]


def _init_worker(stop, devices, threads):
    """Worker set-up: the stop event, its GPU (one ``CUDA_VISIBLE_DEVICES`` value taken
    from the ``devices`` queue, before anything touches CUDA), torch threads."""
    global _STOP
    _STOP = stop
    if devices is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = devices.get()
    if threads is not None:
        from .devices import set_torch_threads

        set_torch_threads(threads)


def _in_worker(run: Run, out: str, env: RunEnv, tag: str, parent: int) -> None:
    def check():  # a stopped or killed sweep leaves no orphans: exit after this checkpoint
        if os.getppid() != parent or (_STOP is not None and _STOP.is_set()):
            os._exit(1)  # not SystemExit: the pool's worker loop would catch it and go on

    execute(run, out, env, tag=tag, check=check, live=False)


def run_pool(runs, out, env: RunEnv, tags, *, workers: int, gpus: int = 0) -> None:
    """The runs over ``workers`` spawned processes; with ``gpus`` > 0 each worker is
    pinned to one GPU (:func:`gpu_slots`: one per GPU when ``workers == gpus``) and runs
    on ``cuda``, which is that GPU.

    An interruption (Ctrl-C, SIGTERM) stops every worker after its current epoch's
    checkpoint; rerunning resumes.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from dataclasses import replace

    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    workers = min(workers, len(runs))
    devices = None
    if gpus:
        devices = ctx.Queue()
        for slot in gpu_slots(workers, gpus):
            devices.put(slot)
        env = replace(env, device="cuda")
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(stop, devices, env.threads),
    )
    try:
        futures = [
            pool.submit(_in_worker, r, str(out), env, t, os.getpid()) for r, t in zip(runs, tags)
        ]
        for fut in as_completed(futures):
            fut.result()
    except BaseException:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
