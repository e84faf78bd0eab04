"""Solvers against a float64 NumPy solve; the solver plan; the estimator end to end."""

from __future__ import annotations

import numpy as np
import pytest

from finite_expressivity.section5.backend import get_backend
from finite_expressivity.section5.gram import Kernel, kernel_matrix
from finite_expressivity.section5.interpolant import KernelInterpolant, one_hot
from finite_expressivity.section5.solvers import (
    NystromPreconditioner,
    OnTheFlyKernel,
    StoredKernel,
    plan_solver,
)
from finite_expressivity.section5.solvers.cholesky import _solve_cholesky as solve_cholesky
from finite_expressivity.section5.solvers.eigenpro import _solve_eigenpro as solve_eigenpro
from finite_expressivity.section5.solvers.pcg import _solve_pcg as solve_pcg


def _problem(rng, n=400, d=6, c=3):
    X = rng.uniform(0.05, 1.0, size=(n, d))
    y = rng.integers(0, c, size=n)
    return X, y, one_hot(y, c)


@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_cholesky_matches_numpy(kbackend, rng, ridge):
    X, y, Y = _problem(rng)
    k = Kernel("laplacian", 0.7)
    ref = np.linalg.solve(k.numpy(X, X) + ridge * np.eye(len(X)), Y)
    K = kernel_matrix(X, kernel=k, dtype="float64", backend=kbackend, lower_only=True)
    a, rep = solve_cholesky(K, kbackend.asarray(Y), ridge=ridge, backend=kbackend)
    np.testing.assert_allclose(kbackend.to_numpy(a), ref, rtol=1e-8, atol=1e-8)
    assert rep.solver == "cholesky" and rep.converged


@pytest.mark.parametrize("method", ["cr", "cg"])
@pytest.mark.parametrize("ridge", [0.0, 0.05])
def test_pcg_converges_to_the_exact_solution(kbackend, rng, ridge, method):
    X, y, Y = _problem(rng)
    k = Kernel("laplacian", 0.7)
    Kref = k.numpy(X, X) + ridge * np.eye(len(X))
    ref = np.linalg.solve(Kref, Y)
    K = kernel_matrix(X, kernel=k, dtype="float64", backend=kbackend)
    op = StoredKernel(K, kbackend)
    pre = NystromPreconditioner(op, rank=40, landmarks=80, mu=ridge, rng=rng)
    a, rep, _ = solve_pcg(
        op,
        kbackend.asarray(Y),
        ridge=ridge,
        precond=pre,
        labels=y,
        tol=1e-10,
        max_epochs=300,
        method=method,
    )
    a = kbackend.to_numpy(a)
    assert rep.converged and rep.epochs[-1].train_error == 0.0
    assert np.linalg.norm(Kref @ a - Y) / np.linalg.norm(Y) <= 1e-9
    np.testing.assert_allclose(a, ref, rtol=0, atol=1e-6 * np.abs(ref).max())


def test_preconditioner_is_symmetric_positive_and_helps(rng):
    X, y, Y = _problem(rng, n=300)
    be = get_backend("numpy")
    K = kernel_matrix(X, kernel=Kernel("gaussian", 0.5), dtype="float64", backend=be)
    op = StoredKernel(K, be)
    pre = NystromPreconditioner(op, rank=60, landmarks=120, mu=0.0, rng=rng)
    M = pre.apply(np.eye(300))  # P^{-1}
    np.testing.assert_allclose(M, M.T, atol=1e-10)
    assert np.linalg.eigvalsh(M).min() > 0
    U = pre.U
    np.testing.assert_allclose(U.T @ U, np.eye(U.shape[1]), atol=1e-8)
    ev = np.linalg.eigvalsh(K)
    ev_pre = np.sort(np.linalg.eigvals(M @ K).real)
    assert ev_pre[-1] / ev_pre[0] < (ev[-1] / ev[0]) / 10  # condition number cut 10x
    plain = solve_pcg(op, Y, labels=y, tol=1e-12, max_epochs=100)[1]
    precd = solve_pcg(op, Y, precond=pre, labels=y, tol=1e-12, max_epochs=100)[1]
    best = [min(e.rel_residual for e in r.epochs) for r in (plain, precd)]
    assert best[1] < best[0]


