"""The paper's CIFAR-10 models: small Inception (with and without BatchNorm), small
AlexNet, and the MLPs with one and three hidden layers of 512 units.

Model hyperparameters live in frozen dataclasses (:class:`InceptionConfig`,
:class:`AlexNetConfig`, :class:`MLPConfig`), apart from training settings;
:func:`model_config` names them the way the paper does and :func:`build_model`
turns one into an initialised ``torch.nn.Module`` from a seed, without touching
torch's global random state::

    from finite_expressivity.randomization.models import model_config, build_model, count_parameters
    cfg = model_config("inception")            # 28x28x3 inputs, 10 classes
    net = build_model(cfg, seed=0)
    count_parameters(net)                      # 1649402, as in Table 1

:func:`count_parameters` follows the paper's convention: every weight and bias of
the convolutions and fully connected layers, no BatchNorm parameters.
"""

from __future__ import annotations

from dataclasses import asdict

from .configs import (
    MODEL_NAMES,
    PAPER_LR,
    PAPER_PARAMS,
    TRAIN_LR,
    AlexNetConfig,
    InceptionConfig,
    MLPConfig,
    model_config,
)

__all__ = [
    "InceptionConfig",
    "AlexNetConfig",
    "MLPConfig",
    "MODEL_NAMES",
    "PAPER_PARAMS",
    "PAPER_LR",
    "TRAIN_LR",
    "model_config",
    "build_model",
    "count_parameters",
    "describe_models",
    "config_to_dict",
    "config_from_dict",
]


def build_model(config, *, seed: int = 0):
    """Build and initialise the model described by ``config``.

    Parameters
    ----------
    config : InceptionConfig, AlexNetConfig or MLPConfig
    seed : int
        Seed of the ``torch.Generator`` that draws the initial weights. The global
        torch random state is neither read nor changed.

    Returns
    -------
    torch.nn.Module
        Maps float32 images ``(B, C, H, W)`` to logits ``(B, n_classes)``.
    """
    import torch

    from .nets import MLP, AlexNet, SmallInception, init_weights

    builders = {InceptionConfig: SmallInception, AlexNetConfig: AlexNet, MLPConfig: MLP}
    if type(config) not in builders:
        raise TypeError(
            f"config must be one of {[c.__name__ for c in builders]}, "
            f"got {type(config).__name__}; make one with model_config(name)"
        )
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    with torch.random.fork_rng(devices=[]):  # construction draws default inits; leave no trace
        model = builders[type(config)](config)
    init_weights(model, torch.Generator().manual_seed(seed))
    return model


def count_parameters(model) -> int:
    """Trainable parameters the way the paper counts them: conv and linear weights and
    biases, BatchNorm parameters excluded."""
    import torch

    total = 0
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            continue
        total += sum(p.numel() for p in module.parameters(recurse=False) if p.requires_grad)
    return total


def config_to_dict(config) -> dict:
    """A JSON-able description ``{"kind": ..., **fields}`` (inverse: :func:`config_from_dict`)."""
    d = asdict(config)
    return {
        "kind": type(config).__name__,
        **{k: list(v) if isinstance(v, tuple) else v for k, v in d.items()},
    }


def config_from_dict(d: dict):
    kinds = {c.__name__: c for c in (InceptionConfig, AlexNetConfig, MLPConfig)}
    d = dict(d)
    kind = d.pop("kind", None)
    if kind not in kinds:
        raise ValueError(f"model config kind must be one of {sorted(kinds)}, got {kind!r}")
    return kinds[kind](**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def describe_models(in_channels=(3, 1)) -> list[dict]:
    """Every named model with its parameter count for each input channel count."""
    rows = []
    for name in MODEL_NAMES:
        for c in in_channels:
            cfg = model_config(name, in_channels=c)
            rows.append(
                {
                    "model": name,
                    "input": f"28x28x{c}",
                    "params": count_parameters(build_model(cfg, seed=0)),
                    "paper_params": PAPER_PARAMS[name] if c == 3 else None,
                    "paper_lr": PAPER_LR[name],
                    "train_lr": TRAIN_LR[name],
                    "config": config_to_dict(cfg),
                }
            )
    return rows
