"""The Theorem 1 network as a ``torch.nn.Module`` (imported only when torch is wanted)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["TwoLayerReLUModule"]


class TwoLayerReLUModule(nn.Module):
    """``x -> relu(x @ a - b) @ w``: d + n + n*k parameters, float64 by default.

    Parameters
    ----------
    a : torch.Tensor, shape (d,)
    b : torch.Tensor, shape (n,)
    w : torch.Tensor, shape (n,) or (n, k)
    """

    def __init__(self, a: torch.Tensor, b: torch.Tensor, w: torch.Tensor):
        super().__init__()
        self.a = nn.Parameter(a.clone())
        self.b = nn.Parameter(b.clone())
        self.w = nn.Parameter(w.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = torch.relu((x @ self.a)[..., None] - self.b)
        return hidden @ self.w

    def extra_repr(self) -> str:
        k = 1 if self.w.ndim == 1 else self.w.shape[1]
        return f"d={self.a.shape[0]}, width={self.b.shape[0]}, outputs={k}"
