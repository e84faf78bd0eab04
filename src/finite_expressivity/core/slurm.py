"""An artifact's runs as a SLURM job array, through submitit (``pip install -e '.[cluster]'``).

``fe run NAME --executor slurm`` gives each pending run of the artifact one element of a
SLURM job array and, unless told not to, waits for them; the runner then gathers the
results exactly as after a local sweep. In the output folder::

    OUT/slurm/jobs.json     every submission: run name -> its SLURM jobs (array elements)
    OUT/slurm/<job>/        submitit's pickles and the job's stdout/stderr logs

A run is submitted only when it has no ``result.json`` and no job of its own is queued or
running (``squeue``; ``sacct`` for older jobs where the cluster keeps accounting), so
rerunning the command never runs a run twice. In a job, SIGTERM (``scancel``,
``scontrol requeue``, preemption) stops the run right after its epoch's checkpoint, and
near the time limit submitit's signal requeues the job (:meth:`SlurmTask.checkpoint`); a
requeued job resumes its run from the last checkpoint, with the same numbers. Each record
names the job that wrote it (``slurm_job_id``) and how often it was requeued
(``slurm_restarts``). submitit is imported only when jobs are submitted.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path

from .artifact import result_path
from .executors import RunsFailed, RunsPending, execute
from .files import atomic_write_json

__all__ = [
    "SlurmSettings",
    "SlurmExecutor",
    "SlurmTask",
    "load_settings",
    "parse_time",
    "job_states",
    "ALIVE",
]

#: Job states of a job that is still queued, running or held (it may still finish).
ALIVE = frozenset(
    "PENDING CONFIGURING RUNNING COMPLETING REQUEUED REQUEUE_FED REQUEUE_HOLD RESIZING "
    "SUSPENDED STOPPED SIGNALING STAGE_OUT SPECIAL_EXIT RESV_DEL_HOLD".split()
)

_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def parse_time(text) -> int:
    """Minutes (rounded up) of a SLURM time limit: ``M``, ``M:S``, ``H:M:S``, ``D-H``,
    ``D-H:M`` or ``D-H:M:S``; an int is minutes.

    Raises ValueError naming ``--slurm-time`` for anything else, or a zero limit.
    """
    m = _TIME.match(str(text).strip())
    if m is None or isinstance(text, bool):
        raise ValueError(
            f"--slurm-time must be a SLURM time limit like 90 (minutes), 4:00:00 or "
            f"1-12:00:00 (days-hours:minutes:seconds), got {text!r}"
        )
    d, a, b, c = (None if g is None else int(g) for g in m.groups())
    if d is None:  # M, M:S, H:M:S
        h, mi, s = (0, a, 0) if b is None else (0, a, b) if c is None else (a, b, c)
    else:  # D-H, D-H:M, D-H:M:S
        h, mi, s = a, b or 0, c or 0
    minutes = (d or 0) * 1440 + h * 60 + mi + (1 if s else 0) + s // 60
    if minutes < 1:
        raise ValueError(f"--slurm-time must be at least one minute, got {text!r}")
    return minutes


def _flag(name: str) -> str:
    return "--slurm-" + name.replace("_", "-")


@dataclass(frozen=True)
class SlurmSettings:
    """What each job asks SLURM for (flags ``--slurm-<name>``, or keys of a TOML file).

    Attributes
    ----------
    partition : str or None
        None: the cluster's default partition.
    time : str or int or None
        Time limit per run in SLURM's format (``90``, ``4:00:00``, ``1-12:00:00``); None:
        the partition's default time, else its limit, else 60 minutes.
    cpus_per_task, gpus_per_task : int
        CPUs (default 1; also the run's torch threads) and GPUs (default 0) per run.
    mem : str or None
        Memory per run (``16G``, ``4000M``); None: the partition's default.
    account, qos : str or None
    array_parallelism : int or None
        At most this many runs at once (``--array=...%N``).
    max_timeouts : int
        Times a run's job is requeued after reaching its time limit (default 3;
        preemptions are not counted).
    signal_delay : int or None
        Seconds before the time limit at which SLURM signals the job to requeue itself
        (default: a quarter of the limit, at most 90).
    poll : float
        Seconds between ``squeue`` checks while waiting (default 10).
    """

    partition: str | None = None
    time: str | int | None = None
    cpus_per_task: int = 1
    gpus_per_task: int = 0
    mem: str | None = None
    account: str | None = None
    qos: str | None = None
    array_parallelism: int | None = None
    max_timeouts: int = 3
    signal_delay: int | None = None
    poll: float = 10.0

    def __post_init__(self):
        for name, low in (("cpus_per_task", 1), ("gpus_per_task", 0), ("max_timeouts", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{_flag(name)} must be an int >= {low}, got {v!r}")
        d = self.signal_delay
        if d is not None and (isinstance(d, bool) or not isinstance(d, int) or d < 1):
            raise ValueError(f"signal_delay must be a positive int (seconds), got {d!r}")
        p = self.array_parallelism
        if p is not None and (isinstance(p, bool) or not isinstance(p, int) or p < 1):
            raise ValueError(f"--slurm-array-parallelism must be a positive int, got {p!r}")
        if isinstance(self.poll, bool) or not isinstance(self.poll, (int, float)) or self.poll <= 0:
            raise ValueError(f"poll (seconds between squeue checks) must be > 0, got {self.poll!r}")
        if self.time is not None:
            parse_time(self.time)
        if self.mem is not None and not re.fullmatch(r"\d+[KMGT]?B?", str(self.mem), re.I):
            raise ValueError(f"--slurm-mem must be like 16G or 4000M, got {self.mem!r}")
        for name in ("partition", "account", "qos"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, str) or not re.fullmatch(r"[\w.,-]+", v)):
                raise ValueError(f"{_flag(name)} must be a SLURM name, got {v!r}")


def load_settings(path=None, **given) -> SlurmSettings:
    """:class:`SlurmSettings` from a TOML file (its ``[slurm]`` table, or top-level keys
    named like the attributes), overridden by the ``given`` values that are not None."""
    values = {}
    if path is not None:
        try:
            import tomllib
        except ImportError:  # Python 3.10
            try:
                import tomli as tomllib
            except ImportError:
                raise ValueError(
                    "--slurm-config needs Python >= 3.11 or pip install tomli"
                ) from None
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"--slurm-config {path}: cannot read it as TOML ({exc})") from None
        values = data.get("slurm", data)
        known = [f.name for f in fields(SlurmSettings)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(
                f"--slurm-config {path}: unknown key(s) {', '.join(unknown)}; known: "
                f"{', '.join(known)}"
            )
    values.update({k: v for k, v in given.items() if v is not None})
    return SlurmSettings(**values)


# ---- asking SLURM -------------------------------------------------------------------------


def _slurm(*args, timeout=60) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ValueError(f"{args[0]} failed ({exc}); is SLURM reachable from here?") from None


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def _partitions() -> dict:
    """``{name: (default_time, max_time, is_default)}`` from ``sinfo``."""
    res = _slurm("sinfo", "--noheader", "--all", "--format=%P|%L|%l")
    if res.returncode != 0:
        raise ValueError(
            f"--executor slurm: sinfo failed ({_last_line(res.stderr)}); is SLURM running "
            f"(scripts/slurm_local.sh start on this machine)?"
        )
    parts = {}
    for line in res.stdout.splitlines():
        name, default, limit = (line.split("|") + ["", ""])[:3]
        parts[name.rstrip("*")] = (default, limit, name.endswith("*"))
    return parts


def job_states(job_ids) -> dict:
    """``{job id: state}`` for the jobs SLURM still knows (``squeue``, then ``sacct`` where
    the cluster keeps accounting); a job it no longer knows is left out.

    Raises ValueError when ``squeue`` fails: without it no job is known to be over.
    """
    want = {str(j) for j in job_ids}
    if not want:
        return {}
    res = _slurm(
        "squeue", "--noheader", "--array", "--states=all",
        f"--user={getpass.getuser()}", "--format=%i|%T",
    )  # fmt: skip
    if res.returncode != 0:
        raise ValueError(
            f"squeue failed ({_last_line(res.stderr)}); cannot tell which jobs are still "
            f"running, so nothing is submitted: retry when SLURM answers"
        )
    states = dict(ln.split("|", 1) for ln in res.stdout.split() if "|" in ln)
    missing = sorted({j.split("_")[0] for j in want - set(states)})
    if missing and shutil.which("sacct"):
        acct = _slurm("sacct", "--noheader", "--parsable2", "--allocations",
                      "--format=JobID,State", f"--jobs={','.join(missing)}")  # fmt: skip
        if acct.returncode == 0:
            for ln in acct.stdout.splitlines():
                jid, _, state = ln.partition("|")
                states.setdefault(jid, (state.split() or ["UNKNOWN"])[0])
    return {j: states[j] for j in want if j in states}


# ---- in the job -----------------------------------------------------------------------------


def _job_id_here() -> str:
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID", "")


class SlurmTask:
    """What one array element runs: one run, resumed from its checkpoint, in this job.

    A run that already has its ``result.json`` (a job requeued after it finished) is not
    run again. SIGTERM makes the run stop after its epoch's checkpoint. torch uses
    ``env.threads`` threads, else the job's CPUs per task.
    """

    def __call__(self, run, out: str, env, tag: str = "") -> str:
        if result_path(out, run).exists():
            return "already done"
        from .devices import torch_threads

        stop = []

        def check():  # called after each epoch's checkpoint
            if stop:
                raise SystemExit(f"stopped by {stop[0]} after a checkpoint; a requeue resumes")

        previous = signal.signal(signal.SIGTERM, lambda s, f: stop.append("SIGTERM"))
        extra = {
            "slurm_job_id": _job_id_here(),
            "slurm_restarts": int(os.environ.get("SLURM_RESTART_COUNT") or 0),
        }
        threads = env.threads or int(os.environ.get("SLURM_CPUS_PER_TASK") or 0) or None
        try:
            with torch_threads(threads):
                execute(run, out, env, tag=tag, check=check, live=False, extra=extra)
        finally:
            signal.signal(signal.SIGTERM, previous)
        return str(result_path(out, run))

    def checkpoint(self, *args, **kwargs):
        """submitit calls this near the time limit: requeue the same call (the run
        resumes from its last epoch's checkpoint)."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args, **kwargs)


# ---- submitting and waiting --------------------------------------------------------------


@contextmanager
def _locked(path: Path):
    """One ``fe run`` at a time decides what to submit for a folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _read_book(folder: Path) -> dict:
    path = folder / "jobs.json"
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())["runs"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ValueError(
            f"{path} is unreadable; check its jobs with squeue, then delete it"
        ) from None


def log_path(out, job_id: str) -> Path:
    """The stderr log of job ``job_id`` (an array element like ``12_3``)."""
    return Path(out) / "slurm" / job_id / f"{job_id}_0_log.err"


class SlurmExecutor:
    """Runs each pending run as one element of a SLURM job array (see the module notes).

    Parameters
    ----------
    settings : SlurmSettings, optional
    wait : bool
        Wait for the jobs (default); False: submit, then raise :class:`RunsPending`
        naming the jobs (rerunning waits for them and gathers).
    quiet : bool
        No progress lines while waiting.

    Attributes
    ----------
    partition_, time_min_ : str, int
        The partition and time limit (minutes) the jobs ask for, set by :meth:`check`.
    """

    def __init__(self, settings: SlurmSettings | None = None, *, wait=True, quiet=False):
        self.settings = settings if settings is not None else SlurmSettings()
        self.wait = wait
        self.quiet = quiet

    def check(self, env=None) -> SlurmExecutor:
        """Refuse, in one line, settings this cluster cannot run, before any submission:
        no SLURM commands or submitit here, an unknown partition, a GPU device without
        GPUs per task, or what ``sbatch --test-only`` rejects. Returns self."""
        s = self.settings
        for tool in ("sbatch", "squeue", "sinfo", "srun"):
            if shutil.which(tool) is None:
                raise ValueError(
                    f"--executor slurm needs SLURM's {tool} on PATH and it is not; run on a "
                    f"cluster's login node (scripts/slurm_local.sh start makes a one-node "
                    f"SLURM here) or use --executor local"
                )
        try:
            import submitit  # noqa: F401
        except ImportError:
            raise ValueError(
                "--executor slurm needs submitit: pip install -e '.[cluster]'"
            ) from None
        if env is not None and str(env.device).startswith("cuda") and not s.gpus_per_task:
            raise ValueError(
                f"--device {env.device} needs GPUs in the jobs: add --slurm-gpus-per-task 1 "
                f"(or use --device auto)"
            )
        parts = _partitions()
        name = s.partition or next((p for p, v in parts.items() if v[2]), None)
        if name is None:
            raise ValueError(
                "this cluster has no default partition: name one with --slurm-partition"
            )
        if name not in parts:
            raise ValueError(
                f"--slurm-partition {name!r} is not a partition of this cluster (sinfo lists "
                f"{', '.join(parts) or 'none'}); pick one of those"
            )
        self.partition_, self.time_min_ = name, self._time(parts[name])
        test = _slurm("sbatch", "--test-only", *self._sbatch_flags(), "--wrap", "true")
        if test.returncode != 0:
            raise ValueError(
                f"SLURM refuses these job settings ({_last_line(test.stderr)}); fix the "
                f"--slurm-* flags (partition {name}, time {self.time_min_} min)"
            )
        return self

    def _time(self, partition) -> int:
        if self.settings.time is not None:
            return parse_time(self.settings.time)
        for t in partition[:2]:  # the partition's default time, else its limit
            try:
                return parse_time(t)
            except ValueError:  # "n/a", "infinite"
                continue
        return 60

    def _sbatch_flags(self) -> list:
        s = self.settings
        flags = [f"--partition={self.partition_}", f"--time={self.time_min_}"]
        flags.append(f"--cpus-per-task={s.cpus_per_task}")
        for key in ("gpus_per_task", "mem", "account", "qos"):
            if getattr(s, key):
                flags.append(f"--{key.replace('_', '-')}={getattr(s, key)}")
        return flags

    def _params(self, out: Path) -> dict:
        s = self.settings
        params = {
            "job_name": f"fe-{out.resolve().name}",
            "partition": self.partition_,
            "time": self.time_min_,
            "cpus_per_task": s.cpus_per_task,
            # SIGUSR2 this long before the limit: submitit requeues the job
            "signal_delay_s": s.signal_delay or min(90, self.time_min_ * 15),
        }
        params.update(
            {k: getattr(s, k) for k in ("gpus_per_task", "mem", "account", "qos") if getattr(s, k)}
        )
        if s.array_parallelism:
            params["array_parallelism"] = s.array_parallelism
        return params

    def run(self, runs, out, env, tags) -> None:
        """Submit the runs that are neither finished nor in a live job, then wait for all
        of them (or raise :class:`RunsPending` without waiting)."""
        if not hasattr(self, "time_min_"):
            self.check(env)
        out = Path(out).resolve()  # the jobs may start in another directory
        folder = out / "slurm"
        with _locked(folder / ".lock"):
            book = _read_book(folder)
            left = [r for r in runs if not result_path(out, r).exists()]
            states = job_states(book[r.name][-1]["job_id"] for r in left if book.get(r.name))
            jobs = {
                r.name: book[r.name][-1]["job_id"]
                for r in left
                if book.get(r.name) and states.get(book[r.name][-1]["job_id"]) in ALIVE
            }
            names = {r.name for r in left}
            new = [(r, t) for r, t in zip(runs, tags) if r.name in names and r.name not in jobs]
            new = [(r, t) for r, t in new if not result_path(out, r).exists()]
            submitted = self._submit(new, out, env) if new else {}
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
            for name, jid in submitted.items():
                book.setdefault(name, []).append({"job_id": jid, "submitted": stamp})
            if submitted:
                atomic_write_json(folder / "jobs.json", {"runs": book})
        jobs.update(submitted)
        if not self.wait:
            raise RunsPending(_pending_message(out, jobs, submitted), jobs)
        self._wait([r for r in left if r.name in jobs], jobs, out)

    def _submit(self, pairs, out: Path, env) -> dict:
        """Submit one job array (one element per run); ``{run name: job id}``."""
        import submitit

        executor = submitit.SlurmExecutor(
            folder=out / "slurm" / "%j", max_num_timeout=self.settings.max_timeouts
        )
        executor.update_parameters(**self._params(out))
        runs, tags = [r for r, _ in pairs], [t for _, t in pairs]
        n = len(runs)
        try:
            jobs = executor.map_array(SlurmTask(), runs, [str(out)] * n, [env] * n, tags)
        except (
            subprocess.SubprocessError,
            submitit.core.utils.FailedJobError,  # sbatch exited non-zero: its stderr
            submitit.core.utils.FailedSubmissionError,
        ) as exc:
            detail = str(exc)
            raise ValueError(f"sbatch refused the job array: {_last_line(str(detail))}") from None
        return {r.name: j.job_id for r, j in zip(runs, jobs)}

    def _wait(self, runs, jobs: dict, out: Path) -> None:
        """Until every run's job is over (or, once all results are in, at most a minute
        more for the jobs to exit); runs left without a result raise RunsFailed."""
        last, all_in = None, None
        while True:
            left = [r for r in runs if not result_path(out, r).exists()]
            states = job_states(jobs[r.name] for r in runs)
            live = [r for r in runs if states.get(jobs[r.name]) in ALIVE]
            names = {r.name for r in live}
            dead = [r for r in left if r.name not in names and not result_path(out, r).exists()]
            waiting = [r for r in left if r.name in names]
            line = _progress_line(runs, left, waiting, states, jobs)
            if not self.quiet and line != last:
                print(line, file=sys.stderr, flush=True)
            last = line
            all_in = all_in or (time.monotonic() if not left else None)
            if not live or (all_in and time.monotonic() - all_in > 60):
                break
            time.sleep(self.settings.poll)
        if dead:
            raise RunsFailed(_failed_message(out, dead, states, jobs))


def _progress_line(runs, left, live, states, jobs) -> str:
    counts = {}
    for r in live:
        counts[states[jobs[r.name]].lower()] = counts.get(states[jobs[r.name]].lower(), 0) + 1
    what = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    failed = len(left) - len(live)
    return (
        f"[slurm] {len(runs) - len(left)}/{len(runs)} runs done"
        + (f", {what}" if what else "")
        + (f", {failed} without a result" if failed else "")
    )


def _pending_message(out: Path, jobs: dict, submitted: dict) -> str:
    lines = [f"{jid}  {name}" for name, jid in jobs.items()]
    arrays = sorted({j.split("_")[0] for j in submitted.values()})
    head = (
        f"submitted {len(submitted)} run(s) to SLURM (job array {', '.join(arrays)})"
        if submitted
        else "nothing submitted"
    )
    rest = len(jobs) - len(submitted)
    if rest:
        head += f"; {rest} run(s) already queued or running"
    return "\n".join(
        lines + [f"{head}; rerun the same command to wait for them and write the results to {out}"]
    )


def _why(log: Path) -> str:
    """The last line a failed job's log says about it (not srun's or submitit's own)."""
    if not log.exists():
        return f"no log at {log}"
    lines = log.read_text(errors="replace").splitlines()
    ours = [ln.strip() for ln in lines if ln.strip() and not ln.startswith(("srun:", "submitit "))]
    return (ours or ["log empty"])[-1][:200]


def _failed_message(out: Path, dead, states, jobs) -> str:
    first = dead[0]
    jid = jobs[first.name]
    log = log_path(out, jid)
    return (
        f"{len(dead)} run(s) ended on SLURM without a result ({', '.join(r.name for r in dead[:3])}"
        f"{', ...' if len(dead) > 3 else ''}); {first.name}: job {jid} "
        f"{states.get(jid, 'gone from squeue')}, log {log}: {_why(log)}; rerun the same command "
        f"to resubmit only the runs without a result"
    )
