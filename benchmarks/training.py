"""Training throughput (images/s) of the paper's models on the current device.

    python benchmarks/training.py                    # paper models, 28x28x3, auto device
    python benchmarks/training.py --quick            # the quick presets' models, 28x28x1
    python benchmarks/training.py --compile          # also time torch.compile

For each model the baseline is fp32, contiguous memory, eager mode, timed in the same
process; each variant (channels-last, bf16 autocast on CUDA, torch.compile) is first
checked against the baseline (same initial weights: the first step's loss must agree to
within 2% in bf16, 1e-4 relative otherwise), then timed, and reported as a ratio.
Timing uses CUDA events on a GPU and perf_counter on a CPU, after warm-up steps.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import time

import torch

from finite_expressivity.randomization.models import build_model, count_parameters, model_config

PAPER = [
    ("inception", {}),
    ("inception-nobn", {}),
    ("alexnet", {}),
    ("mlp1x512", {}),
    ("mlp3x512", {}),
]
QUICK = [
    ("inception", {"width": 0.125}),
    ("inception", {"width": 0.25}),
    ("inception-nobn", {"width": 0.125}),
    ("alexnet", {"channels": (32, 32)}),
    ("mlp1x512", {}),
    ("mlp3x512", {}),
]


def make_step(model, opt, x, y, *, bf16, cuda):
    def step():
        ctx = (
            torch.autocast("cuda" if cuda else "cpu", dtype=torch.bfloat16)
            if bf16
            else contextlib.nullcontext()
        )
        with ctx:
            out = model(x)
        loss = torch.nn.functional.cross_entropy(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    return step


def time_steps(step, n, cuda):
    if cuda:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(n):
            step()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 1000
    t = time.perf_counter()
    for _ in range(n):
        step()
    return time.perf_counter() - t


def bench(name, over, channels, dev, batch, steps, warmup, variants):
    cuda = dev.type == "cuda"
    cfg = model_config(name, in_channels=channels, **over)
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(batch, channels, 28, 28, generator=gen).to(dev)
    y = torch.randint(0, 10, (batch,), generator=gen).to(dev)
    rows, base_loss, base_rate = [], None, None
    for label, cl, bf16, comp in variants:
        if cl and name.startswith("mlp"):
            continue
        model = build_model(cfg, seed=0).to(dev)
        x = x0
        if cl:
            model = model.to(memory_format=torch.channels_last)
            x = x0.contiguous(memory_format=torch.channels_last)
        net = torch.compile(model) if comp else model
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        step = make_step(net, opt, x, y, bf16=bf16, cuda=cuda)
        first = float(step().detach())  # the check: same weights, same batch -> same first loss
        if base_loss is None:
            base_loss = first
        tol = 0.02 if bf16 else 1e-4
        if abs(first - base_loss) > tol * abs(base_loss):
            raise SystemExit(
                f"{name} {label}: first loss {first} differs from baseline {base_loss}"
            )
        for _ in range(warmup):
            step()
        secs = time_steps(step, steps, cuda)
        rate = batch * steps / secs
        base_rate = base_rate or rate
        rows.append((label, rate, rate / base_rate))
    return count_parameters(build_model(cfg, seed=0)), rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--quick", action="store_true", help="the quick presets' models (1 channel)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default 50 GPU, 10 CPU)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--compile", action="store_true")
    args = ap.parse_args()
    from finite_expressivity.core.devices import torch_device as resolve_device

    dev = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = dev.type == "cuda"
    steps = args.steps or (50 if cuda else 10)
    variants = [("fp32", False, False, False), ("channels-last", True, False, False)]
    if cuda:
        variants += [("bf16", False, True, False), ("channels-last+bf16", True, True, False)]
    if args.compile:
        variants += [("compile" + ("+channels-last+bf16" if cuda else ""), cuda, cuda, True)]
    where = (
        torch.cuda.get_device_name(dev)
        if cuda
        else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    )
    print(
        f"device: {dev} ({where}); torch {torch.__version__}; batch {args.batch}, {steps} timed steps"
    )
    channels = 1 if args.quick else 3
    for name, over in QUICK if args.quick else PAPER:
        params, rows = bench(name, over, channels, dev, args.batch, steps, args.warmup, variants)
        tag = name + ("" if not over else " " + ",".join(f"{k}={v}" for k, v in over.items()))
        for label, rate, ratio in rows:
            print(
                f"{tag:<34} {params:>10,} params  {label:<22} {rate:>10,.0f} img/s  x{ratio:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
