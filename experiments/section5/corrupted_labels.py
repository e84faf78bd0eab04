"""Section 5 experiment 'corrupted-labels' (see `fe kernel --help`).

    python experiments/section5/corrupted_labels.py            # full size; writes results/section5/corrupted-labels/
    python experiments/section5/corrupted_labels.py --quick    # small subsets, minutes on two cores

Same as `fe kernel --experiment corrupted-labels ...`; every argument is passed through.
"""

import sys

from finite_expressivity.cli import main

if __name__ == "__main__":
    sys.exit(main(["kernel", "--experiment", "corrupted-labels", *sys.argv[1:]]))
