"""``fe models``: the paper's models and their parameter counts."""

from __future__ import annotations

import json


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
    """Add ``fe models`` to the ``fe`` parser."""
    m = subparsers.add_parser("models", help="list the paper's models and parameter counts")
    m.add_argument("--json", action="store_true", help="machine-readable output")
    m.set_defaults(func=_models)
