"""Reproduce the paper's fig2b (see `fe run fig2b --help`).

    python experiments/fig2b.py                       # quick preset, MNIST/Fashion-MNIST, CPU
    python experiments/fig2b.py --preset paper --data-path DIR   # CIFAR-10 on a GPU

Same as `fe run fig2b ...`; every argument is passed through.
"""

import sys

from finite_expressivity.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "fig2b", *sys.argv[1:]]))
