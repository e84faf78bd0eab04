"""The SLURM executor without a cluster: time limits, settings, refusals, what the job
runs, and which runs a rerun submits (squeue and sbatch stood in for)."""

import json
import os
import signal

import pytest

from finite_expressivity.cli import main
from finite_expressivity.core import slurm
from finite_expressivity.core.artifact import Run, result_path
from finite_expressivity.core.executors import RunEnv, RunsFailed, RunsPending
from finite_expressivity.core.runner import run_runs
from finite_expressivity.core.slurm import (
    SlurmExecutor,
    SlurmSettings,
    SlurmTask,
    job_states,
    load_settings,
    parse_time,
)


@pytest.mark.parametrize(
    "text, minutes",
    [
        ("90", 90),
        (45, 45),
        ("1:30", 2),  # minutes:seconds, rounded up
        ("2:00:00", 120),
        ("0:00:30", 1),
        ("1-0", 1440),
        ("1-2:30", 1590),
        ("1-02:30:01", 1591),
    ],
)
def test_parse_time(text, minutes):
    assert parse_time(text) == minutes


@pytest.mark.parametrize("text", ["abc", "1:2:3:4", "", "-5", "0", "0:00", "1h", True, "4:00:00x"])
def test_parse_time_refuses(text):
    with pytest.raises(ValueError, match="--slurm-time"):
        parse_time(text)


def test_settings_from_file_and_flags(tmp_path):
    cfg = tmp_path / "cluster.toml"
    cfg.write_text('[slurm]\npartition = "gpu"\ntime = "4:00:00"\ngpus_per_task = 1\npoll = 2\n')
    s = load_settings(cfg, partition="a100", time=None, mem="16G")
    assert (s.partition, s.time, s.gpus_per_task, s.mem, s.poll) == ("a100", "4:00:00", 1, "16G", 2)
    cfg.write_text('partiton = "gpu"\n')
    with pytest.raises(ValueError, match="unknown key.*partiton"):
        load_settings(cfg)
    cfg.write_text("partition = [\n")
    with pytest.raises(ValueError, match="cannot read it as TOML"):
        load_settings(cfg)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"cpus_per_task": 0}, "--slurm-cpus-per-task must be an int >= 1"),
        ({"gpus_per_task": -1}, "--slurm-gpus-per-task"),
        ({"array_parallelism": 0}, "--slurm-array-parallelism"),
        ({"time": "soon"}, "--slurm-time"),
        ({"mem": "lots"}, "--slurm-mem"),
        ({"partition": "a b"}, "--slurm-partition"),
        ({"poll": 0}, "poll"),
    ],
)
def test_bad_settings_name_their_flag(kw, match):
    with pytest.raises(ValueError, match=match):
        SlurmSettings(**kw)


