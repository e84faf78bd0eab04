"""The paper's preprocessing (Appendix A) and the Table 1 augmentations.

:func:`preprocess` is the fixed part: pixels to ``[0, 1]`` (uint8 input is divided by
255), center crop ``32x32 -> 28x28`` (images no larger than the crop, such as MNIST's
28x28, pass unchanged), then per-image whitening as TensorFlow's
``per_image_standardization``: ``(x - mean) / max(std, 1/sqrt(N))`` with mean and
(population) std over all ``N = C*H*W`` values of the image.

:func:`augment` is the random part used in Table 1's "crop" columns, applied per batch:
random crops (a random ``size x size`` window of a larger image, e.g. 28 of 32 in place
of the center crop; or, at equal sizes, a window of the image zero-padded by ``pad``),
horizontal flips and small rotations. Its randomness comes from a numpy ``Generator``
on the host, so results do not depend on the device the batch lives on.
"""

from __future__ import annotations

import numpy as np

__all__ = ["preprocess", "center_crop", "whiten", "whiten_batch", "augment"]

_BUDGET = 1 << 24  # float64 values per block (128 MiB)


def _check_images(images):
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            f"images must be 4-D (N, C, H, W), got shape {images.shape}; add a "
            f"leading axis for one image"
        )
    return images


def center_crop(images, crop: int | None = 28) -> np.ndarray:
    """Center ``crop x crop`` window of each image; images no larger pass unchanged.

    Parameters
    ----------
    images : numpy.ndarray, shape (N, C, H, W)
    crop : int or None

    Returns
    -------
    numpy.ndarray, shape (N, C, crop, crop) (a view), or ``images`` itself.
    """
    images = _check_images(images)
    if crop is None:
        return images
    if isinstance(crop, bool) or not isinstance(crop, (int, np.integer)) or crop < 1:
        raise ValueError(f"crop must be a positive int or None, got {crop!r}")
    h, w = images.shape[2:]
    if h <= crop and w <= crop:
        return images
    if h < crop or w < crop:
        raise ValueError(
            f"crop={crop} does not fit images of {h}x{w}; use crop=None or crop <= {min(h, w)}"
        )
    top, left = (h - crop) // 2, (w - crop) // 2
    return images[:, :, top : top + crop, left : left + crop]


