"""Exact (Cholesky) vs iterative (Nystrom-PCG, EigenPro) kernel interpolation on MNIST,
beside this machine's floor and beside scikit-learn's ``KernelRidge``.

For each n and solver: fit and predict seconds (10,000 test images), test and train
error, norm and residual; the floor (:func:`~finite_expressivity.section5.floor_seconds`:
GEMM work at this machine's measured float32 GEMM rate, one read of the stored matrix
per epoch at its measured memory bandwidth, the factorization at the float64 rate)
and the ratio time / floor. Where n <= --sklearn-max, scikit-learn's ``KernelRidge``
(rbf, the same bandwidth, alpha 1e-10, float64 pixels in [0, 1]) runs beside the
exact solver: its test error, its time, and ours / its (the baseline, same process).

Warm-up first (a small fit of each), then every answer is checked (train error 0;
the same test error as scikit-learn's within 0.05 points) before its time is kept.

    python benchmarks/kernel_solvers.py                      # n = 5k, 10k, 20k, 60k
    python benchmarks/kernel_solvers.py --n 10000 --solvers cholesky --json out.json
    python benchmarks/kernel_solvers.py --device cuda        # on a GPU

Not a test: timings depend on the machine and its load (this project's CPU
machine has 2 cores shared with other work: take the best of repeated runs). The
machine's CPU model, instruction sets and the library dispatch settings
(``MKL_ENABLE_INSTRUCTIONS`` etc., which emulate another CPU's code paths) are
printed with the numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def run_one(ds, n, solver, *, device, backend, memory_gb, paths):
    from finite_expressivity.section5 import KernelInterpolant

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
        paths=paths,
    ).fit(X, ds.train_labels[:n])
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    test_error = float(np.mean(m.predict(Xt) != ds.test_labels))
    t_pred = time.perf_counter() - t0
    return m, {
        "n": n,
        "solver": m.report_.solver,
        "dtype": m.plan_.dtype,
        "fit_seconds": round(t_fit, 2),
        "predict_seconds": round(t_pred, 2),
        "seconds": round(t_fit + t_pred, 2),
        "train_error": m.train_error_,
        "test_error": test_error,
        "norm": m.norm_,
        "rel_residual": m.rel_residual_,
        "epochs": len(m.report_.epochs),
        "converged": m.converged_,
        "paths": {k: v for k, v in m.paths_.as_dict().items() if k not in ("timings",)},
    }


def run_sklearn(ds, n, bandwidth=5.0):
    """scikit-learn's KernelRidge: rbf, gamma = 1 / (2 s^2), alpha 1e-10, float64 pixels."""
    from sklearn.kernel_ridge import KernelRidge

    X = ds.train_images[:n].reshape(n, -1) / 255.0
    Xt = ds.test_images.reshape(len(ds.test_images), -1) / 255.0
    Y = np.eye(10)[ds.train_labels[:n]]
    t0 = time.perf_counter()
    kr = KernelRidge(alpha=1e-10, kernel="rbf", gamma=1.0 / (2 * bandwidth**2)).fit(X, Y)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    test_error = float(np.mean(kr.predict(Xt).argmax(1) != ds.test_labels))
    t_pred = time.perf_counter() - t0
    return {
        "n": n,
        "solver": "sklearn KernelRidge",
        "fit_seconds": round(t_fit, 2),
        "predict_seconds": round(t_pred, 2),
        "seconds": round(t_fit + t_pred, 2),
        "test_error": test_error,
    }


def machine(device, backend):
    from finite_expressivity.core.machine import cpu_info, machine_rates, probe_key
    from finite_expressivity.section5 import get_backend

    be = get_backend(backend, device)
    cpu = cpu_info()
    rates = machine_rates(be.device if be.is_gpu else "cpu")
    return (
        be,
        {
            "cpu": cpu["model"],
            "cores": cpu["cores"],
            "isa": list(cpu["isa"]),
            "dispatch_env": probe_key(cpu=cpu)["env"],
            "device": be.device,
            "backend": be.name,
            "gemm_float32_gflops": round(rates["gemm_float32_flops"] / 1e9, 1),
            "gemm_float64_gflops": round(rates["gemm_float64_flops"] / 1e9, 1),
            "read_gb_per_s": round(rates["read_bytes_per_s"] / 1e9, 1),
        },
        rates,
    )


