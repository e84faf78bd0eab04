"""``fe theorem`` (Theorem 1 on real data, certified in exact arithmetic) and ``fe check``
(a property-based hunt for counterexamples): parse, call, print."""

from __future__ import annotations

import json
import sys
import time

from ..core.argtypes import add_data_dir, nonnegative
from ..core.progress import Progress
from .theorem_job import run_theorem, theorem_data


def register(sub) -> None:
    _register_theorem(sub)
    _register_check(sub)


def _register_theorem(sub) -> None:
    p = sub.add_parser(
        "theorem",
        help="build, verify and certify the 2n+d ReLU network (default: MNIST, random labels)",
        description="Theorem 1 of Zhang et al. (2017): a two-layer ReLU network with 2n+d weights "
        "that fits every label. With no flags: MNIST's 60,000 training images with uniformly random "
        "labels (seed 0).",
    )
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist", "gaussian"])
    p.add_argument(
        "--n", type=int, default=None, help="number of points (default: all; gaussian: 100,000)"
    )
    p.add_argument("--d", type=int, default=32, help="dimension of gaussian points (default 32)")
    p.add_argument(
        "--labels",
        default=None,
        choices=["random", "true"],
        help="true: the dataset's labels (with --data, the file's: the default there); "
        "random: uniformly random class labels (the default for datasets)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", default="numpy", choices=["numpy", "torch", "cupy"])
    p.add_argument("--device", default="auto", help="auto (CUDA when visible), cpu, cuda, cuda:N")
    p.add_argument(
        "--data",
        metavar="PATH",
        help="your own X and y: data.npz, X.npy,y.npy or data.csv (last column = label)",
    )
    add_data_dir(p)
    p.add_argument("--save", metavar="PATH", help="write the network's a, b, w to this .npz")
    p.add_argument(
        "--tol",
        type=nonnegative("--tol"),
        default=None,
        help="certify when every exact residual is at most this (default 1e-6 * max(1, max|y|))",
    )
    p.add_argument(
        "--forward-sample",
        type=int,
        default=None,
        metavar="M",
        help="run the O(n^2) float64 forward pass on at most M points "
        "(default min(n, 4e9/n): all of MNIST, 4,000 of a million)",
    )
    p.add_argument(
        "--depth",
        type=int,
        default=2,
        metavar="K",
        help="depth-K network (K >= 3: K-2 layers of about n/(K-2) neurons each; default 2)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=main)


def main(args) -> int:
    X, y, meta = theorem_data(
        args.dataset,
        n=args.n,
        d=args.d,
        labels=args.labels,
        seed=args.seed,
        data_file=args.data,
        data_dir=args.data_dir,
    )
    report = run_theorem(
        X,
        y,
        seed=args.seed,
        backend=args.backend,
        device=args.device,
        tol=args.tol,
        forward_sample=args.forward_sample,
        save=args.save,
        progress=Progress(quiet=args.quiet),
        meta=meta,
        depth=args.depth,
    )
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
    return 0 if report["certified"] else 3


def format_report(r: dict) -> str:
    """The short table printed by ``fe theorem``."""
    acc = "n/a" if r["train_accuracy"] is None else f"{100 * r['train_accuracy']:.2f}%"
    rows = [
        ("dataset", f"{r['dataset']} ({r['labels']} labels)"),
        ("n, d", f"{r['n']:,}, {r['d']:,}"),
        ("parameters", f"{r['n_params']:,}"),
        ("train accuracy (exact, rounded output)", acc),
        (
            f"float64 accuracy ({r['float64_points']:,} points)",
            f"{100 * r['float64_accuracy']:.2f}%",
        ),
        ("largest residual, exact", f"{r['max_residual_exact']:.3e}"),
        ("largest residual, float64 forward", f"{r['max_residual_float64']:.3e}"),
        (
            "certified (every exact residual <= tol)",
            f"{'yes' if r['certified'] else 'NO'} (tol {r['tol']:.1e})",
        ),
        (
            "smallest projection gap / largest |w|",
            f"{r['min_projection_gap']:.3e} / {r['max_abs_weight']:.3e}",
        ),
        ("digits needed (float64 has 15.95)", f"{r['digits_needed']:.1f}"),
    ]
    if "depth" in r:
        rows.append(
            (
                f"depth {r['depth']}: nonzero parameters per layer",
                ", ".join(f"{c:,}" for c in r["params_per_layer"]),
            )
        )
        rows.append(
            (
                "deep network equals the two-layer one (exact)",
                f"{'yes' if r['deep_equals_two_layer'] else 'NO'} ({r['deep_points_checked']} points)",
            )
        )
    rows += [(f"seconds: {k}", f"{v:.3f}") for k, v in r["seconds"].items()]
    runs = r["timing_runs"]
    best = f"warm, best of {runs}" if runs > 1 else "first run of each"
    rows.append((f"construct / floor ({best})", f"{r['construct_over_floor']:.2f}x"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _register_check(sub) -> None:
    p = sub.add_parser(
        "check",
        help="property-based hunt for counterexamples (Hypothesis)",
        description="Generate datasets from many families and check every property of the "
        "construction on each; on a failure, print the shrunk example as runnable Python.",
    )
    p.add_argument(
        "--examples", type=int, default=200, help="number of generated datasets (default 200)"
    )
    p.add_argument("--seed", type=int, default=0, help="Hypothesis seed (same seed, same examples)")
    p.add_argument("--max-n", type=int, default=40, help="largest number of points per example")
    p.add_argument(
        "--max-d", type=int, default=8, help="largest dimension per example (wide family: more)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=check_main)


def check_main(args) -> int:
    from .checker import run_check

    for name in ("examples", "max_n", "max_d"):
        if getattr(args, name) < 1:
            raise ValueError(
                f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}"
            )
    start = time.perf_counter()
    if not args.json:
        print(
            f"fe: checking {args.examples} examples (seed {args.seed}) ...",
            file=sys.stderr,
            flush=True,
        )
    report = run_check(args.examples, args.seed, max_n=args.max_n, max_d=args.max_d)
    out = report.to_dict()
    out["seconds"] = time.perf_counter() - start
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(
            f"examples {report.examples}, passed {report.passed}, failed {report.failed} "
            f"({out['seconds']:.1f} s)"
        )
        width = max(map(len, report.families), default=0)
        for fam, count in report.families.items():
            print(f"  {fam:<{width}}  {count}")
    if report.failure:
        again = (
            " (it passed when run again: the first failing example)"
            if report.failure["flaky"]
            else ""
        )
        print(
            f"counterexample{again} ({report.failure['error']}):\n{report.failure['snippet']}",
            file=sys.stderr if args.json else sys.stdout,
        )
        return 1
    return 0
