"""Artifacts, presets and the resumable sweep runner, on tiny synthetic data."""

import json
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from finite_expressivity.cli import main  # noqa: E402
from finite_expressivity.core.runner import write_outputs
from finite_expressivity.data import ImageDataset  # noqa: E402
from finite_expressivity.randomization import presets
from finite_expressivity.randomization.catalog import ARTIFACTS
from finite_expressivity.randomization.models import PAPER_LR, PAPER_PARAMS  # noqa: E402
from finite_expressivity.randomization.presets import P_GRID, TABLE1_PAPER  # noqa: E402
from finite_expressivity.randomization.specs import RunSpec, spec_from_dict, spec_to_dict
from finite_expressivity.randomization.sweep import run_sweep, validate_specs
from finite_expressivity.randomization.training import TrainConfig  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

REQUIRED = {
    "model",
    "dataset",
    "variant",
    "p",
    "seed",
    "steps_to_fit",
    "final_train_accuracy",
    "test_accuracy",
    "params",
    "seconds",
}


def synthetic(n=64, n_test=50, size=8, classes=4, seed=0):
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


DATA = {"synthetic": synthetic()}
TRAIN = TrainConfig(lr=0.05, batch_size=32, crop=8, log_every=1, max_steps=300, eval_every=1)


def tiny(model="mlp1x512", variant="true", p=0.0, seed=0, **kw):
    over = (
        (("hidden", (32,)),)
        if model.startswith("mlp")
        else (("channels", (4, 4)), ("hidden", (8,)))
    )
    return RunSpec(
        model=model,
        dataset="synthetic",
        variant=variant,
        p=p,
        model_overrides=over,
        train=kw.pop("train", TRAIN),
        label=model,
        **kw,
    ).with_seed(seed)


# ---- specs and presets ------------------------------------------------------------------


def test_spec_identity_and_round_trip():
    a, b = tiny(), tiny(seed=1)
    assert a.key() != b.key() and a.name() != b.name()
    assert (
        replace(a, label="other", column="c").key() == a.key()
    )  # labels do not change a run's identity
    assert spec_from_dict(json.loads(json.dumps(spec_to_dict(a)))) == a
    assert (b.data_seed, b.init_seed, b.train.seed) == (1, 1, 1)


NAMES = presets.NAMES


@pytest.mark.parametrize("name", NAMES)
def test_paper_preset_uses_the_papers_models(name):
    specs = presets.specs(name, "paper")
    assert specs and all(s.dataset == "cifar10" and s.n_train is None for s in specs)
    for s in specs:
        assert s.model_overrides == ()
        assert s.train.batch_size == 128 and s.train.momentum == 0.9 and s.train.lr_decay == 0.95
        assert s.train.decay_every is None  # x0.95 per epoch
        if s.model != "inception-nobn":
            assert s.train.lr == PAPER_LR[s.model]
        assert (s.train.weight_decay > 0) == (s.column in ("wd", "crop+wd"))
        assert s.train.random_crop == (s.column in ("crop", "crop+wd"))


@pytest.mark.parametrize("name", NAMES)
def test_quick_preset_is_small(name):
    specs = presets.specs(name, "quick", seeds=(0, 1))
    assert all(s.dataset in ("mnist", "fashion-mnist") and s.n_train <= 4000 for s in specs)
    assert len({s.key() for s in specs}) == len(specs)
    mlps = [s for s in specs if s.model.startswith("mlp")]
    assert all(s.model_overrides == () for s in mlps)  # the MLPs are the paper's


