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
                raise ValueError(f"unknown Inception stage {stage!r}; expected ('inc', c1, c3) or ('down', c)")
            layers.append(block)
            c = block.out_channels
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)  # the 7x7 mean pool on 28x28 inputs
        self.fc = nn.Linear(c, cfg.n_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


class AlexNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        layers, c, size = [], cfg.in_channels, cfg.image_size
        for cout in cfg.channels:
            layers += [nn.Conv2d(c, cout, 5, padding=2), nn.ReLU(),
                       nn.MaxPool2d(3, stride=2, padding=1)]
            if cfg.lrn:
                layers.append(nn.LocalResponseNorm(cfg.lrn_size, alpha=cfg.lrn_alpha,
                                                   beta=cfg.lrn_beta, k=cfg.lrn_k))
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
        dims = [cfg.in_channels * cfg.image_size ** 2, *cfg.hidden]
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
