"""The minimum-norm kernel interpolant: solve ``(K + ridge I) alpha = Y``, predict.

With ``ridge = 0`` and ``K`` positive definite the solution interpolates the
training targets and, among all functions of the RKHS that do, has the smallest
norm ``|f|_H = sqrt(alpha^T K alpha)``: Section 5's kernel analogue of SGD from
zero on a linear model.

Choosing the solver (``solver="auto"``; see :func:`plan_solver`):

1. ``cholesky`` in float64 when ``8 n^2`` bytes fit the memory budget and either
   the arrays live on a GPU or ``n <= 10,000`` (on two CPU cores a float64
   Cholesky of 20,000 points took about a minute, and 60,000 points would be 27
   times that; the iterative solvers reach the same test error in seconds);
2. ``pcg`` (Nystrom-preconditioned conjugate residuals over a stored float32
   ``K``) when ``4 n^2`` bytes plus the preconditioner fit;
3. ``eigenpro`` (kernel blocks on the fly) otherwise: memory ``O(n d + m n)``.

A forced solver whose matrix does not fit raises ``MemoryError`` naming the bytes
needed and the budget, before allocating anything.

The iterative solvers stop at train error 0 and ``|K alpha - Y| <= tol |Y|``.
Started from zero, a CG iterate's norm ``sqrt(alpha^T K alpha)`` is a lower bound
on the exact interpolant's (its error is K-orthogonal to it) and rises as the
residual falls; conjugate-residual iterates behaved the same here. So with a
loose ``tol`` the reported norm is low: on MNIST's 60,000 raw images, 394 for the
default conjugate residuals at residual 0.046, 445 for CG at residual 0.048.
Exact (Cholesky) norms on subsets are in the raw-vs-gabor experiment.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..core.progress import Progress
from .backend import Backend, get_backend
from .gram import KERNELS, Kernel, bandwidth_rule, kernel_matmul, kernel_matrix
from .solvers import (
    NystromPreconditioner,
    OnTheFlyKernel,
    StoredKernel,
    solve_cholesky,
    solve_eigenpro,
    solve_pcg,
)

__all__ = ["KernelInterpolant", "SolverPlan", "plan_solver", "SOLVERS", "one_hot"]

SOLVERS = ("auto", "cholesky", "pcg", "eigenpro")
CPU_CHOLESKY_MAX_N = 10_000


@dataclass(frozen=True)
class SolverPlan:
    """The solver, the precision of ``K``, and the bytes it will hold."""

    solver: str
    dtype: str
    bytes_needed: int
    budget: int
    reason: str


def _extra_bytes(n, d, solver, rank):
    data = n * d * 4 * 2 + n * 10 * 8 * 8  # data (+ norms/copies), a few (n, 10) vectors
    if solver == "pcg":
        return data + 3 * n * rank * 4  # landmark rows, F, U
    return data


def plan_solver(
    n: int, d: int, *, solver: str = "auto", backend: Backend, memory_bytes: int, rank: int = 1000
) -> SolverPlan:
    """Pick a solver and the precision of ``K`` for ``n`` points within a budget.

    Parameters
    ----------
    n, d : int
        Training points and features.
    solver : {"auto", "cholesky", "pcg", "eigenpro"}
    backend : Backend
    memory_bytes : int
        What the solve may hold, ``K`` included.
    rank : int
        Nystrom rank (for the PCG estimate).

    Returns
    -------
    SolverPlan

    Raises
    ------
    MemoryError
        A forced ``cholesky`` or ``pcg`` whose matrix does not fit.
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    k64, k32 = 8 * n * n, 4 * n * n

    def fits(kbytes, s):
        return kbytes + _extra_bytes(n, d, s, rank) <= memory_bytes

    if solver == "cholesky":
        if fits(k64, "cholesky"):
            return SolverPlan("cholesky", "float64", k64, memory_bytes, "forced")
        if fits(k32, "cholesky"):
            return SolverPlan(
                "cholesky",
                "float32",
                k32,
                memory_bytes,
                "forced; float64 K does not fit, float32 does",
            )
        raise MemoryError(
            f"solver='cholesky' needs the {n} x {n} kernel matrix: {_gib(k32)} in float32 "
            f"({_gib(k64)} in float64), over the {_gib(memory_bytes)} budget; "
            f"use solver='eigenpro' (kernel blocks on the fly) or fewer points (--n)"
        )
    if solver == "pcg":
        if fits(k32, "pcg"):
            return SolverPlan("pcg", "float32", k32, memory_bytes, "forced")
        raise MemoryError(
            f"solver='pcg' stores the {n} x {n} float32 kernel matrix ({_gib(k32)}) plus "
            f"its preconditioner, over the {_gib(memory_bytes)} budget; use "
            f"solver='eigenpro' (kernel blocks on the fly) or fewer points (--n)"
        )
    if solver == "eigenpro":
        return SolverPlan("eigenpro", "float32", 0, memory_bytes, "forced")
    if fits(k64, "cholesky") and (backend.is_gpu or n <= CPU_CHOLESKY_MAX_N):
        where = "on the GPU" if backend.is_gpu else f"n <= {CPU_CHOLESKY_MAX_N} on the CPU"
        return SolverPlan("cholesky", "float64", k64, memory_bytes, f"float64 K fits and {where}")
    if fits(k32, "pcg"):
        return SolverPlan(
            "pcg",
            "float32",
            k32,
            memory_bytes,
            "float32 K fits; an exact factorization would be slower",
        )
    return SolverPlan(
        "eigenpro",
        "float32",
        0,
        memory_bytes,
        f"float32 K ({_gib(k32)}) does not fit the "
        f"{_gib(memory_bytes)} budget: kernel blocks on the fly",
    )