def test_artifact_grids():
    fig1a = presets.specs("fig1a", "quick")
    assert [s.variant for s in fig1a] == [
        "true",
        "random-labels",
        "shuffled-pixels",
        "random-pixels",
        "gaussian",
    ]
    fig1bc = presets.specs("fig1bc", "paper")
    assert sorted({(s.model, s.p) for s in fig1bc}) == sorted(
        (m, p) for m in ("inception", "alexnet", "mlp1x512") for p in P_GRID
    )
    table = presets.specs("table1", "paper")
    assert {(s.model, s.column) for s in table} == {
        (m, c) for m, cols in TABLE1_PAPER.items() for c in cols
    }
    assert {s.model for s in presets.specs("fig2b", "paper")} == {"inception", "inception-nobn"}
    with pytest.raises(ValueError, match="unknown preset"):
        presets.specs("fig1a", "fast")
    with pytest.raises(ValueError, match="seeds"):
        presets.specs("fig1a", "quick", seeds=(0, 0))


# ---- configuration errors, before any training -------------------------------------------


@pytest.mark.parametrize(
    "spec, match",
    [
        (lambda: tiny(model="resnet18"), "unknown model"),
        (lambda: tiny(variant="corrupt", p=1.5), r"p must be a probability in \[0, 1\]"),
        (lambda: tiny(variant="corrupt", p=-0.1), "p must be"),
        (lambda: tiny(variant="noise"), "unknown variant"),
        (lambda: tiny(variant="true", p=0.5), "needs p = 0"),
    ],
)
def test_bad_specs_raise_before_training(spec, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        run_sweep([spec()], tmp_path / "out", datasets=DATA, quiet=True)
    assert not (tmp_path / "out").exists()


def test_missing_dataset_is_a_value_error(tmp_path):
    spec = RunSpec(model="mlp1x512", dataset="cifar10", train=TRAIN)
    with pytest.raises(ValueError, match="cifar"):
        validate_specs([spec], data_dir=tmp_path)


def test_folder_of_another_configuration_is_refused(tmp_path):
    run_sweep(
        [tiny(train=TrainConfig(**{**vars(TRAIN), "max_steps": 2}))],
        tmp_path,
        datasets=DATA,
        quiet=True,
        meta={"artifact": "x"},
    )
    with pytest.raises(ValueError, match="another configuration"):
        run_sweep([tiny(seed=5)], tmp_path, datasets=DATA, quiet=True, meta={"artifact": "x"})


# ---- the sweep: results, resume, skip, workers ---------------------------------------------


def test_sweep_writes_records_and_skips_finished_runs(tmp_path):
    specs = [tiny(variant="random-labels", p=1.0), tiny(variant="corrupt", p=0.5)]
    recs = run_sweep(specs, tmp_path, datasets=DATA, quiet=True)
    assert [r["name"] for r in recs] == [s.name() for s in specs]
    for r in recs:
        assert REQUIRED <= set(r) and r["final_train_accuracy"] == 1.0 and r["steps_to_fit"]
        assert {"config", "versions", "device", "git_commit"} <= set(r["provenance"])
    files = sorted(tmp_path.glob("runs/*/result.json"))
    stamps = [f.stat().st_mtime_ns for f in files]
    again = run_sweep(specs, tmp_path, datasets=DATA, quiet=True)
    assert again == json.loads(json.dumps(recs)) and stamps == [f.stat().st_mtime_ns for f in files]
    assert not list(tmp_path.glob("runs/*/checkpoint.pt"))


def test_interrupted_sweep_resumes_with_identical_numbers(tmp_path, monkeypatch):
    specs = [
        tiny(variant="random-labels", p=1.0),
        tiny(variant="corrupt", p=0.5, seed=1),
        tiny(model="mlp3x512", variant="corrupt", p=0.3),
    ]
    ref = run_sweep(specs, tmp_path / "ref", datasets=DATA, quiet=True, workers=1)

    import finite_expressivity.core.executors as executors

    class Interrupting(executors.Progress):
        def message(self, text):
            if "2/3" in self.tag and text.startswith("epoch 3 "):
                raise KeyboardInterrupt
            return super().message(text)

    monkeypatch.setattr(executors, "Progress", Interrupting)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(specs, tmp_path / "run", datasets=DATA, quiet=True, workers=1, progress_every=0)
    monkeypatch.undo()
    (first,) = json.loads((tmp_path / "run" / "runs" / specs[0].name() / "result.json").read_text())
    assert (tmp_path / "run" / "runs" / specs[1].name() / "checkpoint.pt").exists()
    recs = run_sweep(specs, tmp_path / "run", datasets=DATA, quiet=True, workers=1)
    assert recs[0] == first
    drop = ("seconds", "provenance", "epoch_log")
    for a, b in zip(ref, recs):
        assert {k: v for k, v in a.items() if k not in drop} == {
            k: v for k, v in b.items() if k not in drop
        }


def test_workers_give_the_same_numbers(tmp_path):
    specs = [tiny(variant="corrupt", p=0.2), tiny(variant="corrupt", p=0.8)]
    one = run_sweep(specs, tmp_path / "a", datasets=DATA, quiet=True)
    two = run_sweep(specs, tmp_path / "b", datasets=DATA, quiet=True, workers=2, threads=1)
    for a, b in zip(one, two):
        assert (a["history"], a["test_accuracy"]) == (b["history"], b["test_accuracy"])


# ---- outputs --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    specs = [
        tiny(variant=v, p=1.0 if v == "random-labels" else 0.0)
        for v in ("true", "random-labels", "shuffled-pixels", "random-pixels", "gaussian")
    ]
    specs += [tiny(model="mlp3x512", variant="corrupt", p=p) for p in (0.0, 1.0)]
    specs += [
        tiny(
            model="alexnet",
            variant="corrupt",
            p=p,
            train=TrainConfig(**{**vars(TRAIN), "max_steps": 4}),
        )
        for p in (0.0, 1.0)
    ]
    return run_sweep(specs, tmp_path_factory.mktemp("runs"), datasets=DATA, quiet=True, threads=1)


