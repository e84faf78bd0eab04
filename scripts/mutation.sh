#!/usr/bin/env bash
# Mutation testing of the Theorem 1 code with mutmut: the construction, the exact
# arithmetic, the compiled loops, the certificate and the depth-k network are mutated
# one change at a time; the Theorem 1 tests and the property checker (its Hypothesis
# test) are the killers. About 17 minutes on 2 cores.
#
#   bash scripts/mutation.sh              # all five modules
#   MUTATE="exact.py deep.py" bash scripts/mutation.sh
#
# Installs mutmut itself (pinned) into the current Python, works in a temporary copy
# of the tree (mutmut writes a mutants/ folder next to the code), and runs the
# compiled loops as plain Python (NUMBA_DISABLE_JIT=1) so that their mutants run.
# Not mutated (do_not_mutate_patterns below): lines that only spell out an error
# message (their wording is checked by the tests that match messages; a mutated
# message is not a wrong network), and lines whose every mutant is equivalent by
# construction: conversions of arrays that are already float64 (validated input)
# and allocations, NumPy warning switches, the thread split and buffer reuse of the
# projection (speed only: the arithmetic is the same), and stable sorts where ties
# only reorder equal biases of zero-weight neurons. README, "Mutation score".
# The last line is "mutation score: K killed, S survived, T timed out (P% killed)";
# S counts the survivors and the mutants no test reached, P = K / (K + S + T). The
# surviving mutants are listed in $OUT/survivors.txt (default: mutation-results/),
# their diffs in $OUT/survivor_diffs.txt; each should have its reason in
# scripts/mutation_explained.tsv, and the report before the score names any that do not.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python}
OUT=${OUT:-$ROOT/mutation-results}
MUTATE=${MUTATE:-"construction.py exact.py compiled.py certify.py deep.py"}
mkdir -p "$OUT"
"$PY" -m pip install -q "mutmut==3.8.1" >/dev/null 2>&1 || "$PY" -m pip install -q "mutmut==3.8.1"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp -r "$ROOT/src" "$ROOT/tests" "$ROOT/pyproject.toml" "$WORK/"
find "$WORK" -name __pycache__ -prune -exec rm -rf {} +
only=""
for f in $MUTATE; do only+="    src/finite_expressivity/theorem1/$f"$'\n'; done
killers=""  # every Theorem 1 test file but the CLI's (it runs subprocesses)
for f in "$WORK"/tests/theorem1/test_*.py; do
  [ "$(basename "$f")" = test_cli.py ] || killers+="    tests/theorem1/$(basename "$f")"$'\n'
done
# the killers: in-process tests only (a subprocess would import the unmutated tree),
# with Hypothesis seeded; the tests of the checker's own reporting (planted bugs,
# counts) are left out: they exercise the harness, shrinking for seconds each
cat > "$WORK/setup.cfg" <<CFG
[mutmut]
source_paths = src/finite_expressivity
only_mutate =
$only
pytest_add_cli_args_test_selection =
$killers
pytest_add_cli_args =
    -p
    no:cacheprovider
    -W
    ignore
    --hypothesis-seed=0
    -k
    not plain_python and not cli and not planted_bug and not passed_counts and not does_not_recur
timeout_multiplier = 2.0
do_not_mutate_patterns =
    ^\s*f?"[^"]*"\s*,?\s*$
    raise \w+\(f?"
    msg = f?"
    = \(?np\.asarray\(to_numpy\(
    np\.ascontiguousarray\(
    xp\.(empty|zeros)\(\(n,\), dtype=xp\.float64, device=
    with np\.errstate\(
    ranges = \[\(s, min\(n, s \+ chunk_rows\)\)
    if _is_numpy\(X\) and len\(ranges\) > 8
    workers = min\(4, os\.cpu_count
    groups = \[ranges\[i::workers\]
    ThreadPoolExecutor\(workers\)
    list\(pool\.map\(
    numpy_path = _is_numpy\(X\)
    bufs = \[np\.empty
    np\.argsort\((b|host\.b|zf), kind="stable"\)
    np\.asarray\(host\.a, dtype=np\.float64\)
    for row in R\], dtype=np\.float64\)
CFG
cd "$WORK"
export NUMBA_DISABLE_JIT=1 PYTHONHASHSEED=0 FE_MUTATION=1  # tests/theorem1/conftest.py
# one thread each: a BLAS thread pool inherited by a forked test process spins
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1
start=$(date +%s)
"$PY" -m mutmut run --max-children "${JOBS:-2}" > "$OUT/mutmut.log" 2>&1 || {
  tail -30 "$OUT/mutmut.log"; echo "mutmut failed (log: $OUT/mutmut.log)"; exit 1; }
"$PY" -m mutmut export-cicd-stats >/dev/null
"$PY" -m mutmut results > "$OUT/survivors.txt" 2>&1 || true
while read -r name _; do
  [ -n "$name" ] && "$PY" -m mutmut show "${name%:}" 2>/dev/null
done < <(grep -E ': (survived|no tests|suspicious)' "$OUT/survivors.txt") > "$OUT/survivor_diffs.txt" || true
cp mutants/mutmut-cicd-stats.json "$OUT/stats.json"
echo "mutation run: $(( $(date +%s) - start )) s, mutated: $MUTATE"
echo "survivors by kind (from scripts/mutation_explained.tsv; unexplained ones by pattern; names: scripts/mutation_survivors.py FILE KIND):"
"$PY" "$ROOT/scripts/mutation_survivors.py" "$OUT/survivor_diffs.txt" | tee "$OUT/survivor_kinds.txt"
"$PY" - "$OUT/stats.json" <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1]))
killed = s["killed"] + s["segfault"]  # a mutant that crashes the tests is caught
survived = s["survived"] + s["no_tests"] + s["suspicious"]
timed_out = s["timeout"]
total = killed + survived + timed_out
pct = 100.0 * killed / total if total else 0.0
print(f"mutation score: {killed} killed, {survived} survived, {timed_out} timed out ({pct:.1f}% killed)")
PYEOF
