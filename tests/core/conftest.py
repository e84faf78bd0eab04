"""Fixtures for the runner's executors: a probe module that worker processes and SLURM
jobs can import by name, and a SLURM cluster to submit to (or a skip saying why)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

PROBE = '''
import os, signal, time


def where(spec, ctx):
    """Where this run ran: its process and the GPU it was pinned to."""
    time.sleep(spec.get("sleep", 0))
    return {"x": spec["x"], "pid": os.getpid(), "device": ctx.device,
            "cvd": os.environ.get("CUDA_VISIBLE_DEVICES")}


def fail(spec, ctx):
    raise ValueError(f"boom {spec['x']}")


def counter(spec, ctx):
    """Counts in 0.5 s steps, each checkpointed (and resumed): up to spec["cap"] steps, or
    spec["n"] steps more once its job has been requeued."""
    ckpt = ctx.run_dir / "checkpoint.txt"
    start = int(ckpt.read_text()) if ckpt.exists() else 0
    requeued = int(os.environ.get("SLURM_RESTART_COUNT") or 0) > 0
    for i in range(start, min(start + spec["n"], spec["cap"]) if requeued else spec["cap"]):
        time.sleep(0.5)
        (ctx.run_dir / "tmp").write_text(str(i + 1))
        os.replace(ctx.run_dir / "tmp", ckpt)
        ctx.check()
    return {"x": spec["x"], "resumed_from": start}


def terminated(spec, ctx):
    """SIGTERM (as scancel or a requeue sends it), then the epoch's checkpoint."""
    os.kill(os.getpid(), signal.SIGTERM)
    ctx.check()
    return {"x": spec["x"]}
'''


@pytest.fixture(scope="session")
def probe_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("probe")
    (folder / "fe_test_probe.py").write_text(PROBE)
    return folder


@pytest.fixture
def probe(probe_dir, monkeypatch):
    """The ``fe_test_probe`` module, importable here, in spawned workers (sys.path) and in
    SLURM jobs (PYTHONPATH, exported by sbatch)."""
    monkeypatch.syspath_prepend(str(probe_dir))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(probe_dir), os.environ.get("PYTHONPATH", "")])
    )
    import fe_test_probe

    return fe_test_probe


def _slurm_problem() -> str | None:
    """Why SLURM cannot be used here, or None."""
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return "no sbatch/sinfo on PATH"
    try:
        res = subprocess.run(
            ["sinfo", "--noheader", "--Node", "--format=%t"],
            capture_output=True, text=True, timeout=20,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        return f"sinfo failed: {exc}"
    if res.returncode != 0:
        return f"sinfo failed: {res.stderr.strip() or res.returncode}"
    if not any(s.rstrip("*~#") in ("idle", "mix", "alloc") for s in res.stdout.split()):
        return f"no node up (sinfo: {res.stdout.split() or 'nothing'})"
    return None


@pytest.fixture(scope="session")
def slurm_cluster():
    """A SLURM that takes jobs. Skips (saying why and how to start one) where there is
    none; with FE_TEST_SLURM=required (set by .ci/run once scripts/slurm_local.sh start
    succeeded) it fails instead, so CI cannot skip these tests silently. Returns the
    job-completion log's path (None where JobCompType is not jobcomp/filetxt)."""
    pytest.importorskip("submitit")
    problem = _slurm_problem()
    if problem:
        msg = f"SLURM not usable: {problem}; scripts/slurm_local.sh start brings one up"
        if os.environ.get("FE_TEST_SLURM") == "required":
            pytest.fail(msg)
        pytest.skip(msg)
    return jobcomp_log()


def jobcomp_log() -> str | None:
    """The job-completion log's path where JobCompType is jobcomp/filetxt, else None."""
    res = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True)
    conf = dict(
        (k.strip(), v.strip()) for k, _, v in (ln.partition("=") for ln in res.stdout.splitlines())
    )
    if conf.get("JobCompType") != "jobcomp/filetxt":
        return None
    return conf.get("JobCompLoc")


@pytest.fixture
def cancel_leftovers(tmp_path):
    """After the test: cancel any job it submitted that is still queued or running."""
    yield
    ids = []
    for book in tmp_path.rglob("slurm/jobs.json"):
        for entries in json.loads(book.read_text())["runs"].values():
            ids += [e["job_id"] for e in entries]
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True)
