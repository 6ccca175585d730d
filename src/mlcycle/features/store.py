"""The feature store: each split a folder of shards, plus `stats.json`, in the features folder.

featurize writes it; train, evaluate, review and package read it, only through this module.

    <features>/stats.json             task, labels, input shape, featurizer config (under
                                      the modality's name), training-split normalisation
    <features>/<split>/index.json     rows, the shards in order with their row counts, and
                                      every row's class index and source file
    <features>/<split>/shard-NNNNN.pt {"x": normalised inputs, "y": class indices}

Readers hold one shard in memory at a time (ShardedSplit.batches, ShardDataset), so memory
does not grow with the data set: a split of any size costs one shard (featurize.shard_size
rows) plus its index.
"""

from __future__ import annotations

import bisect
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from mlcycle.atomic import write_json_atomic, write_torch_atomic

STATS = "stats.json"
INDEX = "index.json"


class FeatureStoreError(FileNotFoundError):
    """A split or the stats are missing or unreadable; the message names the file."""


@dataclass
class FeatureSplit:
    """Rows in memory: one shard, or what a caller gathers."""

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


def split_dir(root: str | Path, split: str) -> Path:
    return Path(root) / split


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.pt"


class SplitWriter:
    """Writes one split shard by shard (each atomically), then its index: a split whose
    index exists is complete. Identical contents give identical bytes (DVC's hash)."""

    def __init__(self, root: str | Path, split: str) -> None:
        self.dir = split_dir(root, split)
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / INDEX).unlink(missing_ok=True)
        for old in self.dir.glob("shard-*.pt"):
            old.unlink()
        self.shards: list[dict[str, Any]] = []
        self.y: list[int] = []
        self.paths: list[str] = []

    def add(self, data: FeatureSplit) -> None:
        name = shard_name(len(self.shards))
        write_torch_atomic(self.dir / name, {"x": data.x.contiguous(), "y": data.y})
        self.shards.append({"file": name, "rows": len(data)})
        self.y += data.y.tolist()
        self.paths += [str(p) for p in data.paths]

    def close(self) -> int:
        """Write the index; returns the split's row count."""
        index = {"rows": len(self.y), "shards": self.shards, "y": self.y, "path": self.paths}
        write_json_atomic(self.dir / INDEX, index)
        return len(self.y)


class ShardedSplit:
    """A split on disk: labels and paths in memory, inputs one shard at a time."""

    def __init__(self, root: str | Path, split: str) -> None:
        self.dir = split_dir(root, split)
        index_path = self.dir / INDEX
        if not index_path.is_file():
            raise FeatureStoreError(f"{index_path} not found (run the featurize stage first)")
        try:
            index = json.loads(index_path.read_text())
            self.shards = [(self.dir / s["file"], int(s["rows"])) for s in index["shards"]]
            self.y = torch.tensor(index["y"], dtype=torch.long)
            self.paths = [str(p) for p in index["path"]]
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise FeatureStoreError(f"cannot read {index_path}: {e}") from None
        if sum(n for _, n in self.shards) != len(self.y) or len(self.paths) != len(self.y):
            raise FeatureStoreError(f"{index_path}: shard rows, labels and paths disagree")

    def __len__(self) -> int:
        return len(self.y)

    @property
    def sizes(self) -> list[int]:
        return [n for _, n in self.shards]

    def bounds(self) -> list[tuple[int, int]]:
        """Each shard's (first row, end row) in the split."""
        ends = list(itertools.accumulate(self.sizes))
        return list(zip([0, *ends[:-1]], ends, strict=True))

    def input_shape(self) -> list[int]:
        return list(self.shard(0).shape[1:])

    def files(self) -> list[Path]:
        return [self.dir / INDEX, *(path for path, _ in self.shards)]

    def shard(self, i: int) -> torch.Tensor:
        """The inputs of shard i."""
        path, rows = self.shards[i]
        if not path.is_file():
            raise FeatureStoreError(f"{path} not found (run the featurize stage again)")
        try:
            x = torch.load(path, weights_only=True)["x"]
        except Exception as e:  # torch raises many kinds for a damaged file
            raise FeatureStoreError(f"cannot read {path}: {type(e).__name__}: {e}") from None
        if len(x) != rows:
            raise FeatureStoreError(f"{path} holds {len(x)} rows, its index says {rows}")
        return x

    def batches(self, batch_size: int = 512) -> Iterator[torch.Tensor]:
        """The inputs in order, `batch_size` rows at a time (fewer at a shard's end)."""
        for i in range(len(self.shards)):
            x = self.shard(i)
            for start in range(0, len(x), batch_size):
                yield x[start : start + batch_size]

    def dataset(self) -> ShardDataset:
        return ShardDataset(self)


class ShardDataset(Dataset):
    """(input, label) by row, keeping one shard in memory: read it with a sampler that
    visits rows shard by shard (models.training.ShardShuffle), or every access may load
    a shard."""

    def __init__(self, split: ShardedSplit) -> None:
        self.split = split
        self.starts = [start for start, _ in split.bounds()]
        self.cached: tuple[int, torch.Tensor] | None = None

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, row: int):
        shard = bisect.bisect_right(self.starts, row) - 1
        if self.cached is None or self.cached[0] != shard:
            self.cached = None  # drop the old shard before loading the next
            self.cached = (shard, self.split.shard(shard))
        return self.cached[1][row - self.starts[shard]], self.split.y[row]


def files(root: str | Path, splits: tuple[str, ...]) -> list[Path]:
    """The stats file and the files of `splits`: what a model trained on them depends on."""
    return [Path(root) / STATS, *(f for s in splits for f in load_split(root, s).files())]


def has_split(root: str | Path, split: str) -> bool:
    """Whether featurize wrote `split` (held_out exists only where voices were held out)."""
    return (split_dir(root, split) / INDEX).is_file()


def load_split(root: str | Path, split: str) -> ShardedSplit:
    return ShardedSplit(root, split)


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
