"""The Theorem 1 job: data -> fit -> float64 forward -> exact certificate -> report.

``run_theorem`` is what ``fe theorem`` calls; it returns a plain dict (the
``--json`` output) and does no printing beyond progress on stderr.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .certify import certify, diagnose, exact_projections
from .construction import fit

__all__ = ["theorem_data", "read_user_data", "run_theorem", "to_backend"]

_DATASETS = ("mnist", "fashion-mnist", "gaussian")


@contextmanager
def stage(name: str, seconds: dict, *, verbose: bool = True):
    """Time a stage into ``seconds[name]``; tell stderr when a stage is slow."""
    start = time.perf_counter()
    if verbose:
        print(f"fe: {name} ...", file=sys.stderr, flush=True)
    yield
    seconds[name] = time.perf_counter() - start
    if verbose and seconds[name] >= 1.0:
        print(f"fe: {name} done in {seconds[name]:.2f} s", file=sys.stderr, flush=True)


def read_user_data(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Read the user's X and y.

    Accepted forms: ``data.npz`` holding arrays ``X`` and ``y`` (also ``x``,
    ``labels``); ``X.npy,y.npy`` (two files, comma-separated); ``data.csv``
    whose last column is the label (a header row is skipped). ``y`` must
    have one entry (or row) per point of ``X``; images are flattened.
    """
    X, y = _read_arrays(path)
    if X.ndim > 2:
        X = X.reshape(X.shape[0], -1)
    if X.ndim == 2 and y.ndim >= 1 and y.shape[0] != X.shape[0]:
        raise ValueError(
            f"--data {path}: X has {X.shape[0]} points but y has {y.shape[0]} "
            f"labels; they must match"
        )
    return X, y


def _read_arrays(path: str) -> tuple[np.ndarray, np.ndarray]:
    """The arrays stored in ``path`` (no checks)."""
    if "," in path and not Path(path).exists():
        xs, ys = path.split(",", 1)
        for p in (xs, ys):
            if not Path(p).is_file():
                raise FileNotFoundError(f"--data: no such file {p!r}")
        return np.load(xs, allow_pickle=False), np.load(ys, allow_pickle=False)
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"--data: no such file {path!r} (give .npz, X.npy,y.npy or .csv)")
    if p.suffix == ".npz":
        with np.load(p, allow_pickle=False) as f:
            xk = next((k for k in ("X", "x") if k in f.files), None)
            yk = next((k for k in ("y", "labels", "Y") if k in f.files), None)
            if xk is None or yk is None:
                raise ValueError(f"--data {path}: expected arrays named X and y, found {f.files}")
            return f[xk], f[yk]
    if p.suffix == ".csv":
        with open(p) as f:
            first = f.readline()
        skip = 0 if _numeric_row(first) else 1
        try:
            table = np.loadtxt(p, delimiter=",", skiprows=skip, ndmin=2)
        except ValueError as exc:
            raise ValueError(f"--data {path}: not a numeric CSV ({exc})") from None
        if table.shape[1] < 2:
            raise ValueError(f"--data {path}: need at least two columns (features..., label)")
        return table[:, :-1], table[:, -1]
    raise ValueError(f"--data {path}: unknown format {p.suffix!r}; give .npz, X.npy,y.npy or .csv")


def _numeric_row(line: str) -> bool:
    try:
        [float(v) for v in line.strip().split(",") if v.strip()]
        return True
    except ValueError:
        return False


