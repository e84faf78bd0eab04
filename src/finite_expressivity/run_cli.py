"""``fe run NAME``: reproduce any paper artifact with the one runner; ``fe run --list``."""

from __future__ import annotations

import json
import sys

from .core.argtypes import CLIError, add_data_dir, positive

__all__ = ["register"]


def register(subparsers) -> None:
    """Add ``fe run`` to the ``fe`` parser."""
    p = subparsers.add_parser(
        "run",
        help="reproduce a paper artifact (fe run --list shows them)",
        description="Run (or resume) every run an artifact of the paper needs, then write "
        "results.json, results.csv, the figure (PNG, PDF) and report.txt into --out. "
        "Rerunning the same command skips finished runs and resumes unfinished ones.",
    )
    p.add_argument("artifact", nargs="?", metavar="NAME", help="the artifact (see --list)")
    p.add_argument("--list", action="store_true", help="list the artifacts and exit")
    p.add_argument("--json", action="store_true", help="--list: print JSON")
    p.add_argument(
        "--preset",
        default="quick",
        help="quick: minutes on a CPU; paper: the paper's setup (default quick)",
    )
    p.add_argument("--out", default=None, help="output folder (default results/NAME-PRESET)")
    add_data_dir(p)
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    p.add_argument(
        "--workers",
        type=positive("--workers", int),
        default=None,
        help="runs at once (default: one per CPU core or GPU for training sweeps, "
        "1 otherwise; the numbers do not depend on it)",
    )
    p.add_argument(
        "--threads",
        type=positive("--threads", int),
        default=None,
        help="torch threads per run (training sweeps: default 1)",
    )
    p.add_argument(
        "--seeds",
        default=None,
        help="comma-separated seeds, one set of runs each (default: the preset's)",
    )
    p.add_argument("--compile", action="store_true", help="torch.compile the models (training)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=main)


def _seeds(text):
    if text is None:
        return None
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--seeds must be comma-separated ints like 0,1,2, got {text!r}") from None


def _list(as_json: bool) -> int:
    from .artifacts import all_artifacts

    rows = [a.describe() for a in all_artifacts().values()]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"{r['name']:<18} {r['part']:<14} {'/'.join(r['presets']):<12} {r['title']}")
    return 0


def _options(art, args) -> dict:
    """The run options asked for; each must be one the artifact understands."""
    asked = {"compile": True} if args.compile else {}
    for name in asked:
        if name not in art.options:
            raise ValueError(
                f"--{name} does not apply to {art.name}; it applies to artifacts "
                f"that train models (fig1a, fig1bc, table1, fig2b)"
            )
    if args.seeds is not None and not art.seeds:
        raise ValueError(f"--seeds does not apply to {art.name}: it has no seeds to vary")
    return asked


def main(args) -> int:
    from .artifacts import get_artifact
    from .core.runner import default_out, run_artifact

    if args.list:
        return _list(args.json)
    if args.artifact is None:
        raise ValueError("name an artifact (fe run --list shows them)")
    try:
        art = get_artifact(args.artifact)
    except ValueError as exc:
        raise CLIError(f"fe run: {exc}") from None
    options = _options(art, args)
    out = args.out if args.out is not None else str(default_out(art, args.preset))
    try:
        res = run_artifact(
            art,
            args.preset,
            out,
            seeds=_seeds(args.seeds),
            data_dir=args.data_dir,
            device=args.device,
            workers=args.workers,
            threads=args.threads,
            quiet=args.quiet,
            options=options,
        )
    except KeyboardInterrupt:
        print(
            f"error: interrupted; finished runs and per-run checkpoints are kept in {out}: "
            f"rerun the same command to resume",
            file=sys.stderr,
        )
        return 130
    print(res.report)
    print("\nwrote " + ", ".join(str(p) for p in res.paths))
    return 0
