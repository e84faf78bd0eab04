"""Backend resolution and the few array operations the solvers use."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from finite_expressivity.core.machine import available_memory_bytes
from finite_expressivity.section5.backend import get_backend


def test_resolution_and_errors():
    assert get_backend("numpy", "cpu").name == "numpy"
    be = get_backend("auto", "cpu")
    assert be.device == "cpu"
    assert be.name == ("torch" if importlib.util.find_spec("torch") else "numpy")
    with pytest.raises(ValueError, match="backend must be one of"):
        get_backend("jax")
    with pytest.raises(ValueError, match="runs on the CPU only"):
        get_backend("numpy", "cuda")
    with pytest.raises(ValueError, match="device must be"):
        get_backend("numpy", "tpu")
    assert available_memory_bytes() > 0


def test_operations(kbackend, rng):
    a = rng.standard_normal((5, 5))
    x = kbackend.asarray(a.copy(), "float64")  # asarray does not copy
    kbackend.add_diagonal_(x, 2.5)
    np.testing.assert_allclose(kbackend.to_numpy(x), a + 2.5 * np.eye(5))
    s = a @ a.T + np.eye(5)
    w, v = kbackend.eigh(kbackend.asarray(s, "float64"))
    w, v = kbackend.to_numpy(w), kbackend.to_numpy(v)
    assert np.all(np.diff(w) <= 0)  # descending
    np.testing.assert_allclose(v @ np.diag(w) @ v.T, s, atol=1e-10)
    assert kbackend.memory_bytes() > 0
