"""A property-based hunt for counterexamples to the Theorem 1 construction.

Hypothesis generates point sets from several families (clouds, degenerate
shapes, grids, near-duplicates, extreme scales, duplicates) with real, binary
or one-hot labels, and every example is checked against these properties:

``param_count``
    the network has ``2n + d`` weights (``d + n + nk`` for k outputs);
``certificate_holds``
    the exact residual is at most ``max(tol, 2 * float64_limit)``, where
    ``float64_limit`` is the construction's own float64 resolution bound
    (it is far below tol except next to near-duplicate points);
``triangular_and_lemma1``
    (n <= 24) the biases interleave the sorted projections, ``A_ij =
    relu(z_i - b_j)`` is lower triangular with a positive diagonal, and its
    smallest eigenvalue (dense solver) is ``min_i (z_i - b_i)`` as Lemma 1 says;
``permutation_invariance``
    fitting the points in another order gives the same network, bit for bit;
``conflicting_duplicates_refused``
    a repeated point with a different label is refused, naming both indices;
``depth_k_equals_two_layer``
    (one output, n >= 2) the depth-K network built from the fit, for a K drawn
    from the example's seed, has at most ``4 ceil(n/(K-2)) + 4`` nonzero
    parameters per hidden layer and the same exact outputs at the points.

On a failure, Hypothesis shrinks the example and :func:`run_check` returns it
as a runnable Python snippet.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from .certify import certify, exact_projections
from .construction import fit as default_fit

__all__ = [
    "FAMILIES",
    "PROPERTIES",
    "LABELS",
    "datasets",
    "check_example",
    "run_check",
    "CheckReport",
]

FAMILIES = (
    "gaussian",
    "uniform",
    "single-point",
    "one-dimensional",
    "wide",
    "subspace",
    "integer-grid",
    "clusters",
    "near-duplicates",
    "huge-scale",
    "tiny-scale",
    "duplicates",
)
LABELS = ("real", "binary", "one-hot")
PROPERTIES = (
    "param_count",
    "certificate_holds",
    "triangular_and_lemma1",
    "permutation_invariance",
    "conflicting_duplicates_refused",
    "depth_k_equals_two_layer",
)


@dataclass
class Example:
    family: str
    labels: str
    X: np.ndarray
    y: np.ndarray
    seed: int


def _points(family: str, n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    if family == "gaussian":
        return rng.standard_normal((n, d))
    if family == "uniform":
        return rng.uniform(-1, 1, (n, d))
    if family == "single-point":
        return rng.standard_normal((1, d))
    if family == "one-dimensional":
        return rng.standard_normal((n, 1))
    if family == "wide":  # d much larger than n
        return rng.standard_normal((n, d * 20 + n))
    if family == "subspace":  # points on a random 1- or 2-dimensional subspace of R^d
        k = int(rng.integers(1, 3))
        return rng.standard_normal((n, k)) @ rng.standard_normal((k, d))
    if family == "integer-grid":  # many equal coordinates
        return rng.integers(-2, 3, (n, d)).astype(np.float64)
    if family == "clusters":
        centres = rng.standard_normal((int(rng.integers(1, 4)), d))
        return centres[rng.integers(0, len(centres), n)] + 1e-9 * rng.standard_normal((n, d))
    if family == "near-duplicates":
        X = rng.standard_normal((n, d))
        pairs = rng.integers(0, n, max(1, n // 4))
        X[pairs] = X[(pairs + 1) % n] + 1e-12 * rng.standard_normal((len(pairs), d))
        return X
    if family == "huge-scale":
        return rng.standard_normal((n, d)) * 10.0 ** rng.uniform(100, 150)
    if family == "tiny-scale":
        return rng.standard_normal((n, d)) * 10.0 ** -rng.uniform(100, 150)
    if family == "duplicates":
        X = rng.standard_normal((n, d))
        src = rng.integers(0, n, max(1, n // 3))
        dst = rng.integers(0, n, len(src))
        X[dst] = X[src]
        return X
    raise ValueError(f"unknown family {family!r}; families are {FAMILIES}")


def _labels(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "real":
        return rng.standard_normal(n) * 10.0 ** rng.uniform(-3, 3)
    if kind == "binary":
        return rng.integers(0, 2, n).astype(np.float64)
    if kind == "one-hot":
        return np.eye(10)[rng.integers(0, 10, n)]
    raise ValueError(f"unknown label kind {kind!r}; kinds are {LABELS}")


def _make_example(family: str, labels: str, n: int, d: int, seed: int) -> Example:
    rng = np.random.default_rng(seed)
    X = _points(family, n, d, rng)
    y = _labels(labels, X.shape[0], rng)
    # identical points must carry identical labels (the theorem's hypothesis)
    _, first, inverse = np.unique(X, axis=0, return_index=True, return_inverse=True)
    y = y[first[inverse.ravel()]]
    return Example(family, labels, X, y, seed)


@st.composite
def datasets(draw, families=FAMILIES, labels=LABELS, max_n: int = 40, max_d: int = 8):
    """Hypothesis strategy for :class:`Example` point sets with labels.

    Parameters
    ----------
    families, labels : sequence of str or a strategy
        Which point families and label kinds to draw from.
    max_n, max_d : int
        Size bounds (the wide family adds columns beyond ``max_d``).
    """
    fam = draw(
        families if isinstance(families, st.SearchStrategy) else st.sampled_from(list(families))
    )
    lab = draw(labels if isinstance(labels, st.SearchStrategy) else st.sampled_from(list(labels)))
    for name, value, allowed in (("family", fam, FAMILIES), ("labels", lab, LABELS)):
        if value not in allowed:
            raise ValueError(f"{name} {value!r} is not one of {allowed}")
    n = draw(st.integers(1, max_n))
    d = draw(st.integers(1, max_d))
    seed = draw(st.integers(0, 2**32 - 1))
    return _make_example(fam, lab, n, d, seed)


class PropertyFailure(AssertionError):
    """A property of Theorem 1's construction does not hold on an example."""

    def __init__(self, prop: str, detail: str):
        super().__init__(f"{prop}: {detail}")
        self.prop = prop


