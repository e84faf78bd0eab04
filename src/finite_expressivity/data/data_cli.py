"""``fe data``: fetch, list, describe and look at datasets and their randomized variants."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

from ..core.argtypes import add_data_dir

__all__ = ["register"]


def register(subparsers) -> None:
    """Add ``fe data {fetch,list,stats,show}`` to the ``fe`` parser."""
    data = subparsers.add_parser(
        "data",
        help="datasets and the paper's randomizations of them",
        description="Datasets and the paper's randomizations of them.",
    )
    data.set_defaults(func=lambda args: (data.print_help(), 2)[1])
    sub = data.add_subparsers(dest="data_command", metavar="ACTION")  # same parser class
    _register_fetch(sub)
    _register_list(sub)
    _register_stats(sub)
    _register_show(sub)


def _name_args(p) -> None:
    p.add_argument(
        "name",
        metavar="NAME",
        help="mnist, fashion-mnist, cifar10, cifar100 (in --data-dir) or an image-folder path",
    )
    add_data_dir(p)
    p.add_argument(
        "--size",
        type=int,
        default=None,
        metavar="S",
        help="image folders: resize and center-crop every image to SxS",
    )


def _variant_args(p) -> None:
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    p.add_argument(
        "--always-change",
        action="store_true",
        help="draw replacement labels from the other classes only",
    )
    p.add_argument(
        "--corrupt-test",
        action="store_true",
        help="corrupt the test labels too (default: test labels stay true)",
    )


def _register_fetch(sub) -> None:
    p = sub.add_parser("fetch", help="fetch a registry dataset into the cache")
    p.add_argument("name", metavar="NAME", help="mnist or fashion-mnist")
    add_data_dir(p)
    p.add_argument(
        "--no-network",
        action="store_true",
        help="fail instead of asking the registry if not cached",
    )
    p.set_defaults(func=_fetch)


def _register_list(sub) -> None:
    p = sub.add_parser("list", help="list datasets and what the cache holds")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_data_dir(p)
    p.set_defaults(func=_list)


def _register_stats(sub) -> None:
    from .variants import VARIANTS  # noqa: PLC0415

    p = sub.add_parser("stats", help="label and pixel statistics of a randomized variant")
    _name_args(p)
    p.add_argument("--variant", required=True, choices=VARIANTS)
    p.add_argument("--p", type=float, default=0.0, help="label-corruption probability (default 0)")
    _variant_args(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_stats)


def _register_show(sub) -> None:
    from .variants import VARIANTS  # noqa: PLC0415

    p = sub.add_parser("show", help="PNG grid of samples of each variant")
    _name_args(p)
    p.add_argument(
        "--variant",
        action="append",
        choices=VARIANTS,
        default=None,
        help="a variant to show (repeatable; default: all)",
    )
    p.add_argument(
        "--p",
        type=float,
        default=None,
        help="label-corruption probability (default: 0.5 for corrupt, else 0)",
    )
    _variant_args(p)
    p.add_argument("--n", type=int, default=8, help="samples per variant (default 8)")
    p.add_argument(
        "--out", metavar="PNG", default=None, help="output file (default NAME-variants.png here)"
    )
    p.set_defaults(func=_show)


def _load(args):
    from .datasets import load  # noqa: PLC0415

    return load(args.name, args.data_dir, size=args.size)


def _fetch(args) -> int:
    from .datasets import cached  # noqa: PLC0415
    from .registry import fetch  # noqa: PLC0415

    path = fetch(args.name, args.data_dir, network=not args.no_network)
    info = cached(args.name, args.data_dir)
    print(f"{args.name}: {path} ({info['bytes']} bytes, sha256 {info['sha256']})")
    return 0


def _list(args) -> int:
    from .datasets import DATASETS, cached  # noqa: PLC0415

    rows = [cached(name, args.data_dir) for name in DATASETS]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        state = f"{r['bytes']} bytes  sha256 {r['sha256'][:16]}" if r["cached"] else "not cached"
        print(f"{r['name']:<14} {state:<50} {r['path']}")
    return 0


def _stats(args) -> int:
    from .variants import channel_stats, make_variant  # noqa: PLC0415

    ds = _load(args)
    v = make_variant(
        ds,
        args.variant,
        p=args.p,
        seed=args.seed,
        always_change=args.always_change,
        corrupt_test=args.corrupt_test,
    )
    k = v.n_classes
    expected = v.p if v.always_change else v.p * (k - 1) / k

    def stats(x):
        mean, var = channel_stats(x)
        return [round(float(m), 6) for m in mean], [round(float(s), 6) for s in var]

    src_mean, src_var = channel_stats(ds.train_images)
    train_mean, train_var = stats(v.train_images)
    test_mean, test_var = stats(v.test_images)
    out = {
        "name": v.name,
        "variant": v.variant,
        "p": v.p,
        "seed": v.seed,
        "n_classes": k,
        "n_train": int(v.train_labels.size),
        "n_test": int(v.test_labels.size),
        "image_shape": list(v.train_images.shape[1:]),
        "sha256": ds.sha256,
        "fraction_changed": float(v.changed.mean()) if v.changed.size else 0.0,
        "expected_fraction_changed": expected,
        "test_labels_corrupted": v.corrupt_test,
        "test_fraction_changed": (
            float(v.test_changed.mean())
            if v.test_changed is not None and v.test_changed.size
            else 0.0
        ),
        "train_mean": train_mean,
        "train_var": train_var,
        "test_mean": test_mean,
        "test_var": test_var,
        "source_train_mean": [round(float(m) / 255, 6) for m in src_mean],
        "source_train_var": [round(float(s) / 255**2, 6) for s in src_var],
        "shared_permutation": v.permutation is not None,
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    for key, value in out.items():
        print(f"{key:<26} {value}")
    return 0


def _show(args) -> int:
    import numpy as np  # noqa: PLC0415
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    from ..core.files import atomic_write_bytes  # noqa: PLC0415
    from .variants import VARIANTS, make_variant  # noqa: PLC0415

    if args.n < 1 or args.n > 64:
        raise ValueError(f"--n must be in 1..64, got {args.n}")
    variants = args.variant or list(VARIANTS)
    ds = _load(args)
    n = min(args.n, ds.train_images.shape[0])
    if n == 0:
        raise ValueError(f"{ds.name} has no training images to show")
    pool = ds.head(min(ds.train_images.shape[0], max(n, 4096)), 0)  # enough for Gaussian stats
    fig = Figure(figsize=(1.2 * n, 1.35 * len(variants)), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(variants), n, squeeze=False)
    for row, name in enumerate(variants):
        p = args.p if args.p is not None else (0.5 if name == "corrupt" else 0.0)
        v = make_variant(pool, name, p=p, seed=args.seed, always_change=args.always_change)
        for col in range(n):
            ax = axes[row, col]
            img = np.clip(v.train_images[col], 0, 1)
            if img.shape[0] == 1:
                ax.imshow(img[0], cmap="gray", vmin=0, vmax=1)
            else:
                ax.imshow(img[:3].transpose(1, 2, 0))
            label = int(v.train_labels[col])
            text = ds.classes[label] if ds.classes else str(label)
            ax.set_title(text, fontsize=7, color="red" if v.changed[col] else "black")
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(
                    name if p == 0 or name == "random-labels" else f"{name} p={p:g}", fontsize=7
                )
    fig.suptitle(f"{ds.name}, seed {args.seed} (red: label changed)", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    out = Path(args.out) if args.out else Path(f"{Path(str(ds.name)).name}-variants.png")
    atomic_write_bytes(out, buf.getvalue())
    print(out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run as `fe data ...`")
