"""Monitoring table rows: each column's missing share, unknown categories and drift, the
share flagged, precision and recall estimated from the scores (rows), attackers switching
strategy (simulate), the labelled rows back as a table source (export)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig

from mlcycle.modalities.base import Monitoring


class TableMonitoring(Monitoring):
    def figures(self, rows, accepted, reference, cfg) -> dict[str, Any]:
        from mlcycle.modalities.table.rows import row_figures

        figures, details = row_figures(accepted, reference)
        outputs = {}
        if "score_drift" in details:
            outputs["score"] = details.pop("score_drift")
        return {
            "missing": details.get("missing_cells", 0.0),  # the article's metric, literally
            "silent": None,
            "inputs": details.pop("input_drift"),
            "figures": figures,
            "details": details,
            "outputs": outputs,
        }

    def plotted(self, rows, reference):
        from mlcycle.modalities.table.rows import logged_rows

        numeric, categorical = reference["numeric"], reference["categorical"]
        return numeric, categorical, logged_rows(rows, numeric + categorical)

    def parse_shifts(self, specs: list[str]) -> dict[str, Any]:
        from mlcycle.modalities.table.simulate import parse_shift

        return dict(parse_shift(spec) for spec in specs)

    def simulate(self, url, params, split, count, concurrency, seconds, shifts, seed):
        import asyncio

        from mlcycle.modalities.table.simulate import traffic
        from mlcycle.monitor.simulate import loopback, replay

        loopback(url)
        items = traffic(params, split, count, shifts, seed)
        return pd.DataFrame(
            asyncio.run(replay(url, items, "application/json", concurrency, seconds))
        )

    def export(self, params: DictConfig, log, labels_csv: Path, out: Path, fmt: str) -> int:
        from mlcycle.modalities.table.columns import TableSpec
        from mlcycle.modalities.table.export import export_rows

        spec = TableSpec.from_config(params.task.table)
        return export_rows(log, labels_csv, out, spec, list(params.task.labels))

    def sample(self, params: DictConfig, log: pd.DataFrame, n: int, out: Path) -> int:
        from mlcycle.modalities.table.export import sample_rows

        return sample_rows(log, n, out)


PART = TableMonitoring()