def _floor(r, rates, n_test):
    from finite_expressivity.section5 import floor_seconds

    f = floor_seconds(
        n=r["n"],
        d=784,
        n_test=n_test,
        solver=r["solver"],
        epochs=r["epochs"],
        rates=rates,
        dtype=r["dtype"],
    )
    r["floor_seconds"] = f["total"]
    r["over_floor"] = round(r["seconds"] / f["total"], 2)


def _check(r, base):
    if r["train_error"] != 0.0:
        print(
            f"CHECK FAILED: {r['solver']} at n={r['n']}: train error {r['train_error']}",
            file=sys.stderr,
        )
    if base is not None and abs(r["test_error"] - base["test_error"]) > 5e-4:
        print(
            f"CHECK FAILED: n={r['n']}: test error {r['test_error']:.4f} vs scikit-learn's "
            f"{base['test_error']:.4f}",
            file=sys.stderr,
        )


def _line(r):
    out = (
        f"n={r['n']:>6} {r['solver']:>20}: fit {r['fit_seconds']:7.1f} s + predict "
        f"{r['predict_seconds']:5.1f} s  test {100 * r['test_error']:.2f}%"
    )
    if "floor_seconds" in r:
        out += (
            f"  train {100 * r['train_error']:.2f}%  epochs {r['epochs']}  floor "
            f"{r['floor_seconds']:.1f} s  time/floor {r['over_floor']:.2f}"
        )
    if r.get("over_sklearn") is not None:
        out += f"  ours/sklearn {r['over_sklearn']:.2f}"
    return out


def _rows_for(ds, n, args, kw, rates, max_exact) -> list:
    """scikit-learn's KernelRidge (where n is small enough), then each of our solvers."""
    rows = []
    base = run_sklearn(ds, n) if n <= args.sklearn_max and "cholesky" in args.solvers else None
    if base is not None:
        rows.append(base)
        print(_line(base), flush=True)
    for solver in args.solvers:
        if solver == "cholesky" and n > max_exact:
            print(f"n={n:>6} cholesky: skipped (n > --max-exact {max_exact})", flush=True)
            continue
        try:
            _, r = run_one(ds, n, solver, **kw)
        except MemoryError as exc:
            print(f"n={n:>6} {solver}: skipped ({exc})", flush=True)
            continue
        _floor(r, rates, len(ds.test_labels))
        _check(r, base if solver == "cholesky" else None)
        r["over_sklearn"] = round(r["seconds"] / base["seconds"], 2) if base else None
        rows.append(r)
        print(_line(r), flush=True)
    return rows


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
    p.add_argument(
        "--sklearn-max",
        type=int,
        default=10000,
        help="run scikit-learn's KernelRidge beside Cholesky up to this n (0: never)",
    )
    p.add_argument("--paths", default="auto", help="fix code paths (as fe kernel --paths)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--backend", default="auto")
    p.add_argument("--memory-gb", type=float, default=None)
    p.add_argument("--json", metavar="PATH", default=None)
    args = p.parse_args(argv)
    if args.sklearn_max:
        try:
            import sklearn  # noqa: F401
        except ImportError:
            p.error("scikit-learn is not installed: pip install -e '.[dev]', or --sklearn-max 0")

    from finite_expressivity.data import load

    be, about, rates = machine(args.device, args.backend)
    print(json.dumps(about), flush=True)
    max_exact = args.max_exact or (10**9 if be.is_gpu else 20000)
    ds = load("mnist")
    kw = dict(device=args.device, backend=args.backend, memory_gb=args.memory_gb, paths=args.paths)
    for solver in args.solvers:  # warm-up: imports, thread pools, probes, CUDA context
        run_one(ds, 1000, solver, **kw)
    if args.sklearn_max:
        run_sklearn(ds, 1000)
    rows = []
    for n in args.n:
        rows += _rows_for(ds, n, args, kw, rates, max_exact)
    if args.json:
        from finite_expressivity.core.files import atomic_write_json

        atomic_write_json(args.json, {"rows": rows, "machine": about})
    return 0


if __name__ == "__main__":
    sys.exit(main())
