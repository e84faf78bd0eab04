"""The two-layer ReLU network of Theorem 1: ``c(x) = sum_j w_j relu(<a, x> - b_j)``.

One hidden layer of n ReLUs that share the input weights ``a``; no output bias.
Parameters: ``a`` (d), ``b`` (n), ``w`` (n, or n x k for k outputs): 2n + d in
all for one output, d + n + nk for k.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.validation import check_points, namespace, to_numpy

__all__ = ["TwoLayerReLU"]


@dataclass(frozen=True)
class TwoLayerReLU:
    """A fitted (or loaded) two-layer ReLU network.

    Attributes
    ----------
    a : array, shape (d,)
        Shared input weights (the projection direction).
    b : array, shape (n,)
        Hidden biases, in increasing order for a fitted network.
    w : array, shape (n,) or (n, k)
        Output weights.
    info : dict
        How the network was built (seed, tries, slicing plan, error bounds).
    """

    a: object
    b: object
    w: object
    info: dict = field(default_factory=dict, compare=False)

    @property
    def d(self) -> int:
        return int(self.a.shape[0])

    @property
    def width(self) -> int:
        return int(self.b.shape[0])

    @property
    def n_outputs(self) -> int:
        return 1 if self.w.ndim == 1 else int(self.w.shape[1])

    @property
    def n_params(self) -> int:
        """Number of weights: ``d + n + n*k`` (``2n + d`` for one output)."""
        return self.d + self.width + int(np.prod(self.w.shape))

    def __call__(self, X, *, chunk_bytes: int = 1 << 20):
        """Plain float64 forward pass ``relu(X a - b) w``, chunked over rows.

        Exactly what the network computes, in float64; memory stays below about
        ``chunk_bytes`` whatever n is (the cost is O(rows x width x k)).

        Parameters
        ----------
        X : array, shape (m, d)
        chunk_bytes : int
            Size of the largest hidden-activation block held at once (1 MiB
            blocks stay in cache and measured fastest on CPU).

        Returns
        -------
        array, shape (m,) or (m, k), float64, same library and device as X
        """
        xp = namespace(X, self.a)
        X = check_points(X, xp)
        if X.shape[1] != self.d:
            raise ValueError(
                f"X has {X.shape[1]} coordinates per point but the network expects d={self.d}"
            )
        rows = max(1, chunk_bytes // (8 * max(1, self.width)))
        z = X @ self.a
        parts = []
        for s in range(0, z.shape[0], rows):
            hidden = xp.maximum(z[s : s + rows, None] - self.b[None, :], 0.0)
            parts.append(hidden @ self.w)
        return xp.concat(parts, axis=0)

    def to_torch(self, dtype=None):
        """Export as a ``torch.nn.Module``: :class:`.torch_module.TwoLayerReLUModule`.

        Its parameters are exactly ``a`` (d,), ``b`` (n,) and ``w`` (n,) or (n, k), copied
        from this network (:attr:`n_params` in all); its forward computes
        ``relu(x @ a - b) @ w``, the same float64 numbers as :meth:`__call__`.
        ``dtype`` converts it (e.g. ``torch.float32``).
        """
        import torch  # noqa: PLC0415 - optional dependency

        from .torch_module import TwoLayerReLUModule

        a, b, w = (
            torch.as_tensor(np.ascontiguousarray(to_numpy(t))) for t in (self.a, self.b, self.w)
        )
        module = TwoLayerReLUModule(a, b, w)
        return module.to(dtype) if dtype is not None else module

    def to_numpy(self) -> TwoLayerReLU:
        """The same network with host NumPy arrays."""
        return TwoLayerReLU(to_numpy(self.a), to_numpy(self.b), to_numpy(self.w), dict(self.info))

    def save(self, path) -> Path:
        """Write ``a``, ``b``, ``w`` to an ``.npz`` file (atomically)."""
        import io
        import json

        from ..core.files import atomic_write_bytes

        net = self.to_numpy()
        buf = io.BytesIO()
        np.savez(buf, a=net.a, b=net.b, w=net.w, info=np.array(json.dumps(self.info, default=str)))
        return atomic_write_bytes(Path(path), buf.getvalue())

    @classmethod
    def load(cls, path) -> TwoLayerReLU:
        """Read a network written by :meth:`save`."""
        import json

        with np.load(path) as f:
            missing = {"a", "b", "w"} - set(f.files)
            if missing:
                raise ValueError(f"{path} is not a saved network: it lacks {sorted(missing)}")
            info = json.loads(str(f["info"])) if "info" in f.files else {}
            return cls(f["a"], f["b"], f["w"], info)
