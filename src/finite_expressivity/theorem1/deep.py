"""The depth-k variant of Theorem 1 (paper, Appendix C): O(n/k) parameters per layer.

Derived construction (``proofs/depth_k.md``; machine-checked equality with the
two-layer network in ``proofs/coq/DepthK.v``): with ``L = K - 2`` groups of
neurons, consecutive in bias order,

* layer 1 computes ``p = relu(<a, x>)`` and ``q = relu(-<a, x>)``;
* hidden layer ``l + 2`` holds group ``G_l``: units ``u_j = relu(p - q - b_j)``,
  carries ``relu(p), relu(q)`` (if more groups follow), and accumulators
  ``P' = relu(P + sum_{G_{l-1}} w_j^+ u_j)``, ``N'`` likewise with ``w_j^-``;
* the output is ``P - N + sum_{G_{L-1}} w_j u_j``.

Since ``p - q = <a, x>`` and the accumulators are non-negative, the deep network
computes exactly the two-layer function with the same stored ``a, b, w``: the
two-layer certificate certifies it too. Each layer has at most
``4 ceil(n/L) + 4`` nonzero weights and biases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ..core.validation import check_points, namespace, to_numpy
from .network import TwoLayerReLU

__all__ = ["DeepReLU", "deepen"]


@dataclass(frozen=True)
class DeepReLU:
    """A depth-K ReLU network equal to a two-layer one.

    Attributes
    ----------
    depth : int
        Number of weight layers K (first layer, K - 2 group layers, output).
    a : numpy.ndarray, shape (d,)
    groups : list of (b_l, w_l) pairs
        Biases and output weights of each group, in bias order.
    """

    depth: int
    a: np.ndarray
    groups: list = field(repr=False)

    @property
    def widths(self) -> list[int]:
        """Hidden-layer widths: 2 for layer 1, then units + carries + accumulators."""
        L = len(self.groups)
        out = [2]
        for l, (b_l, _) in enumerate(self.groups):
            out.append(len(b_l) + 2 * (l < L - 1) + 2 * (l >= 1))
        return out

    @property
    def params_per_layer(self) -> list[int]:
        """Nonzero weights and biases of each of the K weight layers."""
        L = len(self.groups)
        counts = [2 * int(np.count_nonzero(self.a))]
        for l, (b_l, _) in enumerate(self.groups):
            units = 2 * len(b_l) + int(np.count_nonzero(b_l))  # +1 on p, -1 on q, bias -b_j
            carries = 2 * (l < L - 1)
            acc = int(np.count_nonzero(self.groups[l - 1][1])) + 2 * (l >= 2) if l >= 1 else 0
            counts.append(units + carries + acc)
        counts.append(int(np.count_nonzero(self.groups[-1][1])) + 2 * (L >= 2))
        return counts

    @property
    def n_params(self) -> int:
        """All nonzero weights and biases."""
        return sum(self.params_per_layer)

    @property
    def free_params(self) -> int:
        """The data-dependent numbers ``a``, ``b``, ``w``: 2n + d (the rest are +-1 and 0)."""
        return int(self.a.shape[0] + sum(2 * len(b) for b, _ in self.groups))

    def __call__(self, X, *, chunk_rows: int = 256):
        """Float64 forward pass, layer by layer, exactly as the deep network computes it."""
        xp = namespace(X)
        X = to_numpy(check_points(X, xp))
        if X.shape[1] != self.a.shape[0]:
            raise ValueError(
                f"X has {X.shape[1]} coordinates but the network expects d={self.a.shape[0]}"
            )
        out = np.empty(X.shape[0])
        relu = lambda v: np.maximum(v, 0.0)  # noqa: E731
        for s0 in range(0, X.shape[0], chunk_rows):
            s = X[s0 : s0 + chunk_rows] @ self.a
            p, q = relu(s), relu(-s)
            P = np.zeros_like(s)
            N = np.zeros_like(s)
            prev = None
            for l, (b_l, _) in enumerate(self.groups):
                u = relu(p[:, None] - q[:, None] - b_l[None, :])
                if prev is not None:
                    w_prev = self.groups[l - 1][1]
                    P = relu(P + prev @ np.maximum(w_prev, 0.0))
                    N = relu(N + prev @ np.maximum(-w_prev, 0.0))
                p, q = relu(p), relu(q)
                prev = u
            out[s0 : s0 + chunk_rows] = (P - N) + prev @ self.groups[-1][1]
        return out


def deepen(net: TwoLayerReLU, depth: int) -> DeepReLU:
    """The depth-``depth`` network computing exactly the same function as ``net``.

    Parameters
    ----------
    net : TwoLayerReLU
        One output (``w`` of shape (n,)).
    depth : int
        Number of weight layers, at least 3 and at most n + 2.
    """
    host = net.to_numpy()
    if host.w.ndim != 1:
        raise ValueError("--depth supports one output (w of shape (n,)); give y of shape (n,)")
    n = host.width
    if not 3 <= depth <= n + 2:
        raise ValueError(
            f"--depth must be between 3 and n + 2 = {n + 2} (2 is the two-layer network), got {depth}"
        )
    order = np.argsort(host.b, kind="stable")
    groups = [(host.b[g], host.w[g]) for g in np.array_split(order, depth - 2)]
    return DeepReLU(depth, np.asarray(host.a, dtype=np.float64), groups)


def exact_deep_output(deep: DeepReLU, x) -> Fraction:
    """The deep network's output at one point, in exact rational arithmetic."""
    from fractions import Fraction

    def relu(v):
        return v if v > 0 else Fraction(0)

    s = sum(Fraction(float(xi)) * Fraction(float(ai)) for xi, ai in zip(x, deep.a))
    p, q = relu(s), relu(-s)
    P = N = Fraction(0)
    prev = None
    for l, (b_l, _) in enumerate(deep.groups):
        u = [relu(p - q - Fraction(float(b))) for b in b_l]
        if prev is not None:
            w_prev = deep.groups[l - 1][1]
            P = relu(P + sum(Fraction(float(max(w, 0.0))) * v for w, v in zip(w_prev, prev)))
            N = relu(N + sum(Fraction(float(max(-w, 0.0))) * v for w, v in zip(w_prev, prev)))
        p, q = relu(p), relu(q)
        prev = u
    return (P - N) + sum(Fraction(float(w)) * v for w, v in zip(deep.groups[-1][1], prev))