def test_cli_refuses_slurm_flags_without_the_slurm_executor(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["run", "fig1a", "--slurm-partition", "gpu", "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert (
        err == "error: --slurm-partition needs --executor slurm; add it, or drop --slurm-partition"
    )
    assert main(["run", "fig1a", "--executor", "slurm", "--workers", "2", "--out", str(out)]) == 1
    assert "--workers applies to --executor local" in capsys.readouterr().err
    assert not out.exists()


def test_cli_without_sbatch_refuses_in_one_line(tmp_path, capsys, monkeypatch):
    pytest.importorskip("submitit")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = tmp_path / "o"
    assert main(["run", "fig1a", "--executor", "slurm", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs SLURM's sbatch on PATH" in err
    assert not out.exists()  # refused before anything was written


# ---- what a job runs ------------------------------------------------------------------------


def test_task_names_its_job_and_never_reruns_a_finished_run(probe, tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "12")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    run = Run(name="r0", fn=probe.where, spec={"x": 0})
    env = RunEnv(quiet=True)
    assert SlurmTask()(run, str(tmp_path), env) == str(result_path(tmp_path, run))
    (rec,) = json.loads(result_path(tmp_path, run).read_text())
    assert (rec["slurm_job_id"], rec["slurm_restarts"]) == ("12_3", 1)
    stamp = result_path(tmp_path, run).stat().st_mtime_ns
    assert SlurmTask()(run, str(tmp_path), env) == "already done"  # a requeue after it finished
    assert result_path(tmp_path, run).stat().st_mtime_ns == stamp


def test_task_stops_at_the_checkpoint_after_sigterm(probe, tmp_path):
    run = Run(name="r0", fn=probe.terminated, spec={"x": 0})
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit, match="stopped by SIGTERM after a checkpoint"):
        SlurmTask()(run, str(tmp_path), RunEnv(quiet=True))
    assert not result_path(tmp_path, run).exists()
    assert signal.getsignal(signal.SIGTERM) == before


# ---- asking squeue, and what a rerun submits -------------------------------------------------


def _fake(tmp_path, monkeypatch, name, script):
    bin_ = tmp_path / "bin"
    bin_.mkdir(exist_ok=True)
    (bin_ / name).write_text("#!/bin/sh\n" + script)
    (bin_ / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_}{os.pathsep}{os.environ['PATH']}")


def test_job_states_from_squeue_then_sacct(tmp_path, monkeypatch):
    _fake(tmp_path, monkeypatch, "squeue", "printf '12_0|RUNNING\\n12_1|COMPLETED\\n13|PENDING\\n'")
    _fake(tmp_path, monkeypatch, "sacct", "printf '11|CANCELLED by 0\\n11.batch|CANCELLED\\n'")
    states = job_states(["12_0", "12_1", "13", "11", "10"])
    assert states == {"12_0": "RUNNING", "12_1": "COMPLETED", "13": "PENDING", "11": "CANCELLED"}
    _fake(tmp_path, monkeypatch, "squeue", "echo 'slurm_load_jobs error: down' >&2; exit 1")
    with pytest.raises(ValueError, match="squeue failed .*nothing is submitted"):
        job_states(["12_0"])


@pytest.fixture
def fake_cluster(monkeypatch):
    """squeue answers from ``states``; sbatch hands out job ids and records what it got."""
    cluster = {"states": {}, "submitted": [], "next": 20}

    def submit(self, pairs, out, env):
        ids = {r.name: f"{cluster['next']}_{i}" for i, (r, _) in enumerate(pairs)}
        cluster["next"] += 1
        cluster["submitted"].append(sorted(ids))
        return ids

    monkeypatch.setattr(SlurmExecutor, "check", lambda self, env=None: self)
    monkeypatch.setattr(SlurmExecutor, "_submit", submit)
    monkeypatch.setattr(SlurmExecutor, "time_min_", 60, raising=False)
    monkeypatch.setattr(slurm, "job_states", lambda ids: dict(cluster["states"]))
    return cluster


def test_rerun_submits_only_runs_without_a_result_or_a_live_job(probe, tmp_path, fake_cluster):
    runs = [Run(name=n, fn=probe.where, spec={"x": i}) for i, n in enumerate("abcd")]
    env = RunEnv(quiet=True)
    nowait = SlurmExecutor(SlurmSettings(poll=0.01), wait=False)
    with pytest.raises(RunsPending) as first:
        run_runs(runs, tmp_path, env, meta={}, executor=nowait)
    assert fake_cluster["submitted"] == [["a", "b", "c", "d"]]
    assert first.value.job_ids == {"a": "20_0", "b": "20_1", "c": "20_2", "d": "20_3"}
    assert "20_0  a" in str(first.value) and "job array 20" in str(first.value)
    # a finished, b queued, c failed, d's job gone from squeue without a result
    result_path(tmp_path, runs[0]).parent.mkdir(parents=True)
    result_path(tmp_path, runs[0]).write_text('[{"x": 0}]')
    fake_cluster["states"].update({"20_1": "PENDING", "20_2": "FAILED"})
    with pytest.raises(RunsPending) as again:
        run_runs(runs, tmp_path, env, meta={}, executor=nowait)
    assert fake_cluster["submitted"][1:] == [["c", "d"]]
    assert again.value.job_ids == {"b": "20_1", "c": "21_0", "d": "21_1"}
    book = json.loads((tmp_path / "slurm" / "jobs.json").read_text())["runs"]
    assert [e["job_id"] for e in book["c"]] == ["20_2", "21_0"]
    # every job still queued: nothing is submitted
    fake_cluster["states"].update({"20_1": "RUNNING", "21_0": "PENDING", "21_1": "PENDING"})
    with pytest.raises(RunsPending, match="nothing submitted; 3 run"):
        run_runs(runs, tmp_path, env, meta={}, executor=nowait)
    assert len(fake_cluster["submitted"]) == 2


def test_waiting_reports_runs_whose_jobs_failed(probe, tmp_path, fake_cluster, monkeypatch):
    runs = [Run(name=n, fn=probe.where, spec={"x": i}) for i, n in enumerate("ab")]
    log = tmp_path / "slurm" / "20_1" / "20_1_0_log.err"
    answers = [{}, {"20_0": "RUNNING", "20_1": "PENDING"}, {"20_0": "RUNNING", "20_1": "RUNNING"}]

    def squeue(ids):  # a's job writes its result and ends; b's job fails
        if len(answers) == 1:
            result_path(tmp_path, runs[0]).parent.mkdir(parents=True, exist_ok=True)
            result_path(tmp_path, runs[0]).write_text('[{"x": 0}]')
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text("Traceback (most recent call last):\nValueError: boom 1\n")
            answers.append({"20_0": "COMPLETED", "20_1": "FAILED"})
        return answers.pop(0)

    monkeypatch.setattr(slurm, "job_states", squeue)
    ex = SlurmExecutor(SlurmSettings(poll=0.01), quiet=True)
    with pytest.raises(RunsFailed) as failed:
        run_runs(runs, tmp_path, RunEnv(quiet=True), meta={}, executor=ex)
    msg = str(failed.value)
    assert "\n" not in msg and "rerun the same command" in msg
    assert "(b); b: job 20_1 FAILED" in msg and msg.endswith(
        "ValueError: boom 1; rerun the same command to resubmit only the runs without a result"
    )


def test_cli_no_wait_prints_the_jobs_and_failed_runs_exit_3(
    probe, tmp_path, fake_cluster, capsys, monkeypatch
):
    import finite_expressivity.artifacts as artifacts
    from finite_expressivity.core.artifact import Artifact

    runs = [Run(name=f"r{i}", fn=probe.where, spec={"x": i}) for i in range(2)]
    tiny = Artifact(name="tiny", part="theorem1", title="t", runs=lambda preset, seeds: runs,
                    figure=lambda records, out: [], report=lambda records: "report")  # fmt: skip
    monkeypatch.setattr(artifacts, "get_artifact", lambda name: tiny)
    cmd = ["run", "tiny", "--executor", "slurm", "--out", str(tmp_path)]
    assert main([*cmd, "--no-wait"]) == 0
    out = capsys.readouterr().out
    assert "20_0  r0\n20_1  r1\nsubmitted 2 run(s) to SLURM (job array 20)" in out
    fake_cluster["states"].update({"20_0": "FAILED", "20_1": "CANCELLED"})
    assert main([*cmd, "--slurm-config", str(tmp_path / "none.toml")]) == 1  # no such file
    assert "--slurm-config" in capsys.readouterr().err
    assert main(cmd) == 3  # resubmitted as 21_0, 21_1, which squeue no longer knows
    *progress, err = capsys.readouterr().err.splitlines()
    assert progress == ["[slurm] 0/2 runs done, 2 without a result"]
    assert err.startswith("error: 2 run(s) ended on SLURM without a result (r0, r1); r0: job 21_0")
    assert fake_cluster["submitted"] == [["r0", "r1"], ["r0", "r1"]]
