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


def train_profile(rows: Any, fields: list[str], seed: int = 0) -> tuple[pd.DataFrame, dict, int]:
    """(a uniform seeded sample of at most MAX_INPUTS training rows, each field's missing
    share over the whole train split, its row count), from the valid rows' file a chunk
    at a time: each training row draws a random key, the smallest keys are kept."""
    from mlcycle.modalities.table.chunks import chunks

    kept: pd.DataFrame | None = None
    missing = dict.fromkeys(fields, 0)
    total = 0
    for i, chunk in enumerate(chunks(rows, [*fields, "split"])):
        train = chunk.loc[chunk["split"] == "train", fields]
        total += len(train)
        for name in fields:
            missing[name] += int(train[name].isna().sum())
        keyed = train.assign(_key=np.random.default_rng([seed, i]).random(len(train)))
        kept = keyed if kept is None else pd.concat([kept, keyed])
        kept = kept.nsmallest(MAX_INPUTS, "_key")
    sample = (kept if kept is not None else pd.DataFrame(columns=[*fields, "_key"])).sort_index()
    shares = {name: round(float(n / total), 6) if total else 0.0 for name, n in missing.items()}
    return sample.drop(columns="_key"), shares, total


def row_reference(
    sample: pd.DataFrame,
    missing: dict[str, float],
    train_rows: int,
    features: Any,
    val_probs: Any,
    val_y: Any,
    labels: list[str],
    decision: dict[str, Any] | None,
) -> dict[str, Any]:
    """The reference profile of a table package: `features` is its TableFeatures;
    `sample`, `missing` and `train_rows` the training rows' (train_profile)."""
    fields = features.fields
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
        "train_rows": train_rows,
        "inputs": {name: [plain(v) for v in sample[name].tolist()] for name in fields},
        "numeric": [c["name"] for c in features.numeric],
        "categorical": [c["name"] for c in features.categorical],
        "vocabulary": {c["name"]: c["vocabulary"] for c in features.categorical},
        "missing": {name: missing[name] for name in fields},
        "outputs": outputs,
    }
