"""One entry point for every kernel solve: :func:`solve` (scikit-learn's ``_ridge.py``
pattern: private solvers, one dispatcher that the estimator, ``run_kernel`` and the
experiments all call, so none of them bypasses the checks below).

``solve`` plans the solver and precision within the memory budget
(:func:`~.plan.plan_solver`), picks the code paths measured fastest on this machine
(:func:`~..paths.choose_paths`), builds the kernel (stored or on the fly), runs the
solver, and then checks its answer from scratch: ``K @ alpha`` is recomputed, and
with it the relative residual and the training error. An iterate worse than the
zero start (relative residual above 1) is never returned: the zero start is.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ...core.machine import write_probe
from ...core.progress import Progress
from ..gram import Kernel, bandwidth_rule, kernel_matmul, kernel_matrix
from ..linalg import upper_symmetric_matmul
from ..paths import Paths, choose_paths, kv_key
from .cholesky import NotPositiveDefinite, _solve_cholesky, refusal
from .eigenpro import _solve_eigenpro
from .operators import OnTheFlyKernel, StoredKernel
from .outcome import SolveReport, shortfall
from .pcg import NystromPreconditioner, _solve_pcg
from .plan import SolverPlan, plan_solver

__all__ = ["SolveOptions", "Solution", "solve"]


@dataclass(frozen=True)
class SolveOptions:
    """How to solve (one options object passed down, as in Falkon).

    Attributes
    ----------
    solver : {"auto", "cholesky", "pcg", "eigenpro"}
    tol : float
        Iterative solvers stop at relative residual <= ``tol`` and, interpolating
        (ridge 0, labels given), train error 0.
    max_epochs : int, optional
        Passes over ``K``; default 60 for PCG, 20 for EigenPro.
    rank : int
        Nystrom rank for PCG (twice as many landmarks).
    top_q : int
        Eigendirections EigenPro flattens.
    memory_bytes : int, optional
        Budget for the solve; default 90% of the device's free memory.
    seed : int
        Landmarks, EigenPro's subsample and batch order.
    method : {"cr", "cg"}
        PCG's recurrence.
    """

    solver: str = "auto"
    tol: float = 5e-2
    max_epochs: int | None = None
    rank: int = 1000
    top_q: int = 160
    memory_bytes: int | None = None
    seed: int = 0
    method: str = "cr"


@dataclass
class Solution:
    """A solve's answer, checked: coefficients, ``K @ alpha``, residual, train error."""

    alpha: np.ndarray
    KA: np.ndarray
    rel_residual: float
    train_error: float
    report: SolveReport
    plan: SolverPlan
    paths: Paths
    notes: dict = field(default_factory=dict)

    @property
    def converged(self) -> bool:
        return self.report.converged


def _plan(n, d, K, options, backend, budget) -> SolverPlan:
    if K is None:
        return plan_solver(
            n, d, solver=options.solver, backend=backend, memory_bytes=budget, rank=options.rank
        )
    dtype = str(K.dtype).replace("torch.", "")
    solver = options.solver
    if solver == "auto":
        solver = "cholesky" if dtype == "float64" else "pcg"
    return SolverPlan(solver, dtype, 0, budget, "on the given kernel matrix")


def _paths(paths, backend, X, plan) -> Paths:
    if isinstance(paths, Paths):
        return paths
    uint8 = isinstance(X, np.ndarray) and X.dtype == np.uint8
    return choose_paths(backend, d=X.shape[1], uint8=uint8, override=paths, kv=plan.solver == "pcg")


def _cholesky(X, Yb, ridge, K, ctx):
    """Factor ``K`` (a copy of a given one), solve, and ``K @ alpha``: on the CPU from the
    strict upper triangle the factorization leaves intact (no second kernel evaluation),
    on a GPU (whose Cholesky overwrites it) by recomputing the kernel in blocks."""
    be, kern, paths, prog, dtype = ctx["be"], ctx["kernel"], ctx["paths"], ctx["prog"], ctx["dtype"]
    how = dict(kernel=kern, dtype=dtype, backend=be, distances=paths.distances, gemm=paths.gemm)
    if K is None:
        with prog.stage("kernel matrix", total=X.shape[0]) as st:
            K_own = kernel_matrix(X, lower_only=be.is_gpu, progress=st.update, **how)
    else:
        K_own = be.copy(K)
    with prog.stage("solve"):
        alpha, report = _solve_cholesky(K_own, Yb, ridge=ridge, backend=be)
    with prog.stage("train residual"):
        if K is not None:
            return alpha, report, be.matmul(K, be.astype(alpha, K.dtype))
        if not be.is_gpu:  # K_own's strict upper triangle is still K's; its diagonal is 1
            Kn = K_own.numpy() if be.name == "torch" else K_own
            return alpha, report, be.asarray(upper_symmetric_matmul(Kn, be.to_numpy(alpha)))
        del K_own
        return alpha, report, kernel_matmul(X, X, alpha, **how)


