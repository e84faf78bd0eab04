"""The paper's randomizations of a dataset (Section 2), as seeded, composable transforms.

``make_variant(ds, variant, p=..., seed=...)`` returns float32 images in ``[0, 1]``
(``uint8 / 255``; Gaussian noise is real-valued) and int64 labels:

==================  ==================================================================
``true``            the data as it is
``corrupt``         each train label, independently with probability ``p``, replaced
                    by a class drawn uniformly from all ``K`` classes (so a fraction
                    ``p (K-1)/K`` actually changes, 0.9p for 10 classes); with
                    ``always_change=True`` drawn from the other ``K-1`` classes
                    (a fraction ``p`` changes)
``random-labels``   ``corrupt`` with ``p = 1``
``shuffled-pixels`` one random permutation of the ``H*W`` pixel positions, shared by
                    every train and test image; the channels of a pixel move together
                    (a pixel keeps its colour), as in the paper's "permutation of the
                    pixels"
``random-pixels``   an independent permutation of the ``H*W`` positions for each
                    image, train and test
``gaussian``        every train and test image replaced by Gaussian noise with the
                    training set's per-channel mean and variance
==================  ==================================================================

The pixel variants take ``p`` too: their labels are then corrupted on top, so the
transforms compose (``p = 0``, the default, keeps the true labels).

Choices worth knowing
---------------------
* **The test set is clean by default.** Test labels are only corrupted with
  ``corrupt_test=True`` (the first author's code corrupts them silently; the paper's
  Figure 1c measures test error against the true labels).
* **Nested corruption.** For one seed, the uniform draw that decides whether label
  ``i`` is corrupted and its replacement class do not depend on ``p``: the labels
  corrupted at ``p = 0.2`` are a subset of those at ``p = 0.5``, with the same new
  classes, so a sweep over ``p`` varies only the amount of noise.
* **Device independence.** All randomness is drawn on the host with numpy's
  ``Generator`` (PCG64) from ``SeedSequence(seed)``, one child stream per purpose
  (train labels, test labels, pixels), so the same seed gives the same data whatever
  device later trains on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .image_dataset import ImageDataset

__all__ = [
    "VARIANTS",
    "VariantData",
    "make_variant",
    "corrupt_labels",
    "shuffle_pixels",
    "random_pixels",
    "gaussian_like",
    "channel_stats",
]

VARIANTS = ("true", "corrupt", "random-labels", "shuffled-pixels", "random-pixels", "gaussian")
_PIXEL_VARIANTS = ("shuffled-pixels", "random-pixels", "gaussian")
_CHUNK = 8192  # images per vectorized random block; fixed, so draws never depend on memory
_BUDGET = 1 << 24  # float64 values per block in the statistics (128 MiB)


@dataclass(frozen=True)
class VariantData:
    """A randomized dataset, ready for a model.

    Attributes
    ----------
    name, variant : str
        Dataset and variant names.
    p : float
        Label-corruption probability actually used (1.0 for ``random-labels``).
    seed : int
    n_classes : int
    train_images : numpy.ndarray of float32, shape (N, C, H, W)
        ``uint8 / 255`` (Gaussian: real-valued noise).
    train_labels : numpy.ndarray of int64, shape (N,)
    test_images : numpy.ndarray of float32, shape (M, C, H, W)
    test_labels : numpy.ndarray of int64, shape (M,)
        The true test labels unless ``corrupt_test``.
    changed : numpy.ndarray of bool, shape (N,)
        Which train labels differ from the true ones.
    permutation : numpy.ndarray of int64, shape (H*W,), or None
        ``shuffled-pixels``: the permutation shared by train and test; pixel ``j`` of
        the output (row-major over ``H*W``) is pixel ``permutation[j]`` of the input.
    always_change, corrupt_test : bool
        The options used.
    test_changed : numpy.ndarray of bool, shape (M,), or None
        With ``corrupt_test``: which test labels differ from the true ones.
    """

    name: str
    variant: str
    p: float
    seed: int
    n_classes: int
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    changed: np.ndarray
    permutation: np.ndarray | None
    always_change: bool = False
    corrupt_test: bool = False
    test_changed: np.ndarray | None = None


def _check_p(p) -> float:
    try:
        p = float(p)
    except (TypeError, ValueError):
        raise TypeError(f"p must be a number in [0, 1], got {p!r}") from None
    if not 0.0 <= p <= 1.0:  # also rejects nan
        raise ValueError(
            f"p must be in [0, 1], got {p}; it is the probability that a label is replaced"
        )
    return p


def corrupt_labels(
    labels, n_classes: int, p: float, rng: np.random.Generator, *, always_change: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Replace each label, independently with probability ``p``, by a random class.

    Parameters
    ----------
    labels : array_like of int, shape (N,)
    n_classes : int
        ``K``; labels must lie in ``0..K-1``.
    p : float in [0, 1]
    rng : numpy.random.Generator
    always_change : bool
        Draw the replacement from the other ``K-1`` classes instead of all ``K``.

    Returns
    -------
    new_labels : numpy.ndarray of int64, shape (N,)
    changed : numpy.ndarray of bool, shape (N,)
        ``new_labels != labels``.

    Notes
    -----
    Draws ``N`` uniforms (corrupt iff ``u < p``) then ``N`` class offsets, whatever
    ``p`` is: for a fixed ``rng`` state, a larger ``p`` corrupts a superset.
    """
    p = _check_p(p)
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    if not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
        raise ValueError(f"n_classes must be an int >= 2, got {n_classes!r}")
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"labels must lie in 0..{n_classes - 1}, got range "
            f"{labels.min()}..{labels.max()}; pass the dataset's n_classes"
        )
    hit = rng.random(labels.size) < p
    if always_change:
        new = (labels + 1 + rng.integers(0, n_classes - 1, labels.size)) % n_classes
    else:
        new = rng.integers(0, n_classes, labels.size)
    out = np.where(hit, new, labels)
    return out, out != labels


