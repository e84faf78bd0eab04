"""Training runs as runs of the one runner: :func:`train_run` trains one
:class:`RunSpec`; :func:`run_sweep` runs a list of them into a folder.

Layout of an output folder (see :mod:`finite_expressivity.core.runner`)::

    DIR/artifact.json                 which runs this folder is for (checked on reuse)
    DIR/runs/<name>/result.json       one finished run (written last, atomically)
    DIR/runs/<name>/checkpoint.pt     an unfinished run's last epoch (removed when done)

A run whose ``result.json`` exists is never redone: a rerun reads it back, so its
numbers are the same. An interrupted run resumes from its checkpoint. Everything a
user can get wrong (unknown model, ``p`` outside [0, 1], a dataset that is not there,
a folder that holds another configuration's runs) raises ValueError before any
training starts.
"""

from __future__ import annotations

import time

from ..core.artifact import Run
from ..core.provenance import provenance
from .specs import RunSpec, spec_from_dict, spec_to_dict

__all__ = ["run_sweep", "train_run", "spec_run", "prepare_runs", "validate_specs", "SUMMARY_FIELDS"]

#: The flat fields of a run record (also the CSV columns).
SUMMARY_FIELDS = (
    "name",
    "label",
    "column",
    "model",
    "dataset",
    "variant",
    "p",
    "seed",
    "data_seed",
    "init_seed",
    "batch_seed",
    "n_train",
    "n_test",
    "params",
    "steps_to_fit",
    "steps",
    "epochs",
    "stopped",
    "final_train_accuracy",
    "final_train_loss",
    "test_accuracy",
    "test_loss",
    "seconds",
    "device",
)


def _load_dataset(name, data_dir, n_train, n_test, given=None):
    from ..data import DataError, ImageDataset, load

    if given and name in given:
        ds = given[name]
        if not isinstance(ds, ImageDataset):
            raise TypeError(f"datasets[{name!r}] must be an ImageDataset, got {type(ds).__name__}")
    else:
        try:
            ds = load(name, data_dir)
        except DataError as exc:  # a missing dataset is a configuration error here
            raise ValueError(" ".join(str(exc).split())) from None
    if n_train is not None or n_test is not None:
        n_train = ds.train_images.shape[0] if n_train is None else n_train
        n_test = ds.test_images.shape[0] if n_test is None else n_test
        ds = ds.head(n_train, n_test)
    return ds


def _model_config(spec: RunSpec, ds):
    from .models import model_config

    c, h, w = ds.train_images.shape[1:]
    return model_config(
        spec.model,
        in_channels=int(c),
        image_size=int(min(spec.train.crop, h, w)),
        n_classes=int(ds.n_classes),
        **dict(spec.model_overrides),
    )


def validate_specs(specs, *, data_dir=None, device="auto", datasets=None) -> dict:
    """Check every spec and load every dataset they name.

    Returns ``{(dataset, n_train, n_test): ImageDataset}``; ``datasets`` maps names to
    in-memory :class:`~finite_expressivity.data.ImageDataset` s used instead of loading.

    Raises ValueError (one line) for the first problem found.
    """
    from ..core.devices import torch_device
    from ..data import VARIANTS
    from .models import MODEL_NAMES

    if not specs:
        raise ValueError("no runs to do: the spec list is empty")
    torch_device(device)
    for spec in specs:
        if not isinstance(spec, RunSpec):
            raise TypeError(f"specs must be RunSpec objects, got {type(spec).__name__}")
        if spec.model not in MODEL_NAMES:
            raise ValueError(
                f"unknown model {spec.model!r}; choose one of {', '.join(MODEL_NAMES)}"
            )
        if spec.variant not in VARIANTS:
            raise ValueError(
                f"unknown variant {spec.variant!r}; choose one of {', '.join(VARIANTS)}"
            )
        p = spec.p
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not (0.0 <= p <= 1.0):
            raise ValueError(f"p must be a probability in [0, 1], got {p!r} ({spec.short()})")
        if spec.variant == "true" and p != 0:
            raise ValueError(f"variant 'true' needs p = 0, got p={p}; use variant 'corrupt'")
        if spec.variant == "random-labels" and p not in (0, 1):
            raise ValueError(
                f"variant 'random-labels' fixes p = 1, got p={p}; use variant 'corrupt'"
            )
        for field in ("data_seed", "init_seed"):
            v = getattr(spec, field)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{field} must be a non-negative int, got {v!r}")
        for field in ("n_train", "n_test"):
            v = getattr(spec, field)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"{field} must be a positive int or None, got {v!r}")
    loaded = {}
    for spec in specs:
        key = (spec.dataset, spec.n_train, spec.n_test)
        if key not in loaded:
            loaded[key] = _load_dataset(spec.dataset, data_dir, spec.n_train, spec.n_test, datasets)
        _model_config(spec, loaded[key])  # unknown overrides, bad shapes
    return loaded


def _record(spec: RunSpec, result, cfg, device: str) -> dict:
    from .models import config_to_dict

    spec_d = spec_to_dict(spec)
    rec = {
        "name": spec.name(),
        "label": spec.label,
        "column": spec.column,
        "model": spec.model,
        "dataset": spec.dataset,
        "variant": spec.variant,
        "p": float(spec.p),
        "seed": spec.seed,
        "data_seed": spec.data_seed,
        "init_seed": spec.init_seed,
        "batch_seed": spec.train.seed,
        "n_train": spec.n_train,
        "n_test": spec.n_test,
    }
    rec.update(result.summary())
    rec.pop("resumed_from", None)
    rec["history"] = result.history
    rec["epoch_log"] = result.epoch_log
    rec["model_config"] = config_to_dict(cfg)
    rec["provenance"] = provenance(device, config=spec_d)
    return rec