def _pcg(X, Yb, ridge, K, ctx, labels, callback):
    be, opts, paths, prog = ctx["be"], ctx["options"], ctx["paths"], ctx["prog"]
    if K is None:
        with prog.stage("kernel matrix", total=X.shape[0]) as st:
            K = kernel_matrix(
                X,
                kernel=ctx["kernel"],
                dtype=ctx["dtype"],
                backend=be,
                progress=st.update,
                distances=paths.distances,
                gemm=paths.gemm,
            )
    op = StoredKernel(K, be, kv=paths.kv, kv_gemm=paths.kv_gemm)
    with prog.stage("preconditioner"):
        rng = np.random.default_rng(opts.seed)
        pre = NystromPreconditioner(op, rank=opts.rank, landmarks=2 * opts.rank, mu=ridge, rng=rng)
    with prog.stage("solve"):
        alpha, report, KA = _solve_pcg(
            op,
            Yb,
            ridge=ridge,
            precond=pre,
            labels=labels,
            tol=opts.tol,
            max_epochs=opts.max_epochs or 60,
            method=opts.method,
            callback=callback,
        )
        report.notes.update(rank=pre.rank, landmarks=pre.landmarks)
    del pre
    if KA is None:  # else the solver confirmed its answer with K @ alpha
        with prog.stage("train residual"):
            KA = op.matmul(alpha)
    _record_race(op, ctx)
    return alpha, report, KA


def _record_race(op, ctx) -> None:
    """The ``K @ V`` method a race found fastest: into the paths, and cached when done."""
    if op.race is None:
        return
    kv, lib, times = op.kv_choice()
    paths = ctx["paths"]
    ctx["paths"] = replace(paths, kv=kv, kv_gemm=lib, timings={**paths.timings, "kv": times})
    if op.race.done:
        write_probe("kv", kv_key(op.backend, op.n), {"times": times})
        ctx["prog"].message(
            f"K @ V: {kv} ({lib or op.backend.name}) was the fastest of {len(times)} ways, "
            f"{min(times.values()):.2f} s a product (cached for this machine)"
        )


