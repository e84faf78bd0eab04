"""Model hyperparameters, apart from training settings (no torch import here)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "InceptionConfig",
    "AlexNetConfig",
    "MLPConfig",
    "MODEL_NAMES",
    "PAPER_PARAMS",
    "PAPER_LR",
    "TRAIN_LR",
    "model_config",
]


def _check_common(cfg):
    for field in ("in_channels", "image_size", "n_classes"):
        v = getattr(cfg, field)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{field} must be a positive int, got {v!r}")
    if cfg.n_classes < 2:
        raise ValueError(f"n_classes must be at least 2, got {cfg.n_classes}")


@dataclass(frozen=True)
class InceptionConfig:
    """Small Inception of the paper's Figure 3.

    Conv3x3(96) -> Inc(32,32) -> Inc(32,48) -> Down(80) -> Inc(112,48) -> Inc(96,64)
    -> Inc(80,80) -> Inc(48,96) -> Down(96) -> Inc(176,160) x2 -> mean pool -> FC.
    Every conv is Conv (with bias) -> [BatchNorm] -> ReLU; ``Inc(c1, c3)`` concatenates a
    1x1 conv (c1) and a 3x3 conv (c3); ``Down(c)`` a 3x3 stride-2 conv (c) and a 3x3
    stride-2 max pool. Convolutions are SAME-padded, so 28 -> 14 -> 7 and the mean pool
    is the 7x7 pool of the paper.

    ``width`` multiplies every channel count (1.0 is the paper's model; the quick
    presets use narrower ones on CPU).
    """

    in_channels: int = 3
    image_size: int = 28
    n_classes: int = 10
    batch_norm: bool = True
    width: float = 1.0
    stem: int = 96
    stages: tuple = (
        ("inc", 32, 32),
        ("inc", 32, 48),
        ("down", 80),
        ("inc", 112, 48),
        ("inc", 96, 64),
        ("inc", 80, 80),
        ("inc", 48, 96),
        ("down", 96),
        ("inc", 176, 160),
        ("inc", 176, 160),
    )

    def __post_init__(self):
        _check_common(self)
        if not (isinstance(self.width, (int, float)) and 0 < self.width <= 16):
            raise ValueError(f"width must be in (0, 16], got {self.width!r}")

    def channels(self, c: int) -> int:
        return max(1, int(round(c * self.width)))


@dataclass(frozen=True)
class AlexNetConfig:
    """Small AlexNet: two blocks of conv 5x5 (SAME, ReLU) -> max pool 3x3 stride 2 ->
    local response norm, then fully connected layers with ReLU, then the classifier.
    With 64-channel convs on 28x28 inputs: 28 -> 14 -> 7, 3136 -> 384 -> 192 -> 10."""

    in_channels: int = 3
    image_size: int = 28
    n_classes: int = 10
    channels: tuple = (64, 64)
    hidden: tuple = (384, 192)
    lrn: bool = True
    # TF's local_response_normalization(depth_radius=4, bias=1, alpha=0.001/9, beta=0.75)
    # as in the TF CIFAR-10 tutorial; torch's alpha is divided by the window size.
    lrn_size: int = 9
    lrn_alpha: float = 0.001
    lrn_beta: float = 0.75
    lrn_k: float = 1.0

    def __post_init__(self):
        _check_common(self)


@dataclass(frozen=True)
class MLPConfig:
    """Multilayer perceptron on flattened images: ``hidden`` ReLU layers, then the classifier."""

    in_channels: int = 3
    image_size: int = 28
    n_classes: int = 10
    hidden: tuple = (512,)

    def __post_init__(self):
        _check_common(self)
        if not self.hidden or any((not isinstance(h, int)) or h < 1 for h in self.hidden):
            raise ValueError(
                f"hidden must be a non-empty tuple of positive ints, got {self.hidden!r}"
            )


MODEL_NAMES = ("inception", "inception-nobn", "alexnet", "mlp1x512", "mlp3x512")

#: Parameter counts of Table 1 (28x28x3 inputs, 10 classes).
PAPER_PARAMS = {
    "inception": 1_649_402,
    "inception-nobn": 1_649_402,
    "alexnet": 1_387_786,
    "mlp1x512": 1_209_866,
    "mlp3x512": 1_735_178,
}

#: Initial learning rates of Appendix A.
PAPER_LR = {
    "inception": 0.1,
    "inception-nobn": 0.1,
    "alexnet": 0.01,
    "mlp1x512": 0.01,
    "mlp3x512": 0.01,
}

#: The learning rates this package trains with: Appendix A's, but Inception without
#: BatchNorm at 0.01 (at 0.1 it died or diverged in every trial; presets.DEVIATIONS).
TRAIN_LR = {**PAPER_LR, "inception-nobn": 0.01}


def model_config(
    name: str, *, in_channels: int = 3, image_size: int = 28, n_classes: int = 10, **overrides
):
    """The paper's model ``name`` for the given input shape; ``overrides`` change any
    other field of its config (e.g. ``width=0.25`` for a narrow Inception)."""
    common = dict(in_channels=in_channels, image_size=image_size, n_classes=n_classes)
    try:
        kind, fixed = {
            "inception": (InceptionConfig, {"batch_norm": True}),
            "inception-nobn": (InceptionConfig, {"batch_norm": False}),
            "alexnet": (AlexNetConfig, {}),
            "mlp1x512": (MLPConfig, {"hidden": (512,)}),
            "mlp3x512": (MLPConfig, {"hidden": (512, 512, 512)}),
        }[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}"
        ) from None
    try:
        return kind(**{**common, **fixed, **overrides})
    except TypeError as exc:
        raise ValueError(f"bad override for model {name!r}: {exc}") from None
