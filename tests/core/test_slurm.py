"""Sweeps through a real SLURM (sbatch, squeue, scontrol): the same numbers as locally,
each record naming its job, requeue and resume, refusals, and never a run twice.

Marked ``slurm``: they skip, saying why, where no SLURM answers (``.ci/run`` starts a
one-node one with ``scripts/slurm_local.sh start``, and then they must run).
"""

import json
import subprocess
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("submitit")

from finite_expressivity.cli import main
from finite_expressivity.core.artifact import Artifact, Run, result_path
from finite_expressivity.core.executors import RunEnv, RunsFailed, RunsPending
from finite_expressivity.core.runner import run_artifact
from finite_expressivity.core.slurm import SlurmExecutor, SlurmSettings, job_states
from finite_expressivity.data import ImageDataset
from finite_expressivity.randomization.specs import RunSpec
from finite_expressivity.randomization.sweep import prepare_runs, spec_run
from finite_expressivity.randomization.training import TrainConfig

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("cancel_leftovers")]

SLURM_FIELDS = ("slurm_job_id", "slurm_restarts")
TIMING = ("seconds", "provenance", "epoch_log") + SLURM_FIELDS  # what may differ


def synthetic(n, n_test=50, size=8, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    return ImageDataset(
        name="synthetic",
        n_classes=classes,
        train_images=rng.integers(1, 256, (n, 1, size, size), dtype=np.uint8),
        train_labels=rng.integers(0, classes, n).astype(np.int64),
        test_images=rng.integers(1, 256, (n_test, 1, size, size), dtype=np.uint8),
        test_labels=rng.integers(0, classes, n_test).astype(np.int64),
        sha256="synthetic",
    )


def runs_of(variants, max_steps=300, hidden=32):
    train = TrainConfig(lr=0.05, batch_size=32, crop=8, log_every=1, max_steps=max_steps)
    return [
        spec_run(
            RunSpec(
                model="mlp1x512",
                dataset="synthetic",
                variant=v,
                p=p,
                model_overrides=(("hidden", (hidden,)),),
                train=train,
                label="mlp",
            ).with_seed(0)
        )
        for v, p in variants
    ]


def tiny_artifact(runs):
    return Artifact(
        name="tiny",
        part="randomization",
        title="three tiny runs",
        runs=lambda preset, seeds: runs,
        figure=lambda records, out: [],
        report=lambda records: "\n".join(f"{r['name']} {r['steps_to_fit']}" for r in records),
        parallel=True,
        prepare=prepare_runs,
    )


def comparable(rec):
    return {k: v for k, v in rec.items() if k not in TIMING}


def jobcomp_lines(path):
    return path and open(path).read().splitlines()


def completed_in_log(path, job_id):
    """The job-completion log's line for array element (or job) ``job_id``."""
    array, _, task = job_id.partition("_")
    key = f"ArrayJobId={array} ArrayTaskId={task} " if task else f"JobId={array} "
    return [ln for ln in jobcomp_lines(path) if key in ln]


def test_sweep_on_slurm_equals_the_local_one_and_is_never_submitted_twice(
    slurm_cluster, tmp_path, capsys
):
    runs = runs_of([("random-labels", 1.0), ("corrupt", 0.5), ("shuffled-pixels", 0.0)])
    opts = {"datasets": {"synthetic": synthetic(64)}}
    art = tiny_artifact(runs)
    local = run_artifact(art, out=tmp_path / "local", threads=1, quiet=True, options=opts)

    out = tmp_path / "slurm"
    nowait = SlurmExecutor(SlurmSettings(poll=0.5), wait=False)
    with pytest.raises(RunsPending) as pending:
        run_artifact(art, out=out, threads=1, quiet=True, options=opts, executor=nowait)
    ids = pending.value.job_ids
    assert sorted(ids) == sorted(r.name for r in runs)
    assert len({i.split("_")[0] for i in ids.values()}) == 1  # one job array

    res = run_artifact(
        art,
        out=out,
        threads=1,
        quiet=True,
        options=opts,
        executor=SlurmExecutor(SlurmSettings(poll=0.5)),
    )
    assert [r["slurm_job_id"] for r in res.records] == [ids[r.name] for r in runs]
    assert [comparable(r) for r in res.records] == [comparable(r) for r in local.records]
    assert res.report == local.report
    on_disk = json.loads((out / "results.json").read_text())
    assert [r["slurm_job_id"] for r in on_disk] == [ids[r.name] for r in runs]
    if slurm_cluster:  # the job-completion log lists every job, completed
        for jid in ids.values():
            (line,) = completed_in_log(slurm_cluster, jid)
            assert "JobState=COMPLETED" in line

    # rerunning the finished sweep submits nothing
    book = (out / "slurm" / "jobs.json").read_text()
    before = jobcomp_lines(slurm_cluster)
    again = run_artifact(
        art,
        out=out,
        threads=1,
        quiet=True,
        options=opts,
        executor=SlurmExecutor(SlurmSettings(poll=0.5)),
    )
    assert again.records == on_disk
    assert (out / "slurm" / "jobs.json").read_text() == book
    time.sleep(1)
    assert jobcomp_lines(slurm_cluster) == before


def test_requeued_job_resumes_from_its_checkpoint(slurm_cluster, tmp_path):
    # random labels on 2,048 images never fit a 16-unit MLP: every one of its 60 epochs runs
    (run,) = runs_of([("random-labels", 1.0)], max_steps=3840, hidden=16)
    env = RunEnv(options={"datasets": {"synthetic": synthetic(2048)}, "every": 0}, threads=1)
    ref = run_artifact(tiny_artifact([run]), out=tmp_path / "local", threads=1, quiet=True,
                       options=env.options)  # fmt: skip
    out = tmp_path / "slurm"
    with pytest.raises(RunsPending) as pending:
        run_artifact(tiny_artifact([run]), out=out, threads=1, options=env.options,
                     executor=SlurmExecutor(SlurmSettings(poll=0.5), wait=False))  # fmt: skip
    jid = pending.value.job_ids[run.name]
    ckpt = out / "runs" / run.name / "checkpoint.pt"
    for _ in range(1200):  # wait for the first epoch's checkpoint
        if ckpt.exists() or result_path(out, run).exists():
            break
        time.sleep(0.05)
    assert ckpt.exists(), "the run finished before it could be requeued; make it longer"
    subprocess.run(["scontrol", "requeue", jid], check=True)
    res = run_artifact(tiny_artifact([run]), out=out, threads=1, quiet=True, options=env.options,
                       executor=SlurmExecutor(SlurmSettings(poll=0.5)))  # fmt: skip
    (rec,) = res.records
    assert (rec["slurm_job_id"], rec["slurm_restarts"]) == (jid, 1)
    log = (out / "slurm" / jid / f"{jid}_0_log.err").read_text()
    assert "stopped by SIGTERM after a checkpoint" in log and "resuming" in log
    assert comparable(rec) == comparable(ref.records[0])
    assert rec["steps"] == 3840 and rec["steps_to_fit"] is None
    assert not ckpt.exists()


def test_failed_runs_are_reported_and_resubmitted(slurm_cluster, tmp_path, probe):
    runs = [
        Run(name="ok", fn=probe.where, spec={"x": 0}),
        Run(name="bad", fn=probe.fail, spec={"x": 1}),
    ]
    ex = SlurmExecutor(SlurmSettings(poll=0.5), quiet=True)
    env = RunEnv(quiet=True)
    from finite_expressivity.core.runner import run_runs

    with pytest.raises(RunsFailed, match=r"\(bad\); bad: job \d+_1 FAILED, .*ValueError: boom 1"):
        run_runs(runs, tmp_path, env, meta={}, executor=ex)
    assert result_path(tmp_path, runs[0]).exists()
    with pytest.raises(RunsFailed):  # only the failed run goes again
        run_runs(runs, tmp_path, env, meta={}, executor=ex)
    book = json.loads((tmp_path / "slurm" / "jobs.json").read_text())["runs"]
    assert len(book["ok"]) == 1 and len(book["bad"]) == 2
    states = job_states(e["job_id"] for e in book["bad"])
    assert set(states.values()) <= {"FAILED"}


def test_bad_cluster_settings_submit_nothing(slurm_cluster, tmp_path, capsys):
    def jobs():
        return subprocess.run(["squeue", "--noheader", "--states=all", "--format=%i"],
                              capture_output=True, text=True).stdout.split()  # fmt: skip

    before, log = jobs(), jobcomp_lines(slurm_cluster)
    out = tmp_path / "D"
    for flags, match in [
        (["--slurm-partition", "nosuch"], "--slurm-partition 'nosuch' is not a partition"),
        (["--slurm-time", "forever"], "--slurm-time must be a SLURM time limit"),
        (["--slurm-cpus-per-task", "100000"], "SLURM refuses these job settings"),
    ]:
        assert main(["run", "fig1a", "--executor", "slurm", "--out", str(out), *flags]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and match in err, err
    assert not out.exists() and jobs() == before and jobcomp_lines(slurm_cluster) == log


def test_job_at_its_time_limit_is_requeued_and_resumes(slurm_cluster, tmp_path, probe):
    # a one-minute limit signalled 50 s early: SLURM sends USR2 at its next time-limit
    # check (10-40 s in) and submitit requeues the job; the run counts for up to 55 s
    run = Run(name="count", fn=probe.counter, spec={"x": 0, "n": 4, "cap": 110})
    ex = SlurmExecutor(SlurmSettings(time=1, signal_delay=50, poll=0.5), quiet=True)
    from finite_expressivity.core.runner import run_runs

    (rec,) = run_runs([run], tmp_path, RunEnv(quiet=True), meta={}, executor=ex)
    assert rec["slurm_restarts"] >= 1 and 0 < rec["resumed_from"] < 110
    log = (tmp_path / "slurm" / rec["slurm_job_id"]).glob("*_log.out")
    assert "Requeued job" in "".join(p.read_text() for p in log)
