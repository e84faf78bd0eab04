"""CIFAR-10/100 readers on small files written in exactly the official python format."""

from __future__ import annotations

import io
import pickle
import tarfile

import numpy as np
import pytest

from finite_expressivity.data import DataError, load, load_cifar
from finite_expressivity.data.cifar import locate_cifar


def _one_line(exc) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_cifar10_official_folder_loads(tmp_path, cifar10_pixels, write_cifar10):
    images, labels = cifar10_pixels
    write_cifar10(tmp_path, images, labels)
    ds = load_cifar("cifar10", tmp_path / "cifar-10-batches-py")
    assert ds.train_images.shape == (15, 3, 32, 32) and ds.train_images.dtype == np.uint8
    assert ds.test_images.shape == (5, 3, 32, 32)
    assert ds.train_labels.dtype == np.int64 and ds.n_classes == 10 and ds.name == "cifar10"
    np.testing.assert_array_equal(ds.train_images, images[:15])
    np.testing.assert_array_equal(ds.test_images, images[15:])
    np.testing.assert_array_equal(ds.train_labels, labels[:15])
    np.testing.assert_array_equal(ds.test_labels, labels[15:])
    assert ds.classes[0] == "airplane" and len(ds.classes) == 10
    assert len(ds.sha256) == 64


def test_cifar10_row_layout_is_rgb_planes(tmp_path, cifar10_pixels, write_cifar10):
    """Row = 1024 red values, then green, then blue, each row-major: check one pixel."""
    images, labels = cifar10_pixels
    folder = write_cifar10(tmp_path, images, labels)
    with open(folder / "data_batch_1", "rb") as f:
        row = pickle.load(f, encoding="latin1")["data"][1]
    ds = load("cifar10", tmp_path)
    y, x = 5, 17
    assert [row[c * 1024 + y * 32 + x] for c in range(3)] == list(ds.train_images[1, :, y, x])


def test_parent_folder_default_path_and_tarball(
    tmp_path, monkeypatch, cifar10_pixels, write_cifar10
):
    images, labels = cifar10_pixels
    folder = write_cifar10(tmp_path / "torchvision", images, labels)
    by_parent = load("cifar10", tmp_path / "torchvision")  # as torchvision leaves it
    monkeypatch.setenv("FE_DATA_DIR", str(tmp_path / "torchvision"))
    by_default = load("cifar10")  # the cache folder
    np.testing.assert_array_equal(by_parent.train_images, by_default.train_images)
    # the official .tar.gz alone, read without unpacking
    tgz = tmp_path / "only-tar" / "cifar-10-python.tar.gz"
    tgz.parent.mkdir()
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    assert locate_cifar("cifar10", tgz.parent) == tgz
    by_tar = load("cifar10", tgz.parent)
    np.testing.assert_array_equal(by_tar.test_labels, by_parent.test_labels)
    np.testing.assert_array_equal(by_tar.train_images, by_parent.train_images)
    assert by_tar.sha256 == by_parent.sha256


def test_python3_resaved_pickles_load(tmp_path, cifar10_pixels):
    """Batches re-saved by Python 3 (bytes keys, protocol 4) read the same."""
    images, labels = cifar10_pixels
    out = tmp_path / "cifar-10-batches-py"
    out.mkdir()
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for i, name in enumerate(names):
        sl = slice(3 * i, 3 * i + 3) if i < 5 else slice(15, 20)
        out.joinpath(name).write_bytes(
            pickle.dumps(
                {b"data": images[sl].reshape(-1, 3072), b"labels": labels[sl].tolist()}, protocol=4
            )
        )
    ds = load_cifar("cifar10", tmp_path)
    np.testing.assert_array_equal(ds.train_images, images[:15])
    assert ds.classes is None  # no batches.meta: not an error


def test_cifar100_fine_labels(tmp_path, cifar100_pixels, write_cifar100):
    images, labels = cifar100_pixels
    write_cifar100(tmp_path, images, labels)
    ds = load("cifar100", tmp_path)
    assert ds.n_classes == 100 and ds.train_images.shape == (15, 3, 32, 32)
    np.testing.assert_array_equal(ds.train_labels, labels[:15])
    np.testing.assert_array_equal(ds.test_images, images[15:])
    assert ds.classes[99] == "class99"


def test_missing_batch_names_the_file(tmp_path, cifar10_pixels, write_cifar10):
    images, labels = cifar10_pixels
    folder = write_cifar10(tmp_path, images, labels)
    (folder / "data_batch_3").unlink()
    with pytest.raises(DataError) as exc:
        load("cifar10", tmp_path)
    msg = _one_line(exc)
    assert str(folder / "data_batch_3") in msg and "cifar-10-python.tar.gz" in msg


@pytest.mark.parametrize("member", ["data_batch_2", "test_batch"])
def test_truncated_batch_names_the_file(tmp_path, cifar10_pixels, write_cifar10, member):
    images, labels = cifar10_pixels
    folder = write_cifar10(tmp_path, images, labels)
    raw = (folder / member).read_bytes()
    (folder / member).write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError) as exc:
        load("cifar10", tmp_path)
    msg = _one_line(exc)
    assert str(folder / member) in msg and "truncated" in msg


def test_truncated_tarball_is_one_line(tmp_path, cifar10_pixels, write_cifar10):
    images, labels = cifar10_pixels
    folder = write_cifar10(tmp_path / "src", images, labels)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    tgz = tmp_path / "dl" / "cifar-10-python.tar.gz"
    tgz.parent.mkdir()
    tgz.write_bytes(buf.getvalue()[: len(buf.getvalue()) * 2 // 3])
    with pytest.raises(DataError) as exc:
        load("cifar10", tgz.parent)
    assert str(tgz) in _one_line(exc)


def test_no_data_at_all_says_where_and_how(tmp_path):
    with pytest.raises(DataError) as exc:
        load("cifar10", tmp_path)
    msg = _one_line(exc)
    assert str(tmp_path / "cifar-10-batches-py" / "data_batch_1") in msg
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in msg
    with pytest.raises(DataError) as exc:
        load("cifar100", tmp_path / "nowhere")
    assert "does not exist" in _one_line(exc)


def test_malformed_batch_and_code_in_pickle_rejected(
    tmp_path, cifar10_pixels, write_cifar10, py2_pickle
):
    images, labels = cifar10_pixels
    folder = write_cifar10(tmp_path, images, labels)
    (folder / "data_batch_4").write_bytes(
        py2_pickle({"data": np.zeros((3, 100), np.uint8), "labels": [0, 1, 2]})
    )
    with pytest.raises(DataError) as exc:
        load("cifar10", tmp_path)
    assert "data_batch_4" in _one_line(exc) and "(n, 3072)" in str(exc.value)
    (folder / "data_batch_4").write_bytes(pickle.dumps({"data": print}, protocol=2))
    with pytest.raises(DataError) as exc:  # a pickle naming a callable is refused
        load("cifar10", tmp_path)
    assert "refusing" in _one_line(exc)
