"""Figures laid out like the paper's, from run records (PNG and PDF, written atomically)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..core.files import atomic_write_figure
from .presets import FIG1A_VARIANTS, MODEL_LABELS, TABLE1_COLUMNS, TABLE1_PAPER, VARIANT_LABELS

__all__ = ["fig1a", "fig1bc", "table1", "fig2b", "relative_steps"]

_COLORS = {
    "true": "tab:blue",
    "random-labels": "tab:red",
    "shuffled-pixels": "tab:green",
    "random-pixels": "tab:purple",
    "gaussian": "tab:orange",
    "inception": "tab:blue",
    "alexnet": "tab:green",
    "mlp1x512": "tab:red",
    "inception-nobn": "tab:orange",
}


def _figure(*size):
    from matplotlib.figure import Figure  # no pyplot: no global figure state

    return Figure(figsize=size, layout="constrained")


def _subtitle(records):
    r = records[0]
    sizes = {}
    for x in records:
        sizes.setdefault(x["n_train"], []).append(MODEL_LABELS.get(x["model"], x["model"]))
    if None in sizes or not sizes:
        return r["dataset"]
    if len(sizes) == 1:
        return f"{r['dataset']}, first {r['n_train']} train images"
    parts = [f"{', '.join(dict.fromkeys(m))}: {n}" for n, m in sizes.items()]
    return f"{r['dataset']}, train images: " + "; ".join(parts)


def fig1a(records, out) -> list:
    """Training loss vs thousand steps, one curve per data variant (seeds overlaid)."""
    fig = _figure(5.2, 4.0)
    ax = fig.add_subplot()
    seen = set()
    for v in FIG1A_VARIANTS:
        for r in (r for r in records if r["variant"] == v):
            h = r["history"]
            if not h:
                continue
            steps = np.array([e["step"] for e in h]) / 1000
            ax.plot(
                steps,
                [e["loss"] for e in h],
                color=_COLORS[v],
                lw=1.5,
                label=None if v in seen else VARIANT_LABELS[v],
            )
            seen.add(v)
            if r["steps_to_fit"] is not None:
                ax.axvline(r["steps_to_fit"] / 1000, color=_COLORS[v], lw=0.6, ls=":")
    ax.set_xlabel("thousand steps")
    ax.set_ylabel("average loss")
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    ax.legend(frameon=False)
    ax.set_title(
        f"(a) learning curves, {MODEL_LABELS[records[0]['model']]}\n{_subtitle(records)}",
        fontsize=9,
    )
    return atomic_write_figure(fig, out, "fig1a")


def _seeds(r) -> tuple:
    """The seeds that pair a run with its p = 0 twin."""
    return r["data_seed"], r["init_seed"], r["batch_seed"]


def relative_steps(records) -> dict:
    """``{(model, p): [steps_to_fit(p) / steps_to_fit(0) for each seed]}`` (None if unfitted)."""
    base = {(r["model"], *_seeds(r)): r["steps_to_fit"] for r in records if r["p"] == 0}
    out = defaultdict(list)
    for r in records:
        b, s = base.get((r["model"], *_seeds(r))), r["steps_to_fit"]
        out[(r["model"], r["p"])].append(None if (b is None or s is None) else s / b)
    return dict(out)


def _mean(values):
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else float("nan")


def fig1bc(records, out) -> list:
    """(b) steps to fit relative to true labels and (c) test error, vs label corruption."""
    fig = _figure(9.0, 3.8)
    ax_b, ax_c = fig.subplots(1, 2)
    rel = relative_steps(records)
    models = list(dict.fromkeys(r["model"] for r in records))
    for m, marker in zip(models, "osd^v"):
        ps = sorted({r["p"] for r in records if r["model"] == m})
        ax_b.plot(
            ps,
            [_mean(rel[(m, p)]) for p in ps],
            marker=marker,
            color=_COLORS.get(m),
            label=MODEL_LABELS[m],
        )
        err = [
            _mean([1 - r["test_accuracy"] for r in records if r["model"] == m and r["p"] == p])
            for p in ps
        ]
        ax_c.plot(ps, err, marker=marker, color=_COLORS.get(m), label=MODEL_LABELS[m])
    ax_b.set_xlabel("label corruption")
    ax_b.set_ylabel("time to overfit (relative)")
    ax_b.set_title("(b) convergence slowdown", fontsize=9)
    ax_c.set_xlabel("label corruption")
    ax_c.set_ylabel("test error")
    ax_c.set_ylim(0, 1)
    ax_c.set_title("(c) generalization error growth", fontsize=9)
    ax_b.legend(frameon=False)
    fig.suptitle(_subtitle(records), fontsize=9)
    return atomic_write_figure(fig, out, "fig1bc")


def _cell(records, model, col):
    rs = [r for r in records if r["model"] == model and r["column"] == col]
    if not rs:
        return None
    return (
        100 * _mean([r["final_train_accuracy"] for r in rs]),
        100 * _mean([r["test_accuracy"] for r in rs]),
    )


def table1(records, out) -> list:
    """Table 1 as a figure: ours (train/test %) above the paper's CIFAR-10 numbers."""
    models = list(TABLE1_PAPER)
    rows, labels = [], []
    for m in models:
        row = []
        for col in TABLE1_COLUMNS:
            ours, paper = _cell(records, m, col), TABLE1_PAPER[m].get(col)
            if ours is None and paper is None:
                row.append("-")
                continue
            a = "-" if ours is None else f"{ours[0]:.2f} / {ours[1]:.2f}"
            b = "-" if paper is None else f"{paper[0]:.2f} / {paper[1]:.2f}"
            row.append(f"{a}\n({b})")
        params = next((r["params"] for r in records if r["model"] == m), None)
        rows.append(row)
        labels.append(f"{MODEL_LABELS[m]}\n({params:,} params)" if params else MODEL_LABELS[m])
    fig = _figure(11.0, 4.2)
    ax = fig.add_subplot()
    ax.axis("off")
    table = ax.table(
        cellText=rows,
        rowLabels=labels,
        colLabels=list(TABLE1_COLUMNS),
        loc="center",
        cellLoc="center",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1, 3.0)
    ax.set_title(
        f"Table 1: train / test accuracy (%). Ours: {_subtitle(records)}; "
        f"in parentheses: the paper's, CIFAR-10",
        fontsize=9,
    )
    return atomic_write_figure(fig, out, "table1")


def fig2b(records, out) -> list:
    """Training (running) and test accuracy vs thousand steps, with and without BatchNorm."""
    fig = _figure(5.2, 4.0)
    ax = fig.add_subplot()
    seen = set()
    for r in records:
        m, log = r["model"], r["epoch_log"]
        steps = np.array([e["step"] for e in log]) / 1000
        first = m not in seen
        seen.add(m)
        ax.plot(
            steps,
            [e["running_accuracy"] for e in log],
            color=_COLORS[m],
            label=f"{MODEL_LABELS[m]} (train)" if first else None,
        )
        test = [
            (e["step"] / 1000, e["test_accuracy"]) for e in log if e["test_accuracy"] is not None
        ]
        if test:
            ax.plot(
                *zip(*test),
                color=_COLORS[m],
                ls="--",
                label=f"{MODEL_LABELS[m]} (test)" if first else None,
            )
    ax.set_xlabel("thousand steps")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.legend(frameon=False, loc="lower right")
    ax.set_title(f"(b) Inception w/ and w/o BatchNorm\n{_subtitle(records)}", fontsize=9)
    return atomic_write_figure(fig, out, "fig2b")
