"""torch modules behind the model configs (imported lazily by ``build_model``)."""

from __future__ import annotations

import math

import torch
from torch import nn


class ConvModule(nn.Module):
    """Conv (with bias) -> [BatchNorm] -> ReLU, SAME padding."""

    def __init__(self, cin, cout, kernel, stride=1, batch_norm=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=True)
        self.bn = nn.BatchNorm2d(cout) if batch_norm else nn.Identity()

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    def __init__(self, cin, c1, c3, batch_norm):
        super().__init__()
        self.b1 = ConvModule(cin, c1, 1, batch_norm=batch_norm)
        self.b3 = ConvModule(cin, c3, 3, batch_norm=batch_norm)
        self.out_channels = c1 + c3

    def forward(self, x):
        return torch.cat([self.b1(x), self.b3(x)], dim=1)


class Downsample(nn.Module):
    def __init__(self, cin, c, batch_norm):
        super().__init__()
        self.conv = ConvModule(cin, c, 3, stride=2, batch_norm=batch_norm)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.out_channels = c + cin

    def forward(self, x):
        return torch.cat([self.conv(x), self.pool(x)], dim=1)


class SmallInception(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch = cfg.channels
        layers = [ConvModule(cfg.in_channels, ch(cfg.stem), 3, batch_norm=cfg.batch_norm)]
        c = ch(cfg.stem)
        for stage in cfg.stages:
            if stage[0] == "inc":
                block = Inception(c, ch(stage[1]), ch(stage[2]), cfg.batch_norm)
            elif stage[0] == "down":
                block = Downsample(c, ch(stage[1]), cfg.batch_norm)
            else:
                raise ValueError(
                    f"unknown Inception stage {stage!r}; expected ('inc', c1, c3) or ('down', c)"
                )
            layers.append(block)
            c = block.out_channels
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c, cfg.n_classes)

    def forward(self, x):
        # the 7x7 mean pool on 28x28 inputs; a mean, not AdaptiveAvgPool2d, whose CUDA
        # backward is nondeterministic
        return self.fc(self.features(x).mean(dim=(2, 3)))


class LocalResponseNorm(nn.Module):
    """``x / (k + alpha * mean of x**2 over a window of size channels) ** beta``.

    The same function as ``torch.nn.LocalResponseNorm`` (zero-padded window, divided by
    ``size``), written as a sum of shifted slices: torch's uses ``avg_pool3d``, whose
    CUDA backward is nondeterministic (and slow on CPUs).
    """

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        c = x.shape[1]
        sq = torch.nn.functional.pad(x * x, (0, 0, 0, 0, self.size // 2, (self.size - 1) // 2))
        window = sq[:, 0:c]
        for i in range(1, self.size):
            window = window + sq[:, i : i + c]
        return x / (self.k + (self.alpha / self.size) * window) ** self.beta

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class AlexNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        layers, c, size = [], cfg.in_channels, cfg.image_size
        for cout in cfg.channels:
            layers += [
                nn.Conv2d(c, cout, 5, padding=2),
                nn.ReLU(),
                nn.MaxPool2d(3, stride=2, padding=1),
            ]
            if cfg.lrn:
                layers.append(
                    LocalResponseNorm(
                        cfg.lrn_size, alpha=cfg.lrn_alpha, beta=cfg.lrn_beta, k=cfg.lrn_k
                    )
                )
            c, size = cout, (size - 1) // 2 + 1
        self.features = nn.Sequential(*layers)
        dims = [c * size * size, *cfg.hidden]
        fc = []
        for a, b in zip(dims[:-1], dims[1:]):
            fc += [nn.Linear(a, b), nn.ReLU()]
        self.hidden = nn.Sequential(*fc)
        self.fc = nn.Linear(dims[-1], cfg.n_classes)

    def forward(self, x):
        return self.fc(self.hidden(torch.flatten(self.features(x), 1)))


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        dims = [cfg.in_channels * cfg.image_size**2, *cfg.hidden]
        layers = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.hidden = nn.Sequential(*layers)
        self.fc = nn.Linear(dims[-1], cfg.n_classes)

    def forward(self, x):
        return self.fc(self.hidden(torch.flatten(x, 1)))


@torch.no_grad()
def init_weights(model: nn.Module, generator: torch.Generator) -> None:
    """He-normal (fan-in, ReLU gain) weights for every layer followed by a ReLU,
    LeCun-normal for the classifier, zero biases; BatchNorm starts at (1, 0).
    Drawn from ``generator`` in module order, so a seed fixes the whole network."""
    last = model.fc
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            fan_in = module.weight[0].numel()
            gain = 1.0 if module is last else math.sqrt(2.0)
            module.weight.normal_(0.0, gain / math.sqrt(fan_in), generator=generator)
            if module.bias is not None:
                module.bias.zero_()
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_parameters()
