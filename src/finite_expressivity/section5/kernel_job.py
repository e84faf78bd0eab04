"""One kernel interpolation run, end to end: data -> features -> solve -> test error.

:func:`run_kernel` is what ``fe kernel`` calls; it returns a flat, JSON-ready dict
with the numbers the paper reports (test error, training error, the norm of the
solution) plus the seconds of each stage and the peak memory.
"""

from __future__ import annotations

import time

import numpy as np

from ..core.machine import cpu_info, machine_rates, peak_memory_gb
from ..core.progress import Progress
from .backend import get_backend
from .features import FEATURES, make_features
from .floor import floor_seconds
from .interpolant import KernelInterpolant
from .paths import choose_paths

__all__ = ["DATASETS", "run_kernel", "default_bandwidth"]

DATASETS = ("mnist", "fashion-mnist", "cifar10")


def _load(dataset, data_dir):
    from ..data import load  # noqa: PLC0415

    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    return load(dataset, data_dir)


def default_bandwidth(kernel: str, features: str, dataset: str) -> float | None:
    """The bandwidth a fit uses when none is given: 5 for the Gaussian kernel on raw
    MNIST or Fashion-MNIST pixels in [0, 1] (EigenPro's MNIST choice; the median rule
    gives 5.1 there), else None: the median rule
    (:func:`~finite_expressivity.section5.gram.bandwidth_rule`)."""
    if kernel == "gaussian" and features == "raw" and dataset in ("mnist", "fashion-mnist"):
        return 5.0
    return None


def _machine(be, reprobe: bool) -> tuple[dict, dict]:
    """This machine's floor rates (cached probe) and a description of it."""
    device = be.device if be.is_gpu else "cpu"
    rates = machine_rates(device, refresh=reprobe)
    cpu = cpu_info()
    about = {"cpu": cpu["model"], "cores": cpu["cores"], "isa": list(cpu["isa"])}
    if be.is_gpu:
        from ..core.machine import gpu_name  # noqa: PLC0415

        about["gpu"] = gpu_name(be.device if be.name == "torch" else "cuda", be.name)
    keep = ("gemm_float32_flops", "gemm_float64_flops", "read_bytes_per_s", "cached")
    about["rates"] = {k: rates[k] for k in keep}
    return rates, about


def _subset(n, total, name):
    if n is None:
        return total
    if not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"{name} must be an integer >= 2, got {n!r}")
    return int(min(n, total))


def run_kernel(
    *,
    dataset="mnist",
    kernel="gaussian",
    bandwidth=None,
    solver="auto",
    ridge=0.0,
    features="raw",
    n=None,
    n_test=None,
    tol=5e-2,
    max_epochs=None,
    rank=1000,
    memory_gb=None,
    backend="auto",
    device="auto",
    seed=0,
    labels=None,
    feature_options=None,
    data_dir=None,
    progress=None,
    images=None,
    paths="auto",
    reprobe=False,
) -> dict:
    """Fit the minimum-norm kernel interpolant, evaluate it, and set it beside the floor.

    Parameters
    ----------
    dataset : {"mnist", "fashion-mnist", "cifar10"}
    kernel, ridge, solver, tol, max_epochs, rank, memory_gb, backend, device, seed, paths
        As :class:`~finite_expressivity.section5.interpolant.KernelInterpolant`.
    bandwidth : float, optional
        Default: :func:`default_bandwidth` (5 on raw MNIST-like pixels), else the
        median rule.
    features : {"raw", "gabor", "random-conv"}
    n, n_test : int, optional
        The first ``n`` training and ``n_test`` test images (default: all).
    labels : numpy.ndarray of int, optional
        Training labels to use instead of the dataset's (e.g. corrupted ones).
    feature_options : dict, optional
        ``J``, ``L``, ``order`` (Gabor); ``n_filters``, ``size``, ``pool`` (random-conv).
    data_dir : str, optional
        Where datasets live (the registry cache; the folder holding CIFAR-10).
    progress : Progress, optional
    images : ImageDataset, optional
        Already-loaded data (skips loading).
    reprobe : bool
        Measure this machine's rates and code paths again instead of using the cache.

    Returns
    -------
    dict
        ``n_train, n_test, dataset, kernel, bandwidth, solver, ridge, features,
        train_error, test_error, norm, norms, rel_residual, epochs, converged,
        seconds`` (per stage; ``total`` leaves out ``probes``, the one-time
        per-machine measurements, 0 once cached), ``floor_seconds`` and ``floor``
        (:func:`~finite_expressivity.section5.floor.floor_seconds`),
        ``time_over_floor``, ``paths``, ``machine``, ``peak_memory_gb`` and the
        solver's history.
    """
    if features not in FEATURES:
        raise ValueError(f"features must be one of {FEATURES}, got {features!r}")
    prog = progress or Progress(quiet=True)
    be = get_backend(backend, device)
    t0 = time.perf_counter()
    with prog.stage("probes"):
        rates, machine = _machine(be, reprobe)
    data = _data(dataset, data_dir, images, n, n_test, labels, prog)
    with prog.stage("features"):
        Xtr, Xte, scale = make_features(
            features,
            data["train"],
            data["test"],
            rng=np.random.default_rng(seed),
            device="cpu" if device == "cpu" else "auto",
            progress=prog.update,
            **(feature_options or {}),
        )
    if bandwidth is None:
        bandwidth = default_bandwidth(kernel, features, dataset)
    fit = dict(
        ridge=ridge,
        solver=solver,
        tol=tol,
        max_epochs=max_epochs,
        rank=rank,
        memory_gb=memory_gb,
        input_scale=scale,
        backend=be,
        seed=seed,
        progress=prog,
    )
    model = _fit(Xtr, data, kernel, bandwidth, fit, paths, reprobe)
    with prog.stage("predict"):
        test_error = float(np.mean(model.predict(Xte) != data["test_labels"]))
    total = time.perf_counter() - t0 - prog.seconds.get("probes", 0.0)
    info = dict(
        dataset=dataset,
        n_train=len(data["y"]),
        n_test=len(data["test_labels"]),
        n_features=int(Xtr.shape[1]),
        features=features,
        feature_options=feature_options or {},
        ridge=float(ridge),
        tol=tol,
        seed=seed,
    )
    return _result(model, info, test_error, total, prog, rates, machine)


