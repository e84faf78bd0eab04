"""Reproduce the paper's theorem1 (see `fe run theorem1 --help` and `fe run --list`).

    python experiments/theorem1.py                       # quick preset: minutes on a CPU
    python experiments/theorem1.py --preset paper        # the paper's setup (see README)

Same as `fe run theorem1 ...`; every argument is passed through. Results go to
results/theorem1-PRESET/ (results.json, results.csv, the figure, report.txt).
"""

import sys

from finite_expressivity.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "theorem1", *sys.argv[1:]]))
