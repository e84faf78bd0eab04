"""Which of two ways to compute the same thing is faster here: measured, not assumed.

Three choices matter for the kernel solvers, and each CPU answers them differently:

* **distances** of uint8 images: an exact int8 GEMM (``torch._int_mm``) or a float32
  GEMM. Where the CPU has int8 matrix units (AVX-512 VNNI, AMX) the integer path
  was three times the float one on this project's Xeon; on an AVX2-only AMD EPYC,
  where torch falls back to a plain loop, it was 27 times slower.
* **gemm**: on torch's CPU backend, the float32 GEMMs through torch (MKL or
  oneDNN) or through NumPy's BLAS (OpenBLAS), on the same memory.
* **kv**: ``K @ V`` for a stored ``K`` and a few right-hand sides (each PCG
  epoch): one GEMM (``gemm``), the transposed product ``(V^T K)^T`` (``transposed``,
  ``K`` is symmetric), one matrix-vector product per column (``columns``), or
  GEMMs over row blocks (``blocked``); with torch or NumPy (``kv_gemm``). On the
  EPYC a ten-column GEMM read ``K`` at 2.9 GB/s where one column ran at 10 GB/s.

:func:`choose_paths` times each candidate on small arrays shaped like the job's
(about a second or two, once per machine: :func:`~finite_expressivity.core.machine.cached_probe`),
takes the fastest, and applies the user's overrides (``--paths distances=float32``).
The choosing itself is :func:`pick_paths`, a pure function of the timings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..core.machine import cached_probe, probe_key, race, streaming_bytes
from .backend import Backend
from .gram import DISTANCES, Kernel, Points, int8_possible, kernel_block

__all__ = [
    "Paths",
    "FIELDS",
    "parse_paths",
    "fastest",
    "pick_paths",
    "probe_distances",
    "probe_kv",
    "choose_paths",
    "stored_matmul",
]

LIBRARIES = ("torch", "numpy")
KV_METHODS = ("gemm", "transposed", "columns", "blocked")
FIELDS = {"distances": DISTANCES, "gemm": LIBRARIES, "kv": KV_METHODS, "kv_gemm": LIBRARIES}


@dataclass(frozen=True)
class Paths:
    """The code paths a fit takes, and why.

    Attributes
    ----------
    distances : {"float32", "int8"}
    gemm : {"torch", "numpy"} or None
        Library of the float32 distance GEMMs on torch's CPU backend (None: the backend's).
    kv : {"gemm", "transposed", "columns", "blocked"}
    kv_gemm : {"torch", "numpy"} or None
        Library of ``K @ V`` on torch's CPU backend.
    source : dict
        Per field: ``"probe"`` (measured now), ``"cache"`` (measured before on this
        machine), ``"flag"`` (the user's), ``"fixed"`` (one candidate only).
    timings : dict
        The probes' seconds per candidate.
    """

    distances: str = "float32"
    gemm: str | None = None
    kv: str = "gemm"
    kv_gemm: str | None = None
    source: dict = field(default_factory=dict, compare=False)
    timings: dict = field(default_factory=dict, compare=False)

    def as_dict(self) -> dict:
        return asdict(self)


def parse_paths(text) -> dict:
    """``"distances=float32,kv=columns"`` (or a dict) -> ``{"distances": "float32", ...}``."""
    if text is None or text == "" or text == "auto":
        return {}
    items = (
        text.items()
        if isinstance(text, dict)
        else (part.partition("=")[::2] for part in str(text).split(",") if part.strip())
    )
    out = {}
    for key, value in items:
        key, value = str(key).strip(), str(value).strip()
        if key not in FIELDS:
            raise ValueError(
                f"paths: unknown field {key!r}; expected KEY=VALUE with KEY one of "
                f"{', '.join(FIELDS)} (e.g. distances=float32,kv=gemm)"
            )
        if value not in FIELDS[key]:
            raise ValueError(f"paths: {key} must be one of {FIELDS[key]}, got {value!r}")
        out[key] = value
    return out


def fastest(timings: dict, default: str) -> str:
    """The key of the smallest finite time; ``default`` when there is none."""
    finite = {k: t for k, t in timings.items() if t is not None and np.isfinite(t)}
    return min(finite, key=finite.get) if finite else default


def pick_paths(distance_times: dict, kv_times: dict, *, override=None, source="probe") -> Paths:
    """The fastest candidates, then the user's overrides.

    Parameters
    ----------
    distance_times : dict
        Seconds per candidate named ``"int8"`` or ``"float32:LIB"`` (an empty dict:
        the float path with the backend's library).
    kv_times : dict
        Seconds per candidate named ``"METHOD:LIB"`` (empty: one GEMM).
    override : dict, optional
        Fields the user fixed (:func:`parse_paths`).
    source : str or dict
        How the timings were obtained (``"probe"`` or ``"cache"``), for both probes or
        per probe (``{"distances": ..., "kv": ...}``).
    """
    override = parse_paths(override or {})
    best_d = fastest(distance_times, "float32")
    dist, _, lib = best_d.partition(":")
    float_times = {k: t for k, t in distance_times.items() if k.startswith("float32")}
    gemm = lib or (fastest(float_times, "float32:").partition(":")[2] or None)
    kv, _, kv_lib = fastest(kv_times, "gemm:").partition(":")
    chosen = {"distances": dist, "gemm": gemm, "kv": kv, "kv_gemm": kv_lib or None}
    counts = {
        "distances": len(distance_times),
        "gemm": len(float_times),
        "kv": len(kv_times),
        "kv_gemm": len(kv_times),
    }
    if isinstance(source, str):
        source = {"distances": source, "kv": source}
    how = {
        k: source["kv" if k.startswith("kv") else "distances"] if counts[k] > 1 else "fixed"
        for k in chosen
    }
    for k, v in override.items():
        chosen[k], how[k] = v, "flag"
    timings = {"distances": distance_times, "kv": kv_times}
    return Paths(**chosen, source=how, timings=timings)


# ------------------------------------------------------------------------------- probes
def _cpu_libraries(backend: Backend) -> tuple:
    return ("torch", "numpy") if backend.name == "torch" and not backend.is_gpu else (None,)


def probe_distances(backend: Backend, d: int, *, uint8: bool, rows=1024, cols=2048) -> dict:
    """Seconds for one ``rows x cols`` block of Gaussian kernel values on each path.

    Candidates: ``"int8"`` (uint8 inputs where :func:`~.gram.int8_possible`), and
    ``"float32:torch"`` / ``"float32:numpy"`` on torch's CPU backend (``"float32"``
    alone elsewhere), timed in turns (:func:`~finite_expressivity.core.machine.race`).
    """
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(rows + cols, d), dtype=np.uint8)
    if not uint8:
        X = X.astype(np.float32)
    kern = Kernel("gaussian", 5.0, scale=1 / 255)
    out = backend.empty((rows, cols), "float32")
    ways = [("int8", None)] if uint8 and int8_possible(X, backend) else []
    ways += [("float32", lib) for lib in _cpu_libraries(backend)]
    r, c = slice(0, rows), slice(rows, rows + cols)
    candidates = {}
    for dist, lib in ways:
        P = Points(X, dtype="float32", backend=backend, distances=dist, gemm=lib, shift=None)
        name = dist if lib is None else f"{dist}:{lib}"
        candidates[name] = lambda P=P: kernel_block(kern, out, P, r, P, c)
    return race(candidates, rounds=3, sync=backend.synchronize, give_up=0.5)


def stored_matmul(backend: Backend, K, A, *, kv="gemm", kv_gemm=None):
    """``K @ A`` for a stored symmetric ``K`` and ``A`` of ``K``'s dtype, by method ``kv``."""
    be = backend
    if kv == "gemm":
        return be.matmul(K, A, gemm=kv_gemm)
    if kv == "transposed":  # (A^T K)^T = K A for symmetric K
        At = be.copy(A.T) if be.name != "torch" else A.T.contiguous()
        return be.matmul(At, K, gemm=kv_gemm).T
    out = be.empty(tuple(A.shape), K.dtype)
    if kv == "columns":
        for j in range(A.shape[1]):
            col = be.copy(A[:, j])
            out[:, j] = be.matmul(K, col, gemm=kv_gemm)
        return out
    if kv != "blocked":
        raise ValueError(f"kv must be one of {KV_METHODS}, got {kv!r}")
    n = K.shape[0]
    step = max(64, (64 << 20) // max(1, 4 * n))  # row blocks of about 64 MiB
    for i0 in range(0, n, step):
        be.matmul(K[i0 : i0 + step], A, out=out[i0 : i0 + step], gemm=kv_gemm)
    return out


def probe_kv(backend: Backend, *, nbytes: int | None = None, k: int = 10) -> dict:
    """Seconds for ``K @ V`` (``V``: ``k`` columns) on a float32 ``K`` too large for the
    caches, for each method and library (:func:`stored_matmul`)."""
    if backend.is_gpu:
        return {}
    nbytes = nbytes or streaming_bytes()
    n = int((nbytes // 4) ** 0.5)
    rng = np.random.default_rng(0)
    K = backend.asarray(rng.random((n, n), dtype=np.float32))
    V = backend.asarray(rng.random((n, k), dtype=np.float32))
    candidates = {}
    for lib in _cpu_libraries(backend):
        for kv in KV_METHODS:
            candidates[f"{kv}:{lib or ''}"] = lambda kv=kv, lib=lib: stored_matmul(
                backend, K, V, kv=kv, kv_gemm=lib
            )
    return race(candidates, rounds=2, give_up=1.0)


def choose_paths(
    backend: Backend, *, d: int, uint8: bool, override=None, refresh: bool = False, kv=True
) -> Paths:
    """The fastest paths on this machine for ``d`` features (cached probes), then overrides.

    Parameters
    ----------
    backend : Backend
    d : int
        Features per point (the distance probe's width).
    uint8 : bool
        Whether the inputs are uint8 (only then can the int8 path run).
    override : str or dict, optional
        Fields fixed by the user (:func:`parse_paths`); a fully fixed choice runs no probe.
    refresh : bool
        Probe again even when this machine's timings are cached.
    kv : bool
        Also choose how a stored ``K`` is multiplied (solvers that store ``K``).

    Returns
    -------
    Paths
    """
    fixed = parse_paths(override)
    if backend.is_gpu or (backend.name == "numpy" and not kv):
        return pick_paths({}, {}, override=fixed)
    need_d = not {"distances", "gemm"} <= set(fixed)
    need_kv = kv and not {"kv", "kv_gemm"} <= set(fixed)
    dist, kvt, how = {}, {}, {"distances": "probe", "kv": "probe"}
    if need_d:
        key = probe_key({"probe": "distances", "backend": backend.name, "d": d, "uint8": uint8})
        res = cached_probe(
            "distances",
            lambda: {"times": probe_distances(backend, d, uint8=uint8)},
            key=key,
            refresh=refresh,
        )
        dist, how["distances"] = res["times"], "cache" if res["cached"] else "probe"
    if need_kv:
        key = probe_key({"probe": "kv", "backend": backend.name})
        res = cached_probe("kv", lambda: {"times": probe_kv(backend)}, key=key, refresh=refresh)
        kvt, how["kv"] = res["times"], "cache" if res["cached"] else "probe"
    return pick_paths(dist, kvt, override=fixed, source=how)