def theorem_data(
    dataset: str = "mnist",
    *,
    n: int | None = None,
    d: int = 32,
    labels: str | None = None,
    seed: int = 0,
    data_file: str | None = None,
    data_dir: str | None = None,
):
    """Points and labels for the Theorem 1 job.

    Parameters
    ----------
    dataset : {"mnist", "fashion-mnist", "gaussian"}
        Ignored when ``data_file`` is given.
    n : int, optional
        Use the first n training points (gaussian: draw n; default 100,000).
    d : int
        Dimension of gaussian data.
    labels : {"random", "true"}, optional
        "true": the dataset's labels (for ``data_file``, the file's own: the default
        there); "random": integers drawn uniformly from the classes (10 for gaussian
        points and for files whose labels are not class indices; the default for
        named datasets).
    seed : int
        Seeds the labels (stream ``[seed, 1]``) and gaussian points
        (stream ``[seed, 0]``); the construction uses ``seed`` itself.
    data_file : str, optional
        Your own X and y (see :func:`read_user_data`).
    data_dir : str, optional
        Where datasets live (see :func:`finite_expressivity.data.load`).

    Returns
    -------
    X : numpy.ndarray, float64 (n, d)
    y : numpy.ndarray, float64 (n,)
    meta : dict
    """
    if labels is None:
        labels = "true" if data_file is not None else "random"
    if labels not in ("random", "true"):
        raise ValueError(f"--labels must be 'random' or 'true', got {labels!r}")
    if n is not None and n < 1:
        raise ValueError(f"--n must be a positive number of points, got {n}")
    X, y, name, classes, source = _points_and_labels(
        dataset, n=n, d=d, labels=labels, seed=seed, data_file=data_file, data_dir=data_dir
    )
    if n is not None and n > X.shape[0]:
        raise ValueError(f"--n {n} exceeds the {X.shape[0]} points available")
    if n is not None:
        X = X[:n]
        y = None if y is None else y[:n]
    if labels == "random":
        if classes is None:
            yy = np.asarray(y)
            classes = (
                int(yy.max()) + 1
                if yy.size and np.all(yy == np.round(yy)) and yy.min() >= 0
                else 10
            )
        y = np.random.default_rng([seed, 1]).integers(0, classes, size=X.shape[0])
    meta = {"dataset": name, "labels": labels, "classes": classes, "source": source}
    return X, y, meta


def _points_and_labels(dataset, *, n, d, labels, seed, data_file, data_dir):
    """``X, y, name, classes, source`` before any subsetting or label replacement."""
    if data_file is not None:
        X, y = read_user_data(data_file)
        return X, y, Path(data_file.split(",")[0]).name, None, data_file
    if dataset == "gaussian":
        if labels == "true":
            raise ValueError(
                "--labels true needs a dataset with labels; gaussian points only have random ones"
            )
        if d < 1:
            raise ValueError(f"--d must be a positive dimension, got {d}")
        X = np.random.default_rng([seed, 0]).standard_normal((100_000 if n is None else n, d))
        return X, None, "gaussian", 10, "numpy default_rng([seed, 0]).standard_normal"
    if dataset in ("mnist", "fashion-mnist"):
        from ..data import load

        ds = load(dataset, data_dir)
        return (
            ds.train_matrix(),
            ds.train_labels,
            dataset,
            ds.n_classes,
            f"{dataset} sha256 {ds.sha256}",
        )
    raise ValueError(f"--dataset must be one of {list(_DATASETS)}, got {dataset!r}")


def to_backend(arrays, backend: str):
    """Move NumPy arrays to ``numpy``, ``torch`` (CUDA if available) or ``cupy``."""
    if backend == "numpy":
        return arrays, "cpu"
    if backend == "torch":
        try:
            import torch
        except ImportError:
            raise ValueError(
                "--backend torch needs PyTorch: pip install 'finite-expressivity[torch]'"
            ) from None
        dev = "cuda" if torch.cuda.is_available() else "cpu"
        return [
            torch.as_tensor(np.asarray(a, dtype=np.float64), device=dev) for a in arrays
        ], f"torch:{dev}"
    if backend == "cupy":
        try:
            import cupy
        except ImportError:
            raise ValueError(
                "--backend cupy needs CuPy and a CUDA GPU: pip install 'finite-expressivity[gpu]'"
            ) from None
        return [cupy.asarray(np.asarray(a, dtype=np.float64)) for a in arrays], "cupy:cuda"
    raise ValueError(f"--backend must be numpy, torch or cupy, got {backend!r}")


def _sync(x):
    """Wait for asynchronous GPU work on ``x`` to finish (for honest timings)."""
    mod = type(x).__module__
    if mod.startswith("torch") and x.is_cuda:
        import torch

        torch.cuda.synchronize()
    elif mod.startswith("cupy"):
        import cupy

        cupy.cuda.Device().synchronize()


