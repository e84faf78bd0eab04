"""Reproduce the paper's fig1bc (see `fe run fig1bc --help` and `fe run --list`).

    python experiments/fig1bc.py                       # quick preset: minutes on a CPU
    python experiments/fig1bc.py --preset paper        # the paper's setup (see README)

Same as `fe run fig1bc ...`; every argument is passed through. Results go to
results/fig1bc-PRESET/ (results.json, results.csv, the figure, report.txt).
"""

import sys

from finite_expressivity.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "fig1bc", *sys.argv[1:]]))
