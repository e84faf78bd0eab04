"""Many targets or ridges on one kernel matrix: the ridge sweep and the corrupted labels.

One kernel matrix serves every ridge of a sweep (:func:`solve_many`) and one Cholesky
factor every target of a set (:func:`exact_fits`); test scores come from one pass of
blocked kernel products for all solutions at once.
"""

from __future__ import annotations

import numpy as np

from .backend import get_backend
from .gram import kernel_matmul, kernel_matrix
from .interpolant import one_hot
from .solvers import NystromPreconditioner, StoredKernel, solve_cholesky, solve_pcg

__all__ = ["solve_many", "exact_fits"]


def _fit_row(lam, A, KA, Y, y, epochs) -> dict:
    return {
        "ridge": lam,
        "train_error": float(np.mean(KA.argmax(1) != y)),
        "rel_residual": float(np.linalg.norm(KA + lam * A - Y) / np.linalg.norm(Y)),
        "norm": float(np.sqrt(np.maximum((A * KA).sum(0), 0)).sum()),
        "epochs": epochs,
    }


def _solve_one(be, K, Y, y, lam, *, exact, seed):
    if exact:
        Kc = be.copy(K)
        a, rep = solve_cholesky(Kc, Y, ridge=lam, backend=be)
        del Kc
        return a, be.matmul(K, a), rep
    op = StoredKernel(K, be)
    pre = NystromPreconditioner(
        op, rank=1000, landmarks=2000, mu=lam, rng=np.random.default_rng(seed)
    )
    a, rep = solve_pcg(op, Y, ridge=lam, precond=pre, labels=y, tol=5e-2, max_epochs=60)
    return a, op.matmul(a), rep


def solve_many(X, y, Xte, kern, ridges, *, device="auto", seed=0, progress, exact):
    """Solutions for several ridges sharing one kernel matrix, and their test scores.

    Parameters
    ----------
    X, Xte : numpy.ndarray
        Train and test features.
    y : numpy.ndarray of int
        Training labels (10 classes).
    kern : Kernel
    ridges : sequence of float
    exact : bool
        Cholesky in float64 (else Nystrom-PCG on a float32 matrix, to a 5% residual).

    Returns
    -------
    fits : list of dict
        ``ridge, train_error, rel_residual, norm, epochs`` per ridge.
    scores : list of numpy.ndarray, shape (n_test, 10)
    """
    be = get_backend("auto", device)
    Y = be.asarray(one_hot(y, 10), np.float64)
    Yn = be.to_numpy(Y)
    dtype = "float64" if exact else "float32"
    alphas, fits = [], []
    with progress.stage("kernel matrix", total=X.shape[0]) as st:
        K = kernel_matrix(X, kernel=kern, dtype=dtype, backend=be, progress=st.update)
    for lam in ridges:
        with progress.stage(f"solve ridge {lam:g}"):
            a, KA, rep = _solve_one(be, K, Y, y, lam, exact=exact, seed=seed)
        A = be.to_numpy(a)
        fits.append(_fit_row(lam, A, be.to_numpy(KA), Yn, y, len(rep.epochs)))
        alphas.append(A)
    del K
    with progress.stage("predict", total=Xte.shape[0]) as st:
        S = be.to_numpy(
            kernel_matmul(
                Xte,
                X,
                np.concatenate(alphas, 1),
                kernel=kern,
                dtype=dtype,
                backend=be,
                progress=st.update,
            )
        )
    return fits, [S[:, 10 * i : 10 * (i + 1)] for i in range(len(ridges))]


def exact_fits(X, Xte, ys, kern, *, device="auto", progress) -> list:
    """Exact (float64 Cholesky) interpolants of several label vectors, one factorization.

    Returns one dict per label vector: ``train_error, norm`` and ``test_scores``
    (numpy.ndarray, shape (n_test, 10)).
    """
    be = get_backend("auto", device)
    n = X.shape[0]
    Y = be.asarray(np.concatenate([one_hot(y, 10) for y in ys], 1), np.float64)
    with progress.stage("kernel matrix", total=n) as st:
        K = kernel_matrix(
            X, kernel=kern, dtype="float64", backend=be, lower_only=True, progress=st.update
        )
    with progress.stage("cholesky"):
        A, _ = solve_cholesky(K, Y, backend=be)
        del K
    A = be.to_numpy(A)
    with progress.stage("predict", total=n + Xte.shape[0]) as st:
        S = be.to_numpy(
            kernel_matmul(
                np.concatenate([X, Xte]),
                X,
                A,
                kernel=kern,
                dtype="float64",
                backend=be,
                progress=st.update,
            )
        )
    rows = []
    for i, y in enumerate(ys):
        tr, a = S[:n, 10 * i : 10 * i + 10], A[:, 10 * i : 10 * i + 10]
        rows.append(
            {
                "train_error": float(np.mean(tr.argmax(1) != y)),
                "norm": float(np.sqrt(np.maximum((a * tr).sum(0), 0)).sum()),
                "test_scores": S[n:, 10 * i : 10 * i + 10],
            }
        )
    return rows
