"""Run many :class:`RunSpec` s into one folder: resumable, optionally in parallel.

Layout of an output folder::

    DIR/sweep.json                    which runs this folder is for (checked on reuse)
    DIR/runs/<name>/result.json       one finished run (written last, atomically)
    DIR/runs/<name>/checkpoint.pt     an unfinished run's last epoch (removed when done)

A run whose ``result.json`` exists is never redone: a rerun reads it back, so its
numbers are the same. An interrupted run resumes from its checkpoint. Everything a
user can get wrong (unknown model, ``p`` outside [0, 1], a dataset that is not there,
a folder that holds another configuration's runs) raises ValueError before any
training starts.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

from ..core.files import atomic_write_json
from ..core.provenance import provenance
from .specs import RunSpec, spec_from_dict, spec_to_dict

__all__ = ["run_sweep", "run_one", "validate_specs", "load_records", "SUMMARY_FIELDS"]

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


class _Printer:
    """Progress on stderr: at most one line per ``every`` seconds per run, plus the ends."""

    def __init__(self, tag: str, every: float = 10.0, stream=None, quiet=False):
        self.tag, self.every, self.quiet = tag, every, quiet
        self.stream = stream or sys.stderr
        self.last = -math.inf

    def say(self, msg):
        if not self.quiet:
            print(f"[{self.tag}] {msg}", file=self.stream, flush=True)

    def __call__(self, e):
        now = time.monotonic()
        if now - self.last < self.every and not e.get("fitted"):
            return
        self.last = now
        test = "" if e["test_accuracy"] is None else f" test {100 * e['test_accuracy']:.1f}%"
        train = "" if e["train_accuracy"] is None else f" train {100 * e['train_accuracy']:.2f}%"
        self.say(
            f"epoch {e['epoch'] + 1} step {e['step']}/{e['max_steps']} loss "
            f"{e['running_loss']:.4f} running acc {100 * e['running_accuracy']:.1f}%"
            f"{train}{test} lr {e['lr']:.3g} {e['seconds']:.0f}s"
        )


def run_one(
    spec: RunSpec,
    run_dir,
    *,
    dataset=None,
    data_dir=None,
    device="auto",
    compile: bool = False,
    tag: str = "",
    quiet: bool = False,
    check=None,
) -> dict:
    """Train one spec into ``run_dir`` (resuming from its checkpoint) and return its record.

    If ``run_dir/result.json`` exists the run is finished: it is read back, not redone.
    ``check``, if given, is called after every epoch's checkpoint (it may raise to stop).
    """
    from dataclasses import replace

    from ..core.devices import torch_device
    from ..data import make_variant
    from .training import train

    run_dir = Path(run_dir)
    done = run_dir / "result.json"
    if done.exists():
        return json.loads(done.read_text())
    ds = (
        dataset
        if dataset is not None
        else _load_dataset(spec.dataset, data_dir, spec.n_train, spec.n_test)
    )
    data = make_variant(ds, spec.variant, p=spec.p, seed=spec.data_seed)
    cfg = _model_config(spec, ds)
    dev = torch_device(device)
    settings = replace(spec.train, compile=True) if compile else spec.train
    printer = _Printer(tag or spec.short(), quiet=quiet)
    ckpt = run_dir / "checkpoint.pt"
    printer.say(("resuming " if ckpt.exists() else "starting ") + spec.short())

    def progress(entry):
        if check is not None:
            check()
        printer(entry)

    result = train(
        cfg,
        data,
        settings,
        init_seed=spec.init_seed,
        device=dev,
        checkpoint=ckpt,
        progress=progress,
    )
    rec = _record(spec, result, cfg, str(dev))
    atomic_write_json(done, rec)
    ckpt.unlink(missing_ok=True)
    fit = (
        f"fit at step {result.steps_to_fit}"
        if result.steps_to_fit is not None
        else f"not fitted in {result.steps} steps"
    )
    printer.say(
        f"done: {fit}, train {100 * result.final_train_accuracy:.2f}%, test "
        f"{100 * result.test_accuracy:.2f}%, {result.seconds:.0f}s"
    )
    return rec


_STOP = None  # in a worker process: the sweep's stop event (set by _init_worker)


def _init_worker(stop):
    global _STOP
    _STOP = stop


def _worker(spec_d, run_dir, dataset, data_dir, device, compile, threads, tag, quiet, parent):
    import torch

    def parent_alive():  # a stopped or killed sweep leaves no orphans: exit after this
        # epoch's checkpoint
        if os.getppid() != parent or (_STOP is not None and _STOP.is_set()):
            os._exit(1)  # not SystemExit: the pool's worker loop would catch it and go on

    torch.set_num_threads(threads)
    return run_one(
        spec_from_dict(spec_d),
        run_dir,
        dataset=dataset,
        data_dir=data_dir,
        device=device,
        compile=compile,
        tag=tag,
        quiet=quiet,
        check=parent_alive,
    )


def _guard(out: Path, specs, meta: dict):
    """Refuse a folder that holds runs of another configuration."""
    want = {"meta": meta, "runs": sorted(s.key() for s in specs)}
    path = out / "sweep.json"
    if path.exists():
        try:
            have = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            raise ValueError(
                f"{path} is unreadable; delete the folder or use another --out"
            ) from None
        if have.get("meta") != want["meta"] or have.get("runs") != want["runs"]:
            what = have.get("meta", {})
            raise ValueError(
                f"{out} holds results of another configuration "
                f"({', '.join(f'{k}={v}' for k, v in what.items()) or 'unknown'}); "
                f"use another --out or delete it"
            )
    else:
        runs = out / "runs"
        if runs.exists() and any(runs.iterdir()):
            raise ValueError(f"{out} holds runs but no sweep.json; use another --out or delete it")
        atomic_write_json(path, {**want, "specs": [spec_to_dict(s) for s in specs]})


def default_workers(device="auto") -> int:
    """Worker processes for a sweep: one per usable CPU core on a CPU, one on a GPU.

    The quick presets' models are small; one single-threaded process per core runs
    them about twice as fast on two cores as one process with two threads.
    """
    import torch

    if str(device).startswith("cuda") or (device == "auto" and torch.cuda.is_available()):
        return 1
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


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
) -> list[dict]:
    """Run every spec into ``out``; finished runs are read back, unfinished ones resumed.

    Parameters
    ----------
    specs : list of RunSpec
    out : str or Path
        Output folder (see the module notes).
    data_dir : str or Path, optional
        Where datasets live (CIFAR-10's folder, or the registry cache).
    device : str
        "auto", "cpu", "cuda", ...
    workers : int, optional
        Processes running specs at once (1: all in this process; default
        :func:`default_workers`). The numbers do not depend on it.
    threads : int, optional
        torch threads per worker process (default 1: the small models of the quick
        presets run fastest with one thread per process, and far slower when threads
        compete for busy cores; use ``workers`` to use more cores).
    compile : bool
        ``torch.compile`` the models (does not change a run's identity).
    meta : dict, optional
        What the folder is for (e.g. artifact and preset); part of the folder check.
    quiet : bool
        No progress on stderr.
    datasets : dict, optional
        ``{name: ImageDataset}`` to use instead of loading ``spec.dataset`` by name
        (your own data, or small synthetic sets in tests).

    Returns
    -------
    list of dict
        One record per spec, in the order given.
    """
    if workers is None:
        workers = default_workers(device)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    specs = list(specs)
    keys = [s.key() for s in specs]
    if len(set(keys)) != len(keys):
        raise ValueError("two specs describe the same run; give them different seeds or settings")
    loaded = validate_specs(specs, data_dir=data_dir, device=device, datasets=datasets)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _guard(out, specs, meta or {})
    threads = threads or 1
    n = len(specs)
    records: list = [None] * n
    pending = []
    for i, spec in enumerate(specs):
        done = out / "runs" / spec.name() / "result.json"
        if done.exists():
            records[i] = json.loads(done.read_text())
            if not quiet:
                print(f"[{i + 1}/{n} {spec.short()}] already done ({done})", file=sys.stderr)
        else:
            pending.append(i)
    if workers == 1 or len(pending) <= 1:
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            for i in pending:
                s = specs[i]
                records[i] = run_one(
                    s,
                    out / "runs" / s.name(),
                    dataset=loaded[(s.dataset, s.n_train, s.n_test)],
                    data_dir=data_dir,
                    device=device,
                    compile=compile,
                    tag=f"{i + 1}/{n} {s.short()}",
                    quiet=quiet,
                )
        finally:
            torch.set_num_threads(before)
        return records

    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = mp.get_context("spawn")
    stop = ctx.Event()  # set on interruption: the workers stop after their epoch's checkpoint
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(pending)),
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(stop,),
    )
    try:
        given = lambda s: loaded[(s.dataset, s.n_train, s.n_test)] if datasets else None  # noqa: E731
        futures = {
            pool.submit(
                _worker,
                spec_to_dict(specs[i]),
                str(out / "runs" / specs[i].name()),
                given(specs[i]),
                None if data_dir is None else str(data_dir),
                device,
                compile,
                threads,
                f"{i + 1}/{n} {specs[i].short()}",
                quiet,
                os.getpid(),
            ): i
            for i in pending
        }
        for fut in as_completed(futures):
            records[futures[fut]] = fut.result()
    except BaseException:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return records


def load_records(out) -> list[dict]:
    """The finished runs' records found in ``out/runs`` (any order)."""
    return [json.loads(p.read_text()) for p in sorted(Path(out).glob("runs/*/result.json"))]
