"""The depth-k network: same exact function as the two-layer one, O(n/k) per layer."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from finite_expressivity import fit
from finite_expressivity.cli import main
from finite_expressivity.theorem1.certify import exact_outputs
from finite_expressivity.theorem1.deep import deepen, exact_deep_output


@pytest.mark.parametrize("n,K", [(2, 3), (7, 3), (7, 9), (50, 4), (53, 7)])
def test_exact_agreement_including_kinks_and_negative_projections(rng, n, K):
    X = rng.standard_normal((n, 3))
    y = rng.integers(0, 10, n).astype(float)
    net = fit(X, y, seed=0)
    deep = deepen(net, K)
    # probe points: training points, a point with <a,x> = 0, and one exactly on a kink
    a = np.asarray(net.a)
    on_kink = np.array([float(net.b[n // 2]) / a[0], 0.0, 0.0])
    probes = np.vstack([X, np.zeros((1, 3)), on_kink, -X[:2]])
    C, E = exact_outputs(net, probes)
    for i, x in enumerate(probes):
        assert exact_deep_output(deep, x) == Fraction(int(C[i, 0])) * Fraction(2) ** E


def test_float64_forward_agrees_and_counts(rng):
    n, K = 301, 6
    X = rng.standard_normal((n, 5))
    y = rng.integers(0, 10, n).astype(float)
    net = fit(X, y, seed=1)
    deep = deepen(net, K)
    out = deep(X)
    assert np.max(np.abs(out - y)) < 1e-4
    L = K - 2
    assert len(deep.params_per_layer) == K and deep.widths[0] == 2
    assert max(deep.params_per_layer[1:-1]) <= 4 * -(-n // L) + 4
    assert max(deep.widths) <= -(-n // L) + 4
    assert deep.free_params == 2 * n + 5
    assert deep.n_params <= 4 * n + 2 * 5 + 4 * K - 12


def test_bad_depth():
    net = fit(np.arange(6.0).reshape(3, 2), np.arange(3.0), seed=0)
    with pytest.raises(ValueError, match="between 3 and n \\+ 2"):
        deepen(net, 9)
    with pytest.raises(ValueError, match="one output"):
        deepen(fit(np.arange(6.0).reshape(3, 2), np.eye(3), seed=0), 3)


def test_cli_depth_json(capsys):
    import json

    assert (
        main(
            ["theorem", "--dataset", "gaussian", "--n", "2000", "--depth", "4", "--json", "--quiet"]
        )
        == 0
    )
    r = json.loads(capsys.readouterr().out)
    assert r["depth"] == 4 and len(r["params_per_layer"]) == 4 and r["certified"]
    assert r["deep_equals_two_layer"] and max(r["params_per_layer"]) <= 4 * 1000 + 4


def test_forward_in_chunks_and_bad_input(rng):
    """The float64 forward pass covers every row whatever the chunk size, and refuses
    points of another dimension (one line, naming both)."""
    X = rng.standard_normal((600, 3))
    y = rng.integers(0, 10, 600).astype(float)
    deep = deepen(fit(X, y, seed=0), 5)
    assert deep.depth == 5
    whole = deep(X, chunk_rows=600)
    for rows in (1, 7, 256):  # BLAS may round a block differently: compare to 1e-6
        assert np.max(np.abs(deep(X, chunk_rows=rows) - whole)) < 1e-6
    assert np.max(np.abs(whole - y)) < 1e-4
    with pytest.raises(ValueError, match=r"^X has 2 coordinates but the network expects d=3$"):
        deep(X[:, :2])


def test_depth_bounds_are_exact():
    X = np.arange(8.0).reshape(4, 2)
    net = fit(X, np.arange(4.0), seed=0)
    assert deepen(net, 6).depth == 6  # n + 2 is allowed
    with pytest.raises(
        ValueError,
        match=r"^--depth must be between 3 and n \+ 2 = 6 \(2 is the two-layer network\), got 7$",
    ):
        deepen(net, 7)
    with pytest.raises(ValueError, match=r"^--depth must be between 3 and n \+ 2 = 6 .*got 2$"):
        deepen(net, 2)
    with pytest.raises(
        ValueError,
        match=r"^--depth supports one output \(w of shape \(n,\)\); give y of shape \(n,\)$",
    ):
        deepen(fit(X, np.eye(4), seed=0), 3)
