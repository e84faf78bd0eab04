"""Reproduce the paper's raw-vs-gabor (see `fe run raw-vs-gabor --help` and `fe run --list`).

    python experiments/raw_vs_gabor.py                       # quick preset: minutes on a CPU
    python experiments/raw_vs_gabor.py --preset paper        # the paper's setup (see README)

Same as `fe run raw-vs-gabor ...`; every argument is passed through. Results go to
results/raw-vs-gabor-PRESET/ (results.json, results.csv, the figure, report.txt).
"""

import sys

from finite_expressivity.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "raw-vs-gabor", *sys.argv[1:]]))
