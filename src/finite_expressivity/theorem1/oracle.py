"""Oracles for the Theorem 1 checker, written apart from what they check.

Nothing here imports :mod:`certify`, :mod:`exact` or :mod:`construction`: every
quantity is recomputed from the float64 numbers in exact rational arithmetic
(every float64 is ``p / 2**k``: :meth:`float.as_integer_ratio`, then Python
integers on one power-of-two scale, results as :class:`fractions.Fraction`), in
the most direct way, O(n^2) and more. Use it on small problems (the checker
runs it for n <= 64).

* :func:`reference_outputs` evaluates ``sum_j w_j relu(<a, x_i> - b_j)`` term by
  term, in exact rationals;
* :func:`check_lemma1` builds the matrix ``A_ij = relu(z_i - b_j)`` of the stored
  network (distinct points in data order, distinct biases in stored order),
  computes its determinant by exact elimination, and checks what Lemma 1 says:
  the biases interleave the projections, ``det A = +-prod_i (z_i - b_i)`` (so A
  is invertible), and, with rows and columns in the interleaving order, the
  smallest gap ``min_i (z_i - b_i)`` is an eigenvalue (``A - lambda I``
  singular, again by elimination);
* :func:`residual_bound` is the float64 bound of ``proofs/float64.md``
  (Corollary 6.2), computed from the data, the labels and the direction ``a``
  alone, never from what the network reports about itself.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

__all__ = ["reference_outputs", "reference_residuals", "check_lemma1", "residual_bound"]


def _ints(values) -> tuple[list[int], int]:
    """Integers ``m_i`` and one exponent ``E`` with ``values[i] == m_i * 2**E`` exactly.

    A float64's ``as_integer_ratio`` has a power-of-two denominator, so scaling
    to the largest one keeps everything an integer (no gcd on the way).
    """
    pairs = [float(v).as_integer_ratio() for v in values]
    K = max((q.bit_length() - 1 for _, q in pairs), default=0)
    return [p << (K - (q.bit_length() - 1)) for p, q in pairs], -K


def _projections(X, a) -> tuple[list[int], int]:
    """``<a, x_i>`` for every row, as integers times ``2**E``."""
    X = np.asarray(X, dtype=np.float64)
    mx, ex = _ints(X.ravel())
    ma, ea = _ints(np.asarray(a, dtype=np.float64).ravel())
    d = len(ma)
    rows = [mx[r * d : (r + 1) * d] for r in range(X.shape[0])]
    return [sum(x * v for x, v in zip(row, ma)) for row in rows], ex + ea


def _aligned(*parts):
    """``(ints, exponent)`` pairs brought to their smallest exponent."""
    E = min(e for _, e in parts)
    return [[v << (e - E) for v in ints] for ints, e in parts], E


def _columns(w) -> list[np.ndarray]:
    w = np.asarray(w, dtype=np.float64)
    w2 = w[:, None] if w.ndim == 1 else w
    return [w2[:, c] for c in range(w2.shape[1])]


def _outputs(a, b, w, X) -> tuple[list[list[int]], int]:
    """Exact outputs as integers times ``2**E``, one list per output column."""
    (z, bb), E = _aligned(_projections(X, a), _ints(np.asarray(b, dtype=np.float64).ravel()))
    cols = [_ints(col) for col in _columns(w)]
    Ew = min((e for _, e in cols), default=0)
    out = []
    for mw, e in cols:
        mw = [v << (e - Ew) for v in mw]
        out.append([sum(wj * max(zi - bj, 0) for wj, bj in zip(mw, bb)) for zi in z])
    return out, E + Ew


def reference_outputs(a, b, w, X) -> list[list[Fraction]]:
    """Exact outputs ``c(x_i)`` of the network ``(a, b, w)``, one list per output column.

    Each ``c(x_i) = sum_j w_j relu(<a, x_i> - b_j)`` term by term: O(n m d).

    Parameters
    ----------
    a : array, shape (d,)
    b : array, shape (m,)
    w : array, shape (m,) or (m, k)
    X : array, shape (n, d)

    Returns
    -------
    list of k lists of n Fractions
    """
    out, E = _outputs(a, b, w, X)
    scale = Fraction(2) ** E
    return [[v * scale for v in col] for col in out]


def reference_residuals(a, b, w, X, y) -> list[list[Fraction]]:
    """Exact residuals ``c(x_i) - y_i``, one list per output column."""
    y = np.asarray(y, dtype=np.float64)
    y2 = y[:, None] if y.ndim == 1 else y
    out, E = _outputs(a, b, w, X)
    res = []
    for c, col in enumerate(out):
        (o, t), Er = _aligned((col, E), _ints(y2[:, c]))
        scale = Fraction(2) ** Er
        res.append([(oi - ti) * scale for oi, ti in zip(o, t)])
    return res


def _det(M: list[list[int]]) -> int:
    """Determinant of an integer matrix by fraction-free (Bareiss) elimination."""
    M = [row[:] for row in M]
    n, sign, prev = len(M), 1, 1
    for k in range(n - 1):
        if M[k][k] == 0:
            p = next((r for r in range(k + 1, n) if M[r][k] != 0), None)
            if p is None:
                return 0
            M[k], M[p], sign = M[p], M[k], -sign
        for i in range(k + 1, n):
            for j in range(k + 1, n):
                M[i][j] = (M[i][j] * M[k][k] - M[i][k] * M[k][j]) // prev
        prev = M[k][k]
    return sign * M[n - 1][n - 1] if n else 1


def check_lemma1(a, b, X) -> str | None:
    """Lemma 1 on the stored network's own matrix; None if it holds, else what fails.

    Identical points are merged (their neurons repeat a bias with weight 0), so
    ``A`` is m x m for the m distinct points. All entries are integers times
    one power of two, which the determinants compare exactly.
    """
    X = np.asarray(X, dtype=np.float64)
    keep = [i for i in range(len(X)) if not any(np.array_equal(X[i], X[j]) for j in range(i))]
    (z, b_all), _ = _aligned(
        _projections(X[keep], a), _ints(np.asarray(b, dtype=np.float64).ravel())
    )
    biases = list(dict.fromkeys(b_all))  # distinct, in stored order
    if len(biases) != len(z):
        return f"{len(biases)} distinct biases for {len(z)} distinct points"
    zs, bs = sorted(z), sorted(biases)
    if len(set(zs)) != len(zs):
        return "two distinct points have the same projection"
    # z_{i-1} <= b_i < z_i: a kink may sit on an exactly representable point (relu(0) = 0)
    if not (bs[0] < zs[0] and all(zs[i - 1] <= bs[i] < zs[i] for i in range(1, len(zs)))):
        return "the biases do not interleave the sorted projections"
    gaps = [zi - bi for zi, bi in zip(zs, bs)]
    want = 1
    for g in gaps:
        want *= g
    det = _det([[max(zi - bj, 0) for bj in biases] for zi in z])  # data and stored order
    if abs(det) != want:
        return "det A is not the product of the gaps z_i - b_i"
    # eigenvalues need rows and columns in one order: Lemma 1's, both sorted
    lam = min(gaps)
    shifted = [
        [max(zi - bj, 0) - (lam if r == c else 0) for c, bj in enumerate(bs)]
        for r, zi in enumerate(zs)
    ]
    if _det(shifted) != 0:
        return "min_i (z_i - b_i) is not an eigenvalue of A"
    return None


def residual_bound(X, y, a) -> float:
    """The float64 bound on ``max_i |c(x_i) - y_i|`` of ``proofs/float64.md`` (Cor. 6.2).

    ``Yh (2**-46 R_i + 2**-24 + 2**-38 i)`` maximized over the sorted distinct
    projections ``z_(i)``, with ``Yh = max(1, max|y|)`` and ``R_i`` the largest
    ratio of the gap before ``z_(i)`` to a neighbouring gap (at least 1; for the
    first point, ``2 max(2, 2**-40 |z_(1)| / g_2)``). Computed from X, y and the
    direction a only. Distinct points with one projection: 0 (nothing float64
    can excuse), unless their labels agree.
    """
    y = np.asarray(y, dtype=np.float64)
    y2 = y[:, None] if y.ndim == 1 else y
    Yh = max(1.0, float(np.max(np.abs(y2)))) if y2.size else 1.0
    groups: dict[int, np.ndarray] = {}
    for zi, lab in zip(_projections(X, a)[0], y2):
        if not np.array_equal(groups.setdefault(zi, lab), lab):
            return 0.0
    z = sorted(groups)
    m = len(z)
    g = [z[i] - z[i - 1] for i in range(1, m)]  # g[i-1] is the gap before z[i]
    worst = 0.0
    for i in range(m):
        if i == 0:
            R = 2 * max(2.0, _ratio(abs(z[0]), g[0] << 40)) if m > 1 else 1.0
        else:
            near = ([g[i - 2]] if i >= 2 else []) + ([g[i]] if i < m - 1 else [])
            R = max([1.0] + [_ratio(g[i - 1], h) for h in near])
        worst = max(worst, 2.0**-46 * R + 2.0**-24 + 2.0**-38 * (i + 1))
    return Yh * worst


def _ratio(p: int, q: int) -> float:
    """``p / q`` for non-negative integers, correctly rounded, inf past float64's range."""
    try:
        return p / q
    except OverflowError:
        return math.inf
