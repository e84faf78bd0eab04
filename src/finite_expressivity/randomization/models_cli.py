"""``fe run ARTIFACT`` and ``fe models``: parse, call, print."""

from __future__ import annotations

import json
import os
import sys

from ..core.argtypes import add_data_dir
from .presets import ARTIFACTS, PRESETS


def _seeds(text):
    if text is None:
        return None
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--seeds must be comma-separated ints like 0,1,2, got {text!r}") from None
    return seeds


def _run(args) -> int:
    from .sweeps import run_artifact

    # cuBLAS reads this when CUDA starts; deterministic matmuls need it (harmless on CPU).
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    out = (
        args.out
        if args.out is not None
        else os.path.join("results", f"{args.artifact}-{args.preset}")
    )
    try:
        res = run_artifact(
            args.artifact,
            args.preset,
            out,
            seeds=_seeds(args.seeds),
            data_dir=args.data_dir,
            device=args.device,
            workers=args.workers,
            threads=args.threads,
            compile=args.compile,
            quiet=args.quiet,
        )
    except KeyboardInterrupt:
        print(
            f"error: interrupted; finished runs and per-epoch checkpoints are kept in {out}: "
            f"rerun the same command to resume",
            file=sys.stderr,
        )
        return 130
    print(res.report)
    print("\nwrote " + ", ".join(str(p) for p in res.paths))
    return 0


def _models(args) -> int:
    from .models import describe_models

    rows = describe_models()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'model':<16} {'input':<9} {'params':>10} {'paper':>10} {'lr':>5}")
    for r in rows:
        paper = f"{r['paper_params']:,}" if r["paper_params"] else ""
        print(f"{r['model']:<16} {r['input']:<9} {r['params']:>10,} {paper:>10} {r['paper_lr']:>5}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "run",
        help="reproduce a randomization artifact (fig1a, fig1bc, table1, fig2b)",
        description="Run every training run an artifact of the paper needs, resuming "
        "unfinished runs and skipping finished ones, then write results.json, "
        "results.csv, the figure (PNG, PDF) and report.txt into --out.",
    )
    p.add_argument("artifact", choices=sorted(ARTIFACTS))
    p.add_argument(
        "--preset",
        choices=PRESETS,
        default="quick",
        help="quick: MNIST/Fashion-MNIST subsets on a CPU in minutes; paper: the "
        "paper's models and schedule on CIFAR-10 (needs --data-dir, a GPU)",
    )
    p.add_argument("--out", default=None, help="output folder (default results/ARTIFACT-PRESET)")
    add_data_dir(p)
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="runs in parallel processes (default: one per CPU core on a CPU, "
        "1 on a GPU; the numbers do not depend on it)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads per worker (default 1; small models run best that way)",
    )
    p.add_argument(
        "--seeds",
        default=None,
        help="comma-separated seeds, one set of runs each (default: the preset's)",
    )
    p.add_argument("--compile", action="store_true", help="torch.compile the models")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=_run)

    m = subparsers.add_parser("models", help="list the paper's models and parameter counts")
    m.add_argument("--json", action="store_true", help="machine-readable output")
    m.set_defaults(func=_models)
