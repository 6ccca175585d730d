"""The reference profile: what production traffic is compared with.

The input statistics of the training split (mlcycle.monitor.stats, the code the server
logs with) and the class and confidence distributions of the model's predictions on the
validation split. The package stage writes it into the package as reference.json; a
table package's is mlcycle.modalities.table.reference.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mlcycle.features.featurizer import Featurizer
from mlcycle.monitor.stats import InputStats

FILE = "reference.json"
MAX_INPUTS = 2000  # training files (or table rows) whose statistics are kept (a seeded sample)


def reference_profile(
    train_paths: list[str],
    featurizer: Featurizer,
    modality: str,
    stats: InputStats,
    val_probs: torch.Tensor,
    labels: list[str],
    seed: int = 0,
) -> dict[str, Any]:
    """The modality's `stats` of (a sample of) the training inputs, and statistics of the
    validation predictions."""
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(train_paths), min(MAX_INPUTS, len(train_paths)), False))
    rows = [stats.of(featurizer.decode(train_paths[i])) for i in chosen]
    inputs = {key: [row[key] for row in rows] for key in rows[0]}
    return {
        "modality": modality,
        "train_files": len(train_paths),
        "inputs": inputs,
        "outputs": output_profile(val_probs, labels),
    }


def output_profile(val_probs: Any, labels: list[str]) -> dict[str, Any]:
    """The predicted classes and confidences of the validation split (any modality)."""
    confidence, predicted = val_probs.max(-1)
    counts = np.bincount(predicted.numpy(), minlength=len(labels))
    return {
        "labels": [labels[i] for i in predicted.tolist()],
        "label_shares": {lab: round(float(c / counts.sum()), 4) for lab, c in zip(labels, counts)},
        "confidence": [round(float(c), 4) for c in confidence.tolist()],
    }
