"""core.machine: the CPU's description, the per-machine probe cache, timing in turns."""

from __future__ import annotations

import time

import pytest

from finite_expressivity.core import machine as M

XEON = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512bw avx512vl avx512_vnni avx_vnni amx_tile amx_int8

processor\t: 1
model name\t: ignored, the first processor speaks
"""
EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B12
flags\t\t: fpu sse4_2 avx avx2 fma bmi2
"""


def test_cpu_info_names_the_model_and_the_instruction_sets():
    xeon = M.cpu_info(XEON)
    assert xeon["model"] == "Intel(R) Xeon(R) Processor" and xeon["vendor"] == "GenuineIntel"
    assert xeon["isa"] == (
        "sse4_2",
        "avx",
        "avx2",
        "fma",
        "avx512f",
        "avx512bw",
        "avx512vl",
        "avx512_vnni",
        "avx_vnni",
        "amx_tile",
        "amx_int8",
    )
    epyc = M.cpu_info(EPYC)
    assert epyc["model"] == "AMD EPYC 7B12" and "avx512f" not in epyc["isa"]
    assert epyc["isa"] == ("sse4_2", "avx", "avx2", "fma") and epyc["cores"] >= 1
    assert M.cpu_info()["model"]  # this machine's


def test_probe_key_tells_machines_and_dispatch_settings_apart(monkeypatch):
    monkeypatch.delenv("MKL_ENABLE_INSTRUCTIONS", raising=False)
    xeon, epyc = M.probe_key(cpu=M.cpu_info(XEON)), M.probe_key(cpu=M.cpu_info(EPYC))
    assert xeon["cpu"] != epyc["cpu"] and xeon["flags"] != epyc["flags"]
    assert "numpy" in xeon["versions"]
    monkeypatch.setenv("MKL_ENABLE_INSTRUCTIONS", "AVX2")
    emulated = M.probe_key(cpu=M.cpu_info(XEON))
    assert emulated["env"] == {"MKL_ENABLE_INSTRUCTIONS": "AVX2"} and emulated != xeon


def test_cached_probe_measures_once_per_key(tmp_path):
    calls = []

    def measure():
        calls.append(1)
        return {"rate": 2.5}

    first = M.cached_probe("x", measure, key={"a": 1}, directory=tmp_path)
    second = M.cached_probe("x", measure, key={"a": 1}, directory=tmp_path)
    assert len(calls) == 1 and first["rate"] == second["rate"] == 2.5
    assert first["cached"] is False and second["cached"] is True and "measured_at" in second
    M.cached_probe("x", measure, key={"a": 2}, directory=tmp_path)
    M.cached_probe("x", measure, key={"a": 1}, directory=tmp_path, refresh=True)
    assert len(calls) == 3
    M._probe_path("x", {"a": 1}, tmp_path).write_text("{not json")  # damaged: measure again
    M.cached_probe("x", measure, key={"a": 1}, directory=tmp_path)
    M.cached_probe("x", measure, key={"a": 2}, directory=tmp_path)
    assert len(calls) == 4


def test_race_times_every_candidate_in_turns_and_drops_slow_ones():
    order = []

    def fast():
        order.append("fast")

    def slow():
        order.append("slow")
        time.sleep(0.05)

    times = M.race({"fast": fast, "slow": slow}, rounds=3, give_up=0.01)
    assert order == ["fast", "slow", "fast", "fast", "fast"]  # slow: its warm-up only
    assert set(times) == {"fast", "slow"} and times["slow"] > 0
    order.clear()
    M.race({"a": fast, "b": fast}, rounds=2)
    assert order == ["fast"] * 6  # warm-ups, then a b a b


def test_streaming_bytes_is_bounded():
    b = M.streaming_bytes(cap=1 << 30)
    assert 256 << 20 <= b <= max(256 << 20, 1 << 30)


@pytest.mark.slow
def test_machine_rates_are_positive(tmp_path, monkeypatch):
    monkeypatch.setenv("FE_PROBE_DIR", str(tmp_path))
    r = M.machine_rates("cpu", libraries=("numpy",))
    assert r["gemm_float32_flops"] > 1e8 and r["read_bytes_per_s"] > 1e8
    assert M.machine_rates("cpu", libraries=("numpy",))["cached"] is True


def test_refreshed_rates_keep_the_best_this_machine_has_shown(tmp_path, monkeypatch):
    monkeypatch.setenv("FE_PROBE_DIR", str(tmp_path))
    seen = iter(
        [
            {"gemm_float32_flops": 3.0, "gemm_float64_flops": 1.0, "read_bytes_per_s": 5.0},
            {"gemm_float32_flops": 2.0, "gemm_float64_flops": 1.5, "read_bytes_per_s": 4.0},
        ]
    )
    monkeypatch.setattr(M, "_measure_rates", lambda device, libraries: next(seen))
    assert M.machine_rates("cpu", libraries=("numpy",))["gemm_float32_flops"] == 3.0
    r = M.machine_rates("cpu", libraries=("numpy",), refresh=True)  # a busier moment
    assert (r["gemm_float32_flops"], r["gemm_float64_flops"], r["read_bytes_per_s"]) == (3, 1.5, 5)
    assert M.machine_rates("cpu", libraries=("numpy",))["gemm_float64_flops"] == 1.5  # cached
