"""The reference profile of a table package: a seeded sample of the training rows' values,
each column's missing share over the whole training split, the vocabulary of each
category column, and the model's validation scores with their labels (the alert share,
and performance estimated before labels arrive: mlcycle.monitor.cbpe)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlcycle.monitor.reference import MAX_INPUTS, output_profile


def plain(value: Any) -> Any:
    """A cell as JSON holds it: None for missing, float for numbers, str for categories."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    return str(value)


def row_reference(
    train: pd.DataFrame,
    features: Any,
    val_probs: Any,
    val_y: Any,
    labels: list[str],
    decision: dict[str, Any] | None,
    seed: int = 0,
) -> dict[str, Any]:
    """The reference profile of a table package: `features` is its TableFeatures."""
    fields = features.fields
    sample = train.sample(min(MAX_INPUTS, len(train)), random_state=seed)
    outputs = output_profile(val_probs, labels)
    probs = val_probs.numpy()
    if decision is not None:
        positive = labels.index(decision["positive"])
        scores = probs[:, positive]
        outputs.update(
            positive=decision["positive"],
            threshold=decision["threshold"],
            scores=[round(float(s), 6) for s in scores],
            truth=[int(v == positive) for v in np.asarray(val_y).tolist()],
            flagged_share=round(float(np.mean(scores >= decision["threshold"])), 6),
        )
    return {
        "modality": "table",
        "train_rows": len(train),
        "inputs": {name: [plain(v) for v in sample[name].tolist()] for name in fields},
        "numeric": [c["name"] for c in features.numeric],
        "categorical": [c["name"] for c in features.categorical],
        "vocabulary": {c["name"]: c["vocabulary"] for c in features.categorical},
        "missing": {name: round(float(train[name].isna().mean()), 6) for name in fields},
        "outputs": outputs,
    }
