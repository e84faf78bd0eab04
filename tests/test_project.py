"""The project's own promises: licence and citation metadata, the layout's rules (no
import cycles, no two modules of one name, parts that do not import each other) and
library functions that fit on a screen."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "finite_expressivity"


def test_license_matches_pyproject():
    import re

    pyproject = (ROOT / "pyproject.toml").read_text()  # tomllib is Python >= 3.11 only
    assert re.search(r'^license = \{text = "MIT"\}', pyproject, re.M)
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_citation_is_valid_cff():
    cffconvert = shutil.which("cffconvert")
    if cffconvert is None:
        pytest.skip("cffconvert not installed (pip install -e '.[dev]')")
    proc = subprocess.run(
        [cffconvert, "--validate", "-i", str(ROOT / "CITATION.cff")], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = (ROOT / "CITATION.cff").read_text()
    assert "type: software" in text and "preferred-citation:" in text
    assert "Understanding deep learning requires rethinking generalization" in text


def _import_cycles() -> list:
    """Strongly connected components of the package's import graph (imports inside
    functions count), larger than one module."""
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("finite_expressivity")
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for m in sorted(graph.modules):
        if m not in index:
            visit(m)
    return out


def test_no_import_cycles():
    assert _import_cycles() == []


def test_no_two_modules_or_folders_share_a_name():
    names = {}
    for p in PACKAGE.rglob("*"):
        if "__pycache__" in p.parts or p.name == "__init__.py":
            continue
        if p.is_dir() or p.suffix == ".py":
            names.setdefault(p.stem, []).append(str(p.relative_to(PACKAGE)))
    for top in ("kernels", "experiments", "benchmarks", "scripts", "proofs"):
        names.setdefault(top, []).append(top + "/")
    assert {k: v for k, v in names.items() if len(v) > 1} == {}


MAX_FUNCTION_LINES = 60  # code lines, the docstring not counted: one screen


def _long_functions(root: Path, limit: int) -> list[str]:
    import ast

    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            body = node.body[1:] if ast.get_docstring(node) and len(node.body) > 1 else node.body
            lines = node.end_lineno - body[0].lineno + 1
            if lines > limit:
                found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({lines})")
    return found


def test_every_library_function_fits_on_a_screen():
    assert _long_functions(PACKAGE, MAX_FUNCTION_LINES) == []


def test_the_length_rule_sees_a_long_function(tmp_path):
    def source(name, lines):
        body = "\n".join(f"    x{i} = {i}" for i in range(lines))
        return f'def {name}():\n    """Doc."""\n{body}\n'

    (tmp_path / "long.py").write_text(source("f", MAX_FUNCTION_LINES + 1))
    (tmp_path / "short.py").write_text(source("g", MAX_FUNCTION_LINES))  # at the limit: fine
    expected = [f"long.py:1 f ({MAX_FUNCTION_LINES + 1})"]
    assert _long_functions(tmp_path, MAX_FUNCTION_LINES) == expected


def test_every_artifact_is_listed_and_has_its_script():
    """``fe run --list --json`` names every artifact with its part and presets, and
    ``experiments/NAME.py`` runs exactly ``fe run NAME``."""
    import json

    from finite_expressivity.cli import main

    with pytest.MonkeyPatch.context() as mp:
        out = []
        mp.setattr("builtins.print", lambda *a, **k: out.append(" ".join(map(str, a))))
        assert main(["run", "--list", "--json"]) == 0
    rows = json.loads(out[0])
    want = {
        "theorem1": "theorem1",
        "fig1a": "randomization",
        "fig1bc": "randomization",
        "table1": "randomization",
        "fig2b": "randomization",
        "raw-vs-gabor": "section5",
        "ridge-sweep": "section5",
        "corrupted-labels": "section5",
        "sgd-min-norm": "section5",
        "random-features": "section5",
    }
    assert {r["name"]: r["part"] for r in rows} == want
    assert all(r["presets"] == ["quick", "paper"] for r in rows)
    for name in want:
        script = ROOT / "experiments" / f"{name.replace('-', '_')}.py"
        assert f'main(["run", "{name}", *sys.argv[1:]])' in script.read_text()


def _survivors_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "mutation_survivors", ROOT / "scripts" / "mutation_survivors.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_explained_survivor_names_a_mutated_function_once():
    script = _survivors_script()
    lines = [
        line.split("\t")[0]
        for line in script.EXPLAINED.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    explained = script.explanations()  # raises on a line without a kind or a reason
    assert len(explained) == len(lines), "a mutant is explained twice"
    modules = {"construction", "exact", "compiled", "certify", "deep"}  # scripts/mutation.sh
    for name in explained:
        module = name.split(".")[2]
        assert name.startswith("finite_expressivity.theorem1.") and module in modules, name
        assert "__mutmut_" in name, name


def test_survivor_report_lists_the_unexplained(tmp_path, capsys):
    script = _survivors_script()
    known = next(iter(script.explanations()))
    diff = "--- f.py\n+++ f.py\n@@ -1 +1 @@\n-    x = 2.0**-40\n+    x = 2.0**-41\n"
    text = f"# {known}: survived\n{diff}# pkg.mod.x_g__mutmut_1: survived\n{diff}"
    (tmp_path / "diffs.txt").write_text(text)
    assert script.main([str(tmp_path / "diffs.txt")]) == 0
    out = capsys.readouterr().out
    assert "explained in mutation_explained.tsv: 1 of 2 survivors" in out
    assert out.rstrip().endswith("pkg.mod.x_g__mutmut_1")