def spec_run(spec: RunSpec) -> Run:
    """The runner's :class:`~finite_expressivity.core.artifact.Run` for one spec."""
    return Run(
        name=spec.name(), fn=train_run, spec=spec_to_dict(spec), label=spec.short(), gpu=True
    )


def prepare_runs(runs, *, data_dir=None, device="auto", options=None) -> None:
    """Check every run's spec and load its data before any training (the runner's hook)."""
    specs = [spec_from_dict(r.spec) for r in runs]
    validate_specs(
        specs, data_dir=data_dir, device=device, datasets=(options or {}).get("datasets")
    )


def _epoch_line(e) -> str:
    test = "" if e["test_accuracy"] is None else f" test {100 * e['test_accuracy']:.1f}%"
    train = "" if e["train_accuracy"] is None else f" train {100 * e['train_accuracy']:.2f}%"
    return (
        f"epoch {e['epoch'] + 1} step {e['step']}/{e['max_steps']} loss "
        f"{e['running_loss']:.4f} running acc {100 * e['running_accuracy']:.1f}%"
        f"{train}{test} lr {e['lr']:.3g} {e['seconds']:.0f}s"
    )


def train_run(spec: dict, ctx) -> dict:
    """Train one spec in ``ctx.run_dir`` (resuming from its checkpoint); its record.

    ``ctx.options``: ``datasets`` (``{name: ImageDataset}`` used instead of loading),
    ``compile`` (``torch.compile`` the model; same numbers), ``every`` (seconds between
    progress lines, default 10).
    """
    from dataclasses import replace

    from ..core.devices import torch_device
    from ..data import make_variant
    from .training import train

    s = spec_from_dict(spec)
    ds = _load_dataset(s.dataset, ctx.data_dir, s.n_train, s.n_test, ctx.options.get("datasets"))
    data = make_variant(ds, s.variant, p=s.p, seed=s.data_seed)
    cfg = _model_config(s, ds)
    dev = torch_device(ctx.device)
    settings = replace(s.train, compile=True) if ctx.options.get("compile") else s.train
    ckpt = ctx.run_dir / "checkpoint.pt"
    ctx.progress.message(("resuming " if ckpt.exists() else "starting ") + s.short())
    every, last = ctx.options.get("every", 10.0), [-float("inf")]

    def progress(entry):
        ctx.check()
        now = time.monotonic()
        if now - last[0] >= every or entry.get("fitted"):
            last[0] = now
            ctx.progress.message(_epoch_line(entry))

    result = train(
        cfg, data, settings, init_seed=s.init_seed, device=dev, checkpoint=ckpt, progress=progress
    )
    fit = (
        f"fit at step {result.steps_to_fit}"
        if result.steps_to_fit is not None
        else f"not fitted in {result.steps} steps"
    )
    ctx.progress.message(
        f"done: {fit}, train {100 * result.final_train_accuracy:.2f}%, test "
        f"{100 * result.test_accuracy:.2f}%, {result.seconds:.0f}s"
    )
    return _record(s, result, cfg, str(dev))


def run_sweep(
    specs,
    out,
    *,
    data_dir=None,
    device="auto",
    workers: int | None = None,
    threads: int | None = None,
    compile: bool = False,
    meta: dict | None = None,
    quiet: bool = False,
    datasets: dict | None = None,
    progress_every: float = 10.0,
) -> list[dict]:
    """Run every spec into ``out``; finished runs are read back, unfinished ones resumed.

    Parameters
    ----------
    specs : list of RunSpec
    out : str or Path
        Output folder (see the module notes).
    data_dir : str or Path, optional
        Where datasets live.
    device : str
        "auto", "cpu", "cuda", "cuda:N".
    workers : int, optional
        Processes running specs at once (default: one per CPU core, or per GPU). The
        numbers do not depend on it.
    threads : int, optional
        torch threads per worker (default 1: the small models of the quick presets run
        fastest with one thread per process).
    compile : bool
        ``torch.compile`` the models (does not change a run's identity).
    meta : dict, optional
        What the folder is for (e.g. artifact and preset); part of the folder check.
    quiet : bool
        No progress on stderr.
    datasets : dict, optional
        ``{name: ImageDataset}`` to use instead of loading ``spec.dataset`` by name.
    progress_every : float
        Seconds between a run's progress lines (epochs that fit are always reported).

    Returns
    -------
    list of dict
        One record per spec, in the order given.
    """
    from ..core.executors import RunEnv
    from ..core.runner import run_runs

    specs = list(specs)
    for spec in specs:
        if not isinstance(spec, RunSpec):
            raise TypeError(f"specs must be RunSpec objects, got {type(spec).__name__}")
    runs = [spec_run(s) for s in specs]
    if len({r.key() for r in runs}) != len(runs):
        raise ValueError("two specs describe the same run; give them different seeds or settings")
    options = {
        "compile": compile,
        "every": progress_every,
        **({"datasets": datasets} if datasets else {}),
    }
    env = RunEnv(
        data_dir=None if data_dir is None else str(data_dir),
        device=device,
        options=options,
        quiet=quiet,
        threads=1 if threads is None else threads,
    )
    return run_runs(
        runs, out, env, meta=meta or {}, prepare=prepare_runs, parallel=True, workers=workers
    )
