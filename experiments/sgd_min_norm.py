"""Reproduce the paper's sgd-min-norm (see `fe run sgd-min-norm --help` and `fe run --list`).

    python experiments/sgd_min_norm.py                       # quick preset: minutes on a CPU
    python experiments/sgd_min_norm.py --preset paper        # the paper's setup (see README)

Same as `fe run sgd-min-norm ...`; every argument is passed through. Results go to
results/sgd-min-norm-PRESET/ (results.json, results.csv, the figure, report.txt).
"""

import sys

from finite_expressivity.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "sgd-min-norm", *sys.argv[1:]]))
