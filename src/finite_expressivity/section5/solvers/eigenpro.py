"""EigenPro 2 (Ma & Belkin, 2019): preconditioned mini-batch iterations on the fly.

Richardson iterations on mini-batches, preconditioned by flattening the top ``q``
eigenvalues of a subsample's kernel; kernel blocks are computed as needed, so the
memory is one block. Each epoch costs one evaluation of the whole kernel.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .outcome import BestIterate, Epoch, SolveReport
from .pcg import end_epoch

__all__ = ["_solve_eigenpro"]


@dataclass
class _Preconditioner:
    """The subsample ``S``, its top eigenvectors and the step size."""

    bs: object  # indices of S on the backend
    Vq: object  # (s, q)
    D: object  # (q,)
    batch: int
    eta: float
    notes: dict


def _setup(op, *, ridge, rng, top_q, subsample, batch, max_batch) -> _Preconditioner:
    be, n = op.backend, op.n
    s = int(min(subsample, n))
    bs = be.asarray(np.sort(rng.choice(n, size=s, replace=False)))
    lam, V = be.eigh(be.astype(op.block(bs, bs), np.float64))  # K[S, S] only, not s x n
    q = int(min(top_q, s - 1))
    lam_tail = float(lam[q]) + ridge * s / n
    lam_q = lam[:q] + ridge * s / n
    D = (1.0 - lam_tail / lam_q) / lam_q  # (q,)
    lam_new = lam_tail / s  # top eigenvalue of the preconditioned operator, scaled by 1/n
    beta = 1.0 + ridge  # max k(x, x) (+ ridge) for the Gaussian and Laplacian kernels
    m_crit = int(beta / max(lam_new, 1e-300)) + 1
    m = int(min(batch or m_crit, 4096 if max_batch is None else int(max_batch), n))
    eta = m / (beta + (m - 1) * lam_new)
    notes = dict(
        top_q=q, subsample=s, batch=m, critical_batch=m_crit, step=eta, lambda_q1=float(lam_new)
    )
    return _Preconditioner(bs, V[:, :q], D, m, eta, notes)


def _epoch(op, Y, alpha, pre, labels, ridge, rng):
    """One pass over the data in mini-batches; running squared residual and errors."""
    be, n, m = op.backend, op.n, pre.batch
    order = rng.permutation(n)
    sq_res, wrong = 0.0, 0
    for b0 in range(0, n, m):
        bidx = np.sort(order[b0 : b0 + m])
        bb = be.asarray(bidx)
        Kb = op.rows(bb)  # (m, n)
        g = be.astype(be.matmul(Kb, be.astype(alpha, op.dtype)), np.float64) - Y[bb]
        if ridge:
            g = g + ridge * alpha[bb]
        sq_res += float(be.xp.sum(g * g))
        if labels is not None:
            wrong += int(np.sum(be.argmax_rows(g + Y[bb]) != labels[bidx]))
        lr = pre.eta / len(bidx)
        alpha[bb] -= lr * g
        kbs = be.astype(Kb[:, pre.bs], np.float64)  # (m, s) = K(B, S)
        corr = be.matmul(pre.Vq, pre.D[:, None] * be.matmul(pre.Vq.T, be.matmul(kbs.T, g)))
        alpha[pre.bs] += lr * corr
    return sq_res, wrong


def _solve_eigenpro(
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
        As :func:`~.pcg._solve_pcg`. Train error and residual per epoch are *running*
        values: each batch's residual is taken at the coefficients of its own step.

    Returns
    -------
    alpha : array, shape (n, c), float64
        The end-of-epoch iterate with the lowest running residual (the zero start if
        none was lower).
    report : SolveReport
    """
    be = op.backend
    t0 = time.perf_counter()
    report = SolveReport(solver="eigenpro", dtype=str(op.dtype))
    pre = _setup(
        op,
        ridge=ridge,
        rng=rng,
        top_q=top_q,
        subsample=subsample,
        batch=batch,
        max_batch=max_batch,
    )
    report.notes.update(pre.notes)
    alpha = be.zeros(tuple(Y.shape), np.float64)
    ynorm = float(be.xp.sum(Y * Y)) ** 0.5
    best = BestIterate(be, tuple(Y.shape), patience=max(5, max_epochs // 4))
    for epoch in range(1, max_epochs + 1):
        sq_res, wrong = _epoch(op, Y, alpha, pre, labels, ridge, rng)
        err = wrong / op.n if labels is not None else float("nan")
        ep = Epoch(epoch, err, sq_res**0.5 / ynorm, time.perf_counter() - t0)
        if end_epoch(report, ep, best, alpha, callback, tol=tol, labels=labels, ridge=ridge):
            break
    report.best_epoch = best.epoch
    return best.alpha, report
