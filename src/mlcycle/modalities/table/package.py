"""The package stage's part for tables: the rows' reference profile
(mlcycle.modalities.table.reference)."""

from __future__ import annotations

from typing import Any

from mlcycle.modalities.table.columns import read_rows
from mlcycle.modalities.table.reference import row_reference


def PART(params, package, stats, train, val, val_probs) -> dict[str, Any]:  # noqa: N802
    rows = read_rows(params.paths.validated, "validate")
    return row_reference(
        rows[rows["split"] == "train"],
        package.featurizer.cfg,
        val_probs,
        val.y.numpy(),
        stats.labels,
        package.card.get("decision"),
    )