@pytest.mark.parametrize("name", ["fig1a", "fig1bc", "table1", "fig2b"])
def test_outputs_are_written(name, records, tmp_path):
    recs = list(records)
    if name == "table1":
        recs = [
            {**r, "model": "mlp1x512", "column": c}
            for r, c in zip(recs[:2], ("none", "random labels"))
        ]
    if name == "fig2b":
        recs = [{**recs[0], "model": "inception"}, {**recs[1], "model": "inception-nobn"}]
    art = {a.name: a for a in ARTIFACTS}[name]
    res = write_outputs(art, recs, tmp_path / "out")
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert isinstance(data, list) and all(REQUIRED <= set(r) for r in data)
    assert (tmp_path / "out" / "results.csv").read_text().startswith("name,")
    for ext in ("png", "pdf"):
        assert (tmp_path / "out" / f"{name}.{ext}").stat().st_size > 1000
    assert "paper" in res.report and (tmp_path / "out" / "report.txt").exists()


# ---- the command line -------------------------------------------------------------------------


def test_cli_models_json(capsys):
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["model"]: r["params"] for r in rows if r["input"] == "28x28x3"} == PAPER_PARAMS


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert (
        main(
            [
                "run",
                "fig1a",
                "--preset",
                "paper",
                "--data-dir",
                str(tmp_path),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "cifar" in err.lower()
    assert not (tmp_path / "o").exists()
    assert main(["run", "fig1a", "--seeds", "a,b", "--out", str(tmp_path / "o")]) == 1
    assert main(["run", "fig9"]) == 2


def test_interrupted_run_says_how_to_resume(tmp_path, monkeypatch, capsys):
    import finite_expressivity.core.runner as experiments_pkg

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(experiments_pkg, "run_artifact", interrupted)
    assert main(["run", "fig1a", "--out", str(tmp_path / "out")]) == 130
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "rerun the same command to resume" in err and "out" in err


def test_sigterm_stops_like_ctrl_c(monkeypatch, capsys):
    import os
    import signal

    import finite_expressivity.core.runner as experiments_pkg

    def killed(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not interrupt")

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(experiments_pkg, "run_artifact", killed)
    assert main(["run", "fig1a", "--out", "unused"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is restored
