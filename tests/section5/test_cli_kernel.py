"""``fe kernel``: the JSON it prints, the files it writes, its one-line errors, experiments.

Runs on a small synthetic image dataset (no network); the real-data run is marked
``network``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from finite_expressivity.data import ImageDataset

KEYS = {
    "n_train",
    "n_test",
    "kernel",
    "bandwidth",
    "solver",
    "ridge",
    "features",
    "train_error",
    "test_error",
    "norm",
    "norms",
    "seconds",
    "peak_memory_gb",
    "rel_residual",
}


@pytest.fixture
def fe(monkeypatch, capsys, tiny_dataset):
    """Run ``fe kernel ARGS`` on the synthetic dataset -> (code, stdout, stderr)."""
    import finite_expressivity.cli as cli
    import finite_expressivity.section5.kernel_job as run
    import finite_expressivity.section5.studies as ex

    monkeypatch.setattr(cli, "_COMMANDS", ("finite_expressivity.section5.kernel_cli",))
    monkeypatch.setattr(run, "_load", lambda *a, **k: tiny_dataset)
    monkeypatch.setattr(ex, "_load", lambda *a, **k: tiny_dataset)

    def call(*argv):
        code = cli.main(["kernel", *map(str, argv)])
        out = capsys.readouterr()
        return code, out.out, out.err

    return call


def test_json_has_the_papers_numbers(fe):
    code, out, err = fe("--json", "--quiet", "--n", "250", "--n-test", "100")
    assert code == 0 and err == ""
    r = json.loads(out)
    assert KEYS <= set(r)
    assert r["n_train"] == 250 and r["n_test"] == 100 and r["train_error"] == 0.0
    assert r["solver"] == "cholesky" and r["bandwidth"] == 5.0 and r["ridge"] == 0.0
    assert r["norm"] == pytest.approx(sum(r["norms"])) and len(r["norms"]) == 3
    assert {"kernel matrix", "solve", "predict", "total"} <= set(r["seconds"])


@pytest.mark.parametrize("solver", ["pcg", "eigenpro"])
def test_iterative_solvers_and_table(fe, solver):
    code, out, _ = fe(
        "--solver",
        solver,
        "--kernel",
        "laplacian",
        "--tol",
        "0.01",
        "--max-epochs",
        "300",
        "--quiet",
    )
    assert code == 0
    assert "solver" in out and solver in out and "train error" in out and "0.00%" in out


def test_out_writes_json_csv_and_history(fe, tmp_path):
    code, _, _ = fe("--solver", "pcg", "--ridge", "0.01", "--out", tmp_path, "--quiet")
    assert code == 0
    stem = tmp_path / "kernel_mnist_raw_gaussian"
    doc = json.loads(stem.with_suffix(".json").read_text())
    assert doc["result"]["ridge"] == 0.01 and "git_commit" in doc["provenance"]
    assert doc["provenance"]["config"]["solver"] == "pcg"
    assert stem.with_suffix(".csv").read_text().startswith("dataset,")
    assert (tmp_path / "kernel_mnist_raw_gaussian_history.csv").exists()


@pytest.mark.parametrize(
    "argv,message,status",
    [
        (("--ridge", "-1"), "--ridge must be >= 0", 2),
        (("--bandwidth", "0"), "--bandwidth must be > 0", 2),
        (("--n", "x"), "--n must be a positive int", 2),
        (("--solver", "cholesky", "--memory-gb", "0.000001"), "solver='cholesky' needs", 1),
        (("--n-filters", "10"), "--n-filters applies to --features random-conv only", 1),
    ],
)
def test_errors_are_one_line(fe, argv, message, status):
    code, out, err = fe(*argv, "--quiet")
    assert code == status and out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_bad_choice_is_a_usage_error(fe):
    code, _, err = fe("--kernel", "polynomial")
    assert code == 2 and "invalid choice" in err


def test_progress_goes_to_stderr(fe):
    code, out, err = fe("--json", "--n", "200")
    assert code == 0
    json.loads(out)  # stdout stays clean JSON


@pytest.fixture
def wide_dataset(rng, blobs):
    """16x16 images, so that n <= d holds for the linear-model experiment."""
    templates = rng.integers(0, 256, size=(3, 256))
    tr, ytr = blobs(150, rng, templates)
    te, yte = blobs(60, rng, templates)
    return ImageDataset(
        name="blobs16",
        n_classes=3,
        train_images=tr,
        train_labels=ytr,
        test_images=te,
        test_labels=yte,
        sha256="synthetic",
    )


@pytest.mark.parametrize(
    "name", ["raw-vs-gabor", "ridge-sweep", "corrupted-labels", "random-features", "sgd-min-norm"]
)
def test_experiments_write_json_csv_and_figures(fe, monkeypatch, tmp_path, wide_dataset, name):
    pytest.importorskip("torch")
    import finite_expressivity.section5.kernel_job as run
    import finite_expressivity.section5.studies as ex

    monkeypatch.setattr(run, "_load", lambda *a, **k: wide_dataset)
    monkeypatch.setattr(ex, "_load", lambda *a, **k: wide_dataset)
    code, out, err = fe("--experiment", name, "--quick", "--out", tmp_path, "--quiet")
    assert code == 0, err
    for f in ("results.json", "results.csv", f"{name}.png", f"{name}.pdf", "report.txt"):
        assert (tmp_path / f).stat().st_size > 0
    recs = json.loads((tmp_path / "results.json").read_text())
    assert all({"config", "versions", "device", "git_commit"} <= set(r["provenance"]) for r in recs)
    assert "paper" in (tmp_path / "report.txt").read_text().lower()
    if name == "corrupted-labels":
        assert all(r["train_error"] == 0.0 for r in recs)
        assert recs[-1]["test_error"] > recs[0]["test_error"]
    if name == "sgd-min-norm":
        last = {r["start"]: r["rel_distance"] for r in recs}  # the last record of each start
        assert last["zero"] < 1e-6 < last["random"]
    if name == "ridge-sweep":
        assert [r["ridge"] for r in recs][0] == 0.0
    stamp = (tmp_path / "results.json").stat().st_mtime_ns
    runs = sorted(tmp_path.glob("runs/*/result.json"))
    before = [f.stat().st_mtime_ns for f in runs]
    code, _, err = fe("--experiment", name, "--quick", "--out", tmp_path, "--quiet")
    assert code == 0, err  # the rerun finds every run finished and redoes none
    assert [f.stat().st_mtime_ns for f in runs] == before
    assert (tmp_path / "results.json").stat().st_mtime_ns >= stamp


@pytest.mark.parametrize(
    "flag",
    [
        ["--n", "100"],
        ["--kernel", "laplacian"],
        ["--bandwidth", "2"],
        ["--solver", "pcg"],
        ["--ridge", "0"],
        ["--tol", "0.1"],
        ["--features", "raw"],
        ["--dataset", "mnist"],
    ],
)
def test_experiment_refuses_single_fit_flags(fe, tmp_path, flag):
    code, out, err = fe("--experiment", "ridge-sweep", "--quick", "--out", tmp_path, *flag)
    assert code == 1 and out == "" and err.count("\n") == 1
    assert f"{flag[0]} does not apply to --experiment ridge-sweep" in err
    assert not (tmp_path / "artifact.json").exists()


@pytest.mark.network
@pytest.mark.slow
def test_real_mnist_subset(capsys, monkeypatch):
    import finite_expressivity.cli as cli

    monkeypatch.setattr(cli, "_COMMANDS", ("finite_expressivity.section5.kernel_cli",))
    assert cli.main(["kernel", "--n", "5000", "--n-test", "2000", "--json", "--quiet"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["train_error"] == 0.0 and r["test_error"] < 0.06
    assert np.isfinite(r["norm"])


def _write_cifar(folder, rng, n_per_batch=12, n_test=20):
    """A small ``cifar-10-batches-py/`` in the official format (dicts with bytes keys)."""
    import pickle

    folder.mkdir(parents=True)
    templates = rng.integers(0, 256, size=(10, 3072))

    def batch(path, n):
        labels = rng.integers(0, 10, size=n)
        x = np.clip(templates[labels] + rng.normal(0, 30, (n, 3072)), 0, 255).astype(np.uint8)
        path.write_bytes(
            pickle.dumps(
                {b"batch_label": b"x", b"labels": [int(v) for v in labels], b"data": x}, protocol=2
            )
        )

    for i in range(1, 6):
        batch(folder / f"data_batch_{i}", n_per_batch)
    batch(folder / "test_batch", n_test)
    (folder / "batches.meta").write_bytes(
        pickle.dumps({b"label_names": [f"c{i}".encode() for i in range(10)]}, protocol=2)
    )


def test_cifar10_from_the_users_disk(capsys, monkeypatch, tmp_path, rng):
    import finite_expressivity.cli as cli

    monkeypatch.setattr(cli, "_COMMANDS", ("finite_expressivity.section5.kernel_cli",))
    _write_cifar(tmp_path / "cifar-10-batches-py", rng)
    code = cli.main(
        ["kernel", "--dataset", "cifar10", "--data-dir", str(tmp_path), "--json", "--quiet"]
    )
    r = json.loads(capsys.readouterr().out)
    assert code == 0 and r["n_train"] == 60 and r["n_test"] == 20 and r["n_features"] == 3072
    assert r["train_error"] == 0.0 and r["bandwidth"] > 5.0  # the median rule, not MNIST's 5