def _gib(nbytes) -> str:
    return f"{nbytes / 2**30:.3g} GiB"


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
    progress : Progress, optional
        Stage timings and progress lines (default: silent timing).

    Attributes
    ----------
    alpha_ : numpy.ndarray, shape (n, c)
    bandwidth_ : float
    plan_ : SolverPlan
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

    def fit(self, X, y, *, n_classes=None):
        """Solve for the coefficients.

        Parameters
        ----------
        X : numpy.ndarray, shape (n, d)
            Real features (float32 is enough; they are cast as needed).
        y : numpy.ndarray, shape (n,) of int, or (n, c) of float
            Labels (one-hot encoded here) or targets.
        n_classes : int, optional
            For labels: the number of classes (default ``max(y) + 1``).

        Returns
        -------
        self
        """
        self._check()
        prog = self.progress or Progress(quiet=True)
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
            Y = one_hot(labels, int(n_classes or labels.max() + 1))
        else:
            Y = y.astype(np.float64)
            labels = Y.argmax(1) if Y.shape[1] > 1 else None
        rng = np.random.default_rng(self.seed)
        be = get_backend(self.backend, self.device)
        self.backend_ = be
        n, d = X.shape
        budget = int(self.memory_gb * 2**30) if self.memory_gb else int(0.9 * be.memory_bytes())
        self.plan_ = plan = plan_solver(
            n, d, solver=self.solver, backend=be, memory_bytes=budget, rank=self.rank
        )
        with prog.stage("bandwidth"):
            self.bandwidth_ = (
                float(self.bandwidth)
                if self.bandwidth is not None
                else bandwidth_rule(X, self.kernel, rng=rng, scale=self.input_scale)
            )
        kern = Kernel(self.kernel, self.bandwidth_, scale=self.input_scale)
        self.kernel_ = kern
        dtype = np.dtype(plan.dtype)
        self.X_fit_ = (
            X
            if X.dtype == np.uint8
            else X.astype(np.float32 if dtype == np.float32 else np.float64, copy=False)
        )
        Yb = be.asarray(Y, np.float64)
        ridge = float(self.ridge)

        def on_epoch(ep):
            prog.message(
                f"epoch {ep.epoch}: train error {ep.train_error:.4%}, "
                f"relative residual {ep.rel_residual:.2e}, {ep.seconds:.1f} s"
            )

        if plan.solver == "cholesky":
            with prog.stage("kernel matrix"):
                K = kernel_matrix(
                    self.X_fit_,
                    kernel=kern,
                    dtype=dtype,
                    backend=be,
                    lower_only=True,
                    progress=prog.update,
                )
            with prog.stage("solve"):
                alpha, report = solve_cholesky(K, Yb, ridge=ridge, backend=be)
                del K
            with prog.stage("train residual"):
                KA = be.astype(
                    kernel_matmul(
                        self.X_fit_, self.X_fit_, alpha, kernel=kern, dtype=dtype, backend=be
                    ),
                    np.float64,
                )
        elif plan.solver == "pcg":
            with prog.stage("kernel matrix"):
                K = kernel_matrix(
                    self.X_fit_, kernel=kern, dtype=dtype, backend=be, progress=prog.update
                )
            op = StoredKernel(K, be)
            with prog.stage("preconditioner"):
                pre = NystromPreconditioner(
                    op, rank=self.rank, landmarks=2 * self.rank, mu=ridge, rng=rng
                )
            with prog.stage("solve"):
                alpha, report = solve_pcg(
                    op,
                    Yb,
                    ridge=ridge,
                    precond=pre,
                    labels=labels,
                    tol=self.tol,
                    max_epochs=self.max_epochs or 60,
                    callback=on_epoch,
                )
                report.notes.update(rank=pre.rank, landmarks=pre.landmarks)
                del pre
            with prog.stage("train residual"):
                KA = op.matmul(alpha)
            del op, K
        else:
            op = OnTheFlyKernel(
                self.X_fit_,
                kern,
                be,
                dtype=dtype,
                workspace=min(1 << 30, max(budget // 8, 64 << 20)),
            )
            with prog.stage("solve"):
                alpha, report = solve_eigenpro(
                    op,
                    Yb,
                    ridge=ridge,
                    labels=labels,
                    rng=rng,
                    top_q=self.top_q,
                    tol=self.tol,
                    max_epochs=self.max_epochs or 20,
                    max_batch=max(256, min(4096, budget // (8 * n))),
                    callback=on_epoch,
                )
            with prog.stage("train residual"):
                KA = op.matmul(alpha)
            del op
        self.report_ = report
        A = be.to_numpy(alpha)
        KA = be.to_numpy(KA)
        self.alpha_ = A
        R = KA + ridge * A - Y
        self.rel_residual_ = float(np.linalg.norm(R) / np.linalg.norm(Y))
        self.train_error_ = (
            float(np.mean(KA.argmax(1) != labels)) if labels is not None else float("nan")
        )
        self.norms_ = np.sqrt(np.maximum((A * KA).sum(0), 0.0))
        self.norm_ = float(self.norms_.sum())
        self.norm_rss_ = float(np.sqrt((self.norms_**2).sum()))
        return self

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
            "epochs": len(rep.epochs),
            "train_error": self.train_error_,
            "rel_residual": self.rel_residual_,
            "norm": self.norm_,
            "norm_rss": self.norm_rss_,
            "norms": self.norms_.tolist(),
            "history": [asdict(e) for e in rep.epochs],
            "solver_notes": rep.notes,
            "backend": self.backend_.name,
            "device": self.backend_.device,
        }
