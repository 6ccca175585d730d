"""The package stage's part for tables: the rows' reference profile
(mlcycle.modalities.table.reference), from the valid rows a chunk at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlcycle.modalities.table.columns import ROWS
from mlcycle.modalities.table.reference import row_reference, train_profile


def PART(params, package, stats, train, val, val_probs) -> dict[str, Any]:  # noqa: N802
    rows = Path(params.paths.validated) / ROWS
    if not rows.is_file():
        raise FileNotFoundError(f"{rows} not found (run the validate stage first)")
    sample, missing, count = train_profile(rows, package.featurizer.cfg.fields)
    return row_reference(
        sample,
        missing,
        count,
        package.featurizer.cfg,
        val_probs,
        val.y.numpy(),
        stats.labels,
        package.card.get("decision"),
    )
