"""``fe kernel``: Section 5's kernel interpolation, and its experiments."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..core.argtypes import add_data_dir, nonnegative, positive

__all__ = ["register", "main", "format_result"]


def register(sub) -> None:
    """Add ``fe kernel`` to the ``fe`` parser."""
    from .features import FEATURES  # noqa: PLC0415
    from .gram import KERNELS  # noqa: PLC0415
    from .interpolant import SOLVERS  # noqa: PLC0415
    from .kernel_job import DATASETS  # noqa: PLC0415
    from .studies import ARTIFACTS  # noqa: PLC0415

    p = sub.add_parser(
        "kernel",
        help="minimum-norm kernel interpolation (Section 5): K alpha = y, test error, norm",
        description="Solve K alpha = y (one-hot labels, no regularization unless --ridge) on a "
        "dataset's training images, then report test error, training error and the RKHS norm "
        "sqrt(alpha^T K alpha) of the solution. With no flags: all 60,000 MNIST training images, "
        "Gaussian kernel, bandwidth 5 (pixels in [0, 1]). --experiment runs one of Section 5's "
        "experiments and writes JSON, CSV and a figure.",
    )
    p.add_argument("--dataset", default=None, choices=DATASETS, help="default mnist")
    p.add_argument("--kernel", default=None, choices=KERNELS, help="default gaussian")
    p.add_argument(
        "--bandwidth",
        type=positive("--bandwidth"),
        default=None,
        help="kernel bandwidth (default: 5 for the Gaussian kernel on raw MNIST or "
        "Fashion-MNIST pixels, else the median rule: median pairwise distance / 2 (Gaussian) or itself "
        "(Laplacian))",
    )
    p.add_argument(
        "--solver",
        default=None,
        choices=SOLVERS,
        help="auto (the default): Cholesky if float64 K fits and (GPU or n <= 10,000), else "
        "PCG on a stored float32 K if it fits, else EigenPro on the fly",
    )
    p.add_argument(
        "--ridge", type=nonnegative("--ridge"), default=None, help="lambda >= 0 (default 0)"
    )
    p.add_argument("--features", default=None, choices=FEATURES, help="default raw")
    p.add_argument(
        "--n",
        type=positive("--n", int),
        default=None,
        help="first N training images (default: all)",
    )
    p.add_argument(
        "--n-test",
        type=positive("--n-test", int),
        default=None,
        help="first N test images (default: all)",
    )
    p.add_argument(
        "--n-filters",
        type=positive("--n-filters", int),
        default=None,
        help="random-conv: number of random filters (default 1024; the paper: 32000)",
    )
    p.add_argument(
        "--gabor-order",
        type=int,
        choices=(1, 2),
        default=None,
        help="gabor: 1 (wavelet modulus) or 2 (plus a second layer); default 1",
    )
    p.add_argument(
        "--tol",
        type=positive("--tol"),
        default=None,
        help="iterative solvers stop at train error 0 and relative residual <= TOL (default 0.05)",
    )
    p.add_argument(
        "--max-epochs",
        type=positive("--max-epochs", int),
        default=None,
        help="iteration budget (default 60 for PCG, 20 for EigenPro)",
    )
    p.add_argument(
        "--rank",
        type=positive("--rank", int),
        default=None,
        help="Nystrom preconditioner rank for PCG (default 1000)",
    )
    p.add_argument(
        "--memory-gb",
        type=positive("--memory-gb"),
        default=None,
        help="memory the solve may use (default 90%% of what is free)",
    )
    p.add_argument(
        "--backend", default=None, choices=("auto", "numpy", "torch", "cupy"), help="default auto"
    )
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default auto)")
    p.add_argument("--seed", type=int, default=0)
    add_data_dir(p)
    p.add_argument(
        "--experiment",
        default=None,
        choices=[a.name for a in ARTIFACTS],
        help="run one of Section 5's experiments instead of a single fit: the same as "
        "`fe run NAME` (--quick: its quick preset, else its paper preset)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="--experiment: the quick preset (minutes instead of tens of minutes)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="write result JSON and CSV here (experiments: default results/NAME-PRESET)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=main)


def _feature_options(args) -> dict:
    opts = {}
    if args.n_filters is not None:
        if args.features != "random-conv":
            raise ValueError("--n-filters applies to --features random-conv only")
        opts["n_filters"] = args.n_filters
    if args.gabor_order is not None:
        if args.features != "gabor":
            raise ValueError("--gabor-order applies to --features gabor only")
        opts["order"] = args.gabor_order
    return opts


#: Single-fit flags and their defaults; with --experiment each must be left unset.
FIT_DEFAULTS = {
    "dataset": "mnist",
    "kernel": "gaussian",
    "bandwidth": None,
    "solver": "auto",
    "ridge": 0.0,
    "features": "raw",
    "n": None,
    "n_test": None,
    "n_filters": None,
    "gabor_order": None,
    "tol": 5e-2,
    "max_epochs": None,
    "rank": 1000,
    "memory_gb": None,
    "backend": "auto",
}


def default_bandwidth(kernel, features, bandwidth, dataset="mnist"):
    """The paper leaves the bandwidth open: 5 for the Gaussian on raw MNIST-sized pixels
    (EigenPro's MNIST choice; the median rule gives 5.1 there), else the median rule."""
    if (
        bandwidth is None
        and kernel == "gaussian"
        and features == "raw"
        and dataset in ("mnist", "fashion-mnist")
    ):
        return 5.0
    return bandwidth


def _experiment(args) -> int:
    """``fe kernel --experiment NAME``: ``fe run NAME``; single-fit flags are refused."""
    from ..core.runner import default_out, run_artifact  # noqa: PLC0415
    from .studies import ARTIFACTS  # noqa: PLC0415

    for name in FIT_DEFAULTS:
        if getattr(args, name) is not None:
            flag = "--" + name.replace("_", "-")
            raise ValueError(
                f"{flag} does not apply to --experiment {args.experiment}: each "
                f"experiment fixes its own settings (run fe kernel without "
                f"--experiment for a single fit)"
            )
    art = {a.name: a for a in ARTIFACTS}[args.experiment]
    preset = "quick" if args.quick else "paper"
    out = Path(args.out) if args.out else default_out(art, preset)
    try:
        res = run_artifact(
            art,
            preset,
            out,
            seeds=[args.seed],
            data_dir=args.data_dir,
            device=args.device,
            quiet=args.quiet,
        )
    except KeyboardInterrupt:
        print(
            f"error: interrupted; finished runs are kept in {out}: rerun the same command "
            f"to resume",
            file=sys.stderr,
        )
        return 130
    if args.json:
        print(
            json.dumps(
                {"records": res.records, "files": [str(p) for p in res.paths]},
                indent=2,
                default=str,
            )
        )
    else:
        print(res.report)
        print("\nwrote " + ", ".join(str(p) for p in res.paths))
    return 0


def main(args) -> int:
    from ..core.files import atomic_write_csv, atomic_write_json  # noqa: PLC0415
    from ..core.progress import Progress  # noqa: PLC0415
    from ..core.provenance import provenance  # noqa: PLC0415

    if args.experiment is not None:
        return _experiment(args)
    if args.quick:
        raise ValueError("--quick applies to --experiment only")
    for name, value in FIT_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    prog = Progress(quiet=args.quiet)
    from .kernel_job import run_kernel  # noqa: PLC0415

    config = dict(
        dataset=args.dataset,
        kernel=args.kernel,
        bandwidth=default_bandwidth(args.kernel, args.features, args.bandwidth, args.dataset),
        solver=args.solver,
        ridge=args.ridge,
        features=args.features,
        n=args.n,
        n_test=args.n_test,
        tol=args.tol,
        max_epochs=args.max_epochs,
        rank=args.rank,
        memory_gb=args.memory_gb,
        backend=args.backend,
        device=args.device,
        seed=args.seed,
        feature_options=_feature_options(args),
    )
    result = run_kernel(**config, data_dir=args.data_dir, progress=prog)
    if args.out:
        out = Path(args.out)
        name = f"kernel_{args.dataset}_{args.features}_{args.kernel}"
        atomic_write_json(
            out / f"{name}.json",
            {"result": result, "provenance": provenance(result["device"], config)},
        )
        atomic_write_csv(
            out / f"{name}.csv",
            [{k: v for k, v in result.items() if k not in ("history", "norms")}],
        )
        atomic_write_csv(out / f"{name}_history.csv", result["history"] or [{}])
    if args.json:
        print(json.dumps(result, default=str))
    else:
        print(format_result(result))
    return 0


def format_result(r: dict) -> str:
    """The short table printed by ``fe kernel``."""
    rows = [
        (
            "data",
            f"{r['dataset']}: {r['n_train']:,} train, {r['n_test']:,} test, "
            f"{r['features']} features ({r['n_features']:,})",
        ),
        ("kernel", f"{r['kernel']}, bandwidth {r['bandwidth']:.4g}, ridge {r['ridge']:g}"),
        ("solver", f"{r['solver']} ({r['dtype']}; {r['solver_reason']})"),
        (
            "iterations",
            f"{r['epochs']} ({'converged' if r['converged'] else 'budget reached'}, "
            f"tol {r['tol']:g})"
            if r["solver"] != "cholesky"
            else "exact",
        ),
        ("test error", f"{100 * r['test_error']:.2f}%"),
        ("train error", f"{100 * r['train_error']:.2f}%"),
        ("relative residual |K a - y| / |y|", f"{r['rel_residual']:.2e}"),
        ("norm sum_c sqrt(a_c^T K a_c)", f"{r['norm']:.1f}"),
        ("norm sqrt(sum_c a_c^T K a_c)", f"{r['norm_rss']:.1f}"),
        ("per-class norms", " ".join(f"{v:.1f}" for v in r["norms"])),
        ("peak memory", f"{r['peak_memory_gb']:.2f} GiB"),
    ]
    rows += [(f"seconds: {k}", f"{v:.1f}") for k, v in r["seconds"].items()]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
