"""Many targets or ridges on one kernel matrix: the ridge sweep and the corrupted labels.

One kernel matrix serves every ridge of a sweep (:func:`solve_many`) and one Cholesky
factor every target of a set (:func:`exact_fits`); both go through the one solver
dispatcher (:func:`~.solvers.solve`), and test scores come from one pass of blocked
kernel products for all solutions at once.
"""

from __future__ import annotations

import numpy as np

from .backend import get_backend
from .gram import kernel_matmul, kernel_matrix
from .interpolant import one_hot
from .paths import choose_paths
from .solvers import SolveOptions, solve

__all__ = ["solve_many", "exact_fits"]


def _fit_row(lam, sol) -> dict:
    return {
        "ridge": lam,
        "train_error": sol.train_error,
        "rel_residual": sol.rel_residual,
        "norm": float(np.sqrt(np.maximum((sol.alpha * sol.KA).sum(0), 0)).sum()),
        "epochs": len(sol.report.epochs),
        "converged": sol.converged,
    }


def _paths_for(be, X, kv):
    return choose_paths(be, d=X.shape[1], uint8=X.dtype == np.uint8, n=X.shape[0], kv=kv)


def _scores(Xte, X, A, kern, dtype, be, paths, progress):
    with progress.stage("predict", total=Xte.shape[0]) as st:
        S = kernel_matmul(
            Xte,
            X,
            A,
            kernel=kern,
            dtype=dtype,
            backend=be,
            progress=st.update,
            distances=paths.distances,
            gemm=paths.gemm,
        )
    return be.to_numpy(S)


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
        ``ridge, train_error, rel_residual, norm, epochs, converged`` per ridge.
    scores : list of numpy.ndarray, shape (n_test, 10)
    """
    be = get_backend("auto", device)
    paths = _paths_for(be, X, kv=not exact)
    dtype = "float64" if exact else "float32"
    with progress.stage("kernel matrix", total=X.shape[0]) as st:
        K = kernel_matrix(
            X,
            kernel=kern,
            dtype=dtype,
            backend=be,
            progress=st.update,
            distances=paths.distances,
            gemm=paths.gemm,
        )
    opts = SolveOptions(solver="cholesky" if exact else "pcg", tol=5e-2, max_epochs=60, seed=seed)
    Y = one_hot(y, 10)
    alphas, fits = [], []
    for lam in ridges:
        with progress.stage(f"solve ridge {lam:g}"):
            sol = solve(
                X, Y, kernel=kern, ridge=lam, labels=y, options=opts, backend=be, paths=paths, K=K
            )
        paths = sol.paths  # a K @ V race, if one ran, is decided now
        fits.append(_fit_row(lam, sol))
        alphas.append(sol.alpha)
    del K
    S = _scores(Xte, X, np.concatenate(alphas, 1), kern, dtype, be, paths, progress)
    return fits, [S[:, 10 * i : 10 * (i + 1)] for i in range(len(ridges))]


def exact_fits(X, Xte, ys, kern, *, device="auto", progress) -> list:
    """Exact (float64 Cholesky) interpolants of several label vectors, one factorization.

    Returns one dict per label vector: ``train_error, norm`` and ``test_scores``
    (numpy.ndarray, shape (n_test, 10)).
    """
    be = get_backend("auto", device)
    paths = _paths_for(be, X, kv=False)
    Y = np.concatenate([one_hot(y, 10) for y in ys], 1)
    sol = solve(
        X,
        Y,
        kernel=kern,
        options=SolveOptions(solver="cholesky"),
        backend=be,
        paths=paths,
        progress=progress,
    )
    S = _scores(Xte, X, sol.alpha, kern, "float64", be, paths, progress)
    rows = []
    for i, y in enumerate(ys):
        cols = slice(10 * i, 10 * i + 10)
        tr, a = sol.KA[:, cols], sol.alpha[:, cols]
        rows.append(
            {
                "train_error": float(np.mean(tr.argmax(1) != y)),
                "norm": float(np.sqrt(np.maximum((a * tr).sum(0), 0)).sum()),
                "test_scores": S[:, cols],
            }
        )
    return rows
