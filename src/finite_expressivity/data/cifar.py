"""CIFAR-10 and CIFAR-100 read from a user's disk, in the official python format.

The official "CIFAR-10 python version" unpacks to ``cifar-10-batches-py/`` holding
``data_batch_1`` .. ``data_batch_5``, ``test_batch`` and ``batches.meta``; CIFAR-100
unpacks to ``cifar-100-python/`` holding ``train``, ``test`` and ``meta``. Each batch is
a pickle of a dict whose ``data`` entry is a uint8 array ``(n, 3072)``: one image per
row, the 1024 red values first, then green, then blue, each plane row-major. Labels
are ``labels`` (CIFAR-10) or ``fine_labels`` (CIFAR-100).

The folder given may be the batch folder itself or any folder that holds it (as
torchvision leaves it, next to the downloaded ``.tar.gz``); when only the official
``.tar.gz`` is there, it is read in place without unpacking.

The pickles are read with a restricted unpickler that only builds numpy arrays,
lists, dicts and strings: a batch file cannot run code.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .image_dataset import DataError, ImageDataset, cache_dir, sha256_file

__all__ = ["CIFAR", "load_cifar", "locate_cifar", "cifar_cache_info"]

_URL = "https://www.cs.toronto.edu/~kriz/"


@dataclass(frozen=True)
class _Layout:
    name: str
    folder: str  # the official batch folder's name
    tarball: str  # the official archive's name
    train: tuple
    test: tuple
    label_key: str
    meta: str
    names_key: str
    n_classes: int

    def how_to_get(self, where) -> str:
        return (
            f"download {_URL}{self.tarball} and unpack it (tar xzf) into {where}, or pass "
            f"the folder that holds {self.folder}/ (--path DIR)"
        )


CIFAR = {
    "cifar10": _Layout(
        "cifar10",
        "cifar-10-batches-py",
        "cifar-10-python.tar.gz",
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        ("test_batch",),
        "labels",
        "batches.meta",
        "label_names",
        10,
    ),
    "cifar100": _Layout(
        "cifar100",
        "cifar-100-python",
        "cifar-100-python.tar.gz",
        ("train",),
        ("test",),
        "fine_labels",
        "meta",
        "fine_label_names",
        100,
    ),
}


def _numpy_reconstruct():
    core = getattr(np, "_core", None) or np.core  # numpy 2 renamed numpy.core
    return core.multiarray._reconstruct, core.multiarray.scalar


class _SafeUnpickler(pickle.Unpickler):
    """Unpickler that can only rebuild numpy arrays (and plain containers)."""

    def find_class(self, module, name):
        reconstruct, scalar = _numpy_reconstruct()
        allowed = {
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
            ("_codecs", "encode"): __import__("codecs").encode,
        }
        for core in ("numpy.core.multiarray", "numpy._core.multiarray"):
            allowed[(core, "_reconstruct")] = reconstruct
            allowed[(core, "scalar")] = scalar
        try:
            return allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}") from None


def _key(k):
    return k.decode("latin1") if isinstance(k, bytes) else k


def locate_cifar(name: str = "cifar10", path=None):
    """Find a CIFAR dataset on disk.

    Parameters
    ----------
    name : {"cifar10", "cifar100"}
    path : str or Path, optional
        The batch folder itself, a folder holding it (or holding the official
        ``.tar.gz``). Defaults to the cache folder (:func:`cache_dir`).

    Returns
    -------
    Path
        The batch folder, or the ``.tar.gz`` when only that is present.

    Raises
    ------
    DataError
        When neither is there; the message says what was expected where.
    """
    layout = _layout(name)
    root = cache_dir(path) if path is None else Path(path).expanduser()
    if root.is_file() and root.name.endswith((".tar.gz", ".tgz")):
        return root
    candidates = [root, root / layout.folder]
    for folder in candidates:
        if folder.is_dir() and any((folder / f).exists() for f in layout.train + layout.test):
            return folder
    if (root / layout.tarball).is_file():
        return root / layout.tarball
    if not root.exists():
        raise DataError(f"{name}: folder {root} does not exist; {layout.how_to_get(root)}")
    raise DataError(
        f"{name}: expected {root / layout.folder}/{layout.train[0]} (or "
        f"{root / layout.tarball}); {layout.how_to_get(root)}"
    )


def _layout(name):
    try:
        return CIFAR[name]
    except KeyError:
        raise ValueError(f"name must be one of {sorted(CIFAR)}, got {name!r}") from None


class _Reader:
    """Reads batch files from a folder or from the official tarball."""

    def __init__(self, layout, where: Path):
        self.layout, self.where = layout, where
        self.tar = None
        if where.is_file():
            try:
                self.tar = tarfile.open(where, "r:gz")
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise DataError(
                    f"{layout.name}: {where} is truncated or corrupt "
                    f"({type(exc).__name__}: {exc}); download it again"
                ) from None

    def path(self, member) -> str:
        if self.tar is None:
            return str(self.where / member)
        return f"{self.where}:{self.layout.folder}/{member}"

    def read(self, member, required=True):
        if self.tar is None:
            file = self.where / member
            if not file.is_file():
                if not required:
                    return None
                raise DataError(
                    f"{self.layout.name}: missing batch file {file}; "
                    f"{self.layout.how_to_get(self.where.parent)}"
                )
            return file.read_bytes()
        try:
            f = self.tar.extractfile(f"{self.layout.folder}/{member}")
        except KeyError:
            f = None
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise DataError(
                f"{self.layout.name}: {self.where} is truncated or corrupt "
                f"({type(exc).__name__}: {exc}); download it again"
            ) from None
        if f is None:
            if not required:
                return None
            raise DataError(
                f"{self.layout.name}: {self.where} lacks {self.layout.folder}/{member}; "
                f"download {_URL}{self.layout.tarball} again"
            )
        try:
            return f.read()
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise DataError(
                f"{self.layout.name}: {self.path(member)} is truncated or corrupt "
                f"({type(exc).__name__}: {exc}); download it again"
            ) from None

    def close(self):
        if self.tar is not None:
            self.tar.close()


def _unpickle(raw: bytes, where: str, name: str) -> dict:
    try:
        obj = _SafeUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except Exception as exc:  # truncated files raise EOFError, UnpicklingError, ValueError...
        msg = " ".join(str(exc).split()) or "no detail"
        raise DataError(
            f"{name}: batch file {where} is truncated or corrupt "
            f"({type(exc).__name__}: {msg}); download it again"
        ) from None
    if not isinstance(obj, dict):
        raise DataError(f"{name}: batch file {where} holds a {type(obj).__name__}, expected a dict")
    return {_key(k): v for k, v in obj.items()}


def _batch(reader: _Reader, member: str):
    layout = reader.layout
    where = reader.path(member)
    raw = reader.read(member)
    d = _unpickle(raw, where, layout.name)
    if "data" not in d or layout.label_key not in d:
        raise DataError(
            f"{layout.name}: batch file {where} lacks 'data' or {layout.label_key!r} "
            f"(has {sorted(d)})"
        )
    data = np.asarray(d["data"])
    labels = np.asarray(d[layout.label_key], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(
            f"{layout.name}: batch file {where} has data of {data.dtype} {data.shape}, "
            f"expected uint8 (n, 3072); download it again"
        )
    if labels.shape != (data.shape[0],):
        raise DataError(
            f"{layout.name}: batch file {where} has {data.shape[0]} images but "
            f"{labels.size} labels; download it again"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= layout.n_classes):
        raise DataError(
            f"{layout.name}: batch file {where} has labels outside 0..{layout.n_classes - 1}"
        )
    return data.reshape(-1, 3, 32, 32), labels, hashlib.sha256(raw).hexdigest()


def load_cifar(name: str = "cifar10", path=None) -> ImageDataset:
    """Read CIFAR-10 or CIFAR-100 from the official python batches.

    Parameters
    ----------
    name : {"cifar10", "cifar100"}
    path : str or Path, optional
        Where the data is: see :func:`locate_cifar`.

    Returns
    -------
    ImageDataset
        ``train_images`` uint8 ``(50000, 3, 32, 32)``, ``test_images`` uint8
        ``(10000, 3, 32, 32)`` (fewer for smaller files), int64 labels (CIFAR-100: the
        fine labels), ``classes`` from the meta file when present, and ``sha256``: the
        sha256 of the concatenated sha256 sums of the batch files, in read order.

    Raises
    ------
    DataError
        One line naming the file that is missing, truncated or malformed.
    """
    layout = _layout(name)
    reader = _Reader(layout, locate_cifar(name, path))
    try:
        parts = {
            split: [_batch(reader, m) for m in members]
            for split, members in (("train", layout.train), ("test", layout.test))
        }
        classes = None
        meta_raw = reader.read(layout.meta, required=False)
        if meta_raw is not None:
            meta = _unpickle(meta_raw, reader.path(layout.meta), name)
            names = meta.get(layout.names_key)
            if names is not None and len(names) == layout.n_classes:
                classes = tuple(_key(n) for n in names)
    finally:
        reader.close()
    digest = hashlib.sha256(
        "".join(h for split in ("train", "test") for _, _, h in parts[split]).encode()
    ).hexdigest()

    def cat(split, i):
        return np.ascontiguousarray(np.concatenate([b[i] for b in parts[split]]))

    return ImageDataset(
        name=name,
        n_classes=layout.n_classes,
        train_images=cat("train", 0),
        train_labels=cat("train", 1),
        test_images=cat("test", 0),
        test_labels=cat("test", 1),
        sha256=digest,
        pixel_scale=255.0,
        classes=classes,
    )


def cifar_cache_info(name: str, path=None) -> dict:
    """Where the batches of ``name`` were found (or are expected) and their checksum."""
    layout = _layout(name)
    root = cache_dir(path)
    info = {
        "name": name,
        "path": str(root / layout.folder),
        "cached": False,
        "bytes": None,
        "sha256": None,
    }
    try:
        where = locate_cifar(name, root)
    except DataError:
        return info
    files = [where] if where.is_file() else [where / m for m in layout.train + layout.test]
    if not all(f.is_file() for f in files):
        return info
    digests = "".join(sha256_file(f) for f in files)
    info.update(
        path=str(where),
        cached=True,
        bytes=sum(f.stat().st_size for f in files),
        sha256=hashlib.sha256(digests.encode()).hexdigest()
        if where.is_dir()
        else sha256_file(where),
    )
    return info
