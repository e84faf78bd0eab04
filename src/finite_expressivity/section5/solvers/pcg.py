"""Nystrom-preconditioned conjugate residuals (or gradients) on a stored ``K``.

One recurrence per output column, preconditioned by a rank-``r`` Nystrom
approximation of ``K`` from ``s`` landmark columns (Frangella, Tropp & Udell,
2023): each iteration is one pass over ``K``.
"""

from __future__ import annotations

import time

import numpy as np

from .outcome import BestIterate, Epoch, SolveReport

__all__ = ["NystromPreconditioner", "_solve_pcg"]


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
        xp = be.xp
        n = op.n
        s = int(min(max(landmarks, rank), n))
        idx = np.sort(rng.choice(n, size=s, replace=False))
        bidx = be.asarray(idx)
        C = op.rows(bidx)  # (s, n) = K[S, :] = K[:, S]^T
        W = be.astype(C[:, bidx], np.float64)
        lam_w, V = be.eigh(W)
        keep = int(xp.sum(lam_w > lam_w[0] * 1e-7))
        r = int(min(rank, keep))
        Vr = be.astype(V[:, :r] / xp.sqrt(lam_w[:r])[None, :], op.dtype)
        # F = K[:, S] V_r lam^{-1/2} (n, r), so that K ~ F F^T; in K's precision
        # (float32 converged in as few CG iterations as float64, at a third of the cost).
        F = be.matmul(C.T, Vr)
        del C
        lam, Q = be.eigh(be.astype(be.matmul(F.T, F), np.float64))  # F = U diag(sqrt(lam)) Q^T
        good = int(xp.sum(lam > lam[0] * 1e-10))
        lam, Q = lam[:good], Q[:, :good]
        self.U = be.matmul(F, be.astype(Q / xp.sqrt(lam)[None, :], op.dtype))  # orthonormal
        del F
        self.lam = lam
        self.mu = float(mu)
        self.rank = int(lam.shape[0])
        self.landmarks = s
        self.backend = be
        self._scale = (lam[-1:] + self.mu) / (lam + self.mu) - 1.0

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


class _Krylov:
    """State of the preconditioned recurrences (one per column of ``Y``)."""

    def __init__(self, apply_k, precondition, Y, method, backend):
        be = backend
        self.xp, self.method = be.xp, method
        self.apply_k, self.precondition = apply_k, precondition
        self.alpha = be.zeros(tuple(Y.shape), np.float64)
        self.restart(be.copy(Y))

    def restart(self, R):
        """Start the recurrences afresh from the residual ``R`` (keeping ``alpha``)."""
        self.R = R
        self.Z = self.precondition(R)
        self.P = self.Z + 0.0
        if self.method == "cg":
            self.rz = self.xp.sum(self.R * self.Z, axis=0)
        else:
            self.KP = self.apply_k(self.Z)
            self.zkz = self.xp.sum(self.Z * self.KP, axis=0)

    def step(self):
        """One iteration: one product with ``K``."""
        xp = self.xp
        if self.method == "cg":
            KP = self.apply_k(self.P)
            step = _safe_div(xp, self.rz, xp.sum(self.P * KP, axis=0))
            self.alpha += step[None, :] * self.P
            self.R -= step[None, :] * KP
            self.Z = self.precondition(self.R)
            rz_new = xp.sum(self.R * self.Z, axis=0)
            self.P = self.Z + _safe_div(xp, rz_new, self.rz)[None, :] * self.P
            self.rz = rz_new
            return
        Q = self.precondition(self.KP)  # M^{-1} K p
        step = _safe_div(xp, self.zkz, xp.sum(self.KP * Q, axis=0))
        self.alpha += step[None, :] * self.P
        self.R -= step[None, :] * self.KP
        self.Z -= step[None, :] * Q
        KZ = self.apply_k(self.Z)
        zkz_new = xp.sum(self.Z * KZ, axis=0)
        beta = _safe_div(xp, zkz_new, self.zkz)[None, :]
        self.P = self.Z + beta * self.P
        self.KP = KZ + beta * self.KP
        self.zkz = zkz_new


def _solve_pcg(
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
        The iterate with the lowest residual (the zero start if none was lower).
    report : SolveReport
        ``notes["kernel_passes"]``: products with ``K``, checks and restarts included.
    KA : array or None
        ``K @ alpha`` computed from scratch when the solve converged (it confirms the
        recurrence's residual), else None.
    """
    if method not in ("cr", "cg"):
        raise ValueError(f"method must be 'cr' or 'cg', got {method!r}")
    be = op.backend
    t0 = time.perf_counter()
    report = SolveReport(solver="pcg", dtype=str(op.dtype), notes={"method": method})
    ynorm = float(be.xp.sum(Y * Y)) ** 0.5

    def apply_k(v):
        kv = op.matmul(v)
        return kv + ridge * v if ridge else kv

    state = _Krylov(apply_k, precond.apply if precond else be.copy, Y, method, be)
    best = BestIterate(be, tuple(Y.shape))
    checked, passes = None, 1  # the starting product K z_0 (conjugate residuals)
    for it in range(1, max_epochs + 1):
        state.step()
        passes += 1
        rel = float(be.xp.sum(state.R * state.R)) ** 0.5 / ynorm
        err = float("nan")
        if labels is not None:
            err = float(np.mean(be.argmax_rows(Y - state.R - ridge * state.alpha) != labels))
        ep = Epoch(it, err, rel, time.perf_counter() - t0)
        if end_epoch(report, ep, best, state.alpha, callback, tol=tol, labels=labels, ridge=ridge):
            if report.stopped != "converged":
                break
            checked = _confirm(op, Y, state, ridge, labels, tol, report)
            passes += 1 if checked is not None else 2  # the check (and the restart)
            if checked is not None:
                break
    report.best_epoch = best.epoch
    report.notes["kernel_passes"] = passes
    return best.alpha, report, checked


def _confirm(op, Y, state, ridge, labels, tol, report):
    """``K @ alpha`` from scratch once the recurrence says it converged: returned when the
    true residual (and train error) agree; else the recurrence restarts from the true
    residual (float32 rounding lets the two drift apart) and the iterations go on."""
    be = op.backend
    KA = op.matmul(state.alpha)
    R = Y - KA - ridge * state.alpha
    rel = float(be.xp.sum(R * R)) ** 0.5 / float(be.xp.sum(Y * Y)) ** 0.5
    ok = labels is None or ridge != 0 or bool(np.all(be.argmax_rows(KA) == labels))
    if rel <= tol and ok:
        return KA
    report.converged, report.stopped = False, "budget"
    report.notes["restarts"] = report.notes.get("restarts", 0) + 1
    state.restart(R)
    return None


def end_epoch(report, ep, best, alpha, callback, *, tol, labels, ridge) -> bool:
    """Record ``ep`` and offer ``alpha`` to ``best``; True when the iterations should end
    (converged, diverged or stalled), with ``report.stopped`` saying which."""
    report.epochs.append(ep)
    if callback is not None:
        callback(ep)
    interpolating = labels is not None and ridge == 0
    done = ep.rel_residual <= tol and (not interpolating or ep.train_error == 0.0)
    why = best.offer(ep.epoch, ep.rel_residual, alpha)
    if done:
        if best.epoch != ep.epoch:
            best.residual, best.epoch, best.alpha = ep.rel_residual, ep.epoch, alpha + 0.0
        report.converged, report.stopped = True, "converged"
        return True
    report.stopped = why or "budget"
    return bool(why)
