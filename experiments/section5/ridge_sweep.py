"""Section 5 experiment 'ridge-sweep' (see `fe kernel --help`).

    python experiments/section5/ridge_sweep.py            # full size; writes results/section5/ridge-sweep/
    python experiments/section5/ridge_sweep.py --quick    # small subsets, minutes on two cores

Same as `fe kernel --experiment ridge-sweep ...`; every argument is passed through.
"""

import sys

from finite_expressivity.cli import main

if __name__ == "__main__":
    sys.exit(main(["kernel", "--experiment", "ridge-sweep", *sys.argv[1:]]))
