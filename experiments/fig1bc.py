"""Reproduce the paper's fig1bc (see `fe run fig1bc --help`).

    python experiments/fig1bc.py                       # quick preset, MNIST/Fashion-MNIST, CPU
    python experiments/fig1bc.py --preset paper --data-path DIR   # CIFAR-10 on a GPU

Same as `fe run fig1bc ...`; every argument is passed through.
"""

import sys

from finite_expressivity.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "fig1bc", *sys.argv[1:]]))