def whiten(images) -> np.ndarray:
    """Per-image whitening ``(x - mean) / max(std, 1/sqrt(C*H*W))``, computed in float64.

    Parameters
    ----------
    images : numpy.ndarray, shape (N, C, H, W)
        uint8 (divided by 255 first, so the ``1/sqrt(N)`` floor acts on the
        ``[0, 1]`` scale) or float.

    Returns
    -------
    numpy.ndarray of float32, same shape.
    """
    images = _check_images(images)
    n = images.shape[0]
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    size = int(np.prod(images.shape[1:]))
    out = np.empty(images.shape, dtype=np.float32)
    step = max(1, _BUDGET // max(1, size))
    for s in range(0, n, step):
        x = images[s : s + step].reshape(-1, size).astype(np.float64)
        if scale != 1.0:
            x /= scale
        mean = x.mean(axis=1, keepdims=True)
        x -= mean
        std = np.sqrt(np.einsum("ij,ij->i", x, x) / size)[:, None]
        x /= np.maximum(std, 1.0 / np.sqrt(size))
        out[s : s + step] = x.reshape((-1,) + images.shape[1:])
    return out


def preprocess(images, *, crop: int | None = 28, whiten: bool = True) -> np.ndarray:
    """The paper's preprocessing: to ``[0, 1]``, center crop, per-image whitening.

    Parameters
    ----------
    images : numpy.ndarray, shape (N, C, H, W)
        uint8 (divided by 255 here) or float (used as is, e.g. a
        :class:`~finite_expressivity.data.variants.VariantData`'s images).
    crop : int or None
        Center-crop size for images larger than it (CIFAR's 32x32 -> 28x28); images
        of at most ``crop x crop`` (MNIST) and ``crop=None`` leave the size alone.
    whiten : bool
        Per-image whitening (see :func:`whiten`).

    Returns
    -------
    numpy.ndarray of float32, shape (N, C, crop, crop) (or (N, C, H, W) if not cropped).
    """
    images = _check_images(images)
    if not isinstance(whiten, (bool, np.bool_)):
        raise TypeError(f"whiten must be a bool, got {whiten!r}")
    x = center_crop(images, crop)
    if whiten:
        return _whiten(x)
    if x.dtype == np.uint8:
        return np.divide(x, np.float32(255), dtype=np.float32)
    return np.ascontiguousarray(x, dtype=np.float32)


_whiten = whiten  # preprocess's keyword shadows the function name


def whiten_batch(x):
    """:func:`whiten` for a torch batch on any device (float64 inside, dtype kept).

    Used after a random crop of images larger than the crop, so that training batches
    are cropped, then whitened, as the paper's pipeline (and the test set) are.
    """
    n = x.shape[0]
    flat = x.reshape(n, -1).double()
    size = flat.shape[1]
    flat = flat - flat.mean(dim=1, keepdim=True)
    std = (flat * flat).sum(dim=1, keepdim=True).div(size).sqrt()
    floor = 1.0 / np.sqrt(size)
    return (flat / std.clamp_min(floor)).to(x.dtype).reshape(x.shape)


def augment(
    images,
    *,
    rng: np.random.Generator,
    random_crop: bool,
    flip: bool,
    rotate_degrees: float,
    size: int | None = None,
    pad: int = 4,
):
    """Random crops, horizontal flips and rotations, one draw per image (Table 1).

    Parameters
    ----------
    images : torch.Tensor or numpy.ndarray, float, shape (N, C, H, W)
        On any device; the output stays there (numpy in, numpy out).
    rng : numpy.random.Generator
        Source of every random draw (on the host).
    random_crop : bool
        Take a random ``size x size`` window. If the images are larger than ``size``
        the window is inside the image (the paper's 28-of-32 crop); if equal, the
        image is first zero-padded by ``pad`` on each side.
    flip : bool
        Mirror each image left-right with probability 1/2.
    rotate_degrees : float
        Rotate each image by an angle uniform in ``[-rotate_degrees, rotate_degrees]``
        (bilinear, zeros outside); 0 disables it.
    size : int, optional
        Output size for ``random_crop`` (default: the input size). Without
        ``random_crop`` the images keep their size.
    pad : int
        Zero padding for a crop at the input size.

    Returns
    -------
    Same type, device and dtype as ``images``; shape (N, C, size, size) with
    ``random_crop``, else unchanged.
    """
    import torch  # noqa: PLC0415 - optional dependency

    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )
    rotate_degrees = float(rotate_degrees)
    if not (np.isfinite(rotate_degrees) and rotate_degrees >= 0):
        raise ValueError(f"rotate_degrees must be finite and >= 0, got {rotate_degrees}")
    as_numpy = isinstance(images, np.ndarray)
    x = torch.from_numpy(np.require(images, requirements=["C", "W"])) if as_numpy else images
    if x.ndim != 4:
        raise ValueError(f"images must be 4-D (N, C, H, W), got shape {tuple(x.shape)}")
    if not torch.is_floating_point(x):
        raise TypeError(f"images must be floating point, got {x.dtype}; preprocess them first")
    n, c, h, w = x.shape
    dev = x.device
    if random_crop:
        size = h if size is None else int(size)
        if size < 1 or size > h or size > w:
            raise ValueError(f"size must be in 1..{min(h, w)} for {h}x{w} images, got {size}")
        if size == h and size == w and pad > 0:
            x = torch.nn.functional.pad(x, (pad, pad, pad, pad))
            h, w = h + 2 * pad, w + 2 * pad
        top = torch.from_numpy(rng.integers(0, h - size + 1, n)).to(dev)
        left = torch.from_numpy(rng.integers(0, w - size + 1, n)).to(dev)
        ar = torch.arange(size, device=dev)
        rows = (top[:, None] + ar)[:, :, None]  # (n, size, 1)
        cols = (left[:, None] + ar)[:, None, :]  # (n, 1, size)
        x = x[torch.arange(n, device=dev)[:, None, None], :, rows, cols]  # (n, size, size, c)
        x = x.permute(0, 3, 1, 2).contiguous()
    elif size is not None and (size != h or size != w):
        raise ValueError(
            f"size={size} needs random_crop=True (images are {h}x{w}); crop them "
            f"with center_crop first"
        )
    if flip:
        mask = torch.from_numpy(rng.random(n) < 0.5).to(dev)
        x = torch.where(mask[:, None, None, None], x.flip(-1), x)
    if rotate_degrees > 0:
        theta = np.deg2rad(rng.uniform(-rotate_degrees, rotate_degrees, n))
        cos, sin = np.cos(theta), np.sin(theta)
        mat = np.zeros((n, 2, 3))
        mat[:, 0, 0], mat[:, 0, 1], mat[:, 1, 0], mat[:, 1, 1] = cos, -sin, sin, cos
        grid = torch.nn.functional.affine_grid(
            torch.from_numpy(mat).to(device=dev, dtype=x.dtype), list(x.shape), align_corners=False
        )
        x = torch.nn.functional.grid_sample(
            x, grid, mode="bilinear", padding_mode="zeros", align_corners=False
        )
    return x.numpy() if as_numpy else x
