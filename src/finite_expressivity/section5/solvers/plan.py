"""Which solver, in which precision, within a memory budget (:func:`plan_solver`).

1. ``cholesky`` in float64 when ``8 n^2`` bytes fit the memory budget and either
   the arrays live on a GPU or ``n <= 10,000`` (on two CPU cores a float64
   Cholesky of 20,000 points took about a minute, and 60,000 points would be 27
   times that; the iterative solvers reach the same test error in seconds);
2. ``pcg`` (Nystrom-preconditioned conjugate residuals over a stored float32
   ``K``) when ``4 n^2`` bytes plus the preconditioner fit;
3. ``eigenpro`` (kernel blocks on the fly) otherwise: memory ``O(n d + m n)``.

A forced solver whose matrix does not fit raises ``MemoryError`` naming the bytes
needed and the budget, before allocating anything.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SOLVERS", "CPU_CHOLESKY_MAX_N", "SolverPlan", "plan_solver"]

SOLVERS = ("auto", "cholesky", "pcg", "eigenpro")
CPU_CHOLESKY_MAX_N = 10_000


@dataclass(frozen=True)
class SolverPlan:
    """The solver, the precision of ``K``, and the bytes it will hold."""

    solver: str
    dtype: str
    bytes_needed: int
    budget: int
    reason: str


def _extra_bytes(n, d, solver, rank):
    data = n * d * 4 * 2 + n * 10 * 8 * 8  # data (+ norms/copies), a few (n, 10) vectors
    if solver == "pcg":
        return data + 3 * n * rank * 4  # landmark rows, F, U
    return data


def plan_solver(
    n: int, d: int, *, solver: str = "auto", backend, memory_bytes: int, rank: int = 1000
) -> SolverPlan:
    """Pick a solver and the precision of ``K`` for ``n`` points within a budget.

    Parameters
    ----------
    n, d : int
        Training points and features.
    solver : {"auto", "cholesky", "pcg", "eigenpro"}
    backend : Backend
    memory_bytes : int
        What the solve may hold, ``K`` included.
    rank : int
        Nystrom rank (for the PCG estimate).

    Returns
    -------
    SolverPlan

    Raises
    ------
    MemoryError
        A forced ``cholesky`` or ``pcg`` whose matrix does not fit.
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    k64, k32 = 8 * n * n, 4 * n * n

    def fits(kbytes, s):
        return kbytes + _extra_bytes(n, d, s, rank) <= memory_bytes

    if solver != "auto":
        return _forced(solver, n, fits, memory_bytes)
    if fits(k64, "cholesky") and (backend.is_gpu or n <= CPU_CHOLESKY_MAX_N):
        where = "on the GPU" if backend.is_gpu else f"n <= {CPU_CHOLESKY_MAX_N} on the CPU"
        return SolverPlan("cholesky", "float64", k64, memory_bytes, f"float64 K fits and {where}")
    if fits(k32, "pcg"):
        why = "float32 K fits; an exact factorization would be slower"
        return SolverPlan("pcg", "float32", k32, memory_bytes, why)
    why = (
        f"float32 K ({_gib(k32)}) does not fit the {_gib(memory_bytes)} budget: "
        f"kernel blocks on the fly"
    )
    return SolverPlan("eigenpro", "float32", 0, memory_bytes, why)


def _forced(solver, n, fits, budget) -> SolverPlan:
    k64, k32 = 8 * n * n, 4 * n * n
    if solver == "eigenpro":
        return SolverPlan("eigenpro", "float32", 0, budget, "forced")
    if solver == "pcg":
        if fits(k32, "pcg"):
            return SolverPlan("pcg", "float32", k32, budget, "forced")
        raise MemoryError(
            f"solver='pcg' stores the {n} x {n} float32 kernel matrix ({_gib(k32)}) plus "
            f"its preconditioner, over the {_gib(budget)} budget; use "
            f"solver='eigenpro' (kernel blocks on the fly) or fewer points (--n)"
        )
    if fits(k64, "cholesky"):
        return SolverPlan("cholesky", "float64", k64, budget, "forced")
    if fits(k32, "cholesky"):
        why = "forced; float64 K does not fit, float32 does"
        return SolverPlan("cholesky", "float32", k32, budget, why)
    raise MemoryError(
        f"solver='cholesky' needs the {n} x {n} kernel matrix: {_gib(k32)} in float32 "
        f"({_gib(k64)} in float64), over the {_gib(budget)} budget; "
        f"use solver='eigenpro' (kernel blocks on the fly) or fewer points (--n)"
    )


def _gib(nbytes) -> str:
    return f"{nbytes / 2**30:.3g} GiB"
