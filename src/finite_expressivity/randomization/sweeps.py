"""The paper's randomization artifacts, end to end: Figure 1a, Figure 1b-c, Table 1,
Figure 2b.

``run_artifact("fig1a", "quick", "results/fig1a-quick")`` runs every training run the
artifact needs (resuming, skipping finished runs, optionally over several worker
processes), then writes into the folder:

* ``results.json``: a list of runs, each with ``model, dataset, variant, p, seed,
  steps_to_fit, final_train_accuracy, test_accuracy, params, seconds``, its loss history
  and per-epoch log, its spec, and its provenance (config, versions, device, git commit);
* ``results.csv``: the same runs, flat (no histories);
* the figure as PNG and PDF (``fig1a.png`` ...), laid out like the paper's;
* ``report.txt``: our numbers beside the paper's (also returned).

Lower level: :class:`RunSpec` describes one run, :func:`run_sweep` runs a list of them
into a folder, :data:`ARTIFACTS` maps names to their runs per preset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.files import atomic_write_csv, atomic_write_json, atomic_write_text
from .presets import ARTIFACTS, DEVIATIONS, PRESETS, Artifact
from .specs import RunSpec, spec_from_dict, spec_to_dict
from .sweep import SUMMARY_FIELDS, load_records, run_one, run_sweep, validate_specs

__all__ = [
    "ARTIFACTS",
    "PRESETS",
    "DEVIATIONS",
    "Artifact",
    "RunSpec",
    "ArtifactResult",
    "run_artifact",
    "write_outputs",
    "run_sweep",
    "run_one",
    "validate_specs",
    "load_records",
    "spec_to_dict",
    "spec_from_dict",
]


@dataclass
class ArtifactResult:
    records: list
    paths: list
    report: str


def _artifact(name) -> Artifact:
    try:
        return ARTIFACTS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown artifact {name!r}; choose one of {', '.join(ARTIFACTS)}"
        ) from None


def write_outputs(name: str, records, out) -> ArtifactResult:
    """Write results.json, results.csv, the figure and report.txt for finished runs."""
    from . import figures, report

    art = _artifact(name)
    out = Path(out)
    paths = [
        atomic_write_json(out / "results.json", records),
        atomic_write_csv(
            out / "results.csv", [{k: r.get(k) for k in SUMMARY_FIELDS} for r in records]
        ),
    ]
    paths += getattr(figures, art.figure)(records, out)
    text = getattr(report, art.report)(records)
    text += "\n\nDeviations from the paper's setup:\n" + "\n".join(f"- {d}" for d in DEVIATIONS)
    paths.append(atomic_write_text(out / "report.txt", text + "\n"))
    return ArtifactResult(records=records, paths=paths, report=text)


def run_artifact(
    name: str,
    preset: str = "quick",
    out=None,
    *,
    seeds=None,
    data_dir=None,
    device="auto",
    workers: int | None = None,
    threads: int | None = None,
    compile: bool = False,
    quiet: bool = False,
) -> ArtifactResult:
    """Reproduce one artifact: run (or resume) its runs, then write its outputs.

    Parameters
    ----------
    name : {"fig1a", "fig1bc", "table1", "fig2b"}
    preset : {"quick", "paper"}
    out : str or Path, optional
        Output folder (default ``results/<name>-<preset>``).
    seeds : sequence of int, optional
        One set of runs per seed (data variant, initialization and batch order);
        default: the preset's (``(0, 1, 2)`` for fig1bc quick, else ``(0,)``).
    data_dir, device, workers, threads, compile, quiet
        See :func:`run_sweep`.
    """
    art = _artifact(name)
    specs = art.runs(preset, seeds)
    out = Path(out) if out is not None else Path("results") / f"{name}-{preset}"
    records = run_sweep(
        specs,
        out,
        data_dir=data_dir,
        device=device,
        workers=workers,
        threads=threads,
        compile=compile,
        quiet=quiet,
        meta={"artifact": name, "preset": preset},
    )
    return write_outputs(name, records, out)
