"""The one runner for every paper artifact: plan, resume, execute, gather, write.

``run_artifact(artifact, "quick", "results/fig1a")`` runs (or resumes) every run the
artifact needs and writes, through :func:`write_outputs`, the same files for every
artifact of every part::

    OUT/artifact.json                which runs this folder is for (checked on reuse)
    OUT/runs/<run>/result.json       one finished run's records (written last, atomically)
    OUT/runs/<run>/...               an unfinished run's checkpoints
    OUT/results.json                 every record, with its provenance
    OUT/results.csv                  the same records, flat
    OUT/<name>.png, OUT/<name>.pdf   the figure
    OUT/report.txt                   our numbers beside the paper's

A run whose ``result.json`` exists is never redone: rerunning the same command reads
it back. A folder written for another configuration is refused before any work.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from .artifact import Artifact, result_path
from .devices import cpu_count, gpu_count, resolve_device
from .executors import RunEnv, run_inline, run_pool
from .files import atomic_write_csv, atomic_write_json, atomic_write_text

__all__ = [
    "ArtifactResult",
    "run_artifact",
    "run_runs",
    "write_outputs",
    "default_workers",
    "default_out",
]


@dataclass
class ArtifactResult:
    """What :func:`run_artifact` made: the records, the files written, the report."""

    records: list
    paths: list
    report: str
    out: Path


def default_out(artifact: Artifact, preset: str) -> Path:
    """``results/<name>-<preset>``."""
    return Path("results") / f"{artifact.name}-{preset}"


def run_artifact(
    artifact: Artifact,
    preset: str = "quick",
    out=None,
    *,
    seeds=None,
    data_dir=None,
    device: str = "auto",
    workers: int | None = None,
    threads: int | None = None,
    executor="local",
    quiet: bool = False,
    options: dict | None = None,
) -> ArtifactResult:
    """Reproduce one artifact: run (or resume) its runs, then write its outputs.

    Parameters
    ----------
    artifact : Artifact
    preset : str
        One of ``artifact.presets`` ("quick": minutes on a CPU; "paper": the paper's).
    out : str or Path, optional
        Output folder (default ``results/<name>-<preset>``).
    seeds : sequence of int, optional
        For artifacts that take seeds (one set of runs each); default: the preset's.
    data_dir : str, optional
        Where datasets live.
    device : str
        "auto", "cpu", "cuda", "cuda:N".
    workers : int, optional
        Runs at once (see :func:`default_workers`); the numbers do not depend on it.
    threads : int, optional
        torch threads per run (default: 1 for parallel artifacts, else torch's own).
    executor : "local" or object
        "local", or an executor with ``check(env)`` and ``run(runs, out, env, tags)``
        (:class:`~.slurm.SlurmExecutor`); it is checked before anything is written, and
        may raise :class:`~.executors.RunsPending` (submitted, not waited for) or
        :class:`~.executors.RunsFailed`.
    quiet : bool
        No progress lines on stderr.
    options : dict, optional
        Artifact-specific settings passed to every run (never part of its identity).
    """
    runs = artifact.plan(preset, seeds)
    out = Path(out) if out is not None else default_out(artifact, preset)
    if threads is None and artifact.parallel:
        threads = 1
    env = RunEnv(
        data_dir=None if data_dir is None else str(data_dir),
        device=device,
        options=dict(options or {}),
        quiet=quiet,
        threads=threads,
    )
    records = run_runs(
        runs,
        out,
        env,
        meta={"artifact": artifact.name, "preset": preset},
        prepare=artifact.prepare,
        parallel=artifact.parallel,
        workers=workers,
        executor=executor,
    )
    return write_outputs(artifact, records, out)


def run_runs(
    runs,
    out,
    env: RunEnv,
    *,
    meta: dict,
    prepare=None,
    parallel: bool = False,
    workers: int | None = None,
    executor="local",
) -> list[dict]:
    """Run every run not finished in ``out``; return all records, in run order.

    A non-local ``executor`` is checked (``executor.check(env)``) before anything else;
    the runs' ``prepare`` hook then checks the device by name only, since the runs execute
    elsewhere (the executor's jobs resolve it).
    """
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    if env.threads is not None and (
        isinstance(env.threads, bool) or not isinstance(env.threads, int) or env.threads < 1
    ):
        raise ValueError(f"threads must be a positive int, got {env.threads!r}")
    if isinstance(executor, str) and executor != "local":
        raise ValueError(
            f"executor must be 'local' or an executor object (core.slurm.SlurmExecutor), "
            f"got {executor!r}"
        )
    local = isinstance(executor, str)
    if not local:
        executor.check(env)
    if prepare is not None:
        device = env.device if local else "auto"  # resolved where the runs execute
        prepare(runs, data_dir=env.data_dir, device=device, options=env.options)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _guard(out, runs, meta)
    n = len(runs)
    tags = [f"{i + 1}/{n} {r.label or r.name}" for i, r in enumerate(runs)]
    pending = [i for i, r in enumerate(runs) if not result_path(out, r).exists()]
    if not env.quiet:
        for i in sorted(set(range(n)) - set(pending)):
            print(f"[{tags[i]}] already done ({result_path(out, runs[i])})", file=sys.stderr)
    todo, todo_tags = [runs[i] for i in pending], [tags[i] for i in pending]
    if todo:
        _execute(todo, out, env, todo_tags, parallel=parallel, workers=workers, executor=executor)
    return [rec for r in runs for rec in json.loads(result_path(out, r).read_text())]


def default_workers(parallel: bool, device: str = "auto") -> tuple[int, int]:
    """``(workers, gpus)``: for parallel artifacts, one worker per visible GPU, each pinned
    to its own (``gpus`` of them), when ``device`` is "auto" or "cuda" and a GPU is
    visible; one worker per CPU core on the CPU. One worker otherwise, and on one named
    GPU ("cuda:N")."""
    if not parallel:
        return 1, 0
    if resolve_device(device).startswith("cuda"):
        if device not in ("auto", "cuda"):
            return 1, 0
        gpus = gpu_count()
        return max(1, gpus), gpus if gpus > 1 else 0
    return cpu_count(), 0


def _execute(runs, out, env, tags, *, parallel, workers, executor) -> None:
    if not (isinstance(executor, str) and executor == "local"):
        executor.run(runs, out, env, tags)
        return
    auto_workers, gpus = default_workers(parallel, env.device)
    workers = auto_workers if workers is None else workers
    if workers == 1 or len(runs) == 1:
        run_inline(runs, out, env, tags)
    else:  # with several GPUs, every worker is pinned to one (in turn when workers > gpus)
        run_pool(runs, out, env, tags, workers=workers, gpus=gpus)


def _guard(out: Path, runs, meta: dict) -> None:
    """Refuse a folder that holds runs of another configuration."""
    want = {"meta": meta, "runs": sorted(r.key() for r in runs)}
    path = out / "artifact.json"
    if path.exists():
        try:
            have = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            raise ValueError(
                f"{path} is unreadable; delete the folder or use another --out"
            ) from None
        if have.get("meta") != want["meta"] or have.get("runs") != want["runs"]:
            what = ", ".join(f"{k}={v}" for k, v in have.get("meta", {}).items()) or "unknown"
            raise ValueError(
                f"{out} holds results of another configuration ({what}); use "
                f"another --out or delete it"
            )
        return
    folder = out / "runs"
    if folder.exists() and any(folder.iterdir()):
        raise ValueError(f"{out} holds runs but no artifact.json; use another --out or delete it")
    atomic_write_json(path, {**want, "specs": {r.name: r.spec for r in runs}})


def _csv_rows(records, fields) -> list[dict]:
    if fields is None:
        scalar = (str, int, float, bool, type(None))
        fields = list(
            dict.fromkeys(k for r in records for k, v in r.items() if isinstance(v, scalar))
        )
    return [{k: r.get(k) for k in fields} for r in records]


def write_outputs(artifact: Artifact, records: list, out) -> ArtifactResult:
    """Write results.json, results.csv, the figure and report.txt for finished runs."""
    out = Path(out)
    paths = [
        atomic_write_json(out / "results.json", records),
        atomic_write_csv(out / "results.csv", _csv_rows(records, artifact.csv_fields)),
    ]
    paths += list(artifact.figure(records, out))
    text = artifact.report(records)
    paths.append(atomic_write_text(out / "report.txt", text.rstrip() + "\n"))
    return ArtifactResult(records=records, paths=paths, report=text, out=out)
