"""Images per second: DeviceLoader vs torch's DataLoader over the same data, in one run.

Usage::

    python benchmarks/loader.py [--n 20000] [--device auto] [--batch-size 128]
                                [--shape mnist --shape cifar]

Both serve shuffled batches of 128 float32 images of each ``--shape``: ``mnist``
(1x28x28, the kernel and MNIST experiments) and ``cifar`` (3x28x28, CIFAR-10 after the
paper's crop). The baseline is the plain ``DataLoader(TensorDataset(x, y),
batch_size=128, shuffle=True)`` (per-sample indexing and collation in Python; on a GPU
its batches are then copied to the device). Both are first checked to serve every
sample exactly once per epoch with images and labels paired, warmed up, then timed over
whole epochs (best of ``--repeats``); the script prints images/s for each, the ratio,
the memory-copy rate of the machine (a plain ``copy`` of the same bytes: on the CPU
both loaders must copy every image once per epoch, so this bounds the ratio), and the
machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from finite_expressivity.core.devices import torch_device as resolve_device
from finite_expressivity.data import DeviceLoader


def _epoch(batches, device) -> int:
    """Serve one epoch onto ``device`` (no host syncs inside the loop); return images served."""
    n = 0
    for xb, yb in batches:
        if xb.device != device:
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        n += xb.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return n


def _check(make, x, y, device):
    """Every sample exactly once per epoch, images and labels still paired."""
    seen = []
    for xb, yb in make():
        xb, yb = xb.to(device), yb.to(device)
        assert torch.equal(xb[:, 0, 0, 0].long(), yb), "images and labels came apart"
        seen.append(yb.cpu())
    seen = torch.cat(seen).numpy()
    assert np.array_equal(np.sort(seen), np.arange(len(x))), "an epoch missed or repeated samples"


def _time(make, device, repeats: int) -> float:
    _epoch(make(), device)  # warm-up epoch
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = _epoch(make(), device)
        best = min(best, time.perf_counter() - t0)
    return n / best


def _copy_rate(x: np.ndarray, batch: int, repeats: int) -> float:
    """Images/s of a plain sequential copy of the data in batches: the memory bound."""
    buf = np.empty((batch,) + x.shape[1:], dtype=x.dtype)
    best = float("inf")
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        for s in range(0, len(x) - batch + 1, batch):
            buf[...] = x[s : s + batch]
        best = min(best, time.perf_counter() - t0)
    return (len(x) // batch * batch) / best


SHAPES = {"mnist": (1, 28, 28), "cifar": (3, 28, 28)}


def run(shape: str, n: int, batch_size: int, device, repeats: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n,) + SHAPES[shape], dtype=np.float32)
    y = np.arange(n, dtype=np.int64)  # label = index: the check can see every sample
    x[:, 0, 0, 0] = y  # ... and that images travel with their labels
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    resident = DeviceLoader(x, y, batch_size=batch_size, device=device, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    baseline = DataLoader(TensorDataset(xt, yt), batch_size=batch_size, shuffle=True, generator=gen)
    _check(lambda: resident, x, y, device)
    _check(lambda: baseline, x, y, device)
    fast = _time(lambda: resident, device, repeats)
    slow = _time(lambda: baseline, device, repeats)
    return {
        "shape": shape,
        "fast": fast,
        "slow": slow,
        "copy": _copy_rate(x, batch_size, repeats) if device.type == "cpu" else None,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="images (default 20000)")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs; best is kept")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--shape",
        action="append",
        choices=sorted(SHAPES),
        default=None,
        help="image shape to run (repeatable; default: mnist and cifar)",
    )
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    results = [
        run(shape, args.n, args.batch_size, device, args.repeats, args.seed)
        for shape in (args.shape or ["mnist", "cifar"])
    ]

    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    print(
        f"machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), device {device}"
        + (f" ({gpu})" if gpu else "")
    )
    print(
        f"data: {args.n} float32 images, batch {args.batch_size}, best of {args.repeats} "
        f"epochs after a warm-up; images/s"
    )
    print(f"{'shape':<14}{'DeviceLoader':>14}{'DataLoader':>14}{'ratio':>8}{'plain copy':>14}")
    for r in results:
        dims = "x".join(map(str, SHAPES[r["shape"]]))
        copy = f"{r['copy']:14,.0f}" if r["copy"] else f"{'-':>14}"
        print(
            f"{r['shape'] + ' ' + dims:<14}{r['fast']:14,.0f}{r['slow']:14,.0f}"
            f"{r['fast'] / r['slow']:7.1f}x{copy}"
        )


if __name__ == "__main__":
    main()
