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

:func:`choose_paths` times the distance candidates on one block shaped like the
job's (a fraction of a second, once per machine and width:
:func:`~finite_expressivity.core.machine.cached_probe`); ``K @ V`` is timed on the
solve's own first products (:class:`KvRace`: a matrix that fits no cache ranks the
candidates as the job sees them), and the winner cached for that size class. Then
the user's overrides apply (``--paths distances=float32,kv=gemm``). The choosing
itself is :func:`pick_paths` and :class:`KvRace`, pure functions of the timings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..core.machine import cached_probe, probe_key, race, read_probe
from .backend import Backend
from .gram import DISTANCES, Kernel, Points, int8_possible, kernel_block

__all__ = [
    "Paths",
    "FIELDS",
    "parse_paths",
    "fastest",
    "pick_paths",
    "probe_distances",
    "KvRace",
    "race_candidates",
    "kv_key",
    "choose_paths",
    "stored_matmul",
]

LIBRARIES = ("torch", "numpy")
KV_METHODS = ("gemm", "transposed", "columns", "blocked")  # "race": timed in the solve
FIELDS = {
    "distances": DISTANCES,
    "gemm": LIBRARIES,
    "kv": (*KV_METHODS, "race"),
    "kv_gemm": LIBRARIES,
}


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


def _probe_points(rows, cols, d, uint8):
    """Probe rows: half uniform in 0..255, half only 0 and 255 (the extremes, where an
    int8 GEMM without 32-bit accumulation overflows), as uint8 or float32."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(rows + cols, d), dtype=np.uint8)
    X[1::2] = 255 * (X[1::2] > 200)
    return X if uint8 else X.astype(np.float32)


def _right(backend, X, r, c, dist, lib) -> bool:
    """Whether a path's squared distances agree with float64 arithmetic: exactly for
    the integer path (in float64), to float32 rounding for the float path."""
    X64 = np.asarray(X, dtype=np.float64)
    ref = ((X64[r, None, :] - X64[None, c, :]) ** 2).sum(-1) if X.shape[1] <= 64 else None
    if ref is None:
        sq = (X64 * X64).sum(1)
        ref = sq[r, None] + sq[None, c] - 2.0 * X64[r] @ X64[c].T  # exact: integers < 2^53
    dtype = "float64" if dist == "int8" else "float32"
    P = Points(X, dtype=dtype, backend=backend, distances=dist, gemm=lib, shift=X64.mean(0))
    got = backend.empty((r.stop - r.start, c.stop - c.start), dtype)
    got = backend.to_numpy(P.sq_dists_into(got, r, P, c)).astype(np.float64)
    if dist == "int8":
        return bool(np.array_equal(got, ref))
    return bool(np.all(np.abs(got - ref) <= 1e-5 * (ref.max() + 1.0)))


def probe_distances(backend: Backend, d: int, *, uint8: bool, rows=1024, cols=2048) -> dict:
    """Seconds for one ``rows x cols`` block of Gaussian kernel values on each path.

    Candidates: ``"int8"`` (uint8 inputs where :func:`~.gram.int8_possible`), and
    ``"float32:torch"`` / ``"float32:numpy"`` on torch's CPU backend (``"float32"``
    alone elsewhere), timed in turns (:func:`~finite_expressivity.core.machine.race`).
    Each answer is checked first against float64 arithmetic: a path that computes a
    wrong block is not timed and gets ``None`` (never chosen): oneDNN's int8 GEMM
    without VNNI, as torch 2.13 called it under ``ONEDNN_MAX_CPU_ISA=AVX2``, returned
    wrong sums on this project's Xeon.
    """
    X = _probe_points(rows, cols, d, uint8)
    kern = Kernel("gaussian", 5.0, scale=1 / 255)
    r, c = slice(0, rows), slice(rows, rows + cols)
    out = backend.empty((rows, cols), "float32")
    ways = [("int8", None)] if uint8 and int8_possible(X, backend) else []
    ways += [("float32", lib) for lib in _cpu_libraries(backend)]
    candidates, wrong = {}, []
    for dist, lib in ways:
        P = Points(X, dtype="float32", backend=backend, distances=dist, gemm=lib, shift=None)
        name = dist if lib is None else f"{dist}:{lib}"
        if not _right(backend, X, r, c, dist, lib):
            wrong.append(name)
            continue
        candidates[name] = lambda P=P: kernel_block(kern, out, P, r, P, c)
    times = race(candidates, rounds=3, sync=backend.synchronize, give_up=0.5)
    return {**times, **{name: None for name in wrong}}


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


class KvRace:
    """Each way of computing ``K @ V``, timed on the solve's own first products.

    A stored kernel matrix is far larger than any cache, and which GEMM reads it
    fastest with a few right-hand sides depends on the CPU, the BLAS and the size:
    a small probe matrix would half sit in the last-level cache and rank them
    wrongly. So the first products of a solve each take the next candidate, timed,
    and every later one the fastest (:meth:`choice`); no product is wasted. The
    ``columns`` candidate (one matrix-vector product per column) is timed as one
    extra matrix-vector product times the number of columns.

    Parameters
    ----------
    candidates : sequence of (kv, library)
    clock : callable
        Seconds (tests pass a fake clock).
    """

    def __init__(self, candidates, clock=None):
        import time  # noqa: PLC0415

        self.pending = list(candidates)
        self.times: dict[str, float] = {}
        self.clock = clock or time.perf_counter

    @property
    def done(self) -> bool:
        return not self.pending

    def choice(self) -> tuple:
        """The candidate to run next: the next untimed one, else the fastest."""
        if self.pending:
            return self.pending[0]
        kv, _, lib = fastest(self.times, "gemm:").partition(":")
        return kv, lib or None

    def record(self, seconds: float) -> None:
        """The time of the candidate :meth:`choice` just gave."""
        kv, lib = self.pending.pop(0)
        self.times[f"{kv}:{lib or ''}"] = seconds


def race_candidates(backend: Backend) -> list:
    """``(kv, library)`` pairs worth timing on ``backend`` (the usual winner first)."""
    libs = _cpu_libraries(backend)
    pairs = [(kv, lib) for lib in libs for kv in ("gemm", "transposed", "blocked")]
    return pairs + [("columns", libs[0])]


def kv_key(backend: Backend, n: int) -> dict:
    """The cache key of a ``K @ V`` race: machine, library, and ``K``'s size class."""
    size = int(np.log2(max(1, 4 * n * n)))
    return probe_key({"probe": "kv", "backend": backend.name, "log2_bytes": size})


