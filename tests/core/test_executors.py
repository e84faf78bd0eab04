"""The local executors: one worker per visible GPU, each pinned to its own (GPU count
mocked), extra record fields, and the runner's executor argument."""

import json

import pytest

from finite_expressivity.core import runner
from finite_expressivity.core.artifact import Run
from finite_expressivity.core.executors import RunEnv, execute, gpu_slots
from finite_expressivity.core.runner import default_workers, run_runs


def test_gpu_slots_give_each_worker_one_visible_gpu(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert gpu_slots(4, 4) == ["0", "1", "2", "3"]
    assert gpu_slots(6, 4) == ["0", "1", "2", "3", "0", "1"]
    assert gpu_slots(2, 4) == ["0", "1"]
    # the GPUs this process was given, not the machine's first ones
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7,GPU-3b1e")
    assert gpu_slots(3, 3) == ["5", "7", "GPU-3b1e"]
    assert gpu_slots(3, 2) == ["5", "7", "5"]
    with pytest.raises(ValueError, match="gpus >= 1"):
        gpu_slots(2, 0)


@pytest.fixture
def four_gpus(monkeypatch):
    monkeypatch.setattr(runner, "gpu_count", lambda library=None: 4)
    monkeypatch.setattr(runner, "resolve_device", lambda device="auto": "cuda:0")


def test_default_workers_one_per_gpu(four_gpus):
    assert default_workers(True, "auto") == (4, 4)
    assert default_workers(True, "cuda") == (4, 4)
    assert default_workers(True, "cuda:2") == (1, 0)  # one named GPU: one worker on it
    assert default_workers(False, "auto") == (1, 0)


def test_default_workers_on_one_gpu_and_on_the_cpu(monkeypatch):
    monkeypatch.setattr(runner, "gpu_count", lambda library=None: 1)
    monkeypatch.setattr(runner, "resolve_device", lambda device="auto": "cuda:0")
    assert default_workers(True, "auto") == (1, 0)
    monkeypatch.setattr(runner, "resolve_device", lambda device="auto": "cpu")
    monkeypatch.setattr(runner, "cpu_count", lambda: 3)
    assert default_workers(True, "auto") == (3, 0)


def _runs(probe, n, sleep=0.0):
    return [Run(name=f"r{i}", fn=probe.where, spec={"x": i, "sleep": sleep}) for i in range(n)]


@pytest.mark.parametrize("visible", [None, "4,5,6,7"])
def test_pool_pins_each_worker_to_its_own_gpu(visible, probe, four_gpus, tmp_path, monkeypatch):
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    ids = visible.split(",") if visible else ["0", "1", "2", "3"]
    recs = run_runs(
        _runs(probe, 5, sleep=0.2), tmp_path, RunEnv(quiet=True), meta={}, parallel=True
    )
    assert [r["x"] for r in recs] == list(range(5))
    assert all(r["device"] == "cuda" and r["cvd"] in ids for r in recs)  # cuda = its own GPU
    pinned = {}
    for r in recs:
        assert pinned.setdefault(r["pid"], r["cvd"]) == r["cvd"]  # a worker keeps its GPU
    assert len(set(pinned.values())) == len(pinned) <= 4  # no two workers share a GPU


def test_execute_adds_the_executors_fields(probe, tmp_path):
    (run,) = _runs(probe, 1)
    (rec,) = execute(run, tmp_path, RunEnv(quiet=True), extra={"slurm_job_id": "12_3"})
    assert rec["slurm_job_id"] == "12_3" and rec["run"] == "r0" and "provenance" in rec
    stored = json.loads((tmp_path / "runs" / "r0" / "result.json").read_text())
    assert stored[0]["slurm_job_id"] == "12_3"


def test_unknown_executor_is_refused(probe, tmp_path):
    with pytest.raises(ValueError, match="executor must be 'local'"):
        run_runs(_runs(probe, 1), tmp_path, RunEnv(quiet=True), meta={}, executor="slurm")
    assert not tmp_path.joinpath("artifact.json").exists()
