"""Benchmark: the Theorem 1 construction against the floor and two dense baselines.

For growing n (Gaussian points, d = 32, random labels 0..9), in one process:

* floor      one projection ``X @ a`` plus one ``argsort`` (nothing can be cheaper);
* fit        ``finite_expressivity.fit`` (validation, exact projection, sort, slopes);
* trsolve    the paper's matrix formed and solved with SciPy's ``solve_triangular``
             (midpoint biases; n <= 10,000: the matrix is n^2);
* dense      the same matrix through a dense LU solve (``numpy.linalg.solve``; n <= 5,000).

Every method's answer is checked before it is timed (fit: exact certificate on
small n, float64 residual otherwise). Times are the best of ``--repeat`` runs;
the table reports each as a ratio to the floor measured in the same run.

    python benchmarks/construction.py [--n 10000 100000 1000000] [--repeat 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
from scipy.linalg import solve_triangular

from finite_expressivity import certify, fit


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def formed_matrix(X, y, a):
    z = X @ a
    order = np.argsort(z)
    zs = z[order]
    b = np.concatenate([[zs[0] - 1.0], (zs[1:] + zs[:-1]) / 2])
    return np.maximum(zs[:, None] - b[None, :], 0.0), y[order]


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--n", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    p.add_argument("--d", type=int, default=32)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", metavar="PATH")
    p.add_argument(
        "--backend",
        default="numpy",
        choices=["numpy", "torch", "cupy"],
        help="array library for fit and floor (torch uses CUDA when available)",
    )
    args = p.parse_args(argv)
    if args.backend != "numpy":
        return gpu_main(args)
    rows = []
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, numpy {np.__version__}"
    )
    print(
        f"{'n':>9} {'floor s':>9} {'fit s':>9} {'fit/floor':>9} {'trsolve/floor':>13} {'dense/floor':>11}"
    )
    for n in args.n:
        rng = np.random.default_rng([n, 0])
        X = rng.standard_normal((n, args.d))
        y = rng.integers(0, 10, n).astype(np.float64)
        a = rng.integers(-(2**20), 2**20 + 1, args.d).astype(np.float64)
        # check first, then time
        net = fit(X, y, seed=0)
        if n <= 100_000:
            assert certify(net, X, y).certified, "fit failed its certificate"
        floor, _ = best_of(lambda: np.argsort(X @ a), args.repeat)
        t_fit, _ = best_of(lambda: fit(X, y, seed=0), args.repeat)
        row = {
            "n": n,
            "d": args.d,
            "floor_s": floor,
            "fit_s": t_fit,
            "fit_over_floor": t_fit / floor,
        }
        if n <= 10_000:
            A, ys = formed_matrix(X, y, a)
            w = solve_triangular(A, ys, lower=True)
            assert np.max(np.abs(A @ w - ys)) < 0.5
            t_tr, _ = best_of(
                lambda: solve_triangular(*formed_matrix(X, y, a), lower=True), args.repeat
            )
            row["trsolve_over_floor"] = t_tr / floor
        if n <= 5_000:
            t_dn, _ = best_of(lambda: np.linalg.solve(*formed_matrix(X, y, a)), args.repeat)
            row["dense_over_floor"] = t_dn / floor
        rows.append(row)
        fmt = lambda k: f"{row[k]:.1f}x" if k in row else "-"  # noqa: E731
        print(
            f"{n:>9,} {floor:>9.4f} {t_fit:>9.4f} {row['fit_over_floor']:>8.2f}x "
            f"{fmt('trsolve_over_floor'):>13} {fmt('dense_over_floor'):>11}",
            flush=True,
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"machine": platform.platform(), "cpus": os.cpu_count(), "rows": rows}, f, indent=2
            )


def gpu_main(args):
    """fit against the floor on torch/CuPy arrays (GPU when available), synchronised timings."""
    from finite_expressivity.theorem1.theorem_job import _sync, to_backend

    print(f"backend {args.backend}")
    print(f"{'n':>9} {'device':>12} {'floor s':>9} {'fit s':>9} {'fit/floor':>9}")
    rows = []
    for n in args.n:
        rng = np.random.default_rng([n, 0])
        X = rng.standard_normal((n, args.d))
        y = rng.integers(0, 10, n).astype(np.float64)
        a = rng.integers(-(2**20), 2**20 + 1, args.d).astype(np.float64)
        (Xb, yb, ab), device = to_backend([X, y, a], args.backend)
        net = fit(Xb, yb, seed=0)  # warm-up and check
        ref = fit(X, y, seed=0)
        assert np.array_equal(np.asarray(ref.b), np.asarray(net.b.tolist())), (
            "backend differs from NumPy"
        )

        def floor():
            out = (Xb @ ab).argsort()
            _sync(out)

        def run():
            out = fit(Xb, yb, seed=0)
            _sync(out.w)

        t_floor, _ = best_of(floor, args.repeat)
        t_fit, _ = best_of(run, args.repeat)
        rows.append(
            {
                "n": n,
                "device": device,
                "floor_s": t_floor,
                "fit_s": t_fit,
                "fit_over_floor": t_fit / t_floor,
            }
        )
        print(
            f"{n:>9,} {device:>12} {t_floor:>9.4f} {t_fit:>9.4f} {t_fit / t_floor:>8.2f}x",
            flush=True,
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"backend": args.backend, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
