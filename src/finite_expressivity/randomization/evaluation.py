"""Evaluation of a model on a whole dataset held on the device."""

from __future__ import annotations

import contextlib

__all__ = ["evaluate"]


def evaluate(
    model, images, labels, *, batch_size: int = 1000, autocast=None, channels_last: bool = False
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` (eval mode, no gradients).

    Parameters
    ----------
    model : torch.nn.Module
    images : torch.Tensor, shape (N, C, H, W), on the model's device
    labels : torch.Tensor of int64, shape (N,)
    batch_size : int
    autocast : callable, optional
        A context-manager factory for mixed precision (``torch.autocast``).
    channels_last : bool
        Feed the batches in channels-last memory format.

    Returns
    -------
    (loss, accuracy) : tuple of float
        NaN for an empty dataset.
    """
    import torch

    was_training = model.training
    model.eval()
    n = labels.shape[0]
    loss_sum = torch.zeros((), dtype=torch.float64, device=labels.device)
    correct = torch.zeros((), dtype=torch.int64, device=labels.device)
    with torch.no_grad():
        for s in range(0, n, batch_size):
            xb = images[s : s + batch_size]
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with autocast() if autocast else contextlib.nullcontext():
                out = model(xb)
            out = out.float()
            yb = labels[s : s + batch_size]
            loss_sum += torch.nn.functional.cross_entropy(out, yb, reduction="sum").double()
            correct += (out.argmax(1) == yb).sum()
    model.train(was_training)
    if n == 0:
        return float("nan"), float("nan")
    return float(loss_sum) / n, int(correct) / n
