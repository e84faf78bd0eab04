"""Choosing code paths by measurement: the choosing logic (fake timings), the cache, the
race on a solve's own products, and every path against a float64 reference."""

from __future__ import annotations

import numpy as np
import pytest

from finite_expressivity.section5 import paths as P
from finite_expressivity.section5.backend import get_backend
from finite_expressivity.section5.gram import Kernel, kernel_matrix
from finite_expressivity.section5.solvers import StoredKernel


def test_parse_paths_and_its_errors():
    assert P.parse_paths("distances=float32, kv=columns") == {
        "distances": "float32",
        "kv": "columns",
    }
    assert P.parse_paths(None) == {} == P.parse_paths("auto")
    with pytest.raises(ValueError, match="unknown field 'dist'.*distances, gemm, kv, kv_gemm"):
        P.parse_paths("dist=int8")
    with pytest.raises(ValueError, match=r"kv must be one of .*got 'fast'"):
        P.parse_paths("kv=fast")


def test_fastest_ignores_missing_and_infinite_times():
    assert P.fastest({"a": 2.0, "b": 1.0, "c": float("inf")}, "z") == "b"
    assert P.fastest({"a": None, "b": float("nan")}, "z") == "z"
    assert P.fastest({}, "z") == "z"


@pytest.mark.parametrize(
    "dist,want",
    [
        # the Xeon here: int8 (AMX/VNNI) three times the float path
        ({"int8": 0.01, "float32:torch": 0.03, "float32:numpy": 0.035}, ("int8", "torch")),
        # the AVX2-only EPYC of issue 11: int8 falls back to a loop, NumPy's BLAS wins
        ({"int8": 7.0, "float32:torch": 0.26, "float32:numpy": 0.2}, ("float32", "numpy")),
        ({"float32": 0.1}, ("float32", None)),  # NumPy backend: one candidate
        ({}, ("float32", None)),  # a GPU: nothing timed
    ],
)
def test_pick_paths_takes_the_fastest_distance_path(dist, want):
    p = P.pick_paths(dist, {})
    assert (p.distances, p.gemm) == want
    assert p.source["distances"] == ("probe" if len(dist) > 1 else "fixed")
    assert p.timings["distances"] == dist


def test_pick_paths_gemm_library_comes_from_the_float_candidates_when_int8_wins():
    p = P.pick_paths({"int8": 0.01, "float32:torch": 0.05, "float32:numpy": 0.03}, {})
    assert (p.distances, p.gemm) == ("int8", "numpy")  # used for float inputs and K @ V


def test_pick_paths_kv_and_overrides():
    kv = {"gemm:torch": 1.4, "transposed:torch": 0.9, "columns:torch": 9.0, "gemm:numpy": 1.9}
    p = P.pick_paths({"int8": 0.01, "float32:torch": 0.03}, kv, source="cache")
    assert (p.kv, p.kv_gemm) == ("transposed", "torch") and p.source["kv"] == "cache"
    q = P.pick_paths(
        {"int8": 0.01, "float32:torch": 0.03}, kv, override="distances=float32,kv=columns"
    )
    assert (q.distances, q.kv, q.kv_gemm) == ("float32", "columns", "torch")
    assert q.source["distances"] == "flag" and q.source["kv"] == "flag"
    assert q.source["gemm"] == "fixed"  # one float candidate only


def test_choose_paths_probes_once_then_reads_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("FE_PROBE_DIR", str(tmp_path))
    calls = []

    def fake_probe(backend, d, *, uint8):
        calls.append(d)
        return {"int8": 5.0, "float32:torch": 0.2, "float32:numpy": 0.1}

    monkeypatch.setattr(P, "probe_distances", fake_probe)
    be = get_backend("auto", "cpu")
    first = P.choose_paths(be, d=784, uint8=True, n=1000)
    again = P.choose_paths(be, d=784, uint8=True, n=1000)
    assert calls == [784] and first.distances == again.distances == "float32"
    assert first.source["distances"] == "probe" and again.source["distances"] == "cache"
    assert first.kv == "race"  # no K @ V timing cached for this size yet
    P.choose_paths(be, d=784, uint8=True, refresh=True)
    P.choose_paths(be, d=100, uint8=True)
    assert calls == [784, 784, 100]  # refresh, and a new width, measure again
    monkeypatch.setenv("MKL_ENABLE_INSTRUCTIONS", "AVX2")  # another code path: another key
    P.choose_paths(be, d=784, uint8=True)
    assert calls[-1] == 784 and len(calls) == 4
    fixed = P.choose_paths(be, d=784, uint8=True, override="distances=int8,gemm=torch,kv=gemm")
    assert len(calls) == 4 and (fixed.distances, fixed.kv) == ("int8", "gemm")


