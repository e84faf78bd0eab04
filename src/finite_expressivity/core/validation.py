"""The one module of input checks: arrays (points and labels on any array library) and
scalars (counts, seeds, probabilities, bounded numbers).

Each check raises ``ValueError`` or ``TypeError`` with one line that names the
argument, what was expected, what came, and how to fix it. Cheap checks come
first (a single ``sum`` tells whether a scan for NaN/inf is needed at all).
"""

from __future__ import annotations

import array_api_compat
import numpy as np

__all__ = [
    "namespace",
    "check_points",
    "check_labels",
    "to_numpy",
    "check_int",
    "check_number",
    "check_probability",
]


def namespace(*arrays):
    """The array namespace shared by ``arrays`` (NumPy, PyTorch or CuPy).

    Raises a clear error for non-arrays, mixed libraries and mixed devices.
    """
    arrays = [x for x in arrays if x is not None]
    for x in arrays:
        if not array_api_compat.is_array_api_obj(x):
            raise TypeError(
                f"expected a NumPy, PyTorch or CuPy array, got {type(x).__name__}; "
                "wrap lists with numpy.asarray"
            )
    try:
        xp = array_api_compat.array_namespace(*arrays)
    except TypeError as exc:
        raise TypeError(
            f"arrays come from different libraries ({exc}); convert them to one"
        ) from None
    devices = {str(array_api_compat.device(x)) for x in arrays}
    if len(devices) > 1:
        raise ValueError(
            f"arrays live on different devices {sorted(devices)}; move them to one device"
        )
    return xp


def _check_dtype(name, x, xp):
    if xp.isdtype(x.dtype, "bool") or not xp.isdtype(x.dtype, ("real floating", "integral")):
        raise TypeError(
            f"{name} must hold real numbers, got dtype {x.dtype}; convert it to float64"
        )


def _as_float64(name, x, xp):
    """float64 copy/view; integers beyond 2**53 would be rounded silently, so refuse them."""
    out = xp.astype(x, xp.float64, copy=False)
    if (
        xp.isdtype(x.dtype, "integral")
        and x.size
        and not bool(xp.all(xp.astype(out, x.dtype) == x))
    ):
        raise ValueError(
            f"{name} holds integers beyond 2**53 that float64 cannot represent; "
            "scale them or pass float64"
        )
    return out


def _check_finite(name, x, xp):
    total = xp.sum(x) if x.size else 0.0  # inf/NaN anywhere make the sum non-finite
    if not bool(xp.isfinite(xp.asarray(total))):
        bad = xp.logical_not(xp.isfinite(x))
        if bool(xp.any(bad)):
            idx = int(xp.argmax(xp.astype(xp.reshape(bad, (-1,)), xp.int8)))
            row = idx // (x.shape[1] if x.ndim == 2 else 1)
            raise ValueError(
                f"{name} contains NaN or inf (first at row {row}); remove or impute those rows"
            )


def check_points(X, xp, name="X", *, finite=True):
    """Validate points: 2-D, non-empty, real, finite; return them as float64.

    ``finite=False`` skips the NaN/inf scan for callers that get it for free
    (``fit`` reads max and min of X anyway).
    """
    if X.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n, d), got {X.ndim}-D with shape {tuple(X.shape)}; "
            "reshape a single point with X.reshape(1, -1) or flatten images with X.reshape(n, -1)"
        )
    n, d = X.shape
    if n == 0 or d == 0:
        raise ValueError(
            f"{name} is empty (shape {tuple(X.shape)}); need at least one point with one coordinate"
        )
    _check_dtype(name, X, xp)
    X = _as_float64(name, X, xp)
    if finite:
        _check_finite(name, X, xp)
    return X


def check_labels(y, n, xp, name="y"):
    """Validate labels for n points: shape (n,) or (n, k), real, finite; return float64."""
    if y.ndim not in (1, 2):
        raise ValueError(f"{name} must have shape (n,) or (n, k), got shape {tuple(y.shape)}")
    if y.shape[0] != n:
        raise ValueError(f"X has {n} points but {name} has {y.shape[0]} labels; they must match")
    if y.ndim == 2 and y.shape[1] == 0:
        raise ValueError(f"{name} has shape {tuple(y.shape)}: no outputs; give at least one column")
    _check_dtype(name, y, xp)
    y = _as_float64(name, y, xp)
    _check_finite(name, y, xp)
    return y


def to_numpy(x) -> np.ndarray:
    """A host NumPy copy (or view) of any supported array."""
    if array_api_compat.is_numpy_array(x):
        return x
    if array_api_compat.is_torch_array(x):
        return x.detach().cpu().numpy()
    if array_api_compat.is_cupy_array(x):
        return x.get()
    return np.asarray(x)


def check_int(name: str, value, *, low: int = 0, allow_none: bool = False) -> int | None:
    """``value`` as an int ``>= low`` (bools are refused; None only if ``allow_none``)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        what = {0: "a non-negative int", 1: "a positive int"}.get(low, f"an int >= {low}")
        tail = " or None" if allow_none else ""
        raise ValueError(f"{name} must be {what}{tail}, got {value!r}")
    return int(value)


def check_number(name: str, value, lo: float, hi: float, *, lo_open: bool = False) -> float:
    """``value`` as a finite float in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``)."""
    ok = (
        not isinstance(value, bool)
        and isinstance(value, (int, float, np.integer, np.floating))
        and np.isfinite(value)
        and lo <= value <= hi
        and not (lo_open and value == lo)
    )
    if not ok:
        raise ValueError(
            f"{name} must be a number in {'(' if lo_open else '['}{lo}, {hi}], got {value!r}"
        )
    return float(value)


def check_probability(name: str, value) -> float:
    """``value`` in [0, 1]."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not 0.0 <= value <= 1.0
    ):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)
