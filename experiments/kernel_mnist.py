"""Section 5's headline: K alpha = y on all 60,000 MNIST images, no ridge (paper: 1.2%).

    python experiments/kernel_mnist.py --json          # same as `fe kernel --dataset mnist --json`
    python experiments/kernel_mnist.py --features gabor

Every argument is passed through to `fe kernel --dataset mnist`.
"""

import sys

from finite_expressivity.cli import main

if __name__ == "__main__":
    sys.exit(main(["kernel", "--dataset", "mnist", *sys.argv[1:]]))
