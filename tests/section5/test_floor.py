"""floor_seconds: the least time a fit needs at this machine's measured rates."""

from __future__ import annotations

import pytest

from finite_expressivity.section5.floor import floor_seconds

RATES = {"gemm_float32_flops": 2e11, "gemm_float64_flops": 1e11, "read_bytes_per_s": 2e10}


def test_pcg_floor_is_gemm_work_plus_one_read_per_epoch():
    f = floor_seconds(
        n=60000, d=784, n_test=10000, solver="pcg", epochs=14, rates=RATES, dtype="float32"
    )
    assert f["kernel"] == pytest.approx(2 * 60000**2 * 784 / 2e11, rel=1e-3)  # 28.2 s
    assert f["solve"] == pytest.approx(14 * 60000**2 * 4 / 2e10, rel=1e-3)  # 10.1 s
    assert f["predict"] == pytest.approx(2 * 10000 * 60000 * 784 / 2e11, rel=1e-3)
    assert f["total"] == pytest.approx(f["kernel"] + f["solve"] + f["predict"], rel=1e-3)


def test_cholesky_and_eigenpro_floors():
    c = floor_seconds(
        n=10000, d=784, n_test=0, solver="cholesky", epochs=0, rates=RATES, dtype="float64"
    )
    assert c["solve"] == pytest.approx(10000**3 / 3 / 1e11, rel=1e-3) and c["predict"] == 0
    e = floor_seconds(n=1000, d=10, n_test=5, solver="eigenpro", epochs=3, rates=RATES)
    assert e["solve"] == pytest.approx(3 * e["kernel"], rel=1e-3)
    with pytest.raises(ValueError, match="solver must be"):
        floor_seconds(n=1, d=1, n_test=1, solver="lu", epochs=1, rates=RATES)


def test_run_kernel_reports_floor_paths_and_machine(tiny_dataset, monkeypatch):
    from finite_expressivity.section5 import kernel_job

    monkeypatch.setattr(
        kernel_job, "machine_rates", lambda device, refresh=False: {**RATES, "cached": True}
    )
    r = kernel_job.run_kernel(images=tiny_dataset, solver="pcg", paths="distances=float32")
    expect = floor_seconds(n=300, d=64, n_test=200, solver="pcg", epochs=r["epochs"], rates=RATES)
    assert r["floor_seconds"] == expect["total"] and r["floor"] == expect
    # the ratio is of the unrounded total; the reported total is rounded to 1 ms, which on
    # this tiny job (a floor of about 0.2 ms) moves the quotient by up to 0.0005 / floor
    rounding = 0.0005 / expect["total"] + 0.0005
    assert r["time_over_floor"] == pytest.approx(
        r["seconds"]["total"] / expect["total"], abs=rounding
    )
    assert r["paths"]["distances"] == "float32" and r["paths"]["source"]["distances"] == "flag"
    assert r["paths"]["kv"] in ("gemm", "transposed", "blocked", "columns")  # the race's
    assert r["machine"]["cpu"] and isinstance(r["machine"]["isa"], list)
    assert r["bandwidth"] == 5.0  # the library's default for raw MNIST-like pixels
    r2 = kernel_job.run_kernel(images=tiny_dataset, dataset="cifar10", solver="cholesky")
    assert r2["bandwidth"] != 5.0  # elsewhere the median rule
