"""The Theorem 1 job: data -> fit -> float64 forward -> exact certificate -> report.

``run_theorem`` is what ``fe theorem`` calls; it returns a plain dict (the
``--json`` output) and does no printing beyond progress on stderr.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .certify import certify, diagnose, exact_projections
from .construction import fit

__all__ = ["theorem_data", "read_user_data", "run_theorem", "to_backend"]

_DATASETS = ("mnist", "fashion-mnist", "gaussian")


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


def to_backend(arrays, backend: str, device: str = "auto"):
    """Move NumPy arrays to ``numpy``, ``torch`` or ``cupy`` on ``device`` (the package's
    device rule: "auto" is CUDA when visible)."""
    from ..core.devices import resolve_device

    if backend == "numpy":
        if device not in ("auto", "cpu"):
            raise ValueError(f"--backend numpy runs on the CPU, got --device {device}")
        return arrays, "cpu"
    if backend == "torch":
        try:
            import torch
        except ImportError:
            raise ValueError(
                "--backend torch needs PyTorch: pip install 'finite-expressivity[torch]'"
            ) from None
        dev = resolve_device(device, "torch")
        return [torch.as_tensor(np.asarray(a, dtype=np.float64), device=dev) for a in arrays], (
            f"torch:{dev}"
        )
    if backend == "cupy":
        try:
            import cupy
        except ImportError:
            raise ValueError(
                "--backend cupy needs CuPy and a CUDA GPU: pip install 'finite-expressivity[gpu]'"
            ) from None
        dev = resolve_device("cuda" if device == "auto" else device, "cupy")
        with cupy.cuda.Device(int(dev.partition(":")[2])):
            return [cupy.asarray(np.asarray(a, dtype=np.float64)) for a in arrays], f"cupy:{dev}"
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


def time_construction(Xb, yb, *, seed: int = 0, repeat: int = 1):
    """Fit, and time it against the floor (one projection and one sort), warm.

    The first run of anything on fresh arrays pays page faults that say nothing about
    the algorithm, so with ``repeat > 1`` both times are the best of ``repeat`` runs.

    Returns
    -------
    net : TwoLayerReLU
    seconds : dict
        ``construct`` (best), ``construct_first`` and ``floor`` (best).
    """
    start = time.perf_counter()
    net = fit(Xb, yb, seed=seed)
    _sync(net.w)
    first = time.perf_counter() - start
    best = first
    for _ in range(repeat - 1):
        start = time.perf_counter()
        _sync(fit(Xb, yb, seed=seed).w)
        best = min(best, time.perf_counter() - start)
    floor = []
    for _ in range(repeat):
        start = time.perf_counter()
        _sync((Xb @ net.a).argsort())
        floor.append(time.perf_counter() - start)
    return net, {"construct": best, "construct_first": first, "floor": min(floor)}


def forward_sample_rows(n: int, forward_sample: int | None, seed: int) -> np.ndarray:
    """The rows the O(n^2) float64 forward pass runs on: all when n is at most
    ``forward_sample`` (default ``min(n, 4e9 // n)``), else a seeded sorted sample."""
    if forward_sample is None:
        forward_sample = max(1, min(n, 4_000_000_000 // n))
    if forward_sample < 1:
        raise ValueError(f"--forward-sample must be positive, got {forward_sample}")
    if n <= forward_sample:
        return np.arange(n)
    return np.sort(np.random.default_rng([seed, 2]).choice(n, forward_sample, replace=False))


def check_deep(host, deep, X, seed: int) -> dict:
    """The depth-k facts for the report, with an exact spot check of 8 points.

    The deep network computes exactly the two-layer function (``proofs/coq/DepthK.v``),
    so the two-layer certificate is its certificate; the spot check is independent.
    """
    from fractions import Fraction

    from .certify import exact_outputs
    from .deep import exact_deep_output

    pts = np.random.default_rng([seed, 3]).choice(X.shape[0], min(8, X.shape[0]), replace=False)
    C, E = exact_outputs(host, X[pts])
    agree = all(
        exact_deep_output(deep, X[i]) == Fraction(int(C[t, 0])) * Fraction(2) ** E
        for t, i in enumerate(pts)
    )
    return {
        "depth": deep.depth,
        "params_per_layer": deep.params_per_layer,
        "widths": deep.widths,
        "free_params": deep.free_params,
        "deep_equals_two_layer": bool(agree),
        "deep_points_checked": int(len(pts)),
    }


def run_theorem(
    X,
    y,
    *,
    seed: int = 0,
    backend: str = "numpy",
    device: str = "auto",
    tol: float | None = None,
    forward_sample: int | None = None,
    save: str | None = None,
    progress=None,
    meta: dict | None = None,
    depth: int = 2,
) -> dict:
    """Build, verify and certify the Theorem 1 network; return the report.

    Parameters
    ----------
    X, y : numpy.ndarray
        Points (n, d) and labels (n,).
    backend, device : str
        Where the construction and the float64 forward pass run (:func:`to_backend`).
    tol : float, optional
        Certification tolerance (default ``1e-6 * max(1, max|y|)``).
    forward_sample : int, optional
        See :func:`forward_sample_rows`.
    save : str, optional
        Write the network's ``a, b, w`` here (``.npz``).
    progress : Progress, optional
        Stage timings and progress lines (default: silent timing).
    meta : dict, optional
        Describes the data (copied into the report).
    depth : int
        2, or K >= 3 for the depth-K network of :mod:`.deep`.
    """
    from ..core.progress import Progress
    from ..core.validation import to_numpy

    prog = progress or Progress(quiet=True)
    n = X.shape[0]
    (Xb, yb), where = to_backend([X, y], backend, device)
    repeat = 3 if n >= 10_000 else 1
    with prog.stage("construct"):
        net, seconds = time_construction(Xb, yb, seed=seed, repeat=repeat)
    idx = forward_sample_rows(n, forward_sample, seed)
    deep = None
    if depth != 2:
        from .deep import deepen

        deep = deepen(net, depth)
    with prog.stage("float64 forward"):
        sub = Xb[idx] if backend == "numpy" else Xb[_index(idx, Xb)]
        out = to_numpy(net(sub) if deep is None else deep(to_numpy(sub)))
    host = net.to_numpy()
    with prog.stage("exact certificate"):
        proj = exact_projections(X, host.a)
        cert = certify(host, X, np.asarray(y, dtype=np.float64), tol=tol, projections=proj)
    with prog.stage("diagnostics"):
        diag = diagnose(host, X, tol=cert.tol, projections=proj)
    extra = {}
    if deep is not None:
        with prog.stage("exact check of the deep network"):
            extra = check_deep(host, deep, X, seed)
    if save:
        host.save(save)
    seconds.update(
        forward=prog.seconds["float64 forward"],
        certify=prog.seconds["exact certificate"],
        diagnose=prog.seconds["diagnostics"],
    )
    if deep is not None:
        seconds["deep_check"] = prog.seconds["exact check of the deep network"]
    res64 = np.abs(out - np.asarray(y, dtype=np.float64)[idx])
    report = {
        **(meta or {}),
        "n": int(n),
        "d": int(X.shape[1]),
        "n_params": host.n_params if deep is None else deep.n_params,
        **_accuracy(cert, res64),
        "certified": cert.certified and extra.get("deep_equals_two_layer", True),
        "tol": cert.tol,
        "seed": seed,
        "backend": backend,
        "device": where,
        **_diagnostics(diag),
        "construction": {k: v for k, v in host.info.items() if k != "seed"},
        "seconds": seconds,
        "construct_over_floor": seconds["construct"] / seconds["floor"],
        "timing_runs": repeat,  # construct and floor: best of this many runs
        **extra,
    }
    if save:
        report["saved"] = str(save)
    return report


def _accuracy(cert, res64) -> dict:
    return {
        "train_accuracy": cert.accuracy,
        "float64_accuracy": float(np.mean(res64 < 0.5)),
        "float64_points": int(res64.shape[0]),
        "max_residual_exact": cert.max_residual,
        "max_residual_float64": float(res64.max()),
    }


def _diagnostics(diag) -> dict:
    return {
        "min_projection_gap": diag.min_gap,
        "max_abs_weight": diag.max_abs_weight,
        "projection_digits": diag.projection_digits,
        "digits_needed": diag.digits_needed,
        "duplicates": diag.duplicates,
    }


def _index(idx, like):
    mod = type(like).__module__
    if mod.startswith("torch"):
        import torch

        return torch.as_tensor(idx, device=like.device)
    import cupy

    return cupy.asarray(idx)
