"""What every dataset is: :class:`ImageDataset`; what goes wrong: :class:`DataError`;
where datasets live: :func:`cache_dir`."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DataError", "ImageDataset", "cache_dir", "sha256_file"]


class DataError(RuntimeError):
    """A dataset is missing, corrupt, or cannot be fetched (one-line message)."""


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

    def head(self, n_train: int, n_test: int | None = None) -> ImageDataset:
        """The first ``n_train`` training and ``n_test`` test images (views, no copy).

        ``n_test`` defaults to ``n_train``; pass 0 for no test images.
        """
        for arg, v in (("n_train", n_train), ("n_test", n_test)):
            if v is not None and (not isinstance(v, (int, np.integer)) or v < 0):
                raise ValueError(f"{arg} must be a non-negative int, got {v!r}")
        n_test = n_train if n_test is None else n_test
        return ImageDataset(
            name=self.name,
            n_classes=self.n_classes,
            train_images=self.train_images[:n_train],
            train_labels=self.train_labels[:n_train],
            test_images=self.test_images[:n_test],
            test_labels=self.test_labels[:n_test],
            sha256=self.sha256,
            pixel_scale=self.pixel_scale,
            classes=self.classes,
        )


def cache_dir(path=None) -> Path:
    """Resolve the cache folder: argument, then ``$FE_DATA_DIR``, then ``~/.cache``."""
    if path is None:
        path = os.environ.get("FE_DATA_DIR") or Path.home() / ".cache" / "finite-expressivity"
    return Path(path).expanduser()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
