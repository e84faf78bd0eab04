"""Reproduce the paper's random-features (see `fe run random-features --help` and `fe run --list`).

    python experiments/random_features.py                       # quick preset: minutes on a CPU
    python experiments/random_features.py --preset paper        # the paper's setup (see README)

Same as `fe run random-features ...`; every argument is passed through. Results go to
results/random-features-PRESET/ (results.json, results.csv, the figure, report.txt).
"""

import sys

from finite_expressivity.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "random-features", *sys.argv[1:]]))
