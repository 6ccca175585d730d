"""Broadcasted residual network for keyword spotting (after Kim et al., "Broadcasted
Residual Learning for Efficient Keyword Spotting", Interspeech 2021).

Each block has a frequency branch (a depthwise 3x1 convolution over (frequency, time),
normalised per sub-band) and a temporal branch on the frequency-averaged signal (a
depthwise 1x3 convolution, dilated in later stages, then a pointwise one); the temporal
output is broadcast back over frequency and added with the residual. It spends its
parameters on time, where keywords differ, and few on frequency: BC-ResNet-1 has about
ten thousand.
"""

from __future__ import annotations

import torch
from torch import nn


class SubSpectralNorm(nn.Module):
    """Batch norm with its own statistics for each of `bands` frequency sub-bands (plain
    batch norm where the frequency size does not split into them)."""

    def __init__(self, channels: int, bands: int, freqs: int) -> None:
        super().__init__()
        self.bands = bands if bands > 1 and freqs % bands == 0 else 1
        self.norm = nn.BatchNorm2d(channels * self.bands)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bands == 1:
            return self.norm(x)
        b, c, f, t = x.shape
        x = self.norm(x.reshape(b, c * self.bands, f // self.bands, t))
        return x.reshape(b, c, f, t)


class BCBlock(nn.Module):
    """One broadcasted residual block; a transition block (cin != cout, or a stride in
    frequency) changes the channels first and has no identity shortcut."""

    def __init__(
        self,
        cin: int,
        cout: int,
        freqs: int,
        stride: int,
        dilation: int,
        bands: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.transition = cin != cout or stride != 1
        if self.transition:
            self.expand = nn.Sequential(
                nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
            )
        self.frequency = nn.Sequential(
            nn.Conv2d(cout, cout, (3, 1), (stride, 1), (1, 0), groups=cout, bias=False),
            SubSpectralNorm(cout, bands, (freqs + stride - 1) // stride),
        )
        self.temporal = nn.Sequential(
            nn.Conv2d(
                cout,
                cout,
                (1, 3),
                padding=(0, dilation),
                dilation=(1, dilation),
                groups=cout,
                bias=False,
            ),
            nn.BatchNorm2d(cout),
            nn.SiLU(),
            nn.Conv2d(cout, cout, 1, bias=False),
            nn.Dropout2d(dropout),
        )
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.transition:
            x = self.expand(x)
        frequency = self.frequency(x)
        temporal = self.temporal(frequency.mean(dim=2, keepdim=True))  # broadcast over freq
        shortcut = 0 if self.transition else x
        return self.act(shortcut + frequency + temporal)


class BCResNet(nn.Module):
    """(batch, 1, n_mels, frames) -> (batch, n_classes) logits; `width` scales every
    stage (BC-ResNet-1 at width 1: 8-20 channels; BC-ResNet-8 at 8).

    `time_stride` 2 halves the frames in the stem (the paper keeps them all): with 20 ms
    frames the blocks then see 40 ms steps, their dilations reach twice as far, and a
    training step costs half (BC-ResNet-3, batch 64 on 2 cores: 229 ms against 469).
    """

    STAGES = ((8, 2, 1, 1), (12, 2, 2, 2), (16, 4, 2, 4), (20, 4, 1, 8))  # ch, blocks, stride, dil

    def __init__(
        self,
        n_classes: int,
        in_channels: int,
        width: int,
        n_mels: int = 40,
        bands: int = 5,
        dropout: float = 0.1,
        time_stride: int = 1,
    ) -> None:
        super().__init__()
        self.n_mels = n_mels
        channels = 16 * width
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels, 5, (2, time_stride), 2, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )
        freqs = (n_mels + 1) // 2
        blocks = []
        for base, count, stride, dilation in self.STAGES:
            cout = base * width
            for i in range(count):
                step = stride if i == 0 else 1
                blocks.append(BCBlock(channels, cout, freqs, step, dilation, bands, dropout))
                freqs, channels = (freqs + step - 1) // step, cout
        self.blocks = nn.Sequential(*blocks)
        head = 32 * width
        self.head = nn.Sequential(
            nn.Conv2d(channels, channels, (5, 5), padding=(0, 2), groups=channels, bias=False)
            if freqs >= 5
            else nn.Identity(),
            nn.Conv2d(channels, head, 1, bias=False),
            nn.BatchNorm2d(head),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(head, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[2] != self.n_mels:  # the sub-bands were sized for n_mels
            raise ValueError(
                f"BC-ResNet was built for {self.n_mels} frequency rows (model.n_mels) "
                f"and got inputs of {x.shape[2]}: set model.n_mels to the input's height"
            )
        return self.head(self.blocks(self.stem(x)))