def choose_paths(
    backend: Backend,
    *,
    d: int,
    uint8: bool,
    n: int | None = None,
    override=None,
    refresh: bool = False,
    kv: bool = True,
) -> Paths:
    """The fastest paths on this machine for ``d`` features (cached probes), then overrides.

    Parameters
    ----------
    backend : Backend
    d : int
        Features per point (the distance probe's width).
    uint8 : bool
        Whether the inputs are uint8 (only then can the int8 path run).
    n : int, optional
        Training points: with ``kv``, a cached ``K @ V`` race for this size class
        decides ``kv``; without one (or with ``refresh``) ``kv`` is ``"race"``: the
        solve times the candidates on its own products (:class:`KvRace`).
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
    dist, how = {}, {"distances": "probe", "kv": "cache"}
    if not backend.is_gpu and not {"distances", "gemm"} <= set(fixed):
        key = probe_key({"probe": "distances", "backend": backend.name, "d": d, "uint8": uint8})
        res = cached_probe(
            "distances",
            lambda: {"times": probe_distances(backend, d, uint8=uint8)},
            key=key,
            refresh=refresh,
        )
        dist, how["distances"] = res["times"], "cache" if res["cached"] else "probe"
    kvt = {}
    if kv and not backend.is_gpu and not {"kv", "kv_gemm"} <= set(fixed) and n:
        hit = None if refresh else read_probe("kv", kv_key(backend, n))
        kvt = hit["times"] if hit else {}
    paths = pick_paths(dist, kvt, override=fixed, source=how)
    if kv and not backend.is_gpu and not kvt and "kv" not in fixed:
        src = {**paths.source, "kv": "race", "kv_gemm": "race"}
        return replace(paths, kv="race", kv_gemm=None, source=src)
    return paths
