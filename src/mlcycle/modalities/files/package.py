"""The reference profile of a files package: the modality's statistics of (a sample of)
the training files and the validation predictions (mlcycle.monitor.reference)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlcycle.monitor.reference import reference_profile
from mlcycle.monitor.stats import InputStats


@dataclass(frozen=True)
class FileReference:
    stats: InputStats

    def __call__(self, params, package, stats, train, val, val_probs) -> dict[str, Any]:
        return reference_profile(
            train.paths, package.featurizer, stats.modality, self.stats, val_probs, stats.labels
        )
