"""What every featurizer shares: the training-split normalisation and its stats.json form."""

from __future__ import annotations

from typing import Any

import torch


class Featurizer:
    """Decoded file -> normalised model input, identical in featurize and in serving.

    A subclass sets `modality` (its config's key in stats.json), `config_type`,
    `stat_dim` (the feature dimension that gets its own mean and std) and `threads_help`
    (whether featurize_paths should run one thread per core), and implements decode and
    raw_features.
    """

    modality: str
    config_type: type
    stat_dim: int
    threads_help: bool

    def __init__(
        self, cfg: Any, mean: list[float] | None = None, std: list[float] | None = None
    ) -> None:
        self.cfg = cfg
        self.mean = None if mean is None else self._per_stat(torch.tensor(mean))
        self.std = None if std is None else self._per_stat(torch.tensor(std))

    @classmethod
    def from_stats(cls, stats: dict) -> Featurizer:
        """Rebuild the featurizer that wrote `stats` (data/features/stats.json)."""
        return cls(cls.config_type(**stats[cls.modality]), stats["mean"], stats["std"])

    def decode(self, source: Any) -> Any:
        raise NotImplementedError

    def network_inputs(self) -> dict[str, Any]:
        """What a network needs to know of these inputs beyond their channels (plain
        values: the train stage passes them to it, the package's card records them)."""
        return {}

    def raw_features(self, decoded: list) -> torch.Tensor:
        raise NotImplementedError

    def _per_stat(self, values: torch.Tensor) -> torch.Tensor:
        shape = [1, 1, 1, 1]
        shape[self.stat_dim] = -1
        return values.view(shape)

    def fit_stats(self, feats: torch.Tensor) -> None:
        """Mean and std of the training features, one per index of `stat_dim`."""
        running = RunningStats(self.stat_dim)
        running.update(feats)
        self.set_stats(*running.result())

    def set_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean, self.std = mean, std

    def normalise(self, feats: torch.Tensor) -> torch.Tensor:
        self._check_stats()
        return (feats - self.mean) / self.std

    def _check_stats(self) -> None:
        if self.mean is None or self.std is None:
            raise RuntimeError("normalisation statistics not set: fit_stats first")

    def __call__(self, decoded: list) -> torch.Tensor:
        return self.normalise(self.raw_features(decoded))

    def stats(self) -> dict:
        return {"mean": self.mean.flatten().tolist(), "std": self.std.flatten().tolist()}


class RunningStats:
    """Mean and (unbiased) standard deviation per index of `dim`, from chunks of features:
    float64 sums, so the statistics of a split need one chunk in memory at a time."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.n = 0
        self.sum: torch.Tensor | None = None
        self.squares: torch.Tensor | None = None

    def update(self, feats: torch.Tensor) -> None:
        others = tuple(d for d in range(feats.ndim) if d != self.dim)
        x = feats.double()
        total, squares = x.sum(dim=others, keepdim=True), (x * x).sum(dim=others, keepdim=True)
        self.n += feats.numel() // feats.shape[self.dim]
        self.sum = total if self.sum is None else self.sum + total
        self.squares = squares if self.squares is None else self.squares + squares

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, std) as float32, shaped to broadcast over a batch; std at least 1e-5."""
        if self.n < 2:
            raise ValueError("normalisation statistics need at least two values per feature")
        mean = self.sum / self.n
        var = ((self.squares - self.n * mean * mean) / (self.n - 1)).clamp_min(0)
        return mean.float(), var.sqrt().float().clamp_min(1e-5)
