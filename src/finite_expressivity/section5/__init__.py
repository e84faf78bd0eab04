"""Section 5: minimum-norm interpolation with kernels and linear models.

Kernel "interpolation" of MNIST in three calls::

    from finite_expressivity.section5 import KernelInterpolant
    m = KernelInterpolant("gaussian", 5.0, input_scale=1 / 255).fit(X_uint8, y)  # K a = y
    print(m.train_error_, m.norm_, (m.predict(X_test) != y_test).mean())

``fit`` calls ``solve``, the one solver dispatcher: it picks the solver from n,
memory and device (exact Cholesky, Nystrom-PCG on a stored float32 K, or EigenPro
on the fly) and the code paths measured fastest on this machine (``choose_paths``),
and checks the answer; ``floor_seconds`` is what the machine could do at best;
``run_kernel`` is the whole pipeline
behind ``fe kernel``, ``ARTIFACTS`` the paper's experiments (``fe run NAME``), and
``sgd_least_squares`` / ``min_norm_solution`` the linear-model argument.
"""

from .backend import Backend, get_backend
from .features import gabor_features, random_conv_features, raw_features
from .floor import floor_seconds
from .gram import Kernel, bandwidth_rule, kernel_matmul, kernel_matrix
from .interpolant import KernelInterpolant, one_hot
from .kernel_job import default_bandwidth, run_kernel
from .linear import min_norm_solution, sgd_least_squares
from .paths import Paths, choose_paths
from .solvers import (
    NystromPreconditioner,
    OnTheFlyKernel,
    Solution,
    SolveOptions,
    SolverPlan,
    SolverWarning,
    StoredKernel,
    plan_solver,
    solve,
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
    "solve",
    "SolveOptions",
    "Solution",
    "SolverWarning",
    "Paths",
    "choose_paths",
    "floor_seconds",
    "default_bandwidth",
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
