"""Image-folder trees (one folder per class), the layout ImageNet-style data comes in.

Two layouts are read::

    ROOT/train/<class>/*.{jpg,jpeg,png,...}     ROOT/<class>/*.png
    ROOT/val/<class>/...  (or test/)

The first gives a train and a test split (no ``val``/``test`` folder: an empty test
set); the second is all training data with an empty test set. Classes are the sorted folder names of the training split (label i is
the i-th name, as torchvision's ``ImageFolder`` does). Everything is decoded into
memory as one uint8 array, so this is for subsets that fit in RAM, not all of ImageNet.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .image_dataset import DataError, ImageDataset

__all__ = ["IMAGE_EXTENSIONS", "load_image_folder"]

IMAGE_EXTENSIONS = (
    ".jpg",
    ".jpeg",
    ".png",
    ".bmp",
    ".gif",
    ".ppm",
    ".pgm",
    ".tif",
    ".tiff",
    ".webp",
)
_TEST_NAMES = ("val", "test")


def _files(split: Path, classes=None):
    found = sorted(d.name for d in split.iterdir() if d.is_dir() and not d.name.startswith("."))
    if classes is None:
        classes = found
        if not classes:
            raise DataError(
                f"image folder {split} has no class subfolders; expected "
                f"{split}/<class>/<image>.png, one folder per class"
            )
    else:
        extra = sorted(set(found) - set(classes))
        if extra:
            raise DataError(
                f"image folder {split} has classes {extra} that the training split "
                f"lacks; give every test class a training folder"
            )
    files, labels = [], []
    for label, cls in enumerate(classes):
        folder = split / cls
        if not folder.is_dir():
            continue
        these = sorted(
            f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS
        )
        if not these and split.name not in _TEST_NAMES:
            raise DataError(
                f"class folder {folder} holds no images ({', '.join(IMAGE_EXTENSIONS)})"
                f"; add images or remove the folder"
            )
        files += these
        labels += [label] * len(these)
    return classes, files, np.asarray(labels, dtype=np.int64)


def _decode(files, mode: str, size, h: hashlib._Hash):
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415 - only needed here

    out, first = None, None
    for i, f in enumerate(files):
        raw = f.read_bytes()
        h.update(hashlib.sha256(raw).digest())
        try:
            with Image.open(f) as img:
                img = img.convert(mode)
                if size is not None:
                    img = _resize_center_crop(img, size)
                arr = np.asarray(img, dtype=np.uint8)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise DataError(
                f"image {f} is unreadable ({type(exc).__name__}: "
                f"{' '.join(str(exc).split())}); remove or replace it"
            ) from None
        arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
        if out is None:
            first = f
            out = np.empty((len(files),) + arr.shape, dtype=np.uint8)
        elif arr.shape != out.shape[1:]:
            raise DataError(
                f"images differ in size: {first} is {out.shape[3]}x{out.shape[2]}, "
                f"{f} is {arr.shape[2]}x{arr.shape[1]}; pass size=S to resize "
                f"and center-crop all to SxS"
            )
        out[i] = arr
    return out


def _resize_center_crop(img, size: int):
    from PIL import Image  # noqa: PLC0415

    w, h = img.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    img = img.resize((nw, nh), Image.BILINEAR)
    left, top = (nw - size) // 2, (nh - size) // 2
    return img.crop((left, top, left + size, top + size))


def load_image_folder(root, *, size: int | None = None, mode: str = "RGB") -> ImageDataset:
    """Read a class-per-folder image tree into an :class:`ImageDataset`.

    Parameters
    ----------
    root : str or Path
        ``ROOT/train/<class>/`` with ``ROOT/val/<class>/`` (or ``test``), or
        ``ROOT/<class>/`` alone (then the test set is empty).
    size : int, optional
        Resize each image so its shorter side is ``size``, then center-crop to
        ``size x size``. Without it all images must already share one size.
    mode : {"RGB", "L"}
        PIL mode every image is converted to: 3 channels or 1.

    Returns
    -------
    ImageDataset
        uint8 ``(N, C, H, W)`` images, int64 labels, ``classes`` the folder names and
        ``sha256`` a checksum of all image files read, in order.
    """
    root = Path(root).expanduser()
    if mode not in ("RGB", "L"):
        raise ValueError(f"mode must be 'RGB' or 'L', got {mode!r}")
    if size is not None and (not isinstance(size, (int, np.integer)) or size < 1):
        raise ValueError(f"size must be a positive int or None, got {size!r}")
    if not root.is_dir():
        raise DataError(
            f"image folder {root} does not exist; expected {root}/<class>/<image>.png "
            f"or {root}/train/<class>/... with {root}/val/<class>/..."
        )
    if (root / "train").is_dir():
        train_dir = root / "train"
        test_dir = next((root / t for t in _TEST_NAMES if (root / t).is_dir()), None)
    else:
        train_dir, test_dir = root, None
    classes, train_files, train_labels = _files(train_dir)
    test_files, test_labels = [], np.zeros(0, dtype=np.int64)
    if test_dir is not None:
        _, test_files, test_labels = _files(test_dir, classes)
    h = hashlib.sha256()
    train = _decode(train_files, mode, size, h)
    if test_files:
        test = _decode(test_files, mode, size, h)
        if test.shape[1:] != train.shape[1:]:
            raise DataError(
                f"test images in {test_dir} are {test.shape[1:]}, training images "
                f"{train.shape[1:]}; pass size=S to bring both to SxS"
            )
    else:
        test = np.zeros((0,) + train.shape[1:], dtype=np.uint8)
    return ImageDataset(
        name=root.name,
        n_classes=len(classes),
        train_images=train,
        train_labels=train_labels,
        test_images=test,
        test_labels=test_labels,
        sha256=h.hexdigest(),
        pixel_scale=255.0,
        classes=tuple(classes),
    )
