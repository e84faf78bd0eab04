"""Section 5's linear argument: SGD from zero lands on the minimum-norm solution.

For a linear model ``X w = y`` with ``n <= d`` and ``X`` of full row rank, every
SGD step on the squared loss adds a multiple of a row ``x_i`` to ``w``. Started at
``w = 0``, ``w`` stays in the row span, ``w = X^T a``; an interpolating ``w`` of
that form solves ``X X^T a = y``, so it is ``w* = X^T (X X^T)^{-1} y``, the
solution of least Euclidean norm. Started anywhere else, SGD converges to
``w* + (I - P) w0`` instead, where ``P`` projects onto the row span.

With step ``lr = 1 / |x_i|^2`` per sample, each SGD step is a Kaczmarz
projection onto ``{w : x_i.w = y_i}``; any fixed ``lr <= 1 / max |x_i|^2``
converges for consistent systems.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla

__all__ = ["min_norm_solution", "sgd_least_squares", "SGDTrace"]


def _check(X, y):
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n, d), got shape {X.shape}")
    n, d = X.shape
    if n > d:
        raise ValueError(
            f"X must have n <= d for an interpolating linear model, got n={n} > "
            f"d={d}; use fewer points or more features"
        )
    if y.shape[0] != n or y.ndim not in (1, 2):
        raise ValueError(f"y must have shape ({n},) or ({n}, c), got {y.shape}")
    if not (np.isfinite(X.sum()) and np.isfinite(y.sum())):
        raise ValueError("X and y must be finite; remove NaN/inf")
    return X, y


def min_norm_solution(X, y) -> np.ndarray:
    """``w* = X^T (X X^T)^{-1} y`` in float64.

    Parameters
    ----------
    X : array_like, shape (n, d), n <= d, full row rank
    y : array_like, shape (n,) or (n, c)

    Returns
    -------
    numpy.ndarray, shape (d,) or (d, c)

    Raises
    ------
    numpy.linalg.LinAlgError
        ``X X^T`` is singular (rows linearly dependent).
    """
    X, y = _check(X, y)
    G = X @ X.T
    try:
        c = sla.cho_factor(G, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        raise np.linalg.LinAlgError(
            "X X^T is not positive definite: the rows of X are linearly "
            "dependent; drop duplicated rows"
        ) from None
    return X.T @ sla.cho_solve(c, y, check_finite=False)


@dataclass
class SGDTrace:
    """Distances to the minimum-norm solution along SGD (one row per record)."""

    epochs: list = field(default_factory=list)
    rel_distance: list = field(default_factory=list)  # |w - w*| / |w*|
    rel_residual: list = field(default_factory=list)  # |X w - y| / |y|
    off_span: list = field(default_factory=list)  # |(I - P) w| / |w*|


def sgd_least_squares(
    X,
    y,
    *,
    epochs: int,
    rng: np.random.Generator,
    lr=None,
    batch: int = 1,
    w0=None,
    w_star=None,
    record_every: int = 1,
):
    """Plain SGD on ``(1/2) |X w - y|^2``, in float64.

    Parameters
    ----------
    X : array_like, shape (n, d)
    y : array_like, shape (n,) or (n, c)
    epochs : int
        Passes over the data, each in a fresh random order.
    rng : numpy.random.Generator
        Draws the orders.
    lr : float, optional
        Step size; default ``1 / max_i |x_i|^2`` (stable for every batch size).
    batch : int
        Samples per step (the step averages their gradients).
    w0 : array_like, optional
        Start (default zeros).
    w_star : array_like, optional
        The minimum-norm solution, for the trace (default: computed).
    record_every : int
        Record the trace every this many epochs (and at the end).

    Returns
    -------
    w : numpy.ndarray, shape (d,) or (d, c)
    trace : SGDTrace
    """
    X, y = _check(X, y)
    n, d = X.shape
    if not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
    if not isinstance(batch, (int, np.integer)) or not 1 <= batch <= n:
        raise ValueError(f"batch must be an integer in 1..{n}, got {batch!r}")
    sq = np.einsum("ij,ij->i", X, X)
    if lr is None:
        lr = 1.0 / sq.max()
    if not (isinstance(lr, (int, float, np.floating)) and 0 < lr < np.inf):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    w = np.zeros((d,) + y.shape[1:]) if w0 is None else np.array(w0, dtype=np.float64)
    if w.shape != (d,) + y.shape[1:]:
        raise ValueError(f"w0 must have shape {(d,) + y.shape[1:]}, got {w.shape}")
    w_star = min_norm_solution(X, y) if w_star is None else np.asarray(w_star, np.float64)
    ws_norm = np.linalg.norm(w_star)
    y_norm = np.linalg.norm(y)
    # orthonormal basis of the row span, for the off-span component
    Q, _ = np.linalg.qr(X.T)
    trace = SGDTrace()

    def record(epoch):
        trace.epochs.append(epoch)
        trace.rel_distance.append(float(np.linalg.norm(w - w_star) / ws_norm))
        trace.rel_residual.append(float(np.linalg.norm(X @ w - y) / y_norm))
        off = w - Q @ (Q.T @ w)
        trace.off_span.append(float(np.linalg.norm(off) / ws_norm))

    record(0)
    step = lr / batch
    for epoch in range(1, epochs + 1):
        order = rng.permutation(n)
        for b0 in range(0, n, batch):
            idx = order[b0 : b0 + batch]
            xb = X[idx]
            g = xb @ w - y[idx]  # (b,) or (b, c)
            w -= step * (xb.T @ g)
        if epoch % record_every == 0 or epoch == epochs:
            record(epoch)
    return w, trace
