"""Depthwise-separable CNN for keyword spotting (after Zhang et al., "Hello Edge", 2017)."""

from __future__ import annotations

import torch
from torch import nn


def conv_bn(cin: int, cout: int, kernel, stride=1, groups: int = 1) -> nn.Sequential:
    padding = tuple(k // 2 for k in kernel) if isinstance(kernel, tuple) else kernel // 2
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, padding, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class DSCNN(nn.Module):
    """(batch, 1, n_mels, frames) -> (batch, n_classes) logits.

    A strided stem conv, then `blocks` x (depthwise 3x3 + pointwise 1x1), global average
    pooling, dropout and a linear classifier.
    """

    def __init__(
        self,
        n_classes: int,
        in_channels: int,
        width: int,
        blocks: int,
        dropout: float,
    ) -> None:
        super().__init__()
        layers = [conv_bn(in_channels, width, (5, 5), stride=(2, 2))]
        for i in range(blocks):
            stride = 2 if i == 1 else 1  # one more halving keeps CPU training fast
            layers += [
                conv_bn(width, width, 3, stride=stride, groups=width),
                conv_bn(width, width, 1),
            ]
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(width, n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