def test_conjugate_residuals_decrease_monotonically(rng):
    X, y, Y = _problem(rng, n=300)
    be = get_backend("numpy")
    op = StoredKernel(
        kernel_matrix(X, kernel=Kernel("gaussian", 0.4), dtype="float64", backend=be), be
    )
    pre = NystromPreconditioner(op, rank=40, landmarks=80, mu=0.0, rng=rng)
    _, cr, _ = solve_pcg(op, Y, precond=pre, tol=1e-12, max_epochs=60, method="cr")
    # monotone in the preconditioned norm; in the 2-norm, within a small factor
    res = [e.rel_residual for e in cr.epochs]
    assert all(b <= 3 * a for a, b in zip(res, res[1:])) and res[-1] < res[0] / 10
    with pytest.raises(ValueError, match="method must be"):
        solve_pcg(op, Y, method="gmres")


def test_eigenpro_interpolates_on_the_fly(rng):
    X, y, Y = _problem(rng, n=500, d=8)
    be = get_backend("numpy")
    op = OnTheFlyKernel(X, Kernel("laplacian", 1.0), be, dtype="float64")
    a, rep = solve_eigenpro(
        op, Y, labels=y, rng=rng, top_q=20, subsample=200, tol=0.05, max_epochs=60
    )
    assert rep.converged and rep.epochs[-1].train_error == 0.0
    assert rep.epochs[-1].rel_residual < rep.epochs[0].rel_residual
    Kref = Kernel("laplacian", 1.0).numpy(X, X)
    res = np.linalg.norm(Kref @ a - Y) / np.linalg.norm(Y)
    assert res < 0.1
    assert np.mean((Kref @ a).argmax(1) != y) == 0.0


def test_on_the_fly_matmul_equals_stored(rng):
    X, _, Y = _problem(rng, n=210)
    be = get_backend("numpy")
    k = Kernel("gaussian", 0.6)
    fly = OnTheFlyKernel(X, k, be, dtype="float64", workspace=50 * 210 * 8)
    np.testing.assert_allclose(fly.matmul(Y), k.numpy(X, X) @ Y, atol=1e-12)


def test_plan_solver_choices_and_refusals():
    cpu = get_backend("numpy")
    gib = 2**30
    assert plan_solver(5000, 784, backend=cpu, memory_bytes=20 * gib).solver == "cholesky"
    p = plan_solver(60000, 784, backend=cpu, memory_bytes=20 * gib)
    assert (p.solver, p.dtype) == ("pcg", "float32")
    assert plan_solver(60000, 784, backend=cpu, memory_bytes=8 * gib).solver == "eigenpro"
    p = plan_solver(60000, 784, solver="cholesky", backend=cpu, memory_bytes=20 * gib)
    assert p.dtype == "float32"  # float64 does not fit, float32 does
    with pytest.raises(MemoryError, match="over the .* budget; use solver='eigenpro'"):
        plan_solver(60000, 784, solver="cholesky", backend=cpu, memory_bytes=8 * gib)
    with pytest.raises(MemoryError, match="solver='pcg' stores"):
        plan_solver(60000, 784, solver="pcg", backend=cpu, memory_bytes=8 * gib)
    with pytest.raises(ValueError, match="solver must be one of"):
        plan_solver(10, 2, solver="lu", backend=cpu, memory_bytes=gib)


@pytest.mark.parametrize("solver", ["cholesky", "pcg", "eigenpro"])
def test_estimator_fits_predicts_and_reports_the_norm(tiny_dataset, solver):
    ds = tiny_dataset
    X = ds.train_images.reshape(len(ds.train_images), -1)
    Xt = ds.test_images.reshape(len(ds.test_images), -1)
    m = KernelInterpolant(
        "gaussian",
        None,
        solver=solver,
        input_scale=1 / 255,
        tol=1e-3,
        max_epochs=200,
        rank=50,
        top_q=20,
        seed=3,
    ).fit(X, ds.train_labels)
    assert m.train_error_ == 0.0 and m.report_.solver == solver
    k = Kernel("gaussian", m.bandwidth_)
    Kref = k.numpy(X / 255.0, X / 255.0)
    A = m.alpha_
    np.testing.assert_allclose(m.norms_, np.sqrt(np.einsum("ic,ij,jc->c", A, Kref, A)), rtol=1e-4)
    assert m.norm_ == pytest.approx(m.norms_.sum())
    assert np.mean(m.predict(Xt) != ds.test_labels) < 0.2  # the blobs are learnable
    scores = m.decision_function(Xt)
    np.testing.assert_allclose(scores, k.numpy(Xt / 255.0, X / 255.0) @ A, atol=1e-4)


