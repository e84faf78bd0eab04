"""What a solve did, and the rule that no solver returns worse than it started with.

Every solver returns its coefficients and a :class:`SolveReport` with one
:class:`Epoch` per pass (train error, relative residual, seconds). The relative
residual is ``|(K + ridge I) alpha - Y|_F / |Y|_F``: 1 at the zero start.

An iterative solver keeps its best iterate (:class:`BestIterate`) and returns it,
not its last one, and stops early once it diverges (a residual far above its best,
or not finite) or stalls. When it did not reach its tolerance, the report carries
a one-line :attr:`SolveReport.message` saying so, with what to try.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Epoch", "SolveReport", "BestIterate", "shortfall", "SolverWarning"]


class SolverWarning(UserWarning):
    """A solve that did not reach its tolerance (its best iterate is returned)."""


@dataclass
class Epoch:
    """One pass of an iterative solver."""

    epoch: int
    train_error: float
    rel_residual: float
    seconds: float


@dataclass
class SolveReport:
    """What a solve did: the solver, its passes, and whether it met its target.

    Attributes
    ----------
    converged : bool
        The tolerance was reached (and, interpolating, train error 0).
    best_epoch : int or None
        The epoch whose iterate was returned (0: the zero start).
    stopped : str
        Why the iterations ended: ``"converged"``, ``"budget"`` (max epochs),
        ``"diverged"`` or ``"stalled"`` (``"exact"`` for Cholesky).
    message : str
        One line when the tolerance was not reached, else ``""``.
    """

    solver: str
    dtype: str
    converged: bool = False
    epochs: list = field(default_factory=list)
    notes: dict = field(default_factory=dict)
    best_epoch: int | None = None
    stopped: str = ""
    message: str = ""


class BestIterate:
    """The best iterate so far (lowest residual), and when to give up.

    Parameters
    ----------
    backend : Backend
    shape : tuple
        The coefficients' shape; the zero start (residual 1) is the first best.
    patience : int
        Stop after this many epochs without a new best ("stalled").
    blowup : float
        Stop once a residual exceeds ``blowup`` times the best ("diverged").
    """

    def __init__(self, backend, shape, *, patience: int = 20, blowup: float = 1e3):
        self.backend = backend
        self.alpha = backend.zeros(shape, np.float64)
        self.residual = 1.0
        self.epoch = 0
        self.patience = patience
        self.blowup = blowup

    def offer(self, epoch: int, residual: float, alpha) -> str:
        """Record ``alpha`` if it is the best; return ``""`` to go on, or why to stop."""
        if not math.isfinite(residual):
            return "diverged"
        if residual < self.residual:
            self.residual, self.epoch = residual, epoch
            self.alpha = self.backend.copy(alpha)
            return ""
        if residual > self.blowup * self.residual:
            return "diverged"
        if epoch - self.epoch >= self.patience:
            return "stalled"
        return ""


def shortfall(report: SolveReport, *, tol: float, residual: float, train_error: float) -> str:
    """One line saying the solve missed its target, with what to try."""
    n = len(report.epochs)
    what = f"relative residual {residual:.3g} (tol {tol:g})"
    if not math.isnan(train_error):
        what += f", train error {train_error:.2%}"
    if report.stopped == "diverged" or residual > 0.5:
        advice = (
            "the kernel matrix is nearly singular at this bandwidth: use a smaller "
            "bandwidth (--bandwidth) or a ridge (--ridge)"
        )
    elif report.solver == "pcg":
        advice = "raise --max-epochs or the preconditioner's --rank, or loosen --tol"
    else:
        advice = "raise --max-epochs, or use --solver pcg where the float32 matrix fits"
    how = {"diverged": "diverged", "stalled": "stalled"}.get(report.stopped, "stopped")
    return (
        f"{report.solver} {how} after {n} epochs without reaching its tolerance: {what} "
        f"(best iterate, epoch {report.best_epoch}, returned); {advice}"
    )
