"""A data loader that keeps the whole dataset on the device as one tensor.

Each epoch draws one permutation of ``0..N-1`` on the host (numpy, seeded by
``(seed, epoch)``), copies it to the device once, and serves batches as index
slices of it: no per-sample Python work, no collation, no worker processes. The
order depends only on ``seed`` and the epoch number, never on the device, so a run
on a GPU sees the same batches as one on the CPU.

On the CPU the gather is numpy's ``take`` into a fresh array, wrapped by
``torch.from_numpy`` without a copy: torch's own ``index_select`` starts its intra-op
thread pool for every small batch, which on a busy machine costs more than the copy.
"""

from __future__ import annotations

import numpy as np

from ..core.devices import torch_device

__all__ = ["DeviceLoader"]


class DeviceLoader:
    """Serve shuffled mini-batches from a dataset held on the device as one tensor.

    Parameters
    ----------
    images : numpy.ndarray or torch.Tensor, shape (N, ...)
        Copied to ``device`` once (dtype kept; e.g. float32 from
        :func:`~finite_expressivity.data.preprocess.preprocess`).
    labels : array_like of int, shape (N,)
        Stored as int64 on ``device``.
    batch_size : int
        Images per batch.
    device : str or torch.device
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA if present, else CPU).
    seed : int
        Epoch ``e`` visits the images in the order
        ``numpy.random.default_rng([seed, e]).permutation(N)``.
    drop_last : bool
        Drop the last batch if it is smaller than ``batch_size``.
    shuffle : bool
        False serves ``0..N-1`` in order (for evaluation).

    Attributes
    ----------
    images, labels : torch.Tensor
        The data, on ``device``.
    epoch : int
        The epoch the next ``iter()`` serves; each ``iter()`` advances it.

    Examples
    --------
    >>> loader = DeviceLoader(x, y, batch_size=128, device="auto", seed=0)  # doctest: +SKIP
    >>> for xb, yb in loader:                                               # doctest: +SKIP
    ...     loss = criterion(model(xb), yb)
    """

    def __init__(
        self,
        images,
        labels,
        *,
        batch_size: int = 128,
        device="cpu",
        seed: int = 0,
        drop_last: bool = False,
        shuffle: bool = True,
    ):
        import torch  # noqa: PLC0415

        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, (int, np.integer))
            or batch_size < 1
        ):
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self.device = torch_device(device)
        x = (
            images
            if isinstance(images, torch.Tensor)
            else torch.from_numpy(np.require(images, requirements=["C", "W"]))
        )
        y = (
            labels
            if isinstance(labels, torch.Tensor)
            else torch.from_numpy(np.asarray(labels).astype(np.int64))
        )
        if x.ndim < 1 or y.ndim != 1 or x.shape[0] != y.shape[0]:
            raise ValueError(
                f"images (N, ...) and labels (N,) must have the same N, got shapes "
                f"{tuple(x.shape)} and {tuple(y.shape)}"
            )
        self.images = x.to(self.device).contiguous()
        self.labels = y.to(device=self.device, dtype=torch.int64)
        self._host = None  # numpy views of the CPU tensors, for the gather (see module notes)
        if self.device.type == "cpu":
            try:
                self._host = (self.images.numpy(), self.labels.numpy())
            except (TypeError, RuntimeError):  # a dtype numpy lacks (bfloat16): torch gathers
                self._host = None
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.shuffle = bool(shuffle)
        self.epoch = 0

    def __len__(self) -> int:
        n = self.labels.shape[0]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter()`` serve epoch ``epoch``."""
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative int, got {epoch!r}")
        self.epoch = int(epoch)

    def order(self, epoch: int) -> np.ndarray:
        """The indices epoch ``epoch`` visits, int64 ``(N,)``, on the host."""
        n = self.labels.shape[0]
        if not self.shuffle:
            return np.arange(n, dtype=np.int64)
        return np.random.default_rng([self.seed, int(epoch)]).permutation(n)

    def __iter__(self):
        import torch  # noqa: PLC0415

        epoch, self.epoch = self.epoch, self.epoch + 1
        n, bs = self.labels.shape[0], self.batch_size
        order = self.order(epoch)
        stop = n - n % bs if self.drop_last else n
        if self._host is not None:
            x, y = self._host
            for start in range(0, stop, bs):
                idx = order[start : start + bs]  # a permutation: in range, so no bounds pass
                yield (
                    torch.from_numpy(np.take(x, idx, axis=0, mode="clip")),
                    torch.from_numpy(np.take(y, idx, mode="clip")),
                )
            return
        perm = torch.from_numpy(order).to(self.device, non_blocking=True)
        for start in range(0, stop, bs):
            idx = perm[start : start + bs]
            yield self.images.index_select(0, idx), self.labels.index_select(0, idx)
