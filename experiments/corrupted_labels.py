"""Reproduce the paper's corrupted-labels (see `fe run corrupted-labels --help` and `fe run --list`).

    python experiments/corrupted_labels.py                       # quick preset: minutes on a CPU
    python experiments/corrupted_labels.py --preset paper        # the paper's setup (see README)

Same as `fe run corrupted-labels ...`; every argument is passed through. Results go to
results/corrupted-labels-PRESET/ (results.json, results.csv, the figure, report.txt).
"""

import sys

from finite_expressivity.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "corrupted-labels", *sys.argv[1:]]))
