"""Reproduce the paper's fig2b (see `fe run fig2b --help` and `fe run --list`).

    python experiments/fig2b.py                       # quick preset: minutes on a CPU
    python experiments/fig2b.py --preset paper        # the paper's setup (see README)

Same as `fe run fig2b ...`; every argument is passed through. Results go to
results/fig2b-PRESET/ (results.json, results.csv, the figure, report.txt).
"""

import sys

from finite_expressivity.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "fig2b", *sys.argv[1:]]))
