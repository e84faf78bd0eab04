"""Reproduce the paper's table1 (see `fe run table1 --help` and `fe run --list`).

    python experiments/table1.py                       # quick preset: minutes on a CPU
    python experiments/table1.py --preset paper        # the paper's setup (see README)

Same as `fe run table1 ...`; every argument is passed through. Results go to
results/table1-PRESET/ (results.json, results.csv, the figure, report.txt).
"""

import sys

from finite_expressivity.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "table1", *sys.argv[1:]]))
