"""Section 5 experiment 'sgd-min-norm' (see `fe kernel --help`).

    python experiments/section5/sgd_min_norm.py            # full size; writes results/section5/sgd-min-norm/
    python experiments/section5/sgd_min_norm.py --quick    # small subsets, minutes on two cores

Same as `fe kernel --experiment sgd-min-norm ...`; every argument is passed through.
"""

import sys

from finite_expressivity.cli import main

if __name__ == "__main__":
    sys.exit(main(["kernel", "--experiment", "sgd-min-norm", *sys.argv[1:]]))
