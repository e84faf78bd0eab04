"""Feature maps: the Gabor filter bank, its FFT convolutions, random convolutional features."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from finite_expressivity.section5.features import (
    gabor_features,
    gabor_filter_bank,  # noqa: E402
    make_features,
    random_conv_features,
    random_filters,
    raw_features,
)


def test_filter_bank_properties():
    psi, phi = gabor_filter_bank(21, J=2, L=8)
    assert psi.shape == (2, 8, 21, 21) and phi.shape == (21, 21)
    np.testing.assert_allclose(np.abs(psi.sum(axis=(-2, -1))), 0, atol=1e-12)  # zero mean
    np.testing.assert_allclose(np.abs(psi).sum(axis=(-2, -1)), 1.0)  # unit l1 norm
    assert phi.sum() == pytest.approx(1.0) and phi.min() > 0
    # orientation l + L/2 is the rotation by 90 degrees of orientation l
    np.testing.assert_allclose(np.abs(psi[0, 4]), np.abs(np.rot90(psi[0, 0])), atol=1e-12)
    with pytest.raises(ValueError, match="odd"):
        gabor_filter_bank(20, 2, 8)


def _direct(images, J, L):
    """Order-1 features by direct convolution in float64 (the reference)."""
    import torch.nn.functional as fn

    size = 2 * int(math.ceil(3 * 0.8 * 2**J)) + 1
    psi, phi = gabor_filter_bank(size, J, L)
    pad = size // 2
    x = torch.as_tensor(images).double() / 255
    n, c, H, W = x.shape
    x = x.reshape(n * c, 1, H, W)
    w = np.concatenate(
        [psi.real.reshape(J * L, 1, size, size), psi.imag.reshape(J * L, 1, size, size)]
    )[:, :, ::-1, ::-1].copy()
    z = fn.conv2d(fn.pad(x, (pad,) * 4), torch.as_tensor(w))
    u1 = torch.sqrt(z[:, : J * L] ** 2 + z[:, J * L :] ** 2)

    def lp(t):
        k = t.shape[1]
        t = fn.conv2d(
            fn.pad(t.reshape(-1, 1, H, W), (pad,) * 4),
            torch.as_tensor(phi[None, None]),
            stride=2**J,
        )
        return t.reshape(n, c * k, -1)

    return torch.cat([lp(x), lp(u1)], 1).reshape(n, -1).numpy()


@pytest.mark.parametrize("shape", [(5, 1, 12, 12), (3, 3, 10, 9)])
def test_gabor_fft_equals_direct_convolution(rng, shape):
    images = rng.integers(0, 256, size=shape).astype(np.uint8)
    got = gabor_features(images, J=2, L=4, device="cpu", batch=2)
    ref = _direct(images, 2, 4)
    assert got.dtype == np.float32 and got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=2e-6 * np.abs(ref).max())


def test_gabor_order2_shape_and_translation_stability(rng):
    images = np.zeros((2, 1, 16, 16), dtype=np.uint8)
    images[0, 0, 5:9, 5:9] = 200
    images[1, 0, 6:10, 5:9] = 200  # shifted by one pixel
    f = gabor_features(images, J=2, L=4, order=2, device="cpu")
    assert f.shape == (2, (1 + 2 * 4 + 4 * 4) * 4 * 4)
    f1 = gabor_features(images, J=2, L=4, order=1, device="cpu")
    np.testing.assert_allclose(f[:, : f1.shape[1]], f1, atol=1e-6)
    # low-passed moduli change little under a small shift, raw pixels change a lot
    rel_feat = np.linalg.norm(f[0] - f[1]) / np.linalg.norm(f[0])
    rel_pix = np.linalg.norm(images[0].astype(float) - images[1]) / np.linalg.norm(images[0])
    assert rel_feat < 0.5 * rel_pix


def test_random_conv_features_are_seeded_and_shaped(rng):
    images = rng.integers(0, 256, size=(6, 3, 12, 12)).astype(np.uint8)
    a = random_conv_features(
        images,
        n_filters=10,
        size=3,
        pool=2,
        rng=np.random.default_rng(5),
        device="cpu",
        filter_batch=4,
    )
    b = random_conv_features(
        images, n_filters=10, size=3, pool=2, rng=np.random.default_rng(5), device="cpu"
    )
    assert a.shape == (6, 40) and a.dtype == np.float32 and (a >= 0).all()
    np.testing.assert_allclose(a, b, rtol=1e-6)
    w = random_filters(7, 3, 5, np.random.default_rng(0))
    np.testing.assert_allclose(np.linalg.norm(w.reshape(7, -1), axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(w.reshape(7, -1).mean(1), 0.0, atol=1e-7)


def test_make_features_and_errors(rng):
    tr = rng.integers(0, 256, size=(4, 1, 8, 8)).astype(np.uint8)
    a, b, s = make_features("raw", tr, tr, rng=rng)
    assert a.dtype == np.uint8 and a.shape == (4, 64) and s == pytest.approx(1 / 255)
    with pytest.raises(ValueError, match="features must be one of"):
        make_features("sift", tr, tr, rng=rng)
    with pytest.raises(TypeError, match="uint8"):
        raw_features(tr.astype(np.float32))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        raw_features(tr[:, 0])
