"""Fixed feature maps for the kernel experiments: raw pixels, Gabor wavelets, random convolutions.

* :func:`raw_features`: pixels flattened, kept as uint8 with ``scale = 1/255`` so
  kernel distances are exact integers.
* :func:`gabor_features`: a Gabor (Morlet) wavelet transform in the manner of a
  scattering transform (Bruna & Mallat, 2013): ``J`` scales and ``L``
  orientations of complex Gabor filters, modulus, then a Gaussian low-pass of
  width ``2^J`` and subsampling by ``2^J``; optionally a second layer of wavelet
  modulus on the first (``order=2``). The paper says only "a Gabor wavelet
  transform" (after Bruna & Mallat); these choices are ours.
* :func:`random_conv_features`: ``n_filters`` random unit-norm ``k x k`` filters
  (zero-mean Gaussian, seeded), ReLU, average pooling to a ``pool x pool`` grid
  (Coates & Ng style), as in the paper's CIFAR-10 random-feature kernel.

All three take uint8 images ``(N, C, H, W)`` and work in batches with torch
(CPU or CUDA); filters are built in NumPy float64 from a seed.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "FEATURES",
    "raw_features",
    "gabor_filter_bank",
    "gabor_features",
    "random_filters",
    "random_conv_features",
    "make_features",
]

FEATURES = ("raw", "gabor", "random-conv")


def _check_images(images):
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            f"images must have shape (N, C, H, W), got {images.shape}; add a "
            f"channel axis with images[:, None]"
        )
    if images.dtype != np.uint8:
        raise TypeError(f"images must be uint8 (0..255), got {images.dtype}")
    return images


def raw_features(images) -> tuple[np.ndarray, float]:
    """Flattened pixels as uint8 and the scale (1/255) that maps them to [0, 1]."""
    images = _check_images(images)
    return images.reshape(len(images), -1), 1.0 / 255.0


def gabor_filter_bank(size: int, J: int, L: int) -> tuple[np.ndarray, np.ndarray]:
    """Complex Gabor (Morlet) wavelets and a Gaussian low-pass, in float64.

    Parameters
    ----------
    size : int
        Odd side of the square support.
    J : int
        Scales ``j = 0 .. J-1``: envelope ``sigma = 0.8 * 2^j``, frequency
        ``xi = 3 pi / 4 / 2^j``, elongation ``4 / L`` across the oscillation.
    L : int
        Orientations ``theta = pi l / L``.

    Returns
    -------
    psi : numpy.ndarray, complex128, shape (J, L, size, size)
        Zero-mean wavelets (a Morlet correction removes the DC term), each of
        unit l1 norm.
    phi : numpy.ndarray, float64, shape (size, size)
        Gaussian low-pass of ``sigma = 0.8 * 2^J``, summing to 1.
    """
    if size % 2 != 1:
        raise ValueError(f"size must be odd, got {size}")
    r = size // 2
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float64)
    psi = np.empty((J, L, size, size), dtype=np.complex128)
    slant = 4.0 / L
    for j in range(J):
        sigma = 0.8 * 2**j
        xi = 3.0 * np.pi / 4.0 / 2**j
        for l in range(L):
            th = np.pi * l / L
            u = np.cos(th) * xx + np.sin(th) * yy
            v = -np.sin(th) * xx + np.cos(th) * yy
            env = np.exp(-(u**2 + (slant * v) ** 2) / (2 * sigma**2))
            wave = np.exp(1j * xi * u)
            g = env * wave
            g = g - env * (g.sum() / env.sum())  # Morlet: remove the mean
            psi[j, l] = g / np.abs(g).sum()
    sigma = 0.8 * 2**J
    phi = np.exp(-(xx**2 + yy**2) / (2 * sigma**2))
    return psi, phi / phi.sum()


def _torch():
    try:
        import torch  # noqa: PLC0415 - optional
    except ImportError:
        raise ValueError(
            "Gabor and random-conv features need torch; pip install "
            "'finite-expressivity[torch]' or use features='raw'"
        ) from None
    return torch


def _torch_device(device):
    """``device`` (None: "auto") as a torch.device; CUDA asked for where there is none is
    a ValueError that says so."""
    from ..core.devices import torch_device  # noqa: PLC0415

    _torch()  # the install hint when torch is missing
    return torch_device("auto" if device is None else device)


def _embed(filters: np.ndarray, P: int) -> np.ndarray:
    """Filters ``(..., s, s)`` centred at the origin of a ``P x P`` periodic grid."""
    s = filters.shape[-1]
    r = s // 2
    out = np.zeros(filters.shape[:-2] + (P, P), dtype=filters.dtype)
    out[..., :s, :s] = filters
    return np.roll(out, (-r, -r), axis=(-2, -1))


def gabor_features(
    images,
    *,
    J: int = 2,
    L: int = 8,
    order: int = 1,
    batch: int = 1024,
    device="auto",
    progress=None,
) -> np.ndarray:
    """Gabor wavelet-modulus features, low-passed and subsampled by ``2^J``.

    Convolutions are products in the Fourier domain on a zero-padded grid large
    enough that the periodic convolution equals the linear one ("same" output).

    Parameters
    ----------
    images : numpy.ndarray of uint8, shape (N, C, H, W)
    J, L : int
        Scales and orientations (see :func:`gabor_filter_bank`).
    order : {1, 2}
        1: ``[x * phi, |x * psi_{j,l}| * phi]``; 2 adds
        ``||x * psi_{j1,l1}| * psi_{j2,l2}| * phi`` for ``j2 > j1``.
    batch : int
        Images per batch.
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    progress : callable, optional
        ``progress(done, N)``.

    Returns
    -------
    numpy.ndarray of float32, shape (N, F)
        ``F = C * (1 + J L [+ L^2 J (J-1) / 2]) * ceil(H / 2^J) * ceil(W / 2^J)``,
        computed from pixels in [0, 1].
    """
    torch = _torch()
    images = _check_images(images)
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    if J < 1 or L < 1:
        raise ValueError(f"J and L must be >= 1, got J={J}, L={L}")
    dev = _torch_device(device)
    size = 2 * int(math.ceil(3 * 0.8 * 2**J)) + 1
    psi, phi = gabor_filter_bank(size, J, L)
    n, c, H, W = images.shape
    P = max(H, W) + size - 1
    psi_hat = torch.as_tensor(
        np.fft.fft2(_embed(psi.reshape(J * L, size, size), P)), dtype=torch.complex64, device=dev
    )  # (JL, P, P)
    phi_hat = torch.as_tensor(np.fft.fft2(_embed(phi, P)), dtype=torch.complex64, device=dev)
    step = 2**J

    def conv(z_hat, f_hat):  # periodic convolution, cropped to the image frame
        return torch.fft.ifft2(z_hat * f_hat)[..., :H, :W]

    def lowpass(z):  # (B, K, H, W) real -> (B, K, ceil(H/step), ceil(W/step))
        zp = torch.zeros(z.shape[:-2] + (P, P), dtype=z.dtype, device=dev)
        zp[..., :H, :W] = z
        return conv(torch.fft.fft2(zp), phi_hat).real[..., ::step, ::step]

    out = None
    with torch.no_grad():
        for b0 in range(0, n, batch):
            x = torch.as_tensor(images[b0 : b0 + batch], device=dev).float().div_(255.0)
            b = x.shape[0]
            xp = torch.zeros((b, c, P, P), device=dev)
            xp[..., :H, :W] = x
            x_hat = torch.fft.fft2(xp)  # (b, c, P, P)
            u1 = conv(x_hat[:, :, None], psi_hat).abs()  # (b, c, JL, H, W)
            parts = [lowpass(x), lowpass(u1.reshape(b, c * J * L, H, W))]
            if order == 2 and J > 1:
                u1p = torch.zeros((b, c, J * L, P, P), device=dev)
                u1p[..., :H, :W] = u1
                u1_hat = torch.fft.fft2(u1p).reshape(b, c, J, L, P, P)
                psi_j = psi_hat.reshape(J, L, P, P)
                for j1 in range(J - 1):
                    for j2 in range(j1 + 1, J):
                        u2 = conv(u1_hat[:, :, j1, :, None], psi_j[j2]).abs()  # (b,c,L,L,H,W)
                        parts.append(lowpass(u2.reshape(b, c * L * L, H, W)))
            f = torch.cat([p_.reshape(b, -1) for p_ in parts], 1)
            if out is None:
                out = np.empty((n, f.shape[1]), dtype=np.float32)
            out[b0 : b0 + b] = f.cpu().numpy()
            if progress is not None:
                progress(min(b0 + batch, n), n)
    return out


def random_filters(
    n_filters: int, channels: int, size: int, rng: np.random.Generator
) -> np.ndarray:
    """``n_filters`` zero-mean, unit-norm Gaussian filters ``(F, C, size, size)``, float32."""
    if n_filters < 1 or size < 1:
        raise ValueError(f"n_filters and size must be >= 1, got {n_filters} and {size}")
    w = rng.standard_normal((n_filters, channels, size, size))
    w -= w.mean(axis=(1, 2, 3), keepdims=True)
    w /= np.linalg.norm(w.reshape(n_filters, -1), axis=1)[:, None, None, None]
    return w.astype(np.float32)


def random_conv_features(
    images,
    *,
    n_filters: int = 1024,
    size: int = 5,
    pool: int = 2,
    rng: np.random.Generator,
    batch: int = 512,
    filter_batch: int = 4096,
    device="auto",
    progress=None,
) -> np.ndarray:
    """Random convolutional features: random filters, ReLU, average pooling.

    Parameters
    ----------
    images : numpy.ndarray of uint8, shape (N, C, H, W)
    n_filters : int
        Number of random filters (the paper used 32,000 on CIFAR-10).
    size : int
        Filter side.
    pool : int
        Each map is average-pooled to ``pool x pool`` cells.
    rng : numpy.random.Generator
        Draws the filters.
    batch, filter_batch : int
        Images and filters per convolution call.
    device : str
    progress : callable, optional

    Returns
    -------
    numpy.ndarray of float32, shape (N, n_filters * pool * pool)
        Computed on per-image standardized pixels ``(x - mean) / std``, scaled by
        ``1 / sqrt(n_filters)`` so squared distances stay of order one.
    """
    torch = _torch()
    import torch.nn.functional as fn  # noqa: PLC0415

    images = _check_images(images)
    dev = _torch_device(device)
    n, c = images.shape[:2]
    w = torch.as_tensor(random_filters(n_filters, c, size, rng), device=dev)
    out = np.empty((n, n_filters * pool * pool), dtype=np.float32)
    scale = 1.0 / math.sqrt(n_filters)
    with torch.no_grad():
        for b0 in range(0, n, batch):
            x = torch.as_tensor(images[b0 : b0 + batch], device=dev).float()
            flat = x.reshape(len(x), -1)
            x = (x - flat.mean(1)[:, None, None, None]) / flat.std(1).clamp_min(1.0)[
                :, None, None, None
            ]
            cols = []
            for f0 in range(0, n_filters, filter_batch):
                z = torch.relu(fn.conv2d(x, w[f0 : f0 + filter_batch]))
                cols.append(fn.adaptive_avg_pool2d(z, pool).reshape(len(x), -1))
            out[b0 : b0 + len(x)] = (torch.cat(cols, 1) * scale).cpu().numpy()
            if progress is not None:
                progress(min(b0 + batch, n), n)
    return out


def make_features(
    kind: str,
    train_images,
    test_images,
    *,
    rng: np.random.Generator,
    device="auto",
    progress=None,
    **options,
):
    """Features of train and test images for ``kind`` in :data:`FEATURES`.

    Returns
    -------
    train, test : numpy.ndarray, shape (N, F)
    scale : float
        Multiply the features by this for the kernel (1/255 for raw uint8).
    """
    if kind not in FEATURES:
        raise ValueError(f"features must be one of {FEATURES}, got {kind!r}")
    if kind == "raw":
        tr, s = raw_features(train_images)
        te, _ = raw_features(test_images)
        return tr, te, s
    if kind == "gabor":
        opts = {k: options[k] for k in ("J", "L", "order") if k in options}
        tr = gabor_features(train_images, device=device, progress=progress, **opts)
        te = gabor_features(test_images, device=device, **opts)
        return tr, te, 1.0
    opts = {k: options[k] for k in ("n_filters", "size", "pool") if k in options}
    filt_seed = int(rng.integers(2**63))
    tr = random_conv_features(
        train_images, rng=np.random.default_rng(filt_seed), device=device, progress=progress, **opts
    )
    te = random_conv_features(
        test_images, rng=np.random.default_rng(filt_seed), device=device, **opts
    )
    return tr, te, 1.0
