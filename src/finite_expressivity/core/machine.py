"""Facts about the machine a result was made on, and its floor.

* Memory now and at its peak (:func:`available_memory_bytes`, :func:`peak_memory_gb`).
* The processor: model, instruction sets (:func:`cpu_info`).
* Its floor: the float32/float64 GEMM rate and the memory read rate, measured by
  short timed probes (:func:`machine_rates`), so that a time can be reported beside
  what this machine could do at best.
* A per-machine cache for such probes (:func:`cached_probe`), keyed by the CPU model,
  its flags, the core count, the array libraries' versions and the environment
  variables that change their code paths (``MKL_ENABLE_INSTRUCTIONS``,
  ``ONEDNN_MAX_CPU_ISA``, ...), so a probe runs once per machine and software.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from pathlib import Path

__all__ = [
    "available_memory_bytes",
    "peak_memory_gb",
    "cpu_info",
    "best_time",
    "race",
    "probe_key",
    "probe_dir",
    "cached_probe",
    "read_probe",
    "write_probe",
    "streaming_bytes",
    "last_level_cache_bytes",
    "gemm_rate",
    "read_rate",
    "machine_rates",
    "gpu_name",
]

#: Instruction sets worth naming beside a timing (x86 and Arm), in this order.
ISA_NAMES = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
    "asimd",
    "asimddp",
    "sve",
    "sve2",
    "i8mm",
)
#: Environment variables that change which code the array libraries run.
DISPATCH_ENV = (
    "MKL_ENABLE_INSTRUCTIONS",
    "MKL_CBWR",
    "ONEDNN_MAX_CPU_ISA",
    "DNNL_MAX_CPU_ISA",
    "ATEN_CPU_CAPABILITY",
    "OPENBLAS_CORETYPE",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
)


def available_memory_bytes() -> int:
    """Host memory available to a new allocation (``MemAvailable``), in bytes."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def peak_memory_gb(gpu_bytes: int | None = None) -> dict:
    """Peak resident memory of this process in GiB (``host``), and ``gpu`` when given."""
    import resource  # noqa: PLC0415 - POSIX only

    out = {"host": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
    if gpu_bytes is not None:
        out["gpu"] = gpu_bytes / 2**30
    return out


# ----------------------------------------------------------------------------- the CPU
def _proc_cpuinfo(text: str) -> dict:
    """Model, vendor and flags from the text of ``/proc/cpuinfo`` (first processor)."""
    info = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "vendor_id", "flags", "features", "cpu model") and key not in info:
            info[key] = value.strip()
    return {
        "model": info.get("model name") or info.get("cpu model") or "",
        "vendor": info.get("vendor_id", ""),
        "flags": tuple(sorted(set((info.get("flags") or info.get("features") or "").split()))),
    }


