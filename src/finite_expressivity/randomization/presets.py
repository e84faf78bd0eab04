"""The paper's randomization artifacts: which runs make each one, in two presets.

``paper``: the paper's models and schedule on CIFAR-10 (from the user's disk), meant
for a GPU. ``quick``: the same phenomena on a 2-core CPU in minutes, on the first
500 to 4,000 MNIST / Fashion-MNIST training images (test sets of 2,000 to 10,000),
28x28x1 inputs, with the exact MLPs and narrower conv nets (Inception at 1/8 or 1/4
of the paper's channels, AlexNet with 32-channel convs); its learning rate decays by
0.95 every 391 steps (a CIFAR-10 epoch), since epochs of 4-32 steps would decay it to
nothing. Each preset function's docstring says what it runs.

Deviations from Appendix A, in both presets, are listed in :data:`DEVIATIONS`.
"""

from __future__ import annotations

from .models import TRAIN_LR
from .specs import RunSpec
from .training import TrainConfig

__all__ = [
    "NAMES",
    "specs",
    "default_seeds",
    "title",
    "PRESETS",
    "DEVIATIONS",
    "FIG1A_VARIANTS",
    "P_GRID",
    "TABLE1_COLUMNS",
    "TABLE1_PAPER",
    "WEIGHT_DECAY",
]

PRESETS = ("quick", "paper")
FIG1A_VARIANTS = ("true", "random-labels", "shuffled-pixels", "random-pixels", "gaussian")
VARIANT_LABELS = {
    "true": "true labels",
    "random-labels": "random labels",
    "shuffled-pixels": "shuffled pixels",
    "random-pixels": "random pixels",
    "gaussian": "gaussian",
}
P_GRID = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
MODEL_LABELS = {
    "inception": "Inception",
    "inception-nobn": "Inception w/o BatchNorm",
    "alexnet": "AlexNet",
    "mlp1x512": "MLP 1x512",
    "mlp3x512": "MLP 3x512",
}

#: Weight decay of Table 1's "wd" columns. The paper does not state its coefficient.
WEIGHT_DECAY = 5e-4

DEVIATIONS = (
    "Inception without BatchNorm is trained at lr 0.01: at the paper's 0.1 (also 0.05, "
    "and 0.1 after a 200-step warm-up) it died (constant output) or diverged in every "
    "quick-preset trial, for He, Glorot and zero-classifier initializations. At 0.01 it "
    "fits slowly: the quick Table 1 stops it at 1,000 steps.",
    f"Table 1's weight-decay coefficient is not stated in the paper; {WEIGHT_DECAY:g} is used.",
    "Training accuracy is measured on the whole training set in eval mode after each "
    "epoch whose running accuracy reached 99%; 'steps to fit' is the step count then.",
    "Random crops: a random 28x28 window of the 32x32 image, whitened after cropping as "
    "the test set's center crops are (CIFAR-10), or of the whitened 28x28 image "
    "zero-padded by 4 (MNIST, Fashion-MNIST); evaluation uses the center crop.",
)

# Table 1 (CIFAR-10), train / test accuracy in %.
TABLE1_COLUMNS = ("crop+wd", "crop", "wd", "none", "random labels")
TABLE1_PAPER = {
    "inception": {
        "crop+wd": (100.0, 89.05),
        "crop": (100.0, 89.31),
        "wd": (100.0, 86.03),
        "none": (100.0, 85.75),
        "random labels": (100.0, 9.78),
    },
    "inception-nobn": {
        "wd": (100.0, 83.00),
        "none": (100.0, 82.00),
        "random labels": (100.0, 10.12),
    },
    "alexnet": {
        "crop+wd": (99.90, 81.22),
        "crop": (99.82, 79.66),
        "wd": (100.0, 77.36),
        "none": (100.0, 76.07),
        "random labels": (99.82, 9.86),
    },
    "mlp3x512": {"wd": (100.0, 53.35), "none": (100.0, 52.39), "random labels": (100.0, 10.48)},
    "mlp1x512": {"wd": (99.80, 50.39), "none": (100.0, 50.51), "random labels": (99.34, 10.61)},
}
# ---- per-preset model choices -------------------------------------------------------

_QUICK_MODELS = {
    "inception": (("width", 0.125),),
    "inception-nobn": (("width", 0.125),),
    "alexnet": (("channels", (32, 32)),),
    "mlp1x512": (),
    "mlp3x512": (),
}
#: Quick presets decay the learning rate x0.95 every 391 steps, the length of a CIFAR-10
#: epoch at batch 128: the paper's schedule in steps (their epochs of 4-8 steps would
#: decay it to nothing).
QUICK_DECAY_EVERY = 391


def _data(preset, dataset="mnist", n_train=1000, n_test=10_000):
    if preset == "paper":
        return {"dataset": "cifar10", "n_train": None, "n_test": None}
    return {"dataset": dataset, "n_train": n_train, "n_test": n_test}


def _train(preset, model, **kw) -> TrainConfig:
    if preset == "paper":
        base = dict(lr=TRAIN_LR[model], log_every=50, eval_every=1, max_steps=60_000)
    else:
        base = dict(
            lr=TRAIN_LR[model],
            decay_every=QUICK_DECAY_EVERY,
            log_every=4,
            eval_every=0,
            max_steps=4_000,
        )
    return TrainConfig(**{**base, **kw})


def _overrides(preset, model, quick=None):
    if preset == "paper":
        return ()
    return _QUICK_MODELS[model] if quick is None else quick


