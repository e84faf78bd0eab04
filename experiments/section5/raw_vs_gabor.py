"""Section 5 experiment 'raw-vs-gabor' (see `fe kernel --help`).

    python experiments/section5/raw_vs_gabor.py            # full size; writes results/section5/raw-vs-gabor/
    python experiments/section5/raw_vs_gabor.py --quick    # small subsets, minutes on two cores

Same as `fe kernel --experiment raw-vs-gabor ...`; every argument is passed through.
"""

import sys

from finite_expressivity.cli import main

if __name__ == "__main__":
    sys.exit(main(["kernel", "--experiment", "raw-vs-gabor", *sys.argv[1:]]))