def _darwin_cpu() -> dict:
    import subprocess  # noqa: PLC0415

    def sysctl(name):
        try:
            return subprocess.run(
                ["sysctl", "-n", name], capture_output=True, text=True, timeout=5
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    flags = sysctl("machdep.cpu.features") + " " + sysctl("machdep.cpu.leaf7_features")
    return {
        "model": sysctl("machdep.cpu.brand_string"),
        "vendor": "",
        "flags": tuple(sorted({f.lower().replace(".", "_") for f in flags.split()})),
    }


def cpu_info(cpuinfo_text: str | None = None) -> dict:
    """The processor: ``model``, ``vendor``, ``arch``, ``cores``, ``flags`` and ``isa``.

    Parameters
    ----------
    cpuinfo_text : str, optional
        Text in the format of Linux's ``/proc/cpuinfo`` (default: read it; on macOS,
        ``sysctl``).

    Returns
    -------
    dict
        ``isa`` lists the instruction sets of :data:`ISA_NAMES` the flags show (e.g.
        ``avx2``, ``avx512_vnni``, ``amx_int8``): the ones that decide which GEMM
        kernels the libraries can run.
    """
    if cpuinfo_text is None:
        try:
            cpuinfo_text = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo_text = ""
    info = _proc_cpuinfo(cpuinfo_text)
    if not info["model"] and platform.system() == "Darwin":
        info = _darwin_cpu()
    from .devices import cpu_count  # noqa: PLC0415

    flags = set(info["flags"])
    return {
        "model": info["model"] or platform.processor() or platform.machine(),
        "vendor": info["vendor"],
        "arch": platform.machine(),
        "cores": cpu_count(),
        "flags": info["flags"],
        "isa": tuple(f for f in ISA_NAMES if f in flags),
    }


# ------------------------------------------------------------------------ probe cache
def _versions() -> dict:
    from importlib import metadata  # noqa: PLC0415

    out = {"python": platform.python_version()}
    for lib in ("numpy", "scipy", "torch", "cupy-cuda12x", "cupy"):
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            continue
    return out


def probe_key(extra: dict | None = None, cpu: dict | None = None) -> dict:
    """What a probe's result depends on: CPU, cores, library versions, dispatch settings.

    Parameters
    ----------
    extra : dict, optional
        Anything else the probe depends on (its sizes, the device).
    cpu : dict, optional
        :func:`cpu_info` (default: this machine's).
    """
    cpu = cpu or cpu_info()
    return {
        "cpu": cpu["model"],
        "flags": hashlib.sha256(" ".join(cpu["flags"]).encode()).hexdigest()[:16],
        "cores": cpu["cores"],
        "versions": _versions(),
        "env": {k: os.environ[k] for k in DISPATCH_ENV if k in os.environ},
        "extra": extra or {},
    }


def probe_dir() -> Path:
    """Where probe results are cached: ``$FE_PROBE_DIR``, else
    ``$XDG_CACHE_HOME/finite-expressivity/probes`` (``~/.cache`` by default)."""
    if os.environ.get("FE_PROBE_DIR"):
        return Path(os.environ["FE_PROBE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "finite-expressivity" / "probes"


def _probe_path(name: str, key: dict, directory=None) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return Path(directory or probe_dir()) / f"{name}-{digest}.json"


def read_probe(name: str, key: dict, directory=None) -> dict | None:
    """A cached probe result for ``key`` (None when there is none or it is unreadable)."""
    try:
        doc = json.loads(_probe_path(name, key, directory).read_text())
        if doc.get("key") == json.loads(json.dumps(key)):
            return {**doc["result"], "cached": True}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def write_probe(name: str, key: dict, result: dict, directory=None) -> None:
    """Cache ``result`` under ``key`` (silently not, where the folder is read-only)."""
    from .files import atomic_write_json  # noqa: PLC0415

    result = {**result, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    try:
        atomic_write_json(_probe_path(name, key, directory), {"key": key, "result": result})
    except OSError:
        pass


def cached_probe(name: str, measure, *, key: dict, refresh: bool = False, directory=None):
    """``measure()`` once per machine: its result is cached on disk under ``key``.

    Parameters
    ----------
    name : str
        The probe (a file-name stem).
    measure : callable
        Returns a JSON-serializable dict.
    key : dict
        :func:`probe_key` (a different key measures again).
    refresh : bool
        Measure again even when cached.
    directory : path, optional
        Default :func:`probe_dir`.

    Returns
    -------
    dict
        The measurement, plus ``cached`` (bool), ``measured_at`` (ISO time) and
        ``probe_seconds`` (what the measurement took).
    """
    if not refresh:
        hit = read_probe(name, key, directory)
        if hit is not None:
            return hit
    t0 = time.perf_counter()
    result = dict(measure())
    result["probe_seconds"] = round(time.perf_counter() - t0, 3)
    write_probe(name, key, result, directory)
    return {**result, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "cached": False}


# ------------------------------------------------------------------------ timed probes
def best_time(fn, *, repeats: int = 3, sync=None, give_up: float | None = None) -> float:
    """Seconds of the fastest of ``repeats`` calls of ``fn`` after one warm-up call.

    Parameters
    ----------
    sync : callable, optional
        Called after ``fn`` before the clock stops (a GPU's synchronize).
    give_up : float, optional
        Stop repeating once one call took longer than this (a slow path needs no
        second look to lose).
    """
    sync = sync or (lambda: None)
    t0 = time.perf_counter()
    fn()
    sync()
    best = time.perf_counter() - t0
    if give_up is not None and best > give_up:
        return best
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def last_level_cache_bytes() -> int:
    """Size of the largest CPU cache in bytes (0 where the OS does not say)."""
    sizes = [0]
    for f in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        try:
            text = f.read_text().strip().upper()
        except OSError:
            continue
        mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        digits = text.rstrip("KMG")
        if digits.isdigit():
            sizes.append(int(digits) * mult)
    return max(sizes)


def race(candidates: dict, *, rounds: int = 3, sync=None, give_up: float | None = None) -> dict:
    """Seconds of the fastest call of each candidate, timed in turns.

    Each candidate runs once to warm up, then ``rounds`` times, in turns (A, B, C,
    A, B, C, ...), so that a burst of load from other processes slows every
    candidate alike rather than the one that happened to be running.

    Parameters
    ----------
    candidates : dict
        Name -> zero-argument callable.
    sync : callable, optional
        Called after each call before the clock stops (a GPU's synchronize).
    give_up : float, optional
        A candidate whose warm-up call took longer than this, and longer than twice
        the fastest warm-up, is not timed again (a slow path needs no second look).

    Returns
    -------
    dict
        Name -> seconds.
    """
    sync = sync or (lambda: None)

    def once(fn):
        t0 = time.perf_counter()
        fn()
        sync()
        return time.perf_counter() - t0

    best = {name: once(fn) for name, fn in candidates.items()}
    fastest = min(best.values(), default=0.0)
    live = {
        name: fn
        for name, fn in candidates.items()
        if give_up is None or best[name] <= max(give_up, 2 * fastest)
    }
    best.update({name: float("inf") for name in live})
    for _ in range(rounds):
        for name, fn in live.items():
            best[name] = min(best[name], once(fn))
    return best


def streaming_bytes(cap: int = 1 << 30) -> int:
    """Bytes for an array that a read probe streams from memory rather than from cache:
    four times the last-level cache, at least 256 MiB, at most ``cap`` and an eighth
    of the available memory."""
    llc = last_level_cache_bytes()
    return int(max(256 << 20, min(4 * llc, cap, available_memory_bytes() // 8)))


def _array_lib(library: str, device: str):
    if library == "torch":
        import torch  # noqa: PLC0415

        sync = torch.cuda.synchronize if device.startswith("cuda") else None
        return "torch", sync
    if library == "cupy":
        import cupy  # noqa: PLC0415

        return "cupy", cupy.cuda.runtime.deviceSynchronize
    return "numpy", None


def _random(library: str, shape, dtype: str, device: str, seed: int = 0):
    import numpy as np  # noqa: PLC0415

    a = np.random.default_rng(seed).random(shape, dtype=np.dtype(dtype).type)
    if library == "torch":
        import torch  # noqa: PLC0415

        return torch.from_numpy(a).to(device)
    if library == "cupy":
        import cupy  # noqa: PLC0415

        return cupy.asarray(a)
    return a


def gemm_rate(
    dtype: str = "float32", library: str = "numpy", device: str = "cpu", shape=(2048, 1024, 4096)
) -> float:
    """Floating-point operations per second of one ``(m, k) @ (k, n)`` GEMM.

    Parameters
    ----------
    dtype : {"float32", "float64"}
    library : {"numpy", "torch", "cupy"}
    device : str
        ``"cpu"`` or ``"cuda[:N]"`` (torch), the current GPU (CuPy).
    shape : (m, k, n)
        On a GPU use a larger one (e.g. 8192 cubed) to fill the device.
    """
    _, sync = _array_lib(library, device)
    m, k, n = shape
    a = _random(library, (m, k), dtype, device, 1)
    b = _random(library, (k, n), dtype, device, 2)
    seconds = best_time(lambda: a @ b, sync=sync)
    return 2.0 * m * k * n / seconds


def read_rate(nbytes: int | None = None, library: str = "numpy", device: str = "cpu") -> dict:
    """Bytes per second read from memory: the best of a reduction and a matrix-vector
    product over a float32 array too large for the caches.

    Returns
    -------
    dict
        ``{"sum": B/s, "matvec": B/s}``.
    """
    lib, sync = _array_lib(library, device)
    nbytes = nbytes or streaming_bytes()
    side = int((nbytes // 4) ** 0.5)
    A = _random(lib, (side, side), "float32", device, 3)
    v = _random(lib, (side,), "float32", device, 4)
    out = {}
    out["sum"] = A.nbytes / best_time(lambda: A.sum(), sync=sync, repeats=5)
    out["matvec"] = A.nbytes / best_time(lambda: A @ v, sync=sync, repeats=5)
    return out


def _measure_rates(device: str, libraries) -> dict:
    gpu = device.startswith("cuda")
    shape = (8192, 8192, 8192) if gpu else (2048, 1024, 4096)
    rates = {"gemm_float32": {}, "gemm_float64": {}, "read": {}}
    for lib in libraries:
        for dt in ("float32", "float64"):
            rates[f"gemm_{dt}"][lib] = gemm_rate(dt, lib, device, shape)
        for how, r in read_rate(None, lib, device).items():
            rates["read"][f"{lib} {how}"] = r
    return {
        "gemm_float32_flops": max(rates["gemm_float32"].values()),
        "gemm_float64_flops": max(rates["gemm_float64"].values()),
        "read_bytes_per_s": max(rates["read"].values()),
        "by_library": rates,
    }


def gpu_name(device: str = "cuda", library: str = "torch") -> str:
    """The GPU's model name (part of a GPU probe's cache key)."""
    if library == "torch":
        import torch  # noqa: PLC0415

        return torch.cuda.get_device_name(torch.device(device))
    import cupy  # noqa: PLC0415

    return cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"].decode()


RATE_KEYS = ("gemm_float32_flops", "gemm_float64_flops", "read_bytes_per_s")


def machine_rates(device: str = "cpu", *, refresh: bool = False, libraries=None) -> dict:
    """This machine's floor rates, measured once and cached (:func:`cached_probe`).

    Parameters
    ----------
    device : str
        ``"cpu"`` or ``"cuda[:N]"``.
    refresh : bool
        Measure again; each rate is then the best of this and the cached measurement
        (on a machine shared with other work, a busy moment measures it low, and a
        floor is what the machine can do).
    libraries : sequence of str, optional
        Array libraries to try; the best of them sets each rate (default: NumPy and,
        when installed, torch on the CPU; torch, else CuPy, on a GPU).

    Returns
    -------
    dict
        ``gemm_float32_flops``, ``gemm_float64_flops`` (flop/s), ``read_bytes_per_s``,
        ``by_library`` (each library's numbers), ``cached``, ``measured_at``,
        ``probe_seconds``.
    """
    import importlib.util  # noqa: PLC0415

    if libraries is None:
        has_torch = importlib.util.find_spec("torch") is not None
        if device.startswith("cuda"):
            libraries = ("torch",) if has_torch else ("cupy",)
        else:
            libraries = ("numpy", "torch") if has_torch else ("numpy",)
    extra = {"probe": "rates", "device": device, "libraries": list(libraries)}
    if device.startswith("cuda"):
        extra["gpu"] = gpu_name(device, libraries[0])
    key = probe_key(extra)
    before = read_probe("rates", key) if refresh else None
    now = cached_probe("rates", lambda: _measure_rates(device, libraries), key=key, refresh=refresh)
    if before is None:
        return now
    best = {k: max(now[k], before[k]) for k in RATE_KEYS}  # the best this machine has shown
    if any(best[k] > now[k] for k in RATE_KEYS):
        write_probe("rates", key, {**now, **best})
    return {**now, **best}
