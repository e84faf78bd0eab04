"""Appendix A preprocessing against float64 references, and the Table 1 augmentations."""

from __future__ import annotations

import numpy as np
import pytest

from finite_expressivity.data import augment, preprocess
from finite_expressivity.data.preprocess import center_crop, whiten

torch = pytest.importorskip("torch")


def _whiten_reference(x):
    """Straight from the paper, one image at a time, float64."""
    out = np.empty(x.shape)
    for i, img in enumerate(x.astype(np.float64)):
        n = img.size
        out[i] = (img - img.mean()) / max(img.std(), 1 / np.sqrt(n))
    return out


def test_whitening_matches_float64_reference():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.01, 1.0, (37, 3, 28, 28)) * rng.uniform(0.1, 3, (37, 1, 1, 1))
    got = whiten(x)
    assert got.dtype == np.float32 and got.shape == x.shape
    np.testing.assert_allclose(got, _whiten_reference(x), rtol=1e-6, atol=1e-6)
    flat = got.reshape(37, -1).astype(np.float64)
    np.testing.assert_allclose(flat.mean(1), 0, atol=1e-6)
    np.testing.assert_allclose(flat.std(1), 1, rtol=1e-5)


def test_whitening_floor_on_flat_images():
    x = np.full((2, 3, 28, 28), 0.37)
    x[1, 0, 0, 0] += 1e-4  # std far below 1/sqrt(N): the floor divides
    got = whiten(x)
    np.testing.assert_allclose(got[0], 0, atol=1e-12)
    np.testing.assert_allclose(got[1], _whiten_reference(x)[1], rtol=1e-6, atol=1e-9)


def test_preprocess_cifar_shape_crop_and_uint8_scale(cifar10_pixels):
    images, _ = cifar10_pixels
    got = preprocess(images)
    assert got.shape == (20, 3, 28, 28) and got.dtype == np.float32
    ref = _whiten_reference(images[:, :, 2:30, 2:30].astype(np.float64) / 255)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    unwhitened = preprocess(images, whiten=False)
    np.testing.assert_array_equal(unwhitened, (images[:, :, 2:30, 2:30] / 255).astype(np.float32))
    assert preprocess(images, crop=None, whiten=False).shape == (20, 3, 32, 32)


def test_mnist_sized_data_is_not_cropped(mnist):
    x = mnist.train_images[:50]
    assert center_crop(x, 28) is x
    got = preprocess(x)
    assert got.shape == (50, 1, 28, 28)
    np.testing.assert_allclose(got, _whiten_reference(x / 255.0), rtol=1e-5, atol=1e-5)


def test_preprocess_errors():
    with pytest.raises(ValueError, match="4-D"):
        preprocess(np.zeros((3, 32, 32)))
    with pytest.raises(ValueError, match="crop=30 does not fit"):
        preprocess(np.ones((1, 3, 32, 20)), crop=30)


def _x(n=16, c=3, h=32, w=32, seed=0):
    return np.random.default_rng(seed).uniform(0.1, 1, (n, c, h, w)).astype(np.float32)


def test_augment_random_crop_takes_windows():
    x = _x()
    out = augment(
        x, rng=np.random.default_rng(1), random_crop=True, flip=False, rotate_degrees=0, size=28
    )
    assert isinstance(out, np.ndarray) and out.shape == (16, 3, 28, 28)
    rng = np.random.default_rng(1)
    tops, lefts = rng.integers(0, 5, 16), rng.integers(0, 5, 16)
    for i in range(16):
        np.testing.assert_array_equal(
            out[i], x[i, :, tops[i] : tops[i] + 28, lefts[i] : lefts[i] + 28]
        )
    assert len({(t, l) for t, l in zip(tops, lefts)}) > 1


def test_augment_pad_crop_at_same_size_and_flip():
    x = torch.from_numpy(_x(h=8, w=8))
    out = augment(
        x, rng=np.random.default_rng(2), random_crop=True, flip=False, rotate_degrees=0, pad=2
    )
    assert isinstance(out, torch.Tensor) and out.shape == x.shape
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (2, 2), (2, 2)))
    rng = np.random.default_rng(2)
    tops, lefts = rng.integers(0, 5, 16), rng.integers(0, 5, 16)
    for i in range(16):
        np.testing.assert_array_equal(
            out[i].numpy(), padded[i, :, tops[i] : tops[i] + 8, lefts[i] : lefts[i] + 8]
        )
    flipped = augment(
        x, rng=np.random.default_rng(3), random_crop=False, flip=True, rotate_degrees=0
    ).numpy()
    same = [np.array_equal(f, o) for f, o in zip(flipped, x.numpy())]
    mirrored = [np.array_equal(f, o[..., ::-1]) for f, o in zip(flipped, x.numpy())]
    assert all(s or m for s, m in zip(same, mirrored)) and any(same) and any(mirrored)


def test_augment_rotation():
    x = _x(n=4, h=12, w=12)
    ident = augment(
        x, rng=np.random.default_rng(0), random_crop=False, flip=False, rotate_degrees=0
    )
    np.testing.assert_array_equal(ident, x)

    class Fixed(np.random.Generator):  # draws exactly 90 degrees: a quarter turn
        def uniform(self, low, high, size):  # noqa: ARG002 - signature of Generator
            return np.full(size, 90.0)

    out = augment(
        x, rng=Fixed(np.random.PCG64(0)), random_crop=False, flip=False, rotate_degrees=90
    )
    quarter = [np.rot90(x, k, axes=(2, 3)) for k in (1, -1)]
    assert min(np.abs(out - q).max() for q in quarter) < 1e-5
    small = augment(
        x, rng=np.random.default_rng(5), random_crop=False, flip=False, rotate_degrees=10
    )
    assert small.shape == x.shape and not np.array_equal(small, x)


def test_augment_is_seeded():
    x = torch.from_numpy(_x())
    kw = dict(random_crop=True, flip=True, rotate_degrees=5, size=28)
    a = augment(x, rng=np.random.default_rng(7), **kw)
    b = augment(x, rng=np.random.default_rng(7), **kw)
    assert torch.equal(a, b)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        augment(x, rng=7, **kw)