def test_ridge_shrinks_the_norm(tiny_dataset):
    ds = tiny_dataset
    X = ds.train_images.reshape(len(ds.train_images), -1)
    norms = [
        KernelInterpolant("gaussian", 2.0, ridge=r, solver="cholesky", input_scale=1 / 255)
        .fit(X, ds.train_labels)
        .norm_
        for r in (0.0, 0.1, 1.0)
    ]
    assert norms[0] > norms[1] > norms[2]


def test_estimator_input_errors(rng):
    X = rng.uniform(size=(20, 3))
    y = rng.integers(0, 2, 20)
    with pytest.raises(ValueError, match="ridge must be a finite number >= 0"):
        KernelInterpolant(ridge=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="one entry per row"):
        KernelInterpolant().fit(X, y[:5])
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        KernelInterpolant().fit(Xn, y)
    with pytest.raises(ValueError, match="not fitted"):
        KernelInterpolant().predict(X)
    with pytest.raises(MemoryError, match="budget"):
        KernelInterpolant(solver="cholesky", memory_gb=1e-6).fit(X, y)


def test_with_a_ridge_the_residual_alone_stops_the_solver(rng):
    """lambda > 0 does not interpolate: a train error above 0 must not keep it running."""
    X, y, Y = _problem(rng, n=300)
    be = get_backend("numpy")
    op = StoredKernel(
        kernel_matrix(X, kernel=Kernel("gaussian", 0.5), dtype="float64", backend=be), be
    )
    flipped = (y + 1) % 3  # labels no smooth fit gets right everywhere
    flipped[::2] = y[::2]
    _, rep, _ = solve_pcg(
        op, one_hot(flipped, 3), ridge=10.0, labels=flipped, tol=1e-6, max_epochs=200
    )
    assert rep.converged and len(rep.epochs) < 200 and rep.epochs[-1].train_error > 0


# ---------------------------------------------------------------- never worse than the start
from finite_expressivity.section5.solvers import SolveOptions, SolverWarning, solve  # noqa: E402
from finite_expressivity.section5.solvers.cholesky import safe_ridge  # noqa: E402
from finite_expressivity.section5.solvers.dispatch import _check  # noqa: E402
from finite_expressivity.section5.solvers.outcome import BestIterate, SolveReport  # noqa: E402


def _blobs_xy(tiny_dataset):
    ds = tiny_dataset
    return ds.train_images.reshape(len(ds.train_images), -1), ds.train_labels


def test_best_iterate_keeps_the_lowest_and_says_why_it_stops():
    be = get_backend("numpy")
    best = BestIterate(be, (3, 2), patience=3, blowup=100.0)
    a = np.full((3, 2), 7.0)
    assert best.offer(1, 0.5, a) == "" and best.epoch == 1
    a[:] = 9.0  # the solver goes on updating its array in place
    assert best.alpha[0, 0] == 7.0  # the best was copied
    assert best.offer(2, 0.7, a) == "" and best.epoch == 1
    assert best.offer(3, 60.0, a) == "diverged"  # above 100 x 0.5
    assert best.offer(4, 0.6, a) == "stalled"  # three epochs without a new best
    assert BestIterate(be, (1, 1)).offer(1, float("nan"), a) == "diverged"
    assert BestIterate(be, (1, 1)).residual == 1.0  # the zero start


def test_check_returns_the_zero_start_when_an_answer_is_worse():
    Y = np.eye(4)[:, :2] + 0.5
    alpha = np.full((4, 2), 3.0)
    KA = 40.0 * Y  # residual 39: far worse than alpha = 0
    rep = SolveReport(solver="pcg", dtype="float32", converged=False, stopped="diverged")
    a, ka, rel, err = _check(alpha, KA, Y, np.array([0, 1, 0, 1]), 0.0, rep, 0.05)
    assert rel == 1.0 and not a.any() and not ka.any() and rep.best_epoch == 0
    assert rep.message.startswith("pcg diverged") and "smaller bandwidth" in rep.message


