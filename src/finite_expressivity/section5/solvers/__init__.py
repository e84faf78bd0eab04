"""Solvers for ``(K + ridge I) alpha = Y``, behind one dispatcher, :func:`solve`.

=================  ==================================================================
module             what it holds
=================  ==================================================================
``dispatch``       :func:`solve` (plan, paths, kernel, solver, check) and its options
``plan``           :func:`plan_solver`: which solver and precision fit the memory
``operators``      ``K`` stored (:class:`StoredKernel`) or on the fly (:class:`OnTheFlyKernel`)
``cholesky``       exact: SciPy LAPACK tiles on the CPU, torch or CuPy on a GPU
``pcg``            Nystrom-preconditioned conjugate residuals on a stored float32 ``K``
``eigenpro``       EigenPro 2: preconditioned mini-batches, kernel blocks on the fly
``outcome``        per-epoch reports; the best iterate; the one-line shortfall message
=================  ==================================================================

The solvers themselves are private (``_solve_cholesky``, ``_solve_pcg``,
``_solve_eigenpro``): the estimator, ``run_kernel`` and the experiments all call
:func:`solve`, which checks every answer the same way.
"""

from .dispatch import Solution, SolveOptions, solve
from .operators import OnTheFlyKernel, StoredKernel
from .outcome import Epoch, SolveReport, SolverWarning
from .pcg import NystromPreconditioner
from .plan import CPU_CHOLESKY_MAX_N, SOLVERS, SolverPlan, plan_solver

__all__ = [
    "solve",
    "SolveOptions",
    "Solution",
    "SOLVERS",
    "CPU_CHOLESKY_MAX_N",
    "SolverPlan",
    "plan_solver",
    "StoredKernel",
    "OnTheFlyKernel",
    "NystromPreconditioner",
    "Epoch",
    "SolveReport",
    "SolverWarning",
]
