"""The minimum-norm kernel interpolant: solve ``(K + ridge I) alpha = Y``, predict.

With ``ridge = 0`` and ``K`` positive definite the solution interpolates the
training targets and, among all functions of the RKHS that do, has the smallest
norm ``|f|_H = sqrt(alpha^T K alpha)``: Section 5's kernel analogue of SGD from
zero on a linear model.

:meth:`KernelInterpolant.fit` calls the one solver dispatcher,
:func:`~finite_expressivity.section5.solvers.solve`, which picks the solver from n,
memory and device (:func:`~finite_expressivity.section5.solvers.plan_solver`) and
the code paths measured fastest on this machine
(:mod:`~finite_expressivity.section5.paths`).

The iterative solvers stop at train error 0 and ``|K alpha - Y| <= tol |Y|``.
Started from zero, a CG iterate's norm ``sqrt(alpha^T K alpha)`` is a lower bound
on the exact interpolant's (its error is K-orthogonal to it) and rises as the
residual falls; conjugate-residual iterates behaved the same here. So with a
loose ``tol`` the reported norm is low: on MNIST's 60,000 raw images, 394 for the
default conjugate residuals at residual 0.046, 445 for CG at residual 0.048.
Exact (Cholesky) norms on subsets are in the raw-vs-gabor experiment.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict

import numpy as np

from ..core.progress import Progress
from .backend import get_backend
from .gram import KERNELS, Kernel, bandwidth_rule, kernel_matmul
from .solvers import SOLVERS, SolveOptions, SolverWarning, solve

__all__ = ["KernelInterpolant", "SOLVERS", "one_hot"]


def one_hot(labels, n_classes: int) -> np.ndarray:
    """``(n, n_classes)`` float64 one-hot targets from integer labels."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be a 1-D integer array, got shape {labels.shape} and dtype {labels.dtype}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"labels must lie in 0..{n_classes - 1}, got range "
            f"{labels.min()}..{labels.max()}; pass n_classes"
        )
    Y = np.zeros((labels.size, n_classes))
    Y[np.arange(labels.size), labels] = 1.0
    return Y