@pytest.mark.parametrize("solver", ["cholesky", "pcg", "eigenpro"])
@pytest.mark.parametrize("bandwidth", [1e-3, 3.0, 1e3, 1e6])
def test_far_too_wide_or_narrow_kernels_interpolate_or_say_so(tiny_dataset, solver, bandwidth):
    """Every solver either interpolates or says it did not, and never returns worse than 0."""
    X, y = _blobs_xy(tiny_dataset)
    k = Kernel("gaussian", bandwidth, scale=1 / 255)
    opts = SolveOptions(solver=solver, rank=50, top_q=20, max_epochs=40)
    be = get_backend("auto", "cpu")
    try:
        sol = solve(X, one_hot(y, 3), kernel=k, labels=y, options=opts, backend=be)
    except np.linalg.LinAlgError as exc:  # only an exact solve may refuse
        assert solver == "cholesky" and bandwidth == 1e6
        msg = str(exc)
        assert "float64" in msg and "use float64" not in msg
        assert f"ridge of at least {safe_ridge(300, 'float64'):.1g}" in msg
        assert "a bandwidth below 1e+06 (the median rule gives" in msg
        return
    assert 0.0 <= sol.rel_residual <= 1.0
    assert sol.train_error == 0.0 or (not sol.converged and sol.report.message)
    if not sol.converged:
        assert "without reaching its tolerance" in sol.report.message


def test_the_refusals_remedy_works_there(tiny_dataset):
    X, y = _blobs_xy(tiny_dataset)
    k = Kernel("gaussian", 1e6, scale=1 / 255)  # K is all ones in float64
    be = get_backend("numpy")
    opts = SolveOptions(solver="cholesky")
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite in float64"):
        solve(X, one_hot(y, 3), kernel=k, labels=y, options=opts, backend=be)
    sol = solve(
        X, one_hot(y, 3), kernel=k, ridge=safe_ridge(300, "float64"), options=opts, backend=be
    )
    assert sol.rel_residual <= 1.0 and sol.report.converged
    narrow = Kernel("gaussian", bandwidth_rule_of(X), scale=1 / 255)
    sol = solve(X, one_hot(y, 3), kernel=narrow, labels=y, options=opts, backend=be)
    assert sol.train_error == 0.0  # the median rule's bandwidth interpolates


def bandwidth_rule_of(X):
    from finite_expressivity.section5.gram import bandwidth_rule

    return bandwidth_rule(X, "gaussian", rng=np.random.default_rng(0), scale=1 / 255)


def test_float32_cholesky_refusal_says_float64(rng):
    X = np.repeat(rng.uniform(size=(150, 3)), 2, axis=0)  # every point twice: K singular
    y = np.zeros(300, dtype=int)
    be = get_backend("numpy")
    # a budget where float64 K does not fit and float32 does
    opts = SolveOptions(solver="cholesky", memory_bytes=4 * 300 * 300 + 300_000)
    with pytest.raises(np.linalg.LinAlgError, match="in float32") as err:
        solve(X, one_hot(y, 1), kernel=Kernel("gaussian", 1.0), options=opts, backend=be)
    msg = str(err.value)  # repeated points: neither float64 nor a bandwidth would help
    assert "float64" not in msg and "bandwidth" not in msg
    assert "150 rows of X repeat earlier ones: only a ridge of at least" in msg
    opts = SolveOptions(solver="cholesky")
    with pytest.raises(np.linalg.LinAlgError, match="in float64 .* only a ridge"):
        solve(X, one_hot(y, 1), kernel=Kernel("gaussian", 1.0), options=opts, backend=be)
    Xu = rng.uniform(size=(300, 3))  # distinct points, float32 only: float64 would do
    opts = SolveOptions(solver="cholesky", memory_bytes=4 * 300 * 300 + 300_000)
    with pytest.raises(
        np.linalg.LinAlgError, match="in float32 .*; use a ridge of at least .*, or float64"
    ):
        solve(Xu, one_hot(y, 1), kernel=Kernel("gaussian", 1e4), options=opts, backend=be)


def test_estimator_warns_once_when_the_tolerance_is_missed(tiny_dataset):
    X, y = _blobs_xy(tiny_dataset)
    with pytest.warns(SolverWarning, match="pcg .* without reaching its tolerance"):
        m = KernelInterpolant(
            "gaussian", 5.0, solver="pcg", tol=1e-12, max_epochs=3, rank=10, input_scale=1 / 255
        ).fit(X, y)
    assert not m.converged_ and m.rel_residual_ <= 1.0 and m.summary()["solver_message"]