def _expect(prop: str, ok: bool, detail: str):
    if not ok:
        raise PropertyFailure(prop, detail)


def check_example(ex: Example, fit=default_fit) -> None:
    """Check every property on one example; raise :class:`PropertyFailure` if one fails."""
    X, y = ex.X, ex.y
    n, d = X.shape
    k = 1 if y.ndim == 1 else y.shape[1]
    net = fit(X, y, seed=ex.seed)
    _expect(
        "param_count",
        net.n_params == d + n + n * k,
        f"{net.n_params} weights, expected {d + n + n * k}",
    )

    cert = certify(net, X, y)
    limit = float(net.info.get("float64_limit", 0.0))
    _expect(
        "certificate_holds",
        cert.max_residual <= max(cert.tol, 2 * limit),
        f"exact residual {cert.max_residual:.3e} > max(tol {cert.tol:.1e}, 2 x float64 limit {limit:.1e})",
    )

    if n <= 24:
        _check_triangular(net, X)

    perm = np.random.default_rng(ex.seed).permutation(n)
    other = fit(X[perm], y[perm], seed=ex.seed)
    same = all(
        np.array_equal(np.asarray(getattr(net, f)), np.asarray(getattr(other, f))) for f in "abw"
    )
    _expect("permutation_invariance", same, "permuting the points changed the fitted network")

    if ex.family == "duplicates":
        _check_conflict_refused(X, y, fit, ex.seed)

    if k == 1 and n >= 2:
        _check_depth_k(net, X, np.random.default_rng(ex.seed))


def _check_depth_k(net, X, rng):
    from fractions import Fraction

    from .certify import exact_outputs
    from .deep import deepen, exact_deep_output

    n = X.shape[0]
    K = int(rng.integers(3, min(n, 12) + 3))
    deep = deepen(net, K)
    bound = 4 * -(-n // (K - 2)) + 4
    counts = deep.params_per_layer
    _expect(
        "depth_k_equals_two_layer",
        max(counts[1:-1]) <= bound and len(counts) == K,
        f"depth {K}: per-layer counts {counts} exceed 4 ceil(n/(K-2)) + 4 = {bound}",
    )
    pts = rng.choice(n, min(3, n), replace=False)
    C, E = exact_outputs(net, X[pts])
    for t, i in enumerate(pts):
        want = Fraction(int(C[t, 0])) * Fraction(2) ** E
        _expect(
            "depth_k_equals_two_layer",
            exact_deep_output(deep, X[i]) == want,
            f"depth {K} network differs from the two-layer one at point {int(i)}",
        )


def _check_triangular(net, X):
    from fractions import Fraction

    Z, E, _ = exact_projections(X, net.a)
    z = sorted(set(Fraction(int(v)) * Fraction(2) ** E for v in Z))
    # a duplicate point's neuron repeats its twin's bias (with weight 0)
    bl = [Fraction(float(v)) for v in np.unique(np.asarray(net.b))]
    _expect(
        "triangular_and_lemma1",
        len(bl) == len(z),
        f"{len(bl)} distinct biases for {len(z)} distinct points",
    )
    # z_{i-1} <= b_i: the kink may sit exactly on an exactly representable point (relu(0) = 0)
    inter = bl[0] < z[0] and all(z[i - 1] <= bl[i] < z[i] for i in range(1, len(z)))
    _expect("triangular_and_lemma1", inter, "biases do not interleave the sorted projections")
    A = np.array([[float(max(zi - bj, 0)) for bj in bl] for zi in z])
    _expect(
        "triangular_and_lemma1",
        np.all(np.triu(A, 1) == 0) and np.all(np.diag(A) > 0),
        "A is not lower triangular with a positive diagonal",
    )
    lam = np.min(np.abs(np.linalg.eigvals(A)))
    diag = float(min(zi - bi for zi, bi in zip(z, bl)))
    _expect(
        "triangular_and_lemma1",
        abs(lam - diag) <= 1e-9 * max(diag, np.max(np.abs(A))),
        f"smallest eigenvalue {lam:.6e} differs from min(z_i - b_i) = {diag:.6e}",
    )


def _check_conflict_refused(X, y, fit, seed):
    _, first, counts = np.unique(X, axis=0, return_index=True, return_counts=True)
    rep = [i for i, c in zip(first, counts) if c > 1]
    if not rep:
        return
    i = int(rep[0])
    j = int(next(t for t in range(X.shape[0]) if t != i and np.array_equal(X[t], X[i])))
    y2 = np.array(y, copy=True)
    y2[j] = y2[j] + 1.0
    try:
        fit(X, y2, seed=seed)
    except ValueError as exc:
        lo, hi = sorted((i, j))
        named = re.search(rf"\b{lo}\b.*\b{hi}\b", str(exc)) is not None
        _expect(
            "conflicting_duplicates_refused",
            named,
            f"error does not name points {lo} and {hi}: {exc}",
        )
        return
    _expect(
        "conflicting_duplicates_refused",
        False,
        f"points {i} and {j} conflict but fit accepted them",
    )


@dataclass
class CheckReport:
    """What a checker run did: counts, per-family examples, and a failure if any."""

    examples: int = 0
    passed: int = 0
    failed: int = 0
    families: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)
    failure: dict | None = None

    def to_dict(self) -> dict:
        return {
            "examples": self.examples,
            "passed": self.passed,
            "failed": self.failed,
            "families": self.families,
            "labels": self.labels,
            "properties": list(PROPERTIES),
            "failure": self.failure,
        }


