"""What a paper artifact is, for the one runner that runs them all.

Each part of the package (Theorem 1, the randomization tests, Section 5) describes its
figures and tables as :class:`Artifact` s and registers them in
``finite_expressivity.artifacts``. An artifact says which :class:`Run` s it needs for a
preset; each run is a module-level function and a JSON-able spec, so any executor (this
process, worker processes, a SLURM job) can run it and the folder can be resumed. The
runner (:mod:`.runner`) knows nothing of models, kernels or networks::

    Artifact(name="fig1a", part="randomization", title="...", runs=fig1a_runs,
             figure=fig1a_figure, report=fig1a_report)
    # fig1a_runs("quick", None) -> [Run(name="inception_true_...", fn=train_run, spec={...})]
    # train_run(spec, ctx) -> {"steps_to_fit": 96, ...}   (one record, or a list of them)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Artifact", "Run", "RunContext", "PARTS", "PRESETS"]

PARTS = ("theorem1", "randomization", "section5")
PRESETS = ("quick", "paper")


@dataclass(frozen=True)
class Run:
    """One unit of work: computed once, stored in ``OUT/runs/<name>/result.json``.

    Parameters
    ----------
    name : str
        Folder name, unique within the artifact (letters, digits, ``._-``).
    fn : callable
        A module-level function ``fn(spec, ctx) -> dict | list[dict]`` returning the
        run's record(s); it must be importable by name (worker processes and cluster
        jobs call it).
    spec : dict
        JSON-able; everything that decides the run's numbers.
    label : str
        A short description for progress lines.
    gpu : bool
        The run wants a GPU where there is one.
    """

    name: str
    fn: Callable
    spec: dict
    label: str = ""
    gpu: bool = False

    def key(self) -> str:
        """A short hash of ``spec``: the run's identity."""
        blob = json.dumps(self.spec, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:10]


@dataclass
class RunContext:
    """What a run function gets besides its spec.

    Attributes
    ----------
    run_dir : Path
        The run's own folder. Checkpoints live here, named ``checkpoint*``: the executor
        removes them once ``result.json`` (the runner's) is written.
    data_dir : str or None
        Where datasets live (``--data-dir``).
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``, as asked.
    progress : Progress
        Progress lines for this run.
    options : dict
        Artifact-specific settings that do not change the numbers (``compile``, in-memory
        datasets for tests, ...).
    check : callable
        Call at safe points (after a checkpoint): it raises to stop the run when the
        sweep is interrupted or its parent is gone.
    """

    run_dir: Path
    data_dir: str | None
    device: str
    progress: object
    options: dict = field(default_factory=dict)
    check: Callable[[], None] = lambda: None


@dataclass(frozen=True)
class Artifact:
    """A figure or table of the paper: its runs per preset, its figure, its report.

    Parameters
    ----------
    name : str
        What ``fe run NAME`` calls it.
    part : {"theorem1", "randomization", "section5"}
    title : str
    runs : callable
        ``runs(preset, seeds) -> list[Run]``; ``seeds`` is None for the preset's own.
    figure : callable
        ``figure(records, out) -> list[Path]``: the PNG and PDF it wrote.
    report : callable
        ``report(records) -> str``: our numbers beside the paper's.
    presets : tuple of str
    csv_fields : tuple of str, optional
        Columns of ``results.csv`` (default: every scalar field of the records).
    parallel : bool
        Its runs may go to one worker process per CPU core (small models); otherwise
        they run one after another (each uses the whole machine's memory or cores).
    prepare : callable, optional
        ``prepare(runs, data_dir=, device=, options=)``: check everything (and load the
        data) before any run starts; raise ValueError with one line on a problem.
    seeds : dict
        ``{preset: default seeds}`` where the artifact takes seeds (``--seeds``).
    options : tuple of str
        The run options it understands (e.g. ``"compile"``); others are refused.
    """

    name: str
    part: str
    title: str
    runs: Callable
    figure: Callable
    report: Callable
    presets: tuple = PRESETS
    csv_fields: tuple | None = None
    parallel: bool = False
    prepare: Callable | None = None
    seeds: dict = field(default_factory=dict)
    options: tuple = ()

    def __post_init__(self):
        if self.part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}, got {self.part!r}")

    def describe(self) -> dict:
        """What ``fe run --list --json`` prints for this artifact."""
        return {
            "name": self.name,
            "part": self.part,
            "title": self.title,
            "presets": list(self.presets),
            "seeds": {k: list(v) for k, v in self.seeds.items()},
            "options": list(self.options),
        }

    def plan(self, preset: str, seeds=None) -> list[Run]:
        """The runs of ``preset`` (checked: a known preset, unique run names)."""
        if preset not in self.presets:
            raise ValueError(f"{self.name} has presets {', '.join(self.presets)}, got {preset!r}")
        runs = list(self.runs(preset, seeds))
        names = [r.name for r in runs]
        if len(set(names)) != len(names):
            raise ValueError(
                f"{self.name}: two runs share a name; give them different seeds or settings"
            )
        if not runs:
            raise ValueError(f"{self.name}: no runs to do for preset {preset!r}")
        return runs


def result_path(out, run: Run) -> Path:
    """Where a finished run's records are kept."""
    return Path(out) / "runs" / run.name / "result.json"
