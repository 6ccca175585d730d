"""The reference profile of a files package: the statistics of (a sample of) the training
files and the validation predictions (mlcycle.monitor.reference)."""

from __future__ import annotations

from typing import Any

from mlcycle.monitor.reference import reference_profile


def reference(params, package, stats, train, val, val_probs) -> dict[str, Any]:
    return reference_profile(
        train.paths, package.featurizer, stats.modality, val_probs, stats.labels
    )
