"""The property-based checker: it passes on the construction and catches planted bugs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings

from finite_expressivity import TwoLayerReLU, fit
from finite_expressivity.cli import main
from finite_expressivity.theorem1.checker import (
    FAMILIES,
    PropertyFailure,
    check_example,
    datasets,
    run_check,
)


@settings(max_examples=60, deadline=None)
@given(datasets())
def test_every_property_holds(ex):
    check_example(ex)


def test_run_check_covers_every_family():
    report = run_check(len(FAMILIES) * 3, seed=4)
    assert report.failed == 0 and report.failure is None
    assert set(report.families) == set(FAMILIES) and all(v >= 1 for v in report.families.values())


def _rolled_biases(X, y, seed=None):
    """A planted bug: the biases no longer interleave the projections."""
    net = fit(X, y, seed=seed)
    return TwoLayerReLU(net.a, np.roll(np.asarray(net.b), 1), net.w, net.info)


def _wrong_count(X, y, seed=None):
    """A planted bug: one neuron too few."""
    net = fit(X, y, seed=seed)
    return TwoLayerReLU(net.a, net.b[:-1], net.w[:-1], net.info)


@pytest.mark.parametrize(
    "bug,prop", [(_rolled_biases, "certificate_holds"), (_wrong_count, "param_count")]
)
def test_planted_bug_is_caught_with_a_runnable_shrunk_example(bug, prop):
    report = run_check(40, seed=0, fit=bug)
    assert report.failed == 1 and report.failure["property"] == prop
    snippet = report.failure["snippet"]
    assert "np.array(" in snippet and "fe.fit(X, y" in snippet
    assert report.failure["n"] <= 3  # shrunk towards a tiny example
    # the snippet runs and reproduces the failure against the buggy fit
    ns = {}
    code = snippet.replace("check_example(Example(", "check_example(fit=_bug, ex=Example(")
    with pytest.raises(PropertyFailure, match=prop):
        exec(compile(code, "<snippet>", "exec"), {"_bug": bug, **ns})


def test_conflicting_duplicates_property_fires_on_a_bug():
    def accepts_conflicts(X, y, seed=None):
        _, first, inv = np.unique(X, axis=0, return_index=True, return_inverse=True)
        return fit(X, np.asarray(y)[first[inv.ravel()]], seed=seed)

    from finite_expressivity.theorem1.checker import _make_example

    ex = _make_example("duplicates", "real", 12, 3, 5)
    with pytest.raises(PropertyFailure, match="conflicting_duplicates_refused"):
        check_example(ex, fit=accepts_conflicts)


def test_cli_json(capsys):
    assert main(["check", "--examples", "30", "--seed", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["examples"] == 30 and out["passed"] == 30 and out["failed"] == 0
    assert set(out["families"]) == set(FAMILIES)


def test_cli_rejects_bad_counts(capsys):
    assert main(["check", "--examples", "0"]) == 1
    assert "--examples must be at least 1" in capsys.readouterr().err
