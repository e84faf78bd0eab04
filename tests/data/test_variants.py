"""The paper's randomizations (Section 2) on real MNIST and on synthetic data."""

from __future__ import annotations

import numpy as np
import pytest

from finite_expressivity.data import VARIANTS, ImageDataset, make_variant
from finite_expressivity.data.variants import (
    channel_stats,
    corrupt_labels,
    random_pixels,
    shuffle_pixels,
)


def _synthetic(n_train=300, n_test=100, c=3, h=16, w=16, k=10, seed=0):
    rng = np.random.default_rng(seed)
    lo = np.array([10, 60, 120])[:c, None, None]  # distinct per-channel statistics
    train = (lo + rng.integers(0, 100, (n_train, c, h, w))).astype(np.uint8)
    test = (lo + rng.integers(0, 100, (n_test, c, h, w))).astype(np.uint8)
    return ImageDataset(
        name="synthetic",
        n_classes=k,
        train_images=train,
        train_labels=rng.integers(0, k, n_train),
        test_images=test,
        test_labels=rng.integers(0, k, n_test),
        sha256="0" * 64,
    )


@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 0.8, 1.0])
def test_corrupt_fraction_on_mnist(mnist, p):
    v = make_variant(mnist, "corrupt", p=p, seed=7)
    assert v.train_labels.dtype == np.int64 and v.changed.dtype == bool
    assert abs(v.changed.mean() - 0.9 * p) <= 0.01
    np.testing.assert_array_equal(v.changed, v.train_labels != mnist.train_labels)
    np.testing.assert_array_equal(v.test_labels, mnist.test_labels)  # test set stays clean
    assert v.test_changed is None and v.permutation is None
    if p == 1.0:
        counts = np.bincount(v.train_labels, minlength=10) / v.train_labels.size
        assert np.all(np.abs(counts - 0.1) < 0.01)  # uniform over all classes


def test_true_images_are_uint8_over_255(mnist):
    v = make_variant(mnist.head(500, 100), "true", seed=3)
    assert v.train_images.dtype == np.float32 and v.train_images.shape == (500, 1, 28, 28)
    want = (mnist.train_images[:500].astype(np.float64) / 255).astype(np.float32)
    np.testing.assert_array_equal(v.train_images, want)
    assert not v.changed.any()


def test_nested_corruption_and_always_change():
    ds = _synthetic(n_train=20000, n_test=10, h=2, w=2)
    low = make_variant(ds, "corrupt", p=0.2, seed=1)
    high = make_variant(ds, "corrupt", p=0.5, seed=1)
    hit_low = low.train_labels != ds.train_labels
    assert np.all(high.train_labels[hit_low] == low.train_labels[hit_low])  # a superset
    always = make_variant(ds, "corrupt", p=0.5, seed=1, always_change=True)
    assert abs(always.changed.mean() - 0.5) <= 0.01
    full = make_variant(ds, "random-labels", seed=1, always_change=True)
    assert full.changed.all() and full.p == 1.0


def test_random_labels_is_corrupt_with_p_one_and_seeded(mnist):
    ds = mnist.head(5000, 1000)
    a = make_variant(ds, "random-labels", seed=11)
    b = make_variant(ds, "corrupt", p=1.0, seed=11)
    c = make_variant(ds, "random-labels", seed=12)
    np.testing.assert_array_equal(a.train_labels, b.train_labels)
    assert (a.train_labels != c.train_labels).mean() > 0.8
    np.testing.assert_array_equal(
        a.train_labels, make_variant(ds, "random-labels", seed=11).train_labels
    )


def test_corrupt_test_is_opt_in_and_independent(mnist):
    ds = mnist.head(4000, 4000)
    v = make_variant(ds, "corrupt", p=0.5, seed=2, corrupt_test=True)
    assert abs(v.test_changed.mean() - 0.45) < 0.03
    np.testing.assert_array_equal(v.test_changed, v.test_labels != ds.test_labels)
    assert not np.array_equal(v.test_changed, v.changed)  # its own stream


def test_shuffled_pixels_share_one_permutation(mnist):
    ds = mnist.head(3000, 1000)
    v = make_variant(ds, "shuffled-pixels", seed=5)
    perm = v.permutation
    assert perm.shape == (784,) and np.array_equal(np.sort(perm), np.arange(784))
    assert (perm != np.arange(784)).mean() > 0.9
    for got, src in ((v.train_images, ds.train_images), (v.test_images, ds.test_images)):
        want = src.reshape(len(src), 1, 784)[:, :, perm].astype(np.float64) / 255
        np.testing.assert_array_equal(got.reshape(len(src), 1, 784), want.astype(np.float32))
    np.testing.assert_array_equal(v.train_labels, ds.train_labels)