def _as_images(images, arg="images") -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"{arg} must be 4-D (N, C, H, W), got shape {images.shape}")
    return images


def shuffle_pixels(images, permutation) -> np.ndarray:
    """Apply one permutation of the ``H*W`` pixel positions to every image.

    Parameters
    ----------
    images : numpy.ndarray, shape (N, C, H, W)
    permutation : numpy.ndarray of int, shape (H*W,)

    Returns
    -------
    numpy.ndarray, same shape and dtype: ``out[n, c].ravel()[j] = images[n, c].ravel()[permutation[j]]``.
    """
    images = _as_images(images)
    n, c, h, w = images.shape
    permutation = np.asarray(permutation)
    if permutation.shape != (h * w,) or not np.array_equal(np.sort(permutation), np.arange(h * w)):
        raise ValueError(
            f"permutation must be a permutation of 0..{h * w - 1} (H*W), got shape "
            f"{permutation.shape}"
        )
    return images.reshape(n, c, h * w)[:, :, permutation].reshape(images.shape)


def random_pixels(images, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Permute the ``H*W`` pixel positions of each image independently.

    Returns
    -------
    out : numpy.ndarray, same shape and dtype as ``images``
    permutations : numpy.ndarray of int32, shape (N, H*W)
        Row ``n`` is the permutation applied to image ``n`` (as in :func:`shuffle_pixels`).
    """
    images = _as_images(images)
    n, c, h, w = images.shape
    flat = images.reshape(n, c, h * w)
    out = np.empty_like(flat)
    perms = np.empty((n, h * w), dtype=np.int32)
    base = np.arange(h * w, dtype=np.int32)
    for s in range(0, n, _CHUNK):  # blocks of images, each permuted row-wise in C
        block = np.broadcast_to(base, (min(_CHUNK, n - s), h * w))
        perms[s : s + _CHUNK] = rng.permuted(block, axis=1)
        out[s : s + _CHUNK] = np.take_along_axis(
            flat[s : s + _CHUNK], perms[s : s + _CHUNK, None, :], axis=2
        )
    return out.reshape(images.shape), perms


def channel_stats(images) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and (population) variance over images and pixels, in float64.

    Parameters
    ----------
    images : array_like, shape (N, C, H, W)

    Returns
    -------
    mean, var : numpy.ndarray of float64, shape (C,)
    """
    images = _as_images(images)
    c = images.shape[1]
    count = images.shape[0] * images.shape[2] * images.shape[3]
    if count == 0:
        return np.full(c, np.nan), np.full(c, np.nan)
    step = max(1, _BUDGET // max(1, images[0].size))
    total = np.zeros(c)
    for s in range(0, images.shape[0], step):
        total += images[s : s + step].sum(axis=(0, 2, 3), dtype=np.float64)
    mean = total / count
    sq = np.zeros(c)
    for s in range(0, images.shape[0], step):  # two passes: no cancellation
        d = images[s : s + step].astype(np.float64) - mean[:, None, None]
        sq += np.einsum("nchw,nchw->c", d, d)
    return mean, sq / count


def gaussian_like(shape, mean, var, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise, float32 ``shape`` ``(N, C, H, W)``, channel ``c`` ~ N(mean[c], var[c])."""
    out = np.empty(shape, dtype=np.float32)
    mean = np.asarray(mean, dtype=np.float64)
    std = np.sqrt(np.asarray(var, dtype=np.float64))
    if mean.shape != (shape[1],) or std.shape != (shape[1],):
        raise ValueError(
            f"mean and var must have one entry per channel ({shape[1]}), got "
            f"shapes {mean.shape} and {std.shape}"
        )
    for s in range(0, shape[0], _CHUNK):
        block = out[s : s + _CHUNK]
        rng.standard_normal(out=block, dtype=np.float32)
        block *= std.astype(np.float32)[:, None, None]
        block += mean.astype(np.float32)[:, None, None]
    return out


def _to_unit(images: np.ndarray) -> np.ndarray:
    out = np.empty(images.shape, dtype=np.float32)
    for s in range(0, images.shape[0], _CHUNK):
        np.divide(
            images[s : s + _CHUNK], np.float32(255), out=out[s : s + _CHUNK], dtype=np.float32
        )
    return out


def _check_variant(ds, variant, p, seed) -> float:
    """Every argument of :func:`make_variant` checked; returns the effective ``p``."""
    if not isinstance(ds, ImageDataset):
        raise TypeError(
            f"ds must be an ImageDataset (from finite_expressivity.data.load), got "
            f"{type(ds).__name__}"
        )
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {list(VARIANTS)}, got {variant!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    p = _check_p(p)
    if variant == "true" and p != 0.0:
        raise ValueError(
            f"variant 'true' keeps the labels, so p must be 0, got p={p}; use variant='corrupt'"
        )
    if variant == "random-labels":
        if p not in (0.0, 1.0):
            raise ValueError(
                f"variant 'random-labels' fixes p = 1, got p={p}; use "
                f"variant='corrupt' for partial corruption"
            )
        p = 1.0
    if ds.train_images.dtype != np.uint8 or ds.test_images.dtype != np.uint8:
        raise TypeError(
            f"ds images must be uint8, got {ds.train_images.dtype} and {ds.test_images.dtype}"
        )
    return p


def _variant_pixels(variant, train_x, test_x, rng):
    """Train and test images of ``variant`` in [0, 1] (Gaussian: real), and the shared
    permutation of ``shuffled-pixels`` (else None)."""
    if variant == "shuffled-pixels":
        h, w = train_x.shape[2:]
        perm = rng.permutation(h * w).astype(np.int64)
        return _to_unit(shuffle_pixels(train_x, perm)), _to_unit(shuffle_pixels(test_x, perm)), perm
    if variant == "random-pixels":
        train, test = (_to_unit(random_pixels(x, rng)[0]) for x in (train_x, test_x))
        return train, test, None
    if variant == "gaussian":
        mean, var = channel_stats(train_x)
        mean, var = mean / 255.0, var / 255.0**2
        return (
            gaussian_like(train_x.shape, mean, var, rng),
            gaussian_like(test_x.shape, mean, var, rng),
            None,
        )
    return _to_unit(train_x), _to_unit(test_x), None


def make_variant(
    ds: ImageDataset,
    variant: str,
    *,
    p: float = 0.0,
    seed: int = 0,
    always_change: bool = False,
    corrupt_test: bool = False,
) -> VariantData:
    """Build one of the paper's randomized datasets.

    Parameters
    ----------
    ds : ImageDataset
        uint8 images ``(N, C, H, W)`` and labels.
    variant : {"true", "corrupt", "random-labels", "shuffled-pixels", "random-pixels", "gaussian"}
    p : float in [0, 1]
        Label-corruption probability: required for ``corrupt``, must be 0 for
        ``true`` and 0 or 1 for ``random-labels`` (which uses 1); the pixel variants
        corrupt their labels with it too (default 0: true labels).
    seed : int
        Seeds every random draw (see the module notes); same seed, same data.
    always_change : bool
        Replacement labels drawn from the other classes, so every corrupted label
        changes (the paper draws from all classes: False).
    corrupt_test : bool
        Also corrupt the test labels, with an independent stream. Default False:
        the test set keeps its true labels.

    Returns
    -------
    VariantData
    """
    p = _check_variant(ds, variant, p, seed)
    ss = np.random.SeedSequence(int(seed))
    labels_rng, test_labels_rng, pixels_rng = (
        np.random.Generator(np.random.PCG64(s)) for s in ss.spawn(3)
    )
    k = ds.n_classes
    train_y, changed = corrupt_labels(
        ds.train_labels, k, p, labels_rng, always_change=always_change
    )
    test_y, test_changed = np.asarray(ds.test_labels, dtype=np.int64).copy(), None
    if corrupt_test:
        test_y, test_changed = corrupt_labels(
            ds.test_labels, k, p, test_labels_rng, always_change=always_change
        )
    train, test, permutation = _variant_pixels(variant, ds.train_images, ds.test_images, pixels_rng)
    return VariantData(
        name=ds.name,
        variant=variant,
        p=p,
        seed=int(seed),
        n_classes=k,
        train_images=train,
        train_labels=train_y,
        test_images=test,
        test_labels=test_y,
        changed=changed,
        permutation=permutation,
        always_change=bool(always_change),
        corrupt_test=bool(corrupt_test),
        test_changed=test_changed,
    )
