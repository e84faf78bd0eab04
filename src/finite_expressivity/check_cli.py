"""``fe check``: hunt for counterexamples to the Theorem 1 construction."""

from __future__ import annotations

import json
import sys
import time


def register(sub) -> None:
    p = sub.add_parser(
        "check",
        help="property-based hunt for counterexamples (Hypothesis)",
        description="Generate datasets from many families and check every property of the "
        "construction on each; on a failure, print the shrunk example as runnable Python.",
    )
    p.add_argument("--examples", type=int, default=200, help="number of generated datasets (default 200)")
    p.add_argument("--seed", type=int, default=0, help="Hypothesis seed (same seed, same examples)")
    p.add_argument("--max-n", type=int, default=40, help="largest number of points per example")
    p.add_argument("--max-d", type=int, default=8, help="largest dimension per example (wide family: more)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=main)


def main(args) -> int:
    from .check import run_check

    for name in ("examples", "max_n", "max_d"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    start = time.perf_counter()
    if not args.json:
        print(f"fe: checking {args.examples} examples (seed {args.seed}) ...", file=sys.stderr, flush=True)
    report = run_check(args.examples, args.seed, max_n=args.max_n, max_d=args.max_d)
    out = report.to_dict()
    out["seconds"] = time.perf_counter() - start
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"examples {report.examples}, passed {report.passed}, failed {report.failed} "
              f"({out['seconds']:.1f} s)")
        for fam, count in report.families.items():
            print(f"  {fam:<16} {count}")
    if report.failure:
        print(f"counterexample ({report.failure['error']}):\n{report.failure['snippet']}",
              file=sys.stderr if args.json else sys.stdout)
        return 1
    return 0
