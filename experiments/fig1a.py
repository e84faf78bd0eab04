"""Reproduce the paper's fig1a (see `fe run fig1a --help`).

    python experiments/fig1a.py                       # quick preset, MNIST/Fashion-MNIST, CPU
    python experiments/fig1a.py --preset paper --data-path DIR   # CIFAR-10 on a GPU

Same as `fe run fig1a ...`; every argument is passed through.
"""

import sys

from finite_expressivity.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "fig1a", *sys.argv[1:]]))
