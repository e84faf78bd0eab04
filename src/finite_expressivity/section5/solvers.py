"""Solvers for ``(K + ridge I) alpha = Y``: exact Cholesky, Nystrom-PCG, EigenPro.

* :func:`solve_cholesky` factors a stored ``K`` (SciPy LAPACK tiles on the CPU,
  torch or CuPy on a GPU): exact to rounding, ``n^3 / 3`` flops.
* :func:`solve_pcg` runs conjugate residuals (or gradients) on a stored float32
  ``K``, one recurrence per output column, preconditioned by a rank-``r`` Nystrom
  approximation of ``K`` from ``s`` landmark columns (Frangella, Tropp & Udell,
  2023): each iteration is one pass over ``K``.
* :func:`solve_eigenpro` is EigenPro 2 (Ma & Belkin, 2019): mini-batch
  Richardson iterations preconditioned by flattening the top ``q`` eigenvalues
  of a subsample's kernel, with kernel blocks computed on the fly, so it needs
  memory for one block only. Each epoch costs one evaluation of the whole kernel.

Every solver returns the coefficients and a :class:`SolveReport` with one
:class:`Epoch` row per pass (train error, relative residual, seconds). The
relative residual is ``|(K + ridge I) alpha - Y|_F / |Y|_F``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .backend import Backend
from .gram import Kernel, Points, _center, rows_per_block

__all__ = [
    "Epoch",
    "SolveReport",
    "StoredKernel",
    "OnTheFlyKernel",
    "NystromPreconditioner",
    "solve_cholesky",
    "solve_pcg",
    "solve_eigenpro",
]


@dataclass
class Epoch:
    """One pass of an iterative solver."""

    epoch: int
    train_error: float
    rel_residual: float
    seconds: float


@dataclass
class SolveReport:
    """What a solve did: the solver, its passes, and whether it met its target."""

    solver: str
    dtype: str
    converged: bool = False
    epochs: list = field(default_factory=list)
    notes: dict = field(default_factory=dict)


def _train_error(scores_np, labels):
    return float(np.mean(scores_np.argmax(1) != labels)) if labels is not None else float("nan")


class StoredKernel:
    """``K`` held in memory (float32 or float64) on a backend.

    Parameters
    ----------
    K : array, shape (n, n)
    backend : Backend
    """

    def __init__(self, K, backend: Backend):
        self.K = K
        self.backend = backend
        self.n = K.shape[0]
        self.dtype = np.dtype(str(K.dtype).replace("torch.", ""))

    def matmul(self, A):
        """``K @ A`` in ``A``'s precision (``K``'s own when ``A`` has more)."""
        be = self.backend
        return be.astype(be.matmul(self.K, be.astype(A, self.dtype)), np.float64)

    def rows(self, idx):
        """``K[idx, :]``."""
        return self.K[idx]

    def block(self, rows, cols):
        """``K[rows, cols]`` for index arrays ``rows`` and ``cols``."""
        return self.K[rows[:, None], cols[None, :]]


class OnTheFlyKernel:
    """``K(X, X)`` never stored: each product computes kernel blocks afresh.

    Parameters
    ----------
    X : array, shape (n, d)
    kernel : Kernel
    backend : Backend
    dtype : {"float32", "float64"}
    workspace : int
        Bytes for one block of kernel values.
    fused : bool
        On CuPy, compute ``K @ A`` with the fused CUDA kernel
        (``kernels/fused_kernel_matvec.cu``) instead of GEMM-built blocks.
    """

    def __init__(
        self,
        X,
        kernel: Kernel,
        backend: Backend,
        dtype="float32",
        workspace: int = 1 << 30,
        fused: bool = False,
    ):
        if fused and backend.name != "cupy":
            raise ValueError(f"fused=True needs the CuPy backend, got {backend.name!r}")
        self.fused = fused
        self.backend = backend
        self.kernel = kernel
        self.dtype = np.dtype(dtype)
        self.points = Points(X, dtype=self.dtype, backend=backend, shift=_center(X, backend))
        self.n = self.points.n
        self.workspace = workspace

    def rows(self, idx):
        """``K[idx, :]``, computed now."""
        return self.block(idx, slice(None))

    def block(self, rows, cols):
        """``K[rows, cols]``, computed now (index arrays or slices)."""
        be = self.backend

        def size(idx):
            if isinstance(idx, slice):
                return len(range(*idx.indices(self.n)))
            return len(idx)

        out = be.empty((size(rows), size(cols)), self.dtype)
        self.points.sq_dists_into(out, rows, self.points, cols)
        return self.kernel.from_sq_dists_(out, be)

    def matmul(self, A):
        be = self.backend
        A32 = be.astype(A, self.dtype)
        if self.fused:
            from .cuda import fused_kernel_matvec  # noqa: PLC0415

            x = self.points.x
            return be.astype(fused_kernel_matvec(x, x, A32, kernel=self.kernel), np.float64)
        out = be.empty((self.n, A.shape[1]), self.dtype)
        block = rows_per_block(self.n, self.dtype.itemsize, self.workspace)
        for i0 in range(0, self.n, block):
            i1 = min(i0 + block, self.n)
            idx = slice(i0, i1)
            be.matmul(self.rows(idx), A32, out=out[i0:i1])
        return be.astype(out, np.float64)


# --------------------------------------------------------------------------- Cholesky
def solve_cholesky(K, Y, *, ridge: float = 0.0, backend: Backend):
    """Solve ``(K + ridge I) alpha = Y`` by Cholesky, overwriting ``K``.

    Parameters
    ----------
    K : array, shape (n, n)
        Its lower triangle is read and overwritten by the factor.
    Y : array, shape (n, c)
    ridge : float
    backend : Backend
        (The train error needs ``K``, which the factor overwrites: callers compute it.)

    Returns
    -------
    alpha : array, shape (n, c), float64 on the backend
    report : SolveReport

    Raises
    ------
    numpy.linalg.LinAlgError
        ``K + ridge I`` is not positive definite in this precision; the message
        says to add a ridge or use float64.
    """
    t0 = time.perf_counter()
    n = K.shape[0]
    if ridge:
        backend.add_diagonal_(K, ridge)
    dtype = np.dtype(str(K.dtype).replace("torch.", ""))
    try:
        factor = backend.cholesky_inplace(K)
    except np.linalg.LinAlgError as exc:
        raise np.linalg.LinAlgError(
            f"Cholesky failed: K + {ridge} I is not positive definite in {dtype} ({exc}); "
            f"use float64, a ridge > 0, or solver='pcg'"
        ) from None
    alpha = backend.cholesky_solve(factor, backend.asarray(Y, dtype))
    alpha = backend.astype(alpha, np.float64)
    report = SolveReport(solver="cholesky", dtype=str(dtype), converged=True)
    report.notes["factor_seconds"] = time.perf_counter() - t0
    report.notes["n"] = n
    return alpha, report


# ------------------------------------------------------------------------------ PCG
class NystromPreconditioner:
    """Rank-``r`` Nystrom preconditioner for ``K + mu I`` from ``s`` landmarks.

    With ``K ~ U diag(lam) U^T`` (``U`` orthonormal, ``n x r``), applies
    ``P^{-1} = (lam_r + mu) U (diag(lam) + mu)^{-1} U^T + (I - U U^T)``, which maps
    the top ``r`` eigenvalues of ``K + mu I`` to about ``lam_r + mu`` and leaves
    the rest alone.

    Parameters
    ----------
    op : StoredKernel or OnTheFlyKernel
    rank : int
        ``r``, the number of eigenpairs kept (at most the number of landmarks).
    landmarks : int
        ``s``, landmark points drawn uniformly without replacement.
    mu : float
        The ridge.
    rng : numpy.random.Generator
    """

    def __init__(self, op, *, rank: int, landmarks: int, mu: float, rng: np.random.Generator):
        be = op.backend
        n = op.n
        s = int(min(max(landmarks, rank), n))
        idx = np.sort(rng.choice(n, size=s, replace=False))
        bidx = be.asarray(idx)
        C = op.rows(bidx)  # (s, n) = K[S, :] = K[:, S]^T
        W = be.astype(C[:, bidx], np.float64)
        lam_w, V = be.eigh(W)
        keep = int((lam_w > lam_w[0] * 1e-7).sum())
        r = int(min(rank, keep))
        Vr = be.astype(V[:, :r] / be.xp.sqrt(lam_w[:r])[None, :], op.dtype)
        # F = K[:, S] V_r lam^{-1/2} (n, r), so that K ~ F F^T; in K's precision
        # (float32 converged in as few CG iterations as float64, at a third of the cost).
        F = be.matmul(C.T, Vr)
        del C
        lam, Q = be.eigh(be.astype(be.matmul(F.T, F), np.float64))  # F = U diag(sqrt(lam)) Q^T
        good = int((lam > lam[0] * 1e-10).sum())
        lam, Q = lam[:good], Q[:, :good]
        self.U = be.matmul(F, be.astype(Q / be.xp.sqrt(lam)[None, :], op.dtype))  # orthonormal
        del F
        self.lam = lam
        self.mu = float(mu)
        self.rank = int(lam.shape[0])
        self.landmarks = s
        self.backend = be
        self._scale = (be.astype(lam[-1:], np.float64) + self.mu) / (lam + self.mu) - 1.0

    def apply(self, R):
        """``P^{-1} R`` for ``R`` of shape (n, c), float64."""
        be = self.backend
        U = self.U
        UR = be.astype(be.matmul(U.T, be.astype(R, U.dtype)), np.float64)  # (r, c)
        return R + be.astype(
            be.matmul(U, be.astype(self._scale[:, None] * UR, U.dtype)), np.float64
        )


def _safe_div(xp, num, den):
    return xp.where(den > 0, num / xp.where(den > 0, den, 1.0), 0.0 * num)


def solve_pcg(
    op,
    Y,
    *,
    ridge: float = 0.0,
    precond=None,
    labels=None,
    tol: float = 1e-3,
    max_epochs: int = 100,
    method: str = "cr",
    callback=None,
):
    """Preconditioned Krylov iterations for ``(K + ridge I) alpha = Y``, one per column.

    Parameters
    ----------
    op : StoredKernel or OnTheFlyKernel
    Y : array, shape (n, c), float64 on the operator's backend
    ridge : float
    precond : NystromPreconditioner, optional
    labels : numpy.ndarray of int, shape (n,), optional
        For the train error; with ``ridge = 0``, stopping needs it to be 0.
    tol : float
        Stop once the relative residual is at most ``tol`` and (with ``labels``
        and ``ridge = 0``: interpolation) the train error is 0.
    max_epochs : int
        At most this many iterations (one pass over ``K`` each).
    method : {"cr", "cg"}
        ``"cg"``: conjugate gradients, which minimize the ``K``-norm of the error;
        on an ill-conditioned ``K`` the residual (hence the train error) swings up
        and down on the way. ``"cr"``: conjugate residuals, the same Krylov space
        and one product with ``K`` per step, minimizing the preconditioned
        residual norm instead, so it decreases monotonically (the default).
    callback : callable, optional
        ``callback(Epoch)`` after each iteration.

    Returns
    -------
    alpha : array, shape (n, c), float64
    report : SolveReport
    """
    if method not in ("cr", "cg"):
        raise ValueError(f"method must be 'cr' or 'cg', got {method!r}")
    be = op.backend
    xp = be.xp
    t0 = time.perf_counter()
    report = SolveReport(solver="pcg", dtype=str(op.dtype))
    report.notes["method"] = method
    ynorm = float((Y * Y).sum()) ** 0.5
    precondition = precond.apply if precond is not None else be.copy  # never alias R

    def apply_k(v):
        kv = op.matmul(v)
        return kv + ridge * v if ridge else kv

    alpha = be.zeros(tuple(Y.shape), np.float64)
    R = be.copy(Y)
    Z = precondition(R)
    P = be.copy(Z)
    if method == "cg":
        rz = (R * Z).sum(0)
    else:
        KZ = apply_k(Z)
        KP = be.copy(KZ)
        zkz = (Z * KZ).sum(0)
    for it in range(1, max_epochs + 1):
        if method == "cg":
            KP = apply_k(P)
            step = _safe_div(xp, rz, (P * KP).sum(0))
            alpha += step[None, :] * P
            R -= step[None, :] * KP
            Z = precondition(R)
            rz_new = (R * Z).sum(0)
            P = Z + _safe_div(xp, rz_new, rz)[None, :] * P
            rz = rz_new
        else:
            Q = precondition(KP)  # M^{-1} K p
            step = _safe_div(xp, zkz, (KP * Q).sum(0))
            alpha += step[None, :] * P
            R -= step[None, :] * KP
            Z -= step[None, :] * Q
            KZ = apply_k(Z)
            zkz_new = (Z * KZ).sum(0)
            beta = _safe_div(xp, zkz_new, zkz)[None, :]
            P = Z + beta * P
            KP = KZ + beta * KP
            zkz = zkz_new
        rel = float((R * R).sum()) ** 0.5 / ynorm
        err = (
            _train_error(be.to_numpy(Y - R - ridge * alpha), labels)
            if labels is not None
            else float("nan")
        )
        if _end_epoch(
            report,
            Epoch(it, err, rel, time.perf_counter() - t0),
            callback,
            tol=tol,
            interpolating=labels is not None and ridge == 0,
        ):
            break
    return alpha, report


def _end_epoch(report, ep, callback, *, tol: float, interpolating: bool) -> bool:
    """Record ``ep``; True (and ``report.converged``) once the residual is below ``tol``
    and, when interpolating labels without a ridge, no training point is misclassified."""
    report.epochs.append(ep)
    if callback is not None:
        callback(ep)
    report.converged = ep.rel_residual <= tol and (not interpolating or ep.train_error == 0.0)
    return report.converged


# ------------------------------------------------------------------------- EigenPro
def solve_eigenpro(
    op,
    Y,
    *,
    ridge: float = 0.0,
    labels=None,
    rng: np.random.Generator,
    top_q: int = 160,
    subsample: int = 4000,
    batch: int | None = None,
    max_batch: int | None = None,
    tol: float = 1e-3,
    max_epochs: int = 20,
    callback=None,
):
    """EigenPro 2: preconditioned mini-batch iterations, kernel blocks on the fly.

    Parameters
    ----------
    op : OnTheFlyKernel or StoredKernel
    Y : array, shape (n, c), float64 on the operator's backend
    ridge : float
    labels : numpy.ndarray of int, optional
    rng : numpy.random.Generator
        Draws the subsample and the order of the mini-batches.
    top_q : int
        Eigendirections flattened by the preconditioner.
    subsample : int
        ``s``, points whose kernel matrix gives the eigensystem.
    batch : int, optional
        Mini-batch size; default: the critical size ``1 / lambda_{q+1}`` of the
        preconditioned operator, capped by ``max_batch``.
    max_batch : int, optional
        Largest batch (memory: ``batch * n`` kernel values); default 4096.
    tol, max_epochs, callback
        As :func:`solve_pcg`. Train error and residual per epoch are *running*
        values: each batch's residual is taken at the coefficients of its own step.

    Returns
    -------
    alpha : array, shape (n, c), float64
    report : SolveReport
    """
    be = op.backend
    n = op.n
    t0 = time.perf_counter()
    report = SolveReport(solver="eigenpro", dtype=str(op.dtype))
    s = int(min(subsample, n))
    sidx = np.sort(rng.choice(n, size=s, replace=False))
    bs = be.asarray(sidx)
    Ks = be.astype(op.block(bs, bs), np.float64)  # K[S, S] only, not s x n
    lam, V = be.eigh(Ks)
    q = int(min(top_q, s - 1))
    lam_tail = float(lam[q]) + ridge * s / n
    lam_q = lam[:q] + ridge * s / n
    D = (1.0 - lam_tail / lam_q) / lam_q  # (q,)
    Vq = V[:, :q]
    lam_new = lam_tail / s  # top eigenvalue of the preconditioned operator, scaled by 1/n
    beta = 1.0 + ridge  # max k(x, x) (+ ridge) for the Gaussian and Laplacian kernels
    m_crit = int(beta / lam_new) + 1
    max_batch = 4096 if max_batch is None else int(max_batch)
    m = int(min(batch or m_crit, max_batch, n))
    eta = m / (beta + (m - 1) * lam_new)
    report.notes.update(
        top_q=q, subsample=s, batch=m, critical_batch=m_crit, step=eta, lambda_q1=float(lam_new)
    )
    alpha = be.zeros(tuple(Y.shape), np.float64)
    ynorm = float((Y * Y).sum()) ** 0.5
    for epoch in range(1, max_epochs + 1):
        order = rng.permutation(n)
        sq_res, wrong = 0.0, 0
        for b0 in range(0, n, m):
            bidx = np.sort(order[b0 : b0 + m])
            bb = be.asarray(bidx)
            Kb = op.rows(bb)  # (m, n)
            g = be.astype(be.matmul(Kb, be.astype(alpha, op.dtype)), np.float64) - Y[bb]
            if ridge:
                g = g + ridge * alpha[bb]
            sq_res += float((g * g).sum())
            if labels is not None:
                wrong += int((be.argmax_rows(g + Y[bb]) != labels[bidx]).sum())
            lr = eta / len(bidx)
            alpha[bb] -= lr * g
            kbs = be.astype(Kb[:, bs], np.float64)  # (m, s) = K(B, S)
            corr = be.matmul(Vq, D[:, None] * be.matmul(Vq.T, be.matmul(kbs.T, g)))
            alpha[bs] += lr * corr
        rel = sq_res**0.5 / ynorm
        err = wrong / n if labels is not None else float("nan")
        if _end_epoch(
            report,
            Epoch(epoch, err, rel, time.perf_counter() - t0),
            callback,
            tol=tol,
            interpolating=labels is not None and ridge == 0,
        ):
            break
    return alpha, report
