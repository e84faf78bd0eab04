"""Image-folder trees (one folder per class), PNG and JPEG through PIL."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from finite_expressivity.data import DataError, load, load_image_folder


def _tree(root, images, labels, classes, ext=".png"):
    for i, (img, lab) in enumerate(zip(images, labels)):
        folder = root / classes[lab]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img.transpose(1, 2, 0)).save(folder / f"{i:03d}{ext}")


def test_train_val_tree_png_exact(tmp_path, cifar10_pixels):
    images, _ = cifar10_pixels
    labels = np.arange(20) % 10  # every test class also has training images
    classes = ["zebra", "apple", "mango", "kiwi", "fig", "lime", "pear", "plum", "date", "yam"]
    _tree(tmp_path / "train", images[:15], labels[:15], classes)
    _tree(tmp_path / "val", images[15:], labels[15:], classes)
    ds = load(str(tmp_path))
    present = sorted({classes[i] for i in labels[:15]})
    assert ds.classes == tuple(present) and ds.n_classes == len(present)
    assert ds.train_images.shape == (15, 3, 32, 32) and ds.test_images.shape == (5, 3, 32, 32)
    # labels follow sorted class names; PNG is lossless so pixels round-trip exactly
    got = {(ds.classes[lab], img.tobytes()) for img, lab in zip(ds.train_images, ds.train_labels)}
    want = {(classes[lab], img.tobytes()) for img, lab in zip(images[:15], labels[:15])}
    assert got == want
    assert ds.train_labels.dtype == np.int64 and len(ds.sha256) == 64


def test_flat_tree_jpeg_gray_and_resize(tmp_path):
    rng = np.random.default_rng(3)
    imgs = rng.integers(1, 256, (6, 3, 40, 48), dtype=np.uint8)
    _tree(tmp_path / "set", imgs, [0, 1, 0, 1, 0, 1], ["a", "b"], ext=".jpg")
    ds = load_image_folder(tmp_path / "set", size=24, mode="L")
    assert ds.train_images.shape == (6, 1, 24, 24) and ds.test_images.shape == (0, 1, 24, 24)
    np.testing.assert_array_equal(ds.train_labels, [0, 0, 0, 1, 1, 1])


def test_mixed_sizes_and_missing_folder_are_one_line(tmp_path):
    rng = np.random.default_rng(4)
    _tree(tmp_path / "t", rng.integers(0, 256, (1, 3, 8, 8), dtype=np.uint8), [0], ["a"])
    _tree(tmp_path / "t", rng.integers(0, 256, (1, 3, 9, 8), dtype=np.uint8), [0], ["b"])
    with pytest.raises(DataError, match="pass size=S") as exc:
        load_image_folder(tmp_path / "t")
    assert "\n" not in str(exc.value)
    with pytest.raises(DataError, match="does not exist"):
        load_image_folder(tmp_path / "absent")
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(DataError, match="holds no images"):
        load_image_folder(tmp_path / "empty")
    (tmp_path / "bad" / "cls").mkdir(parents=True)
    (tmp_path / "bad" / "cls" / "x.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="unreadable"):
        load_image_folder(tmp_path / "bad")
