"""Section 5 experiment 'random-features' (see `fe kernel --help`).

    python experiments/section5/random_features.py            # full size; writes results/section5/random-features/
    python experiments/section5/random_features.py --quick    # small subsets, minutes on two cores

Same as `fe kernel --experiment random-features ...`; every argument is passed through.
"""

import sys

from finite_expressivity.cli import main

if __name__ == "__main__":
    sys.exit(main(["kernel", "--experiment", "random-features", *sys.argv[1:]]))