def snippet(ex: Example, error: str) -> str:
    """A runnable Python snippet that reproduces a failing example."""
    with np.printoptions(precision=17, threshold=10**6, floatmode="unique"):
        return "\n".join(
            [
                f"# finite-expressivity checker counterexample: family={ex.family}, labels={ex.labels}",
                f"# {error}",
                "import numpy as np",
                "import finite_expressivity as fe",
                f"X = np.array({np.array2string(ex.X, separator=', ')})",
                f"y = np.array({np.array2string(ex.y, separator=', ')})",
                f"net = fe.fit(X, y, seed={ex.seed})",
                "print(fe.certify(net, X, y))",
                "from finite_expressivity.theorem1.checker import Example, check_example",
                f"check_example(Example({ex.family!r}, {ex.labels!r}, X, y, {ex.seed}))",
            ]
        )


def run_check(
    examples: int = 200,
    seed: int = 0,
    *,
    fit=default_fit,
    families=FAMILIES,
    max_n: int = 40,
    max_d: int = 8,
) -> CheckReport:
    """Run the checker on ``examples`` generated datasets.

    Parameters
    ----------
    examples : int
        Number of examples Hypothesis generates (before shrinking a failure).
    seed : int
        Hypothesis seed: the same seed gives the same examples.
    fit : callable
        The construction under test (a planted bug can be passed here).
    families : sequence of str
        Families to draw from; every family is drawn at least once when
        ``examples >= len(families)``.

    Returns
    -------
    CheckReport
    """
    if examples < 1:
        raise ValueError(f"--examples must be at least 1, got {examples}")
    report = CheckReport()
    fam_count, lab_count = Counter(), Counter()
    last: dict = {}
    families = list(families)

    def run_one(ex):
        last["example"] = ex
        check_example(ex, fit=fit)
        fam_count[ex.family] += 1
        lab_count[ex.labels] += 1

    def hypothesis_search(fams, count):
        @hypothesis_seed(seed)
        @settings(
            max_examples=count,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.generate, Phase.shrink],
            report_multiple_bugs=False,
        )
        @given(datasets(families=fams, max_n=max_n, max_d=max_d))
        def prop(ex):
            run_one(ex)

        prop()

    try:
        # one seeded example of each family first, so every family is covered;
        # a failure there is handed to Hypothesis (restricted to that family) to shrink
        rng = np.random.default_rng(seed)
        for fam in families[:examples]:
            n, d = int(rng.integers(1, max_n + 1)), int(rng.integers(1, max_d + 1))
            try:
                run_one(
                    _make_example(
                        fam, LABELS[int(rng.integers(len(LABELS)))], n, d, int(rng.integers(2**32))
                    )
                )
            except Exception:  # noqa: BLE001
                hypothesis_search([fam], 200)
                raise
        if examples > len(families):
            hypothesis_search(families, examples - len(families))
    except Exception as exc:  # noqa: BLE001 - any failure is a counterexample to report
        ex = last["example"]
        msg = " ".join(str(exc).split())[:500]
        report.failure = {
            "family": ex.family,
            "labels": ex.labels,
            "n": int(ex.X.shape[0]),
            "d": int(ex.X.shape[1]),
            "error": f"{type(exc).__name__}: {msg}",
            "property": getattr(exc, "prop", None),
            "snippet": snippet(ex, msg),
        }
        report.failed = 1
    report.passed = sum(fam_count.values())
    report.examples = report.passed + report.failed
    report.families = {f: fam_count.get(f, 0) for f in families}
    report.labels = dict(lab_count)
    return report