def _fig1a(preset):
    """Inception (quick: 1/4 width) on the five variants; quick: 1,000 MNIST images."""
    model = "inception"
    over = _overrides(preset, model, (("width", 0.25),))
    kw = dict(max_steps=25_000, stop_at_fit=False) if preset == "paper" else dict(max_steps=3_000)
    return [
        RunSpec(
            model=model,
            variant=v,
            p=1.0 if v == "random-labels" else 0.0,
            model_overrides=over,
            train=_train(preset, model, **kw),
            label=VARIANT_LABELS[v],
            **_data(preset),
        )
        for v in FIG1A_VARIANTS
    ]


def _fig1bc(preset):
    """Inception, AlexNet, MLP 1x512 at each p. Quick: Fashion-MNIST, 500 images for the
    conv nets, 4,000 for the MLP (step budget 12,000), three seeds. On MNIST (and on 500 images for the MLP)
    the time to fit jumps from p = 0 to p = 0.2 and then stays flat: clean MNIST labels
    are learned at once and the noisy ones are memorized in parallel. On the harder
    Fashion-MNIST, as on CIFAR-10, it keeps growing with p."""
    specs = []
    for model in ("inception", "alexnet", "mlp1x512"):
        n = 4000 if model == "mlp1x512" else 500
        # the MLP needs ~4,000 steps at p = 1 on 4,000 images: room to fit, not a cut-off
        budget = {"max_steps": 12_000} if preset == "quick" and model == "mlp1x512" else {}
        for p in P_GRID:
            specs.append(
                RunSpec(
                    model=model,
                    variant="corrupt",
                    p=p,
                    model_overrides=_overrides(preset, model),
                    train=_train(preset, model, **budget),
                    label=MODEL_LABELS[model],
                    **_data(preset, "fashion-mnist", n_train=n),
                )
            )
    return specs


def _table1(preset):
    """Table 1's grid. Quick: 500 Fashion-MNIST images; step budgets where fitting is slow
    (random crops: 150 steps; Inception w/o BatchNorm: 1,000)."""
    specs = []
    cols = {
        "crop+wd": dict(random_crop=True, weight_decay=WEIGHT_DECAY),
        "crop": dict(random_crop=True),
        "wd": dict(weight_decay=WEIGHT_DECAY),
        "none": {},
        "random labels": {},
    }
    for model, paper in TABLE1_PAPER.items():
        for col in TABLE1_COLUMNS:
            if col not in paper:
                continue
            kw = dict(cols[col])
            if preset == "quick" and kw.get("random_crop"):
                kw["max_steps"] = 150  # augmented data is rarely fitted exactly: a budget
            if preset == "quick" and model == "inception-nobn":
                kw["max_steps"] = 1_000
            variant = "random-labels" if col == "random labels" else "true"
            specs.append(
                RunSpec(
                    model=model,
                    variant=variant,
                    p=1.0 if variant != "true" else 0.0,
                    model_overrides=_overrides(preset, model),
                    train=_train(preset, model, **kw),
                    label=MODEL_LABELS[model],
                    column=col,
                    **_data(preset, "fashion-mnist", n_train=500),
                )
            )
    return specs


def _fig2b(preset):
    """Inception with and without BatchNorm on true labels, a fixed number of steps, test
    accuracy along the way. Quick: 1,000 Fashion-MNIST images, 1,000 steps."""
    specs = []
    for model in ("inception", "inception-nobn"):
        if preset == "paper":
            kw = dict(max_steps=20_000, stop_at_fit=False, eval_every=1)
        else:
            kw = dict(max_steps=1_000, stop_at_fit=False, eval_every=4, log_every=8)
        specs.append(
            RunSpec(
                model=model,
                model_overrides=_overrides(preset, model),
                train=_train(preset, model, **kw),
                label=MODEL_LABELS[model],
                **_data(preset, "fashion-mnist", n_train=1000, n_test=2000),
            )
        )
    return specs


#: name -> (title, spec builder, default seeds per preset (else (0,)))
_BUILDERS = {
    "fig1a": ("Figure 1a: learning curves under randomization", _fig1a, {}),
    "fig1bc": (
        "Figure 1b-c: convergence time and test error vs label corruption",
        _fig1bc,
        {"quick": (0, 1, 2)},
    ),
    "table1": ("Table 1: train/test accuracy with and without regularizers", _table1, {}),
    "fig2b": ("Figure 2b: Inception with and without BatchNorm", _fig2b, {}),
}
NAMES = tuple(_BUILDERS)


def title(name: str) -> str:
    return _builder(name)[0]


def default_seeds(name: str, preset: str) -> tuple:
    """The seeds a preset runs when none are given."""
    return _builder(name)[2].get(preset, (0,))


def _builder(name):
    try:
        return _BUILDERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown artifact {name!r}; choose one of {', '.join(NAMES)}") from None


def specs(name: str, preset: str, seeds=None) -> list:
    """The :class:`RunSpec` s of artifact ``name`` in ``preset``, once per seed.

    Parameters
    ----------
    name : {"fig1a", "fig1bc", "table1", "fig2b"}
    preset : {"quick", "paper"}
    seeds : sequence of int, optional
        Each sets the data, initialization and batch-order seeds of one set of runs;
        default: the preset's (``(0, 1, 2)`` for fig1bc quick, else ``(0,)``).
    """
    build = _builder(name)[1]
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    seeds = list(default_seeds(name, preset) if seeds is None else seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be non-negative ints, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds!r}")
    return [spec.with_seed(s) for s in seeds for spec in build(preset)]
