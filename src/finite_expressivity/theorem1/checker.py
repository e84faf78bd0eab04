"""A property-based hunt for counterexamples to the Theorem 1 construction.

Hypothesis draws point sets from the families of
:mod:`finite_expressivity.theorem1.families` (clouds, degenerate shapes, grids,
clusters, near-duplicates, many near-duplicate clusters, extreme scales,
duplicates) with real, binary or one-hot labels; every coordinate is a
Hypothesis value, so failures shrink to short numbers. Each example is checked
against these properties, with oracles that share no code with what they check
(:mod:`finite_expressivity.theorem1.oracle`):

``fits``
    ``fit`` does not refuse the example (identical points carry identical
    labels, and the families keep distinct points separable in float64);
``param_count``
    the network has ``2n + d`` weights (``d + n + nk`` for k outputs);
``certificate_holds``
    the exact residual is at most ``max(tol, B)``, with ``B`` the float64 bound
    of ``proofs/float64.md`` computed from X, y and the direction (never from
    what the network reports about itself);
``oracle_agrees``
    (n <= 64) ``certify``'s residuals and verdict equal a term-by-term
    evaluation in Python ``Fraction``s;
``triangular_and_lemma1``
    (n <= 24) on the stored network's own matrix ``A_ij = relu(z_i - b_j)``, in
    exact rationals: the biases interleave the projections, ``det A`` (by
    elimination) is the product of the gaps ``z_i - b_i`` and the smallest gap
    is an eigenvalue;
``permutation_invariance``
    fitting the points in a drawn order gives the same network, bit for bit;
``conflicting_duplicates_refused``
    (examples with repeated points) a repeat with another label is refused,
    naming both indices;
``depth_k_equals_two_layer``
    (one output, n >= 2) the depth-K network for a drawn K has at most
    ``4 ceil(n/(K-2)) + 4`` nonzero parameters per hidden layer and the same
    exact outputs at the points.

On a failure, Hypothesis shrinks the example and :func:`run_check` returns it
as a runnable Python snippet with the shortest numbers that round-trip.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from . import oracle
from .certify import certify
from .construction import fit as default_fit
from .families import FAMILIES, LABELS, dataset_strategy

__all__ = [
    "FAMILIES",
    "PROPERTIES",
    "LABELS",
    "Example",
    "examples",
    "check_example",
    "run_check",
    "CheckReport",
    "PropertyFailure",
]

PROPERTIES = (
    "fits",
    "param_count",
    "certificate_holds",
    "oracle_agrees",
    "triangular_and_lemma1",
    "permutation_invariance",
    "conflicting_duplicates_refused",
    "depth_k_equals_two_layer",
)
_ORACLE_MAX_N = 64
_LEMMA1_MAX_N = 24


@dataclass
class Example:
    """One drawn dataset and the choices the properties need.

    ``perm`` is the order for the permutation property (default: reversed) and
    ``depth`` the depth K for the depth-k property (default: ``min(n, 12) + 2``).
    """

    family: str
    labels: str
    X: np.ndarray
    y: np.ndarray
    seed: int
    perm: list | None = None
    depth: int | None = None


@st.composite
def examples(draw, families=FAMILIES, labels=LABELS, max_n: int = 40, max_d: int = 8):
    """Hypothesis strategy for :class:`Example`.

    Parameters
    ----------
    families, labels : sequence of str or a strategy
        Which point families and label kinds to draw from.
    max_n, max_d : int
        Size bounds (the wide family adds columns beyond ``max_d``).
    """
    fam = families if isinstance(families, st.SearchStrategy) else st.sampled_from(list(families))
    lab = labels if isinstance(labels, st.SearchStrategy) else st.sampled_from(list(labels))
    family, kind, X, y = draw(dataset_strategy(fam, None, None, lab, max_n, max_d, with_meta=True))
    n = X.shape[0]
    seed = draw(st.integers(0, 2**32 - 1))
    perm = draw(st.permutations(range(n)))
    depth = draw(st.integers(3, min(n, 12) + 2)) if n >= 2 else None
    return Example(family, kind, X, y, seed, list(perm), depth)


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
    try:
        net = fit(X, y, seed=ex.seed)
    except ValueError as exc:
        raise PropertyFailure("fits", f"fit refused the example: {exc}") from exc
    _expect(
        "param_count",
        net.n_params == d + n + n * k,
        f"{net.n_params} weights, expected {d + n + n * k}",
    )
    cert = certify(net, X, y)
    bound = oracle.residual_bound(X, y, np.asarray(net.a))
    _expect(
        "certificate_holds",
        cert.max_residual <= max(cert.tol, bound),
        f"exact residual {cert.max_residual:.3e} > max(tol {cert.tol:.1e}, "
        f"float64 bound from the data {bound:.1e})",
    )
    if n <= _ORACLE_MAX_N:
        _check_oracle(net, X, y, cert)
    if n <= _LEMMA1_MAX_N:
        problem = oracle.check_lemma1(net.a, net.b, X)
        _expect("triangular_and_lemma1", problem is None, str(problem))
    perm = ex.perm if ex.perm is not None else list(range(n))[::-1]
    other = fit(X[perm], y[perm], seed=ex.seed)
    same = all(
        np.array_equal(np.asarray(getattr(net, f)), np.asarray(getattr(other, f))) for f in "abw"
    )
    _expect("permutation_invariance", same, "permuting the points changed the fitted network")
    if len(np.unique(X, axis=0)) < n:
        _check_conflict_refused(X, y, fit, ex.seed)
    if k == 1 and n >= 2:
        _check_depth_k(net, X, ex.depth if ex.depth is not None else min(n, 12) + 2)


def _check_oracle(net, X, y, cert):
    """certify against a term-by-term Fraction evaluation of the same network."""
    ref = oracle.reference_residuals(net.a, net.b, net.w, X, y)
    worst = max(abs(r) for col in ref for r in col)
    # certify rounds the exact maximum to float64 (to within an ulp or so; below
    # float64's range, to 0); its verdict is decided exactly
    close = abs(cert.max_residual - float(worst)) <= 4 * float(np.spacing(float(worst)))
    _expect(
        "oracle_agrees",
        close and cert.certified == (worst <= Fraction(cert.tol)),
        f"certify says max residual {cert.max_residual!r} (certified {cert.certified}), "
        f"the Fraction evaluation {float(worst)!r}",
    )
    if cert.accuracy is not None:
        hits = [all(abs(col[i]) < Fraction(1, 2) for col in ref) for i in range(len(ref[0]))]
        _expect(
            "oracle_agrees",
            cert.accuracy == sum(hits) / len(hits),
            f"certify's accuracy {cert.accuracy} differs from the Fraction evaluation's",
        )


def _check_depth_k(net, X, K: int):
    from .deep import deepen, exact_deep_output

    n = X.shape[0]
    deep = deepen(net, K)
    bound = 4 * -(-n // (K - 2)) + 4
    counts = deep.params_per_layer
    _expect(
        "depth_k_equals_two_layer",
        max(counts[1:-1]) <= bound and len(counts) == K,
        f"depth {K}: per-layer counts {counts} exceed 4 ceil(n/(K-2)) + 4 = {bound}",
    )
    want = oracle.reference_outputs(net.a, net.b, net.w, X[:3])[0]
    for i in range(min(3, n)):
        _expect(
            "depth_k_equals_two_layer",
            exact_deep_output(deep, X[i]) == want[i],
            f"depth {K} network differs from the two-layer one at point {i}",
        )


def _check_conflict_refused(X, y, fit, seed):
    _, first, counts = np.unique(X, axis=0, return_index=True, return_counts=True)
    i = int(min(f for f, c in zip(first, counts) if c > 1))
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
    """What a checker run did: counts, per-family examples, and a failure if any.

    ``passed`` counts the generated examples that passed; the retries and
    shrinks that follow a failure are not examples and are not counted.
    """

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


def _literal(a: np.ndarray) -> str:
    """A NumPy array as a Python literal with the shortest round-tripping floats."""
    if a.ndim == 0:
        return repr(float(a))
    return "[" + ", ".join(_literal(row) for row in a) + "]"


def snippet(ex: Example, error: str) -> str:
    """A runnable Python snippet that reproduces a failing example."""
    return "\n".join(
        [
            f"# finite-expressivity checker counterexample: family={ex.family}, labels={ex.labels}",
            f"# {error}",
            "import numpy as np",
            "import finite_expressivity as fe",
            f"X = np.array({_literal(np.asarray(ex.X, dtype=np.float64))})",
            f"y = np.array({_literal(np.asarray(ex.y, dtype=np.float64))})",
            f"net = fe.fit(X, y, seed={ex.seed})",
            "print(fe.certify(net, X, y))",
            "from finite_expressivity.theorem1.checker import Example, check_example",
            f"check_example(Example({ex.family!r}, {ex.labels!r}, X, y, {ex.seed}, "
            f"perm={ex.perm!r}, depth={ex.depth!r}))",
        ]
    )


@dataclass
class _Run:
    """Counts of one checker run; ``shrinking`` once the first failure is seen."""

    passed: int = 0
    families: Counter = field(default_factory=Counter)
    labels: Counter = field(default_factory=Counter)
    first: tuple | None = None  # (example, exception): the first failure
    last: tuple | None = None  # the last failure: Hypothesis replays the shrunk one last

    def record(self, ex: Example, exc: Exception | None) -> None:
        if exc is not None:
            self.first = self.first or (ex, exc)
            self.last = (ex, exc)
        elif self.first is None:  # after a failure, calls are shrinks, not examples
            self.passed += 1
            self.families[ex.family] += 1
            self.labels[ex.labels] += 1


def _search(run: _Run, fit, families, count: int, seed: int, max_n: int, max_d: int) -> None:
    # Health checks stay on. The deadline is off: the first fit of a process
    # compiles the Numba loops, and exact arithmetic grows with the example.
    @hypothesis_seed(seed)
    @settings(max_examples=count, deadline=None, database=None, report_multiple_bugs=False)
    @given(examples(families=families, max_n=max_n, max_d=max_d))
    def prop(ex):
        try:
            check_example(ex, fit=fit)
        except Exception as exc:
            run.record(ex, exc)
            raise
        run.record(ex, None)

    prop()


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
    max_n, max_d : int
        Size bounds of the drawn examples.

    Returns
    -------
    CheckReport
        ``examples`` = generated examples (at most the number asked for),
        ``passed`` those that passed, ``failed`` 0 or 1; ``failure`` holds the
        shrunk example (or, if that did not fail again, the first failing one)
        as a runnable snippet.
    """
    if examples < 1:
        raise ValueError(f"--examples must be at least 1, got {examples}")
    families = list(families)
    run = _Run()
    try:
        # one example of each family first, so every family is covered
        for fam in families[:examples]:
            _search(run, fit, [fam], 1, seed, max_n, max_d)
        if examples > len(families):
            _search(run, fit, families, examples - len(families), seed, max_n, max_d)
    except Exception:  # noqa: BLE001 - any failure is a counterexample to report
        pass
    report = CheckReport(passed=run.passed, failed=int(run.first is not None))
    report.examples = report.passed + report.failed
    report.families = {f: run.families.get(f, 0) for f in families}
    report.labels = dict(run.labels)
    if run.first is not None:
        report.failure = _failure(run, fit)
    return report


def _failure(run: _Run, fit) -> dict:
    """The failure to report: the shrunk example if it fails again, else the first one."""
    ex, exc = run.last
    flaky = False
    try:
        check_example(ex, fit=fit)
        ex, exc, flaky = *run.first, True  # the shrunk example passes now: report the first
    except Exception as again:  # noqa: BLE001
        exc = again
    msg = " ".join(str(exc).split())[:500]
    return {
        "family": ex.family,
        "labels": ex.labels,
        "n": int(ex.X.shape[0]),
        "d": int(ex.X.shape[1]),
        "error": f"{type(exc).__name__}: {msg}",
        "property": getattr(exc, "prop", None),
        "flaky": flaky,
        "snippet": snippet(ex, msg),
    }