def _eigenpro(X, Yb, ridge, K, ctx, labels, callback):
    be, opts, paths, prog = ctx["be"], ctx["options"], ctx["paths"], ctx["prog"]
    n, budget = X.shape[0], ctx["budget"]
    if K is not None:
        op = StoredKernel(K, be, kv=paths.kv, kv_gemm=paths.kv_gemm)
    else:
        op = OnTheFlyKernel(
            X,
            ctx["kernel"],
            be,
            dtype=ctx["dtype"],
            workspace=min(1 << 30, max(budget // 8, 64 << 20)),
            distances=paths.distances,
            gemm=paths.gemm,
        )
    with prog.stage("solve"):
        alpha, report = _solve_eigenpro(
            op,
            Yb,
            ridge=ridge,
            labels=labels,
            rng=np.random.default_rng(opts.seed),
            top_q=opts.top_q,
            tol=opts.tol,
            max_epochs=opts.max_epochs or 20,
            max_batch=max(256, min(4096, budget // (8 * n))),
            callback=callback,
        )
    with prog.stage("train residual"):
        return alpha, report, op.matmul(alpha)


def _check(alpha, KA, Y, labels, ridge, report, tol) -> tuple:
    """True residual and train error of ``alpha``; the zero start if ``alpha`` is worse."""
    R = KA + ridge * alpha - Y
    rel = float(np.linalg.norm(R) / np.linalg.norm(Y))
    if not rel <= 1.0:  # worse than the zero start (or not finite)
        alpha, KA, rel = np.zeros_like(Y), np.zeros_like(Y), 1.0
        report.best_epoch = 0
        report.notes["returned"] = "the zero start: every iterate had a larger residual"
    err = float(np.mean(KA.argmax(1) != labels)) if labels is not None else float("nan")
    if report.solver != "cholesky":
        interpolating = labels is not None and ridge == 0
        report.converged = report.converged and rel <= 2 * tol and (not interpolating or err == 0.0)
        if not report.converged:
            report.message = shortfall(report, tol=tol, residual=rel, train_error=err)
    return alpha, KA, rel, err


def solve(
    X,
    Y,
    *,
    kernel: Kernel,
    ridge: float = 0.0,
    labels=None,
    options: SolveOptions | None = None,
    backend=None,
    paths=None,
    K=None,
    progress: Progress | None = None,
    callback=None,
) -> Solution:
    """Solve ``(K + ridge I) alpha = Y`` for ``K = k(X, X)``, and check the answer.

    Parameters
    ----------
    X : numpy.ndarray, shape (n, d)
        Training points (uint8 pixels with ``kernel.scale`` or real features).
    Y : numpy.ndarray, shape (n, c), float64
        Targets (one-hot labels).
    kernel : Kernel
    ridge : float
    labels : numpy.ndarray of int, shape (n,), optional
        For the training error (and, with ridge 0, the iterative solvers' stop).
    options : SolveOptions, optional
    backend : Backend
    paths : Paths, str or dict, optional
        Code paths (:mod:`..paths`): a :class:`Paths`, or overrides such as
        ``"distances=float32"`` on top of the measured choice (default: measured).
    K : array, shape (n, n), optional
        A kernel matrix already computed (kept intact; Cholesky factors a copy).
    progress : Progress, optional
    callback : callable, optional
        ``callback(Epoch)`` after each iterative epoch.

    Returns
    -------
    Solution

    Raises
    ------
    MemoryError
        The forced solver's matrix does not fit the budget.
    numpy.linalg.LinAlgError
        Cholesky found ``K + ridge I`` numerically singular; the message says what
        would work (a ridge; a smaller bandwidth, with the median rule's).
    """
    options = options or SolveOptions()
    prog = progress or Progress(quiet=True)
    n, d = X.shape
    budget = options.memory_bytes or int(0.9 * backend.memory_bytes())
    plan = _plan(n, d, K, options, backend, budget)
    chosen = _paths(paths, backend, X, plan)
    ctx = dict(
        be=backend,
        kernel=kernel,
        paths=chosen,
        prog=prog,
        dtype=np.dtype(plan.dtype),
        options=options,
        budget=budget,
    )
    Yb = backend.asarray(Y, np.float64)
    try:
        if plan.solver == "cholesky":
            alpha, report, KA = _cholesky(X, Yb, ridge, K, ctx)
        elif plan.solver == "pcg":
            alpha, report, KA = _pcg(X, Yb, ridge, K, ctx, labels, callback)
        else:
            alpha, report, KA = _eigenpro(X, Yb, ridge, K, ctx, labels, callback)
    except NotPositiveDefinite as exc:
        raise np.linalg.LinAlgError(_refusal_here(exc, X, kernel)) from None
    A, KA = backend.to_numpy(alpha), backend.to_numpy(backend.astype(KA, np.float64))
    A, KA, rel, err = _check(A, KA, np.asarray(Y, np.float64), labels, ridge, report, options.tol)
    return Solution(A, KA, rel, err, report, plan, ctx["paths"])


def _refusal_here(exc, X, kernel: Kernel) -> str:
    """Cholesky's refusal, made true of this case: with repeated points only a ridge
    helps; else a smaller bandwidth may, and the median rule's is named."""
    X = np.asarray(X)
    repeats = X.shape[0] - np.unique(X.reshape(X.shape[0], -1), axis=0).shape[0]
    rule = None
    if not repeats:
        try:
            rng = np.random.default_rng(0)
            rule = bandwidth_rule(X, kernel.name, rng=rng, scale=kernel.scale)
        except ValueError:
            rule = None
    return refusal(
        exc.n, exc.dtype, exc.ridge, exc.why, repeats=repeats, bandwidth=kernel.bandwidth, rule=rule
    )