def test_kv_race_records_and_picks_with_a_fake_clock():
    t = {"now": 0.0}
    race = P.KvRace([("gemm", "torch"), ("transposed", "torch")], clock=lambda: t["now"])
    assert race.choice() == ("gemm", "torch") and not race.done
    race.record(2.0)
    assert race.choice() == ("transposed", "torch")
    race.record(0.5)
    assert race.done and race.choice() == ("transposed", "torch")
    assert race.times == {"gemm:torch": 2.0, "transposed:torch": 0.5}


def test_stored_kernel_race_answers_right_on_every_product(rng):
    be = get_backend("numpy")
    X = rng.uniform(0.1, 1.0, size=(120, 5))
    K = kernel_matrix(X, kernel=Kernel("gaussian", 0.8), dtype="float64", backend=be)
    op = StoredKernel(K, be, kv="race")
    A = rng.standard_normal((120, 4))
    for _ in range(len(P.race_candidates(be)) + 2):
        np.testing.assert_allclose(op.matmul(A), K @ A, rtol=1e-12, atol=1e-12)
    kv, lib, times = op.kv_choice()
    assert op.race.done and set(times) == {"gemm:", "transposed:", "blocked:", "columns:"}
    assert f"{kv}:{lib or ''}" == min(times, key=times.get)


@pytest.mark.parametrize("kv", P.KV_METHODS)
def test_every_stored_matmul_method_matches_float64(kbackend, rng, kv):
    if kbackend.is_gpu:
        pytest.skip("CPU methods")
    X = rng.uniform(0.1, 1.0, size=(300, 7))
    ref = Kernel("laplacian", 0.9).numpy(X, X)
    A = rng.standard_normal((300, 3))
    K = kbackend.asarray(ref, "float64")
    for lib in P._cpu_libraries(kbackend):
        got = P.stored_matmul(kbackend, K, kbackend.asarray(A, "float64"), kv=kv, kv_gemm=lib)
        got = kbackend.to_numpy(got)
        assert np.linalg.norm(got - ref @ A) / np.linalg.norm(ref @ A) < 1e-12


def test_probe_distances_times_each_candidate():
    be = get_backend("auto", "cpu")
    times = P.probe_distances(be, 64, uint8=True, rows=64, cols=128)
    expected = {"float32"} if be.name == "numpy" else {"int8", "float32:torch", "float32:numpy"}
    assert set(times) == expected and all(t > 0 for t in times.values())
    floats = P.probe_distances(be, 64, uint8=False, rows=64, cols=128)
    assert "int8" not in floats  # float inputs cannot take the integer path


def _broken_int_mm(monkeypatch):
    """torch._int_mm returning sums off by one (as oneDNN's non-VNNI int8 GEMM did)."""
    torch = pytest.importorskip("torch")
    real = torch._int_mm

    def wrong(a, b, *, out=None):
        res = real(a, b) + 1
        return res if out is None else out.copy_(res)

    monkeypatch.setattr(torch, "_int_mm", wrong)


def test_a_path_with_wrong_answers_is_never_chosen(monkeypatch):
    _broken_int_mm(monkeypatch)
    be = get_backend("torch", "cpu")
    times = P.probe_distances(be, 64, uint8=True, rows=64, cols=128)
    assert times["int8"] is None and times["float32:torch"] > 0
    assert P.pick_paths(times, {}).distances == "float32"


def test_kernel_matrix_refuses_wrong_int8_sums(monkeypatch, rng):
    _broken_int_mm(monkeypatch)
    X = rng.integers(0, 256, size=(50, 30)).astype(np.uint8)
    be = get_backend("torch", "cpu")
    with pytest.raises(ValueError, match="int8 GEMM .* wrong sums .* distances=float32"):
        kernel_matrix(
            X, kernel=Kernel("gaussian", 3.0, scale=1 / 255), backend=be, distances="int8"
        )
