"""The ``theorem1`` artifact: Theorem 1 certified on real data, one row per dataset.

``fe run theorem1 --preset paper`` makes the README's table: MNIST and Fashion-MNIST
(60,000 images each, random labels), a million Gaussian points in 32 dimensions, and the
depth-4 network on MNIST; ``--preset quick`` runs the same rows on 10,000 images and
100,000 points. Each row is one ``fe theorem`` job (:func:`.theorem_job.run_theorem`).
"""

from __future__ import annotations

from ..core.artifact import Artifact, Run
from ..core.files import atomic_write_figure

__all__ = ["ARTIFACTS", "certify_row", "ROWS"]

#: row name -> (dataset, n for the paper preset, n for the quick preset, d (Gaussian), depth)
ROWS = {
    "mnist": ("mnist", None, 10_000, None, 2),
    "fashion-mnist": ("fashion-mnist", None, 10_000, None, 2),
    "gaussian": ("gaussian", 1_000_000, 100_000, 32, 2),
    "mnist-depth4": ("mnist", None, 10_000, None, 4),
}
PAPER_CLAIM = (
    "Theorem 1 (paper): there exists a two-layer neural network with ReLU activations "
    "and 2n + d weights that can represent any function on a sample of size n in d "
    "dimensions."
)
CSV_FIELDS = (
    "row",
    "dataset",
    "labels",
    "seed",
    "n",
    "d",
    "depth",
    "n_params",
    "train_accuracy",
    "float64_accuracy",
    "float64_points",
    "max_residual_exact",
    "max_residual_float64",
    "tol",
    "certified",
    "digits_needed",
    "seconds_construct",
    "seconds_floor",
    "construct_over_floor",
    "seconds_certify",
    "timing_runs",
)


def _runs(preset: str, seeds=None) -> list:
    seeds = (0,) if seeds is None else tuple(seeds)
    if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be non-negative ints, got {list(seeds)!r}")
    runs = []
    for seed in seeds:
        for row, (dataset, n_paper, n_quick, d, depth) in ROWS.items():
            spec = {
                "row": row,
                "dataset": dataset,
                "n": n_paper if preset == "paper" else n_quick,
                "d": d,
                "depth": depth,
                "labels": "random",
                "seed": seed,
            }
            runs.append(
                Run(
                    name=f"{row}_s{seed}",
                    fn=certify_row,
                    spec=spec,
                    label=f"theorem1 {row} seed {seed}",
                )
            )
    return runs


def certify_row(spec: dict, ctx) -> dict:
    """One row: fit, float64 forward, exact certificate (:func:`.run_theorem`)."""
    from .theorem_job import run_theorem, theorem_data

    X, y, meta = theorem_data(
        spec["dataset"],
        n=spec["n"],
        d=spec["d"] or 32,
        labels=spec["labels"],
        seed=spec["seed"],
        data_dir=ctx.data_dir,
    )
    rep = run_theorem(
        X, y, seed=spec["seed"], progress=ctx.progress, meta=meta, depth=spec["depth"]
    )
    flat = {f"seconds_{k}": v for k, v in rep["seconds"].items()}
    return {"row": spec["row"], "depth": spec["depth"], **rep, **flat}


def figure(records, out) -> list:
    """(a) the largest residual, exact and float64, against the tolerance; (b) the time to
    construct the network over the floor (one projection and one sort)."""
    import numpy as np
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, 3.6), layout="constrained")
    ax_a, ax_b = fig.subplots(1, 2)
    names = [f"{r['row']}\nn={r['n']:,}" for r in records]
    x = np.arange(len(records))
    ax_a.bar(x - 0.2, [r["max_residual_exact"] for r in records], 0.4, label="exact (certificate)")
    ax_a.bar(x + 0.2, [r["max_residual_float64"] for r in records], 0.4, label="float64 forward")
    ax_a.scatter(x, [r["tol"] for r in records], marker="_", s=400, color="k", label="tolerance")
    ax_a.set_yscale("log")
    ax_a.set_xticks(x, names, fontsize=7)
    ax_a.set_ylabel("largest |c(x_i) - y_i|")
    ax_a.legend(fontsize=7, frameon=False)
    ax_a.set_title("(a) residuals of the stored float64 network", fontsize=9)
    ax_b.bar(x, [r["construct_over_floor"] for r in records])
    ax_b.set_xticks(x, names, fontsize=7)
    ax_b.set_ylabel("construction time / floor")
    ax_b.set_title("(b) fit time over one projection + one sort", fontsize=9)
    fig.suptitle("Theorem 1: 2n + d weights fit every label (random labels)", fontsize=9)
    return atomic_write_figure(fig, out, "theorem1")


def report(records) -> str:
    """The README's Theorem 1 table, with the paper's claim above it."""
    head = (
        "data",
        "n",
        "d",
        "parameters (2n+d)",
        "exact accuracy",
        "float64 accuracy (points)",
        "max residual exact / float64",
        "certified (tol)",
        "construct / floor s",
    )
    rows = []
    for r in records:
        two_nd = 2 * r["n"] + r["d"]
        params = f"{r['n_params']:,}" + (
            "" if r["depth"] != 2 else " (= 2n+d)" if r["n_params"] == two_nd else " (!= 2n+d)"
        )
        rows.append(
            (
                f"{r['row']} (seed {r['seed']})",
                f"{r['n']:,}",
                str(r["d"]),
                params,
                f"{100 * r['train_accuracy']:.2f}%",
                f"{100 * r['float64_accuracy']:.2f}% ({r['float64_points']:,})",
                f"{r['max_residual_exact']:.1e} / {r['max_residual_float64']:.1e}",
                f"{'yes' if r['certified'] else 'NO'} ({r['tol']:.0e})",
                f"{r['seconds_construct']:.2f} / {r['seconds_floor']:.3f}",
            )
        )
    widths = [max(len(c) for c in col) for col in zip(head, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*head).rstrip(), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*row).rstrip() for row in rows]
    ok = all(r["certified"] for r in records)
    worst = max(r["max_residual_exact"] for r in records)
    return "\n".join(
        [
            PAPER_CLAIM,
            f"Ours: every row {'is' if ok else 'is NOT'} certified: the stored float64 network, "
            f"evaluated in exact rational arithmetic, is within the tolerance of every random label "
            f"(largest exact residual {worst:.1e}).",
            "",
            *lines,
            "",
            "exact: the stored float64 network evaluated in rational arithmetic at every point; "
            "float64: the plain forward pass relu(X a - b) w (on a seeded sample where n^2 > 4e9). "
            "Depth 4: the network of proofs/depth_k.md, which computes the same function.",
        ]
    )


ARTIFACTS = (
    Artifact(
        name="theorem1",
        part="theorem1",
        title="Theorem 1: the 2n+d network certified on real data",
        runs=_runs,
        figure=figure,
        report=report,
        csv_fields=CSV_FIELDS,
        seeds={"quick": (0,), "paper": (0,)},
    ),
)
