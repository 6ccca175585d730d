"""An MLP for table rows: numbers as they are, categories through embeddings.

Its input is the table featurizer's vector (mlcycle.modalities.table.featurizer): the
first `numeric` values are numbers and missing-value indicators, the rest one category
index each (0: unknown or missing), with `cardinalities` values per category.
"""

from __future__ import annotations

import torch
from torch import nn


class TabularMLP(nn.Module):
    def __init__(
        self,
        n_classes: int,
        in_channels: int,
        numeric: int,
        cardinalities: list[int],
        embed_dim: int = 8,
        hidden: list[int] | None = None,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if numeric + len(cardinalities) != in_channels:
            raise ValueError(
                f"TabularMLP: {numeric} numeric + {len(cardinalities)} category inputs, "
                f"but the features have {in_channels}"
            )
        self.numeric = numeric
        self.cardinalities = list(cardinalities)
        self.embeddings = nn.ModuleList(
            nn.Embedding(n, min(embed_dim, n)) for n in self.cardinalities
        )
        width = numeric + sum(e.embedding_dim for e in self.embeddings)
        layers: list[nn.Module] = []
        for size in hidden or [128, 64]:
            layers += [nn.Linear(width, size), nn.BatchNorm1d(size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        self.body = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.numeric + len(self.embeddings):
            raise ValueError(
                f"TabularMLP expects (batch, {self.numeric + len(self.embeddings)}) inputs, "
                f"got {tuple(x.shape)}"
            )
        parts = [x[:, : self.numeric]]
        codes = x[:, self.numeric :].long()
        for i, (embedding, n) in enumerate(zip(self.embeddings, self.cardinalities)):
            parts.append(embedding(codes[:, i].clamp(0, n - 1)))
        return self.classifier(self.body(torch.cat(parts, dim=1)))
