"""Fixtures for the kernel tests: backends, and a small synthetic image dataset."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from finite_expressivity.data import ImageDataset


def _kernel_backends():
    out = [pytest.param(("numpy", "cpu"), id="numpy")]
    if importlib.util.find_spec("torch") is not None:
        out.append(pytest.param(("torch", "cpu"), id="torch-cpu"))
        out.append(pytest.param(("torch", "cuda"), id="torch-cuda", marks=pytest.mark.gpu))
    out.append(pytest.param(("cupy", "cuda"), id="cupy", marks=pytest.mark.gpu))
    return out


@pytest.fixture(params=_kernel_backends())
def kbackend(request):
    """A :class:`finite_expressivity.section5.backend.Backend` (GPU ones skip without CUDA)."""
    from finite_expressivity.section5.backend import get_backend

    name, device = request.param
    try:
        return get_backend(name, device)
    except ValueError as exc:
        pytest.skip(str(exc))


def blob_images(n, rng, templates, *, noise=60):
    """uint8 images (n, 1, s, s): a class template (one row of ``templates``) plus noise."""
    n_classes, pixels = templates.shape
    side = int(round(pixels**0.5))
    labels = rng.integers(0, n_classes, size=n)
    x = templates[labels] + rng.normal(0, noise, size=(n, pixels))
    return np.clip(np.rint(x), 0, 255).astype(np.uint8).reshape(n, 1, side, side), labels


@pytest.fixture
def blobs():
    """:func:`blob_images`, for tests that build their own datasets."""
    return blob_images


@pytest.fixture
def tiny_dataset(rng):
    """An ImageDataset of 300 train and 200 test 8x8 images in 3 classes."""
    templates = rng.integers(0, 256, size=(3, 64))
    tr, ytr = blob_images(300, rng, templates)
    te, yte = blob_images(200, rng, templates)
    return ImageDataset(
        name="blobs",
        n_classes=3,
        train_images=tr,
        train_labels=ytr,
        test_images=te,
        test_labels=yte,
        sha256="synthetic",
    )


@pytest.fixture(autouse=True, scope="session")
def _probe_cache(tmp_path_factory):
    """Probe results (machine rates, code paths) go to a session folder, not the home cache."""
    import os

    before = os.environ.get("FE_PROBE_DIR")
    os.environ["FE_PROBE_DIR"] = str(tmp_path_factory.mktemp("probes"))
    yield
    if before is None:
        os.environ.pop("FE_PROBE_DIR", None)
    else:
        os.environ["FE_PROBE_DIR"] = before
