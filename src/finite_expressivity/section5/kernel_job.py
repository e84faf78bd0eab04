"""One kernel interpolation run, end to end: data -> features -> solve -> test error.

:func:`run_kernel` is what ``fe kernel`` calls; it returns a flat, JSON-ready dict
with the numbers the paper reports (test error, training error, the norm of the
solution) plus the seconds of each stage and the peak memory.
"""

from __future__ import annotations

import time

import numpy as np

from ..core.machine import peak_memory_gb
from ..core.progress import Progress
from .features import FEATURES, make_features
from .interpolant import KernelInterpolant

__all__ = ["DATASETS", "run_kernel"]

DATASETS = ("mnist", "fashion-mnist", "cifar10")


def _load(dataset, data_dir):
    from ..data import load  # noqa: PLC0415

    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    return load(dataset, data_dir)


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
) -> dict:
    """Fit the minimum-norm kernel interpolant and evaluate it.

    Parameters
    ----------
    dataset : {"mnist", "fashion-mnist", "cifar10"}
    kernel, bandwidth, solver, ridge, tol, max_epochs, rank, memory_gb, backend, device, seed
        As :class:`~finite_expressivity.section5.interpolant.KernelInterpolant`.
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

    Returns
    -------
    dict
        ``n_train, n_test, dataset, kernel, bandwidth, solver, ridge, features,
        train_error, test_error, norm, norms, rel_residual, epochs, converged,
        seconds`` (per stage), ``peak_memory_gb`` and the solver's history.
    """
    if features not in FEATURES:
        raise ValueError(f"features must be one of {FEATURES}, got {features!r}")
    prog = progress or Progress(quiet=True)
    t0 = time.perf_counter()
    with prog.stage("load data"):
        ds = images if images is not None else _load(dataset, data_dir)
    n = _subset(n, len(ds.train_labels), "n")
    n_test = _subset(n_test, len(ds.test_labels), "n_test")
    y = ds.train_labels[:n] if labels is None else np.asarray(labels)[:n]
    rng = np.random.default_rng(seed)
    with prog.stage("features"):
        Xtr, Xte, scale = make_features(
            features,
            ds.train_images[:n],
            ds.test_images[:n_test],
            rng=rng,
            device="cpu" if device == "cpu" else "auto",
            progress=prog.update,
            **(feature_options or {}),
        )
    model = KernelInterpolant(
        kernel,
        bandwidth,
        ridge=ridge,
        solver=solver,
        tol=tol,
        max_epochs=max_epochs,
        rank=rank,
        memory_gb=memory_gb,
        input_scale=scale,
        backend=backend,
        device=device,
        seed=seed,
        progress=prog,
    )
    model.fit(Xtr, y, n_classes=ds.n_classes)
    with prog.stage("predict"):
        pred = model.predict(Xte)
    test_error = float(np.mean(pred != ds.test_labels[:n_test]))
    s = model.summary()
    peak = peak_memory_gb(model.backend_.peak_gpu_bytes())
    out = {
        "dataset": dataset,
        "n_train": n,
        "n_test": n_test,
        "n_features": int(Xtr.shape[1]),
        "kernel": kernel,
        "bandwidth": s["bandwidth"],
        "solver": s["solver"],
        "solver_reason": s["solver_reason"],
        "dtype": s["dtype"],
        "ridge": float(ridge),
        "features": features,
        "feature_options": feature_options or {},
        "train_error": s["train_error"],
        "test_error": test_error,
        "norm": s["norm"],
        "norm_rss": s["norm_rss"],
        "norms": s["norms"],
        "rel_residual": s["rel_residual"],
        "epochs": s["epochs"],
        "converged": s["converged"],
        "tol": tol,
        "seed": seed,
        "backend": s["backend"],
        "device": s["device"],
        "seconds": {
            **{k: round(v, 3) for k, v in prog.seconds.items()},
            "total": round(time.perf_counter() - t0, 3),
        },
        "peak_memory_gb": round(max(peak.values()), 3),
        "peak_memory": {k: round(v, 3) for k, v in peak.items()},
        "history": s["history"],
        "solver_notes": s["solver_notes"],
    }
    return out
