"""Reproduce the paper's table1 (see `fe run table1 --help`).

    python experiments/table1.py                       # quick preset, MNIST/Fashion-MNIST, CPU
    python experiments/table1.py --preset paper --data-path DIR   # CIFAR-10 on a GPU

Same as `fe run table1 ...`; every argument is passed through.
"""

import sys

from finite_expressivity.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "table1", *sys.argv[1:]]))