class KernelInterpolant:
    """Kernel "interpolation": the minimum-RKHS-norm fit of one-hot labels.

    Parameters
    ----------
    kernel : {"gaussian", "laplacian"}
    bandwidth : float, optional
        Default: the median rule of :func:`~finite_expressivity.section5.gram.bandwidth_rule`.
    ridge : float
        ``lambda >= 0`` in ``(K + lambda I) alpha = Y``; 0 interpolates.
    solver : {"auto", "cholesky", "pcg", "eigenpro"}
    tol : float
        Iterative solvers stop at relative residual <= ``tol`` and, with ``ridge = 0``,
        train error 0.
    max_epochs : int, optional
        Iteration budget (passes over ``K``); default 60 for PCG, 20 for EigenPro.
    rank : int
        Nystrom rank for PCG (its landmarks: twice as many).
    top_q : int
        Eigendirections EigenPro flattens.
    memory_gb : float, optional
        Budget for the solve; default 90% of the free memory of the device.
    input_scale : float
        The features are ``input_scale * X``. Pass uint8 pixels with ``1/255``:
        their distances are then computed exactly in integer arithmetic (and
        faster, on CPUs with int8 matrix units).
    backend, device : str
        See :func:`~finite_expressivity.section5.backend.get_backend`.
    seed : int
        Seeds the landmark and subsample draws and EigenPro's batch order.
    paths : "auto", str, dict or Paths
        Code paths (int8 or float32 distances, the GEMM library, how ``K @ V`` is
        computed): ``"auto"`` measures them on this machine once
        (:func:`~finite_expressivity.section5.paths.choose_paths`); a string such
        as ``"distances=float32,kv=gemm"`` fixes some.
    progress : Progress, optional
        Stage timings and progress lines (default: silent timing).

    Attributes
    ----------
    alpha_ : numpy.ndarray, shape (n, c)
    bandwidth_ : float
    plan_ : SolverPlan
    paths_ : Paths
        The code paths taken, and whether measured, cached or fixed.
    converged_ : bool
        Whether the solver reached its tolerance (else it warned with
        :class:`~finite_expressivity.section5.solvers.SolverWarning`).
    report_ : SolveReport
    train_error_ : float
    rel_residual_ : float
        ``|(K + ridge I) alpha - Y|_F / |Y|_F``, recomputed from scratch.
    norms_ : numpy.ndarray, shape (c,)
        ``sqrt(alpha_c^T K alpha_c)`` per output.
    norm_ : float
        Their sum (how this package reports the paper's "norm").
    norm_rss_ : float
        ``sqrt(sum_c alpha_c^T K alpha_c)``, the norm of the vector-valued function
        (the paper does not say which of the two it reports).
    """

    def __init__(
        self,
        kernel="gaussian",
        bandwidth=None,
        *,
        ridge=0.0,
        solver="auto",
        tol=5e-2,
        max_epochs=None,
        rank=1000,
        top_q=160,
        memory_gb=None,
        input_scale=1.0,
        backend="auto",
        device="auto",
        seed=0,
        paths="auto",
        progress=None,
    ):
        self.kernel = kernel
        self.bandwidth = bandwidth
        self.ridge = ridge
        self.solver = solver
        self.tol = tol
        self.max_epochs = max_epochs
        self.rank = rank
        self.top_q = top_q
        self.memory_gb = memory_gb
        self.input_scale = input_scale
        self.backend = backend
        self.device = device
        self.seed = seed
        self.paths = paths
        self.progress = progress

    def _check(self):
        if self.kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {self.kernel!r}")
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {self.solver!r}")
        r = self.ridge
        if (
            isinstance(r, bool)
            or not isinstance(r, (int, float, np.floating, np.integer))
            or not np.isfinite(r)
            or r < 0
        ):
            raise ValueError(f"ridge must be a finite number >= 0, got {r!r}")
        if not (isinstance(self.tol, (int, float)) and self.tol > 0):
            raise ValueError(f"tol must be a number > 0, got {self.tol!r}")
        if self.memory_gb is not None and not self.memory_gb > 0:
            raise ValueError(f"memory_gb must be > 0, got {self.memory_gb!r}")

    def _inputs(self, X, y, n_classes):
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[0] < 2:
            raise ValueError(
                f"X must be 2-D with at least 2 rows, got shape {X.shape}; "
                f"reshape images with X.reshape(len(X), -1)"
            )
        if not np.isfinite(X.sum(dtype=np.float64)):
            raise ValueError("X contains NaN or inf; remove or impute those rows")
        y = np.asarray(y)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"y must have one entry per row of X ({X.shape[0]}), got {y.shape[0]}")
        if y.ndim == 1:
            labels = y.astype(np.int64)
            return X, one_hot(labels, int(n_classes or labels.max() + 1)), labels
        Y = y.astype(np.float64)
        return X, Y, (Y.argmax(1) if Y.shape[1] > 1 else None)

    def fit(self, X, y, *, n_classes=None):
        """Solve for the coefficients.

        Parameters
        ----------
        X : numpy.ndarray, shape (n, d)
            uint8 pixels (with ``input_scale``) or real features.
        y : numpy.ndarray, shape (n,) of int, or (n, c) of float
            Labels (one-hot encoded here) or targets.
        n_classes : int, optional
            For labels: the number of classes (default ``max(y) + 1``).

        Returns
        -------
        self
        """
        self._check()
        X, Y, labels = self._inputs(X, y, n_classes)
        prog = self.progress or Progress(quiet=True)
        self.backend_ = be = get_backend(self.backend, self.device)
        with prog.stage("bandwidth"):
            self.bandwidth_ = (
                float(self.bandwidth)
                if self.bandwidth is not None
                else bandwidth_rule(
                    X, self.kernel, rng=np.random.default_rng(self.seed), scale=self.input_scale
                )
            )
        self.kernel_ = Kernel(self.kernel, self.bandwidth_, scale=self.input_scale)
        self.X_fit_ = X if X.dtype in (np.uint8, np.float32, np.float64) else X.astype(float)
        options = SolveOptions(
            solver=self.solver,
            tol=self.tol,
            max_epochs=self.max_epochs,
            rank=self.rank,
            top_q=self.top_q,
            seed=self.seed,
            memory_bytes=int(self.memory_gb * 2**30) if self.memory_gb else None,
        )
        sol = solve(
            self.X_fit_,
            Y,
            kernel=self.kernel_,
            ridge=float(self.ridge),
            labels=labels,
            options=options,
            backend=be,
            paths=self.paths,
            progress=prog,
            callback=lambda ep: prog.message(
                f"epoch {ep.epoch}: train error {ep.train_error:.4%}, "
                f"relative residual {ep.rel_residual:.2e}, {ep.seconds:.1f} s"
            ),
        )
        self._store(sol)
        if not self.converged_:
            warnings.warn(sol.report.message, SolverWarning, stacklevel=2)
        return self

    def _store(self, sol):
        self.plan_, self.paths_, self.report_ = sol.plan, sol.paths, sol.report
        self.converged_ = sol.report.converged
        self.alpha_ = A = sol.alpha
        self.rel_residual_ = sol.rel_residual
        self.train_error_ = sol.train_error
        self.norms_ = np.sqrt(np.maximum((A * sol.KA).sum(0), 0.0))
        self.norm_ = float(self.norms_.sum())
        self.norm_rss_ = float(np.sqrt((self.norms_**2).sum()))

    def decision_function(self, X, *, dtype=None):
        """Scores ``K(X, X_fit) @ alpha``, shape (m, c), computed in blocks."""
        if not hasattr(self, "alpha_"):
            raise ValueError("this KernelInterpolant is not fitted; call fit(X, y) first")
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.X_fit_.shape[1]:
            raise ValueError(f"X must have shape (m, {self.X_fit_.shape[1]}), got {X.shape}")
        if (X.dtype == np.uint8) != (self.X_fit_.dtype == np.uint8):
            raise ValueError(
                f"X has dtype {X.dtype} but the model was fitted on "
                f"{self.X_fit_.dtype}; pass the same kind of features"
            )
        dtype = np.dtype(dtype or self.plan_.dtype)
        prog = self.progress or Progress(quiet=True)
        out = kernel_matmul(
            X,
            self.X_fit_,
            self.alpha_,
            kernel=self.kernel_,
            dtype=dtype,
            backend=self.backend_,
            progress=prog.update,
            distances=self.paths_.distances,
            gemm=self.paths_.gemm,
        )
        return np.asarray(self.backend_.to_numpy(out), dtype=np.float64)

    def predict(self, X):
        """Class labels ``argmax`` of :meth:`decision_function`, shape (m,)."""
        return self.decision_function(X).argmax(1)

    def summary(self) -> dict:
        """The fit as a flat dict (for JSON)."""
        rep = self.report_
        return {
            "kernel": self.kernel,
            "bandwidth": self.bandwidth_,
            "ridge": float(self.ridge),
            "solver": rep.solver,
            "solver_reason": self.plan_.reason,
            "dtype": rep.dtype,
            "converged": rep.converged,
            "stopped": rep.stopped,
            "best_epoch": rep.best_epoch,
            "solver_message": rep.message,
            "epochs": len(rep.epochs),
            "train_error": self.train_error_,
            "rel_residual": self.rel_residual_,
            "norm": self.norm_,
            "norm_rss": self.norm_rss_,
            "norms": self.norms_.tolist(),
            "history": [asdict(e) for e in rep.epochs],
            "solver_notes": rep.notes,
            "paths": self.paths_.as_dict(),
            "backend": self.backend_.name,
            "device": self.backend_.device,
        }
