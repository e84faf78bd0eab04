"""Theorem 1's construction: structure, exactness, backends, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import finite_expressivity as fe
from finite_expressivity.theorem1.certify import certify
from finite_expressivity.theorem1.construction import fit


def _random_problem(rng, n, d, k=None):
    X = rng.standard_normal((n, d))
    y = rng.integers(0, 10, size=n if k is None else (n, k)).astype(np.float64)
    return X, y


@pytest.mark.parametrize("n,d", [(1, 1), (2, 1), (7, 3), (300, 5), (2000, 40), (500, 600)])
def test_fits_every_label_exactly(rng, n, d):
    X, y = _random_problem(rng, n, d)
    net = fit(X, y, seed=1)
    cert = certify(net, X, y)
    assert cert.certified and cert.accuracy == 1.0
    assert cert.max_residual <= 1e-9 * max(1.0, np.abs(y).max())
    assert net.n_params == 2 * n + d


def test_parameter_count_for_k_outputs(rng):
    X = rng.standard_normal((40, 6))
    Y = np.eye(10)[rng.integers(0, 10, 40)] * rng.uniform(0.5, 2.0, (40, 1))
    net = fit(X, Y, seed=0)
    assert net.w.shape == (40, 10)
    assert net.n_params == 6 + 40 + 40 * 10
    assert certify(net, X, Y).max_residual < 1e-9


def test_biases_interleave_projections_and_matrix_is_triangular(rng):
    from fractions import Fraction

    X, y = _random_problem(rng, 60, 4)
    net = fit(X, y, seed=3)
    z = [sum(Fraction(float(xi)) * Fraction(float(ai)) for xi, ai in zip(row, net.a)) for row in X]
    zs = sorted(z)
    b = [Fraction(float(v)) for v in net.b]
    assert b[0] < zs[0]
    for i in range(1, len(zs)):
        assert zs[i - 1] <= b[i] < zs[i]
    # A_ij = relu(z_i - b_j) is lower triangular with a positive diagonal
    A = [[max(zi - bj, 0) for bj in b] for zi in zs]
    assert all(A[i][j] == 0 for i in range(len(zs)) for j in range(i + 1, len(zs)))
    assert all(A[i][i] > 0 for i in range(len(zs)))


def test_weights_telescope_exactly(rng):
    """Prefix sums of the stored weights are exactly the rounded slopes (no drift)."""
    X, y = _random_problem(rng, 3000, 8)
    net = fit(X, y, seed=0)
    w = np.asarray(net.w)
    from fractions import Fraction

    exact = np.cumsum([Fraction(float(v)) for v in w])
    # every exact prefix sum is itself a float64: the stored slopes, no drift
    assert all(Fraction(float(v)) == v for v in exact)


def test_midpoint_baseline_is_worse_than_ours(rng):
    """The obvious construction (midpoint biases, dense solve) leaves a larger residual."""
    from scipy.linalg import solve_triangular

    X = rng.uniform(0, 1, (400, 30)).round(3)
    y = rng.integers(0, 10, 400).astype(float)
    a = rng.standard_normal(30)
    z = X @ a
    order = np.argsort(z)
    zs = z[order]
    b = np.concatenate([[zs[0] - 1.0], (zs[1:] + zs[:-1]) / 2])
    A = np.maximum(zs[:, None] - b[None, :], 0)
    w = solve_triangular(A, y[order], lower=True)
    naive = fe.TwoLayerReLU(a, b, w)
    ours = fit(X, y, seed=0)
    assert certify(ours, X, y).max_residual < certify(naive, X, y).max_residual


def test_duplicates_with_equal_labels_get_zero_weight(rng):
    X, y = _random_problem(rng, 30, 3)
    X[7], y[7] = X[2], y[2]
    X[20], y[20] = X[2], y[2]
    net = fit(X, y, seed=0)
    assert net.n_params == 2 * 30 + 3
    assert int(np.sum(np.asarray(net.w) == 0)) >= 2
    assert certify(net, X, y).certified


def test_conflicting_duplicates_name_both_indices(rng):
    X, y = _random_problem(rng, 30, 3)
    X[17] = X[4]
    y[17] = y[4] + 1
    with pytest.raises(
        ValueError, match=r"points 4 and 17 are identical but have different labels"
    ):
        fit(X, y)


def test_grid_data_uses_exact_single_slice(rng):
    X = rng.integers(0, 256, (500, 64)) / 256.0
    y = rng.integers(0, 10, 500)
    net = fit(X, y, seed=0)
    assert net.info["projection_error_bound"] == 0.0
    assert certify(net, X, y).certified


@pytest.mark.parametrize("scale", [1e-150, 1e-20, 1e20, 1e150])
def test_extreme_scales(rng, scale):
    X, y = _random_problem(rng, 200, 3)
    net = fit(X * scale, y, seed=0)
    assert certify(net, X * scale, y).max_residual < 1e-9


@pytest.mark.parametrize("sep", [1e-6, 1e-9, 1e-12])
def test_near_duplicates_are_separated(rng, sep):
    """Two points ``sep`` apart with different labels need a slope of about
    9/gap; float64 then resolves the neighbouring slopes only to ulp(9/gap),
    which the construction reports as ``float64_limit``."""
    X, y = _random_problem(rng, 100, 5)
    X[50] = X[49] + sep
    y[50] = (y[49] + 3) % 10
    net = fit(X, y, seed=0)
    cert = certify(net, X, y)
    assert cert.accuracy == 1.0
    assert cert.max_residual <= 2 * net.info["float64_limit"]
    if sep >= 1e-6:
        assert cert.certified


def test_same_seed_same_network_and_permutation_invariance(rng):
    X, y = _random_problem(rng, 200, 4)
    a, b = fit(X, y, seed=5), fit(X, y, seed=5)
    assert np.array_equal(a.w, b.w) and np.array_equal(a.b, b.b)
    perm = rng.permutation(200)
    c = fit(X[perm], y[perm], seed=5)
    assert np.array_equal(a.a, c.a) and np.array_equal(a.b, c.b) and np.array_equal(a.w, c.w)


def test_backends_agree(xp, rng):
    X, y = _random_problem(rng, 500, 7)
    ref = fit(X, y, seed=2)
    net = fit(xp.asarray(X), xp.asarray(y), seed=2)
    for name in ("a", "b", "w"):
        got, want = xp.to_numpy(getattr(net, name)), np.asarray(getattr(ref, name))
        assert np.max(np.abs(got - want)) <= 1e-9 * np.max(np.abs(want))
    out = xp.to_numpy(net(xp.asarray(X)))
    assert np.max(np.abs(out - y)) < 1e-3
    assert type(net.w) is type(xp.asarray(y))


def test_forward_matches_dense_reference(rng):
    X, y = _random_problem(rng, 300, 4)
    net = fit(X, y, seed=0)
    Xq = rng.standard_normal((50, 4))
    hidden = np.maximum((Xq @ net.a)[:, None] - net.b[None, :], 0)
    dense = hidden @ net.w
    got = net(Xq, chunk_bytes=8 * 300 * 7)  # several chunks
    # summation order differs; bound by the sum's condition: n * eps * sum |terms|
    bound = 300 * 2.0**-52 * (np.abs(hidden) @ np.abs(net.w))
    assert np.all(np.abs(got - dense) <= bound)


@pytest.mark.parametrize(
    "X,y,match",
    [
        (np.array([[0.0, np.nan], [1.0, 2.0]]), np.array([0.0, 1.0]), "NaN or inf"),
        (np.array([[0.0, 1.0], [np.inf, 2.0]]), np.array([0.0, 1.0]), "NaN or inf"),
        (
            np.ones((3, 2)) * np.arange(3)[:, None],
            np.array([0.0, np.inf, 1.0]),
            "y contains NaN or inf",
        ),
        (
            np.zeros((3, 2)) + np.arange(3)[:, None],
            np.array([0.0, 1.0]),
            "X has 3 points but y has 2",
        ),
        (np.arange(3.0), np.arange(3.0), "must be a 2-D array"),
        (np.zeros((0, 3)), np.zeros(0), "empty"),
        (np.zeros((3, 0)), np.zeros(3), "empty"),
        (np.arange(6.0).reshape(3, 2), np.zeros((3, 1, 1)), "shape"),
    ],
)
def test_bad_input_is_refused(X, y, match):
    with pytest.raises(ValueError, match=match):
        fit(X, y)


def test_non_numeric_input_is_refused():
    with pytest.raises(TypeError, match="real numbers"):
        fit(np.array([["a", "b"]]), np.array([1.0]))
    with pytest.raises(TypeError, match="real numbers"):
        fit(np.ones((2, 2), dtype=complex), np.ones(2))
    with pytest.raises(TypeError, match="NumPy, PyTorch or CuPy"):
        fit([[1.0, 2.0]], np.ones(1))


def test_export_to_torch_module(rng):
    torch = pytest.importorskip("torch")
    X, y = _random_problem(rng, 120, 5)
    net = fit(X, y, seed=0)
    module = net.to_torch()
    assert sum(p.numel() for p in module.parameters()) == net.n_params == 2 * 120 + 5
    # what the docstring promises: parameters a, b, w and no other layers
    assert [name for name, _ in module.named_parameters()] == ["a", "b", "w"]
    assert list(module.children()) == []
    for name in ("Linear", "layer"):
        assert name not in net.to_torch.__doc__
    with torch.no_grad():
        out = module(torch.as_tensor(X)).numpy()
    ref = net(X)
    assert np.max(np.abs(out - ref)) <= 1e-9 * max(1.0, np.max(np.abs(ref)))


def test_save_and_load_roundtrip(tmp_path, rng):
    X, y = _random_problem(rng, 50, 3)
    net = fit(X, y, seed=0)
    path = net.save(tmp_path / "net.npz")
    back = fe.TwoLayerReLU.load(path)
    assert np.array_equal(back.a, net.a) and np.array_equal(back.w, net.w)
    assert certify(back, X, y).certified


@pytest.mark.parametrize(
    "n,d,k", [(5000, 3, None), (8000, 6, None), (5000, 40, None), (5000, 5, 3)]
)
def test_compiled_loops_and_array_path_agree(rng, monkeypatch, n, d, k):
    """The Numba loops (NumPy input) and the array-API path (all backends) give the
    same network up to the rounding of the slopes (their error feedback differs) and of
    the biases: each kink is the first float64 above ``z + 2 err``, and the loops bound the
    projection error ``err`` per row while the array path bounds it per block, so a bias
    can sit one ulp apart (seen once in 5,000 points)."""
    import finite_expressivity.theorem1.construction as construction

    pytest.importorskip("numba")
    X, y = _random_problem(rng, n, d, k)
    fast = fit(X, y, seed=4)
    monkeypatch.setattr(construction, "_fused_module", lambda X, plan: None)
    slow = fit(X, y, seed=4)
    assert np.array_equal(fast.a, slow.a)
    b0, b1 = np.asarray(fast.b), np.asarray(slow.b)
    assert np.all(np.abs(b0 - b1) <= np.spacing(np.abs(b0)))
    w0, w1 = np.asarray(fast.w), np.asarray(slow.w)
    assert np.max(np.abs(w0 - w1)) <= 1e-9 * np.max(np.abs(w0))
    assert certify(fast, X, y).certified and certify(slow, X, y).certified


def test_compiled_loops_handle_duplicates_and_nan(rng):
    pytest.importorskip("numba")
    X, y = _random_problem(rng, 6000, 4)
    X[100:110] = X[5]
    y[100:110] = y[5]
    net = fit(X, y, seed=0)
    assert net.info["duplicates"] == 10 and certify(net, X, y).certified
    y[107] += 1
    with pytest.raises(
        ValueError,
        match=r"points 5 and 100 are identical but have different labels|"
        r"points 10\d and 10\d are identical",
    ):
        fit(X, y, seed=0)
    X[4321, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or inf.*row 4321"):
        fit(X, y, seed=0)


def test_review_edge_cases(rng):
    """Cases found in review: one point with its projection near 0, huge data on a line,
    integers beyond 2**53, overflowing weights."""
    x = np.array([[1.5213857379750628, -3.8947730030485674, -1.19922771698322e-15]])
    for X in (x, np.repeat(x, 3, axis=0)):
        net = fit(X, np.ones(len(X)), seed=0)
        assert certify(net, X, np.ones(len(X))).certified
    with pytest.raises(ValueError, match="above 2\\*\\*900"):
        fit(np.array([[-1e308], [1e308]]), np.array([1.0, 2.0]), seed=0)
    with pytest.raises(ValueError, match="above 2\\*\\*900"):
        fit(rng.standard_normal((5000, 3)) * 2.0**1000, rng.standard_normal(5000), seed=0)
    with pytest.raises(ValueError, match="beyond 2\\*\\*53"):
        fit(np.array([[0.0], [1.0], [2.0]]), np.array([0, 2**53 + 1, 0], dtype=np.int64))
    with pytest.raises(ValueError, match="too large"):
        fit(np.array([[0.0], [1.0], [2.0]]), np.array([1e308, 0.0, 1e308]))
    # rows 1e-280 times smaller than the rest: the projection error bound is global,
    # so their projections cannot be told apart; the error says so (not "out of range")
    X = rng.standard_normal((3000, 2))
    X[2048:] *= 1e-280
    y = rng.integers(0, 3, 3000).astype(float)
    with pytest.raises(ValueError, match="same projection"):
        fit(X, y, seed=0)
