"""The property-based checker: it passes on the construction, catches planted bugs
with oracles of its own, and reports a shrunk, runnable counterexample."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest
from hypothesis import given, settings

from finite_expressivity import TwoLayerReLU, fit
from finite_expressivity.cli import main
from finite_expressivity.theorem1 import checker
from finite_expressivity.theorem1.checker import (
    FAMILIES,
    Example,
    PropertyFailure,
    check_example,
    examples,
    run_check,
)

_FEW = bool(os.environ.get("FE_MUTATION"))  # the mutation run: a few examples each


@settings(max_examples=8 if _FEW else 60, deadline=None)
@given(examples())
def test_every_property_holds(ex):
    check_example(ex)


@settings(max_examples=4 if _FEW else 15, deadline=None)
@given(examples(families=["gaussian", "clusters", "near-duplicates"], max_n=64))
def test_every_property_holds_up_to_64_points(ex):
    check_example(ex)


def test_run_check_covers_every_family():
    count = len(FAMILIES) * (1 if _FEW else 2)
    report = run_check(count, seed=4)
    assert report.failed == 0 and report.failure is None
    assert report.examples == report.passed == count
    assert set(report.families) == set(FAMILIES) and all(v >= 1 for v in report.families.values())


def _rolled_biases(X, y, seed=None):
    """A planted bug: the biases no longer interleave the projections."""
    net = fit(X, y, seed=seed)
    return TwoLayerReLU(net.a, np.roll(np.asarray(net.b), 1), net.w, net.info)


def _wrong_count(X, y, seed=None):
    """A planted bug: one neuron too few."""
    net = fit(X, y, seed=seed)
    return TwoLayerReLU(net.a, net.b[:-1], net.w[:-1], net.info)


def _numbers(line: str) -> list[str]:
    return re.findall(r"-?\d+\.\d+(?:e-?\d+)?", line)


@pytest.mark.parametrize(
    "bug,prop", [(_rolled_biases, "certificate_holds"), (_wrong_count, "param_count")]
)
def test_planted_bug_is_caught_with_a_short_runnable_example(bug, prop):
    report = run_check(40, seed=0, fit=bug)
    assert report.failed == 1 and report.failure["property"] == prop
    assert not report.failure["flaky"]
    snippet = report.failure["snippet"]
    assert report.failure["n"] <= 3  # shrunk towards a tiny example
    x_line = next(line for line in snippet.splitlines() if line.startswith("X = "))
    assert all(len(v) <= 6 for v in _numbers(x_line)), x_line  # 0.0, 1.0, -2.5: short numbers
    code = snippet.replace("check_example(Example(", "check_example(fit=_bug, ex=Example(")
    with pytest.raises(PropertyFailure, match=prop):
        exec(compile(code, "<snippet>", "exec"), {"_bug": bug})


def test_certificate_tolerance_comes_from_the_data_not_the_network():
    """A wrong network that reports a huge float64 limit about itself is still caught:
    the tolerance is the bound of proofs/float64.md computed from X, y and a."""

    def self_excusing(X, y, seed=None):
        net = fit(X, y, seed=seed)
        w = np.array(net.w, copy=True)
        w[0] = w[0] * (1 + 1e-3) + 1e-3
        return TwoLayerReLU(net.a, net.b, w, {**net.info, "float64_limit": 1e9})

    ex = Example("gaussian", "real", np.array([[0.0], [1.0], [3.0]]), np.array([1.0, 2.0, 0.5]), 0)
    with pytest.raises(PropertyFailure, match="certificate_holds"):
        check_example(ex, fit=self_excusing)


def test_oracle_catches_a_wrong_certificate(monkeypatch):
    from finite_expressivity.theorem1.certify import certify

    def halved(net, X, y, **kw):
        cert = certify(net, X, y, **kw)
        return type(cert)(cert.max_residual / 2, cert.residuals / 2, cert.tol, True, cert.accuracy)

    monkeypatch.setattr(checker, "certify", halved)
    ex = Example("gaussian", "real", np.array([[0.0, 1.0], [1.0, 0.5]]), np.array([0.3, 7.1]), 0)
    with pytest.raises(PropertyFailure, match="oracle_agrees"):
        check_example(ex)


def test_conflicting_duplicates_property_fires_on_a_bug():
    def accepts_conflicts(X, y, seed=None):
        _, first, inv = np.unique(X, axis=0, return_index=True, return_inverse=True)
        return fit(X, np.asarray(y)[first[inv.ravel()]], seed=seed)

    X = np.array([[0.0, 1.0], [2.0, 0.5], [0.0, 1.0], [1.0, 1.0]])
    ex = Example("duplicates", "real", X, np.array([1.0, 2.0, 1.0, 3.0]), 5)
    with pytest.raises(PropertyFailure, match="conflicting_duplicates_refused"):
        check_example(ex, fit=accepts_conflicts)


def test_a_failure_that_does_not_recur_reports_the_failing_example():
    """Issue 10: a failure that does not reproduce (here: a fit that is wrong on its
    first call only) used to print the last *passing* example. The report must hold
    the example that failed, marked flaky."""
    seen = []

    def wrong_once(X, y, seed=None):
        net = fit(X, y, seed=seed)
        if not seen:
            seen.append(np.array(X, copy=True))
            return TwoLayerReLU(net.a, net.b, np.asarray(net.w) * 2 + 1, net.info)
        return net

    report = run_check(20, seed=3, fit=wrong_once)
    assert report.failed == 1 and report.failure["flaky"]
    # the retries that did not fail are not examples either (they were counted: 200 > 20)
    assert report.passed + report.failed == report.examples <= 20
    x_line = next(
        line for line in report.failure["snippet"].splitlines() if line.startswith("X = ")
    )
    X = eval(x_line[len("X = ") :], {"np": np})
    assert np.array_equal(X, seen[0])


def test_passed_counts_generated_examples_only():
    """Issue 10: shrinking after a failure runs many more (passing) examples; they are
    not examples of the run, so passed + failed never exceeds --examples."""

    def wrong_from_six_points(X, y, seed=None):
        net = fit(X, y, seed=seed)
        if X.shape[0] >= 6:
            return TwoLayerReLU(net.a, net.b, np.asarray(net.w) * 2 + 1, net.info)
        return net

    report = run_check(30, seed=1, fit=wrong_from_six_points)
    assert report.failed == 1 and report.failure["n"] == 6
    assert report.passed + report.failed == report.examples <= 30


def test_cli_json(capsys):
    assert main(["check", "--examples", "30", "--seed", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["examples"] == 30 and out["passed"] == 30 and out["failed"] == 0
    assert set(out["families"]) == set(FAMILIES)
    assert {"certificate_holds", "oracle_agrees", "triangular_and_lemma1"} <= set(out["properties"])


def test_cli_rejects_bad_counts(capsys):
    assert main(["check", "--examples", "0"]) == 1
    assert "--examples must be at least 1" in capsys.readouterr().err


def test_cli_table(capsys):
    assert main(["check", "--examples", str(len(FAMILIES)), "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"examples {len(FAMILIES)}, passed {len(FAMILIES)}, failed 0")
    rows = [line for line in out.splitlines()[1:] if line.strip()]
    assert len(rows) == len(FAMILIES) and len({line.rindex(" ") for line in rows}) == 1  # aligned
