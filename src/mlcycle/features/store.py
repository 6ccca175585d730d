"""The feature store: one `.pt` file per split and `stats.json`, in the features folder.

featurize writes it; train, evaluate and package read it, only through this module.
A split file holds {"x": normalised inputs, "y": class indices, "path": source files};
stats.json holds the task, its labels, the input shape, the featurizer's config (under
the modality's name) and the training-split normalisation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mlcycle.atomic import write_json_atomic, write_torch_atomic

STATS = "stats.json"


class FeatureStoreError(FileNotFoundError):
    """A split or the stats are missing or unreadable; the message names the file."""


@dataclass
class FeatureSplit:
    x: torch.Tensor  # (n, *input_shape), normalised with the training statistics
    y: torch.Tensor  # (n,) indices into FeatureStats.labels
    paths: list[str]  # the file each row came from

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class FeatureStats:
    task: str
    modality: str
    labels: list[str]
    input_shape: list[int]
    config: dict[str, Any]  # the featurizer's config (AudioFeatures / ImageFeatures)
    mean: list[float]
    std: list[float]

    def to_dict(self) -> dict[str, Any]:
        """The stats.json form, also the model card's `preprocessing`."""
        return {
            "task": self.task,
            "modality": self.modality,
            "labels": list(self.labels),
            "input_shape": list(self.input_shape),
            self.modality: dict(self.config),
            "mean": list(self.mean),
            "std": list(self.std),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureStats:
        try:
            return cls(
                d["task"],
                d["modality"],
                list(d["labels"]),
                list(d["input_shape"]),
                dict(d[d["modality"]]),
                list(d["mean"]),
                list(d["std"]),
            )
        except (KeyError, TypeError) as e:
            raise ValueError(f"feature stats lack {e}") from None


def split_path(root: str | Path, split: str) -> Path:
    return Path(root) / f"{split}.pt"


def files(root: str | Path, splits: tuple[str, ...]) -> list[Path]:
    """The stats file and the files of `splits`: what a model trained on them depends on."""
    return [Path(root) / STATS, *(split_path(root, s) for s in splits)]


def save_split(root: str | Path, split: str, data: FeatureSplit) -> None:
    """Write one split atomically; identical contents give identical bytes (DVC's hash)."""
    write_torch_atomic(
        split_path(root, split), {"x": data.x.contiguous(), "y": data.y, "path": data.paths}
    )


def load_split(root: str | Path, split: str) -> FeatureSplit:
    path = split_path(root, split)
    if not path.is_file():
        raise FeatureStoreError(f"{path} not found (run the featurize stage first)")
    try:
        data = torch.load(path, weights_only=True)
        return FeatureSplit(data["x"], data["y"], list(data["path"]))
    except Exception as e:  # torch raises many kinds for a damaged file
        raise FeatureStoreError(f"cannot read {path}: {type(e).__name__}: {e}") from None


def save_stats(root: str | Path, stats: FeatureStats) -> None:
    write_json_atomic(Path(root) / STATS, stats.to_dict())


def load_stats(root: str | Path) -> FeatureStats:
    path = Path(root) / STATS
    if not path.is_file():
        raise FeatureStoreError(f"{path} not found (run the featurize stage first)")
    try:
        return FeatureStats.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, ValueError) as e:
        raise FeatureStoreError(f"cannot read {path}: {e}") from None
