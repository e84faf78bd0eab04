"""``fe run NAME``: reproduce any paper artifact with the one runner; ``fe run --list``.

``--executor slurm`` (with the ``--slurm-*`` flags) runs each run as a SLURM job
(:mod:`.core.slurm`); ``--no-wait`` submits and prints the job ids (status 0), and runs
whose jobs ended without a result make ``fe run`` exit with status 3.
"""

from __future__ import annotations

import argparse
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
    p.add_argument(
        "--executor",
        choices=("local", "slurm"),
        default="local",
        help="local: this machine's cores or GPUs (default); slurm: one SLURM job-array "
        "element per run, through submitit (pip install -e '.[cluster]')",
    )
    _add_slurm_flags(p)
    p.set_defaults(func=main)


#: ``--slurm-<name>`` flags: (attribute of SlurmSettings, argparse type, metavar, help).
_SLURM_FLAGS = (
    ("partition", str, "NAME", "partition (default: the cluster's default)"),
    (
        "time",
        str,
        "TIME",
        "time limit per run: MINUTES, H:MM:SS or D-HH:MM:SS (default: the partition's "
        "default, else 60 minutes); a run that reaches it is requeued and resumes",
    ),
    ("cpus_per_task", None, "N", "CPUs per run, also its torch threads (default 1)"),
    ("gpus_per_task", None, "N", "GPUs per run (default 0)"),
    ("mem", str, "MEM", "memory per run, e.g. 16G (default: the partition's)"),
    ("account", str, "NAME", "account to charge"),
    ("qos", str, "NAME", "quality of service"),
    ("array_parallelism", None, "N", "at most this many runs at once"),
)


def _count(flag: str, low: int):
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            v = None
        if v is None or v < low:
            raise argparse.ArgumentTypeError(f"{flag} must be an int >= {low}, got {text!r}")
        return v

    return parse


def _add_slurm_flags(p) -> None:
    g = p.add_argument_group(
        "SLURM (--executor slurm)",
        "Each pending run becomes one element of a job array; results land in --out and "
        "are gathered as locally. Rerunning the command waits for or gathers what is there "
        "and submits only runs that are missing or failed.",
    )
    g.add_argument(
        "--slurm-config",
        metavar="FILE",
        help="TOML file with any of the settings below ([slurm] table; keys like "
        "partition, time, gpus_per_task; also max_timeouts, signal_delay, poll); flags "
        "override it",
    )
    for name, kind, metavar, text in _SLURM_FLAGS:
        flag = "--slurm-" + name.replace("_", "-")
        kind = kind or _count(flag, 0 if name == "gpus_per_task" else 1)
        g.add_argument(
            flag, dest=f"slurm_{name}", type=kind, default=None, metavar=metavar, help=text
        )
    g.add_argument(
        "--no-wait",
        action="store_true",
        help="submit, print the job ids and return; rerun the same command to wait and gather",
    )


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


def _executor(args):
    """``"local"``, or a SlurmExecutor from --slurm-config and the --slurm-* flags."""
    given = {name: getattr(args, f"slurm_{name}") for name, *_ in _SLURM_FLAGS}
    if args.executor == "local":
        used = [f for f, v in given.items() if v is not None]
        used = ["--slurm-" + f.replace("_", "-") for f in used]
        used += [
            f for f, v in (("--slurm-config", args.slurm_config), ("--no-wait", args.no_wait)) if v
        ]
        if used:
            raise ValueError(f"{used[0]} needs --executor slurm; add it, or drop {used[0]}")
        return "local"
    if args.workers is not None:
        raise ValueError("--workers applies to --executor local; on SLURM each run is one job")
    from .core.slurm import SlurmExecutor, load_settings

    settings = load_settings(args.slurm_config, **given)
    return SlurmExecutor(settings, wait=not args.no_wait, quiet=args.quiet)


def main(args) -> int:
    from .artifacts import get_artifact
    from .core.executors import RunsFailed, RunsPending
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
    executor = _executor(args)
    threads = args.threads
    if threads is None and executor != "local":
        threads = executor.settings.cpus_per_task
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
            threads=threads,
            executor=executor,
            quiet=args.quiet,
            options=options,
        )
    except RunsPending as exc:
        print(exc)
        return 0
    except RunsFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        if executor != "local":
            print(
                f"error: interrupted; the SLURM jobs keep running (squeue lists them): rerun "
                f"the same command to wait for them and write the results to {out}",
                file=sys.stderr,
            )
            return 130
        print(
            f"error: interrupted; finished runs and per-run checkpoints are kept in {out}: "
            f"rerun the same command to resume",
            file=sys.stderr,
        )
        return 130
    print(res.report)
    print("\nwrote " + ", ".join(str(p) for p in res.paths))
    return 0