def test_shuffled_pixels_move_channels_together():
    ds = _synthetic(n_train=4, n_test=2)
    v = make_variant(ds, "shuffled-pixels", seed=0)
    src = ds.train_images.reshape(4, 3, -1).astype(np.float64) / 255
    got = v.train_images.reshape(4, 3, -1)
    for j in (0, 17, 255):  # each output pixel is one input pixel with all its channels
        np.testing.assert_array_equal(got[:, :, j], src[:, :, v.permutation[j]].astype(np.float32))


def test_random_pixels_each_image_its_own_permutation():
    # every image is the same 16x16 image with pixel values 0..255 all distinct, so an
    # output image's values are exactly the permutation that made it
    base = np.arange(256, dtype=np.uint8).reshape(1, 1, 16, 16)
    ds = ImageDataset(
        name="ids",
        n_classes=2,
        train_images=np.repeat(base, 50, 0),
        train_labels=np.zeros(50, np.int64),
        test_images=np.repeat(base, 20, 0),
        test_labels=np.ones(20, np.int64),
        sha256="0" * 64,
    )
    v = make_variant(ds, "random-pixels", seed=9)
    perms = np.rint(np.concatenate([v.train_images, v.test_images]).reshape(70, 256) * 255)
    assert np.all(np.sort(perms, axis=1) == np.arange(256))  # each is a permutation
    assert len({p.tobytes() for p in perms}) == 70  # all different, train and test
    assert v.permutation is None
    again = make_variant(ds, "random-pixels", seed=9)
    np.testing.assert_array_equal(again.train_images, v.train_images)


def test_random_pixels_function_keeps_channels_and_values():
    x = _synthetic(n_train=30, n_test=1).train_images
    out, perms = random_pixels(x, np.random.default_rng(0))
    assert out.dtype == np.uint8 and perms.shape == (30, 256)
    for n in (0, 29):
        np.testing.assert_array_equal(out[n], shuffle_pixels(x[n : n + 1], perms[n])[0])
    assert not np.array_equal(perms[0], perms[1])


def test_gaussian_matches_mnist_moments(mnist):
    v = make_variant(mnist, "gaussian", seed=4)
    mean, var = channel_stats(mnist.train_images)
    mean, var = mean / 255, var / 255**2
    for x in (v.train_images, v.test_images):
        m, s = channel_stats(x)
        np.testing.assert_allclose(m, mean, rtol=0.01)
        np.testing.assert_allclose(s, var, rtol=0.01)
    assert v.train_images.dtype == np.float32 and v.train_images.shape == mnist.train_images.shape


def test_gaussian_per_channel_and_normal():
    ds = _synthetic(n_train=2000, n_test=200, h=32, w=32)
    v = make_variant(ds, "gaussian", seed=0)
    mean, var = channel_stats(ds.train_images)
    m, s = channel_stats(v.train_images)
    np.testing.assert_allclose(m, mean / 255, rtol=0.01)
    np.testing.assert_allclose(s, var / 255**2, rtol=0.01)
    z = (v.train_images[:, 1].astype(np.float64) - m[1]) / np.sqrt(s[1])
    assert abs(np.mean(np.abs(z) < 1) - 0.6827) < 0.005  # Gaussian, not uniform


def test_pixel_variants_compose_with_label_corruption(mnist):
    ds = mnist.head(3000, 500)
    a = make_variant(ds, "shuffled-pixels", p=0.5, seed=8)
    b = make_variant(ds, "corrupt", p=0.5, seed=8)
    np.testing.assert_array_equal(a.train_labels, b.train_labels)
    assert a.changed.any()


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(variant="nope"), "variant must be one of"),
        (dict(variant="corrupt", p=1.5), r"p must be in \[0, 1\]"),
        (dict(variant="corrupt", p=float("nan")), r"p must be in \[0, 1\]"),
        (dict(variant="true", p=0.3), "use variant='corrupt'"),
        (dict(variant="random-labels", p=0.3), "fixes p = 1"),
        (dict(variant="corrupt", seed=-1), "seed must be"),
    ],
)
def test_bad_arguments_are_one_line(kwargs, match):
    ds = _synthetic(n_train=4, n_test=2)
    with pytest.raises(ValueError, match=match) as exc:
        make_variant(ds, **kwargs)
    assert "\n" not in str(exc.value)


def test_corrupt_labels_checks_range():
    with pytest.raises(ValueError, match="labels must lie in 0..9"):
        corrupt_labels(np.array([0, 10]), 10, 0.5, np.random.default_rng(0))


def test_all_variants_listed():
    assert VARIANTS == (
        "true",
        "corrupt",
        "random-labels",
        "shuffled-pixels",
        "random-pixels",
        "gaussian",
    )
