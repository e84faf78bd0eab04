"""Exact (Cholesky) vs iterative (Nystrom-PCG, EigenPro) kernel interpolation on MNIST.

For each n: wall time, test error, train error, norm and relative residual of each
solver, and the ratio of each solver's time to the exact one's in the same run
(the baseline). The exact solve is skipped where its matrix does not fit the
memory budget or n exceeds --max-exact. Warm-up: a small fit first, so that
library start-up is not timed. Check: every solver must reach train error 0.

    python benchmarks/kernel_solvers.py                      # n = 5k, 10k, 20k, 60k
    python benchmarks/kernel_solvers.py --n 5000 10000 --json out.json
    python benchmarks/kernel_solvers.py --device cuda        # on a GPU

Not a test: timings depend on the machine and its load (this project's CPU
machine has 2 cores shared with other work).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np


def run_one(ds, n, solver, *, device, backend, memory_gb):
    from finite_expressivity.section5.interpolant import KernelInterpolant

    X = ds.train_images[:n].reshape(n, -1)
    Xt = ds.test_images.reshape(len(ds.test_images), -1)
    t0 = time.perf_counter()
    m = KernelInterpolant(
        "gaussian",
        5.0,
        solver=solver,
        input_scale=1 / 255,
        backend=backend,
        device=device,
        memory_gb=memory_gb,
    ).fit(X, ds.train_labels[:n])
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    test_error = float(np.mean(m.predict(Xt) != ds.test_labels))
    t_pred = time.perf_counter() - t0
    return {
        "n": n,
        "solver": solver,
        "dtype": m.plan_.dtype,
        "fit_seconds": round(t_fit, 2),
        "predict_seconds": round(t_pred, 2),
        "train_error": m.train_error_,
        "test_error": test_error,
        "norm": m.norm_,
        "rel_residual": m.rel_residual_,
        "epochs": len(m.report_.epochs),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, nargs="+", default=[5000, 10000, 20000, 60000])
    p.add_argument(
        "--solvers", nargs="+", default=["cholesky", "pcg"], choices=["cholesky", "pcg", "eigenpro"]
    )
    p.add_argument(
        "--max-exact",
        type=int,
        default=None,
        help="largest n for Cholesky (default 20,000 on the CPU, no limit on a GPU)",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--backend", default="auto")
    p.add_argument("--memory-gb", type=float, default=None)
    p.add_argument("--json", metavar="PATH", default=None)
    args = p.parse_args(argv)

    from finite_expressivity.data import load
    from finite_expressivity.section5.backend import get_backend

    be = get_backend(args.backend, args.device)
    max_exact = args.max_exact or (10**9 if be.is_gpu else 20000)
    ds = load("mnist")
    run_one(
        ds, 1000, "cholesky", device=args.device, backend=args.backend, memory_gb=args.memory_gb
    )  # warm-up (imports, thread pools, CUDA context)
    rows = []
    for n in args.n:
        base = None
        for solver in args.solvers:
            if solver == "cholesky" and n > max_exact:
                print(f"n={n:>6} cholesky: skipped (n > --max-exact {max_exact})", flush=True)
                continue
            try:
                r = run_one(
                    ds,
                    n,
                    solver,
                    device=args.device,
                    backend=args.backend,
                    memory_gb=args.memory_gb,
                )
            except MemoryError as exc:
                print(f"n={n:>6} {solver}: skipped ({exc})", flush=True)
                continue
            if r["train_error"] != 0.0:
                print(
                    f"CHECK FAILED: {solver} at n={n} has train error {r['train_error']}",
                    file=sys.stderr,
                )
            if solver == "cholesky":
                base = r["fit_seconds"]
            r["fit_over_exact"] = round(r["fit_seconds"] / base, 3) if base else None
            rows.append(r)
            print(
                f"n={n:>6} {solver:>9} ({r['dtype']}): fit {r['fit_seconds']:8.1f} s  "
                f"test {100 * r['test_error']:.2f}%  train {100 * r['train_error']:.2f}%  "
                f"norm {r['norm']:8.1f}  residual {r['rel_residual']:.1e}  "
                f"epochs {r['epochs']}"
                + (f"  time/exact {r['fit_over_exact']:.2f}" if r["fit_over_exact"] else ""),
                flush=True,
            )
    machine = {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "device": be.device,
        "backend": be.name,
        "load_average": os.getloadavg(),
    }
    if be.is_gpu and be.name == "torch":
        machine["gpu"] = be.xp.cuda.get_device_name()
    if args.json:
        from finite_expressivity.core.files import atomic_write_json

        atomic_write_json(args.json, {"rows": rows, "machine": machine})
    print(json.dumps(machine))
    return 0


if __name__ == "__main__":
    sys.exit(main())
