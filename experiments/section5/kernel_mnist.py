"""Section 5's headline: kernel interpolation K alpha = y on all 60,000 MNIST images.

    python experiments/section5/kernel_mnist.py            # = fe kernel --dataset mnist
    python experiments/section5/kernel_mnist.py --json --out results/section5/main

Same as `fe kernel ...`; every argument is passed through.
"""

import sys

from finite_expressivity.cli import main

if __name__ == "__main__":
    sys.exit(main(["kernel", *sys.argv[1:]]))
