"""Reproduce the paper's fig1a (see `fe run fig1a --help` and `fe run --list`).

    python experiments/fig1a.py                       # quick preset: minutes on a CPU
    python experiments/fig1a.py --preset paper        # the paper's setup (see README)

Same as `fe run fig1a ...`; every argument is passed through. Results go to
results/fig1a-PRESET/ (results.json, results.csv, the figure, report.txt).
"""

import sys

from finite_expressivity.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "fig1a", *sys.argv[1:]]))