def _fit(X, data, kernel, bandwidth, fit: dict, paths, reprobe) -> KernelInterpolant:
    """The code paths for these features (timed as probes, outside the total), then the fit."""
    be, prog = fit["backend"], fit["progress"]
    with prog.stage("probes"):
        chosen = choose_paths(
            be,
            d=X.shape[1],
            uint8=X.dtype == np.uint8,
            n=X.shape[0],
            override=paths,
            refresh=reprobe,
        )
    model = KernelInterpolant(kernel, bandwidth, paths=chosen, **fit)
    return model.fit(X, data["y"], n_classes=data["n_classes"])


def _data(dataset, data_dir, images, n, n_test, labels, prog) -> dict:
    """The first ``n`` training and ``n_test`` test images, their labels, the classes."""
    with prog.stage("load data"):
        ds = images if images is not None else _load(dataset, data_dir)
    n = _subset(n, len(ds.train_labels), "n")
    n_test = _subset(n_test, len(ds.test_labels), "n_test")
    return {
        "train": ds.train_images[:n],
        "test": ds.test_images[:n_test],
        "y": ds.train_labels[:n] if labels is None else np.asarray(labels)[:n],
        "test_labels": ds.test_labels[:n_test],
        "n_classes": ds.n_classes,
    }


def _result(model, info, test_error, total, prog, rates, machine) -> dict:
    """The flat, JSON-ready record of one run."""
    s = model.summary()
    floor = floor_seconds(
        n=info["n_train"],
        d=info["n_features"],
        n_test=info["n_test"],
        solver=s["solver"],
        epochs=s["epochs"],
        rates=rates,
        dtype=s["dtype"],
    )
    peak = peak_memory_gb(model.backend_.peak_gpu_bytes())
    seconds = {k: round(v, 3) for k, v in prog.seconds.items()}
    out = dict(info)
    out.update({k: s[k] for k in ("kernel", "bandwidth", "solver", "solver_reason", "dtype")})
    out.update(train_error=s["train_error"], test_error=test_error)
    keep = (
        "norm",
        "norm_rss",
        "norms",
        "rel_residual",
        "epochs",
        "converged",
        "stopped",
        "best_epoch",
        "solver_message",
        "backend",
        "device",
        "paths",
    )
    out.update({k: s[k] for k in keep})
    out.update(
        seconds={**seconds, "total": round(total, 3)},
        floor_seconds=floor["total"],
        floor=floor,
        time_over_floor=round(total / floor["total"], 3) if floor["total"] > 0 else None,
        machine=machine,
        peak_memory_gb=round(max(peak.values()), 3),
        peak_memory={k: round(v, 3) for k, v in peak.items()},
        history=s["history"],
        solver_notes=s["solver_notes"],
    )
    return out
