"""The randomization part's paper artifacts (Figure 1a, Figure 1b-c, Table 1, Figure 2b),
as the one runner runs them (``fe run NAME``)."""

from __future__ import annotations

from functools import partial

from ..core.artifact import Artifact
from . import figures, report
from .presets import DEVIATIONS, NAMES, PRESETS, default_seeds, specs, title
from .sweep import SUMMARY_FIELDS, prepare_runs, spec_run

__all__ = ["ARTIFACTS"]


def _runs(name: str, preset: str, seeds=None) -> list:
    return [spec_run(s) for s in specs(name, preset, seeds)]


def _report(name: str, records) -> str:
    text = getattr(report, name)(records)
    return (
        text + "\n\nDeviations from the paper's setup:\n" + "\n".join(f"- {d}" for d in DEVIATIONS)
    )


ARTIFACTS = tuple(
    Artifact(
        name=name,
        part="randomization",
        title=title(name),
        runs=partial(_runs, name),
        figure=getattr(figures, name),
        report=partial(_report, name),
        presets=PRESETS,
        csv_fields=SUMMARY_FIELDS,
        parallel=True,
        prepare=prepare_runs,
        seeds={p: default_seeds(name, p) for p in PRESETS},
        options=("compile",),
    )
    for name in NAMES
)
