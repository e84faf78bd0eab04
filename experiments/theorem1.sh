#!/usr/bin/env bash
# Theorem 1 on real data: the numbers in the README's "Results" table.
# Writes results/theorem1/*.json (one `fe theorem --json` report per row).
set -euo pipefail
out=${1:-results/theorem1}
mkdir -p "$out"
fe theorem --json --quiet                                            > "$out/mnist.json"
fe theorem --dataset fashion-mnist --json --quiet                    > "$out/fashion-mnist.json"
fe theorem --dataset gaussian --n 1000000 --d 32 --json --quiet      > "$out/gaussian-1e6.json"
fe theorem --depth 4 --json --quiet                                  > "$out/mnist-depth4.json"
python - "$out" <<'PY'
import json, sys, pathlib
rows = []
for name in ["mnist", "fashion-mnist", "gaussian-1e6", "mnist-depth4"]:
    r = json.loads((pathlib.Path(sys.argv[1]) / f"{name}.json").read_text())
    s = r["seconds"]
    rows.append(f"| {name} | {r['n']:,} | {r['d']} | {r['n_params']:,} | {100 * r['train_accuracy']:.2f}% "
                f"| {100 * r['float64_accuracy']:.2f}% ({r['float64_points']:,}) | {r['max_residual_exact']:.1e} "
                f"| {r['max_residual_float64']:.1e} | {'yes' if r['certified'] else 'no'} "
                f"| {s['construct']:.2f} / {s['floor']:.3f} | {s['certify']:.1f} |")
print("| data | n | d | parameters | exact accuracy | float64 accuracy (points) | max residual, exact "
      "| max residual, float64 | certified | construct / floor s | certify s |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
print("\n".join(rows))
PY
