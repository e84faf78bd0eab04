"""Reproduce the paper's ridge-sweep (see `fe run ridge-sweep --help` and `fe run --list`).

    python experiments/ridge_sweep.py                       # quick preset: minutes on a CPU
    python experiments/ridge_sweep.py --preset paper        # the paper's setup (see README)

Same as `fe run ridge-sweep ...`; every argument is passed through. Results go to
results/ridge-sweep-PRESET/ (results.json, results.csv, the figure, report.txt).
"""

import sys

from finite_expressivity.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "ridge-sweep", *sys.argv[1:]]))
