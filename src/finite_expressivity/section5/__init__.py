"""Section 5: minimum-norm interpolation with kernels and linear models.

Kernel "interpolation" of MNIST in three calls::

    from finite_expressivity.section5 import KernelInterpolant
    m = KernelInterpolant("gaussian", 5.0, input_scale=1 / 255).fit(X_uint8, y)  # K a = y
    print(m.train_error_, m.norm_, (m.predict(X_test) != y_test).mean())

``fit`` picks the solver from n, memory and device (exact Cholesky, Nystrom-PCG on
a stored float32 K, or EigenPro on the fly); ``run_kernel`` is the whole pipeline
behind ``fe kernel``, ``ARTIFACTS`` the paper's experiments (``fe run NAME``), and
``sgd_least_squares`` / ``min_norm_solution`` the linear-model argument.
"""

from .backend import Backend, get_backend
from .features import gabor_features, random_conv_features, raw_features
from .gram import Kernel, bandwidth_rule, kernel_matmul, kernel_matrix
from .interpolant import KernelInterpolant, SolverPlan, one_hot, plan_solver
from .kernel_job import run_kernel
from .linear import min_norm_solution, sgd_least_squares
from .solvers import (
    NystromPreconditioner,
    OnTheFlyKernel,
    StoredKernel,
    solve_cholesky,
    solve_eigenpro,
    solve_pcg,
)
from .studies import ARTIFACTS

__all__ = [
    "KernelInterpolant",
    "Kernel",
    "bandwidth_rule",
    "kernel_matrix",
    "kernel_matmul",
    "plan_solver",
    "SolverPlan",
    "one_hot",
    "solve_cholesky",
    "solve_pcg",
    "solve_eigenpro",
    "NystromPreconditioner",
    "StoredKernel",
    "OnTheFlyKernel",
    "min_norm_solution",
    "sgd_least_squares",
    "raw_features",
    "gabor_features",
    "random_conv_features",
    "run_kernel",
    "ARTIFACTS",
    "Backend",
    "get_backend",
]