def run_theorem(
    X,
    y,
    *,
    seed: int = 0,
    backend: str = "numpy",
    tol: float | None = None,
    forward_sample: int | None = None,
    save: str | None = None,
    verbose: bool = True,
    meta: dict | None = None,
    depth: int = 2,
) -> dict:
    """Build, verify and certify the Theorem 1 network; return the report.

    Parameters
    ----------
    X, y : numpy.ndarray
        Points (n, d) and labels (n,).
    forward_sample : int, optional
        The plain float64 forward pass costs O(n^2); it runs on all points when
        n is at most this, else on a seeded random sample of this many points.
        Default: ``min(n, 4e9 // n)`` (all of MNIST; 4,000 points of a million).
    """
    from ..core.validation import to_numpy

    seconds: dict = {}
    (Xb, yb), device = to_backend([X, y], backend)
    with stage("construct", seconds, verbose=verbose):
        net = fit(Xb, yb, seed=seed)
        _sync(net.w)
    # Speed is compared warm, best of `repeat` runs of each: the first run of anything
    # on fresh arrays pays page faults that say nothing about the algorithm.
    seconds["construct_first"] = seconds["construct"]
    repeat = 3 if X.shape[0] >= 10_000 else 1
    for _ in range(repeat - 1):
        start = time.perf_counter()
        _sync(fit(Xb, yb, seed=seed).w)
        seconds["construct"] = min(seconds["construct"], time.perf_counter() - start)
    floor = []
    for _ in range(repeat):
        start = time.perf_counter()
        _sync((Xb @ net.a).argsort())
        floor.append(time.perf_counter() - start)
    seconds["floor"] = min(floor)
    n = X.shape[0]
    if forward_sample is None:
        forward_sample = max(1, min(n, 4_000_000_000 // n))
    if forward_sample < 1:
        raise ValueError(f"--forward-sample must be positive, got {forward_sample}")
    idx = (
        np.arange(n)
        if n <= forward_sample
        else np.sort(np.random.default_rng([seed, 2]).choice(n, forward_sample, replace=False))
    )
    deep = None
    if depth != 2:
        from .deep import deepen

        deep = deepen(net, depth)
    with stage(f"float64 forward on {idx.size:,} points", seconds, verbose=verbose):
        sub = Xb[idx] if backend == "numpy" else Xb[_index(idx, Xb)]
        out = to_numpy(net(sub) if deep is None else deep(to_numpy(sub)))
    seconds["forward"] = seconds.pop(f"float64 forward on {idx.size:,} points")
    host = net.to_numpy()
    with stage("exact certificate", seconds, verbose=verbose):
        proj = exact_projections(X, host.a)
        cert = certify(host, X, np.asarray(y, dtype=np.float64), tol=tol, projections=proj)
    seconds["certify"] = seconds.pop("exact certificate")
    with stage("diagnostics", seconds, verbose=verbose):
        diag = diagnose(host, X, tol=cert.tol, projections=proj)
    seconds["diagnose"] = seconds.pop("diagnostics")
    extra = {}
    if deep is not None:
        # The deep network computes exactly the two-layer function (proofs/coq/DepthK.v),
        # so the exact certificate above is its certificate; spot-check it exactly too.
        with stage("exact check of the deep network", seconds, verbose=verbose):
            from fractions import Fraction

            from .certify import exact_outputs
            from .deep import exact_deep_output

            pts = np.random.default_rng([seed, 3]).choice(
                X.shape[0], min(8, X.shape[0]), replace=False
            )
            C, E = exact_outputs(host, X[pts])
            agree = all(
                exact_deep_output(deep, X[i]) == Fraction(int(C[t, 0])) * Fraction(2) ** E
                for t, i in enumerate(pts)
            )
        seconds["deep_check"] = seconds.pop("exact check of the deep network")
        extra = {
            "depth": depth,
            "params_per_layer": deep.params_per_layer,
            "widths": deep.widths,
            "free_params": deep.free_params,
            "deep_equals_two_layer": bool(agree),
            "deep_points_checked": int(len(pts)),
        }
    if save:
        host.save(save)
    res64 = np.abs(out - np.asarray(y, dtype=np.float64)[idx])
    report = {
        **(meta or {}),
        "n": int(n),
        "d": int(X.shape[1]),
        "n_params": host.n_params if deep is None else deep.n_params,
        "train_accuracy": cert.accuracy,
        "float64_accuracy": float(np.mean(res64 < 0.5)),
        "float64_points": int(idx.size),
        "max_residual_exact": cert.max_residual,
        "max_residual_float64": float(res64.max()),
        "certified": cert.certified and extra.get("deep_equals_two_layer", True),
        "tol": cert.tol,
        "seed": seed,
        "backend": backend,
        "device": device,
        "min_projection_gap": diag.min_gap,
        "max_abs_weight": diag.max_abs_weight,
        "projection_digits": diag.projection_digits,
        "digits_needed": diag.digits_needed,
        "duplicates": diag.duplicates,
        "construction": {k: v for k, v in host.info.items() if k != "seed"},
        "seconds": seconds,
        "construct_over_floor": seconds["construct"] / seconds["floor"],
        "timing_runs": repeat,  # construct and floor: best of this many runs
    }
    report.update(extra)
    if save:
        report["saved"] = str(save)
    return report


def _index(idx, like):
    mod = type(like).__module__
    if mod.startswith("torch"):
        import torch

        return torch.as_tensor(idx, device=like.device)
    import cupy

    return cupy.asarray(idx)
