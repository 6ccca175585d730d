"""Monitoring the modalities whose inputs are files: the statistics the server logged of
each input (mlcycle.monitor.stats) against the training files', replay of the split's
files (shifted: mlcycle.monitor.simulate), export of the kept inputs a person labelled."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig

from mlcycle.modalities.base import Monitoring
from mlcycle.monitor import drift
from mlcycle.monitor.stats import InputStats


class FileMonitoring(Monitoring):
    def __init__(
        self,
        name: str,
        stats: InputStats,
        quiet: Callable[[pd.DataFrame], pd.Series],
        shifts: Any,
        mime: str,
    ) -> None:
        """`stats`: what the log records of an input; `quiet(served)`: the inputs that
        carry nothing to recognise (silent, blank); `shifts`: simulate's own shifts
        (mlcycle.monitor.simulate.Shifts), its requests sent as `mime`."""
        self.name, self.stats, self.quiet = name, stats, quiet
        self.shifts, self.mime = shifts, mime

    def figures(self, rows, accepted, reference, cfg) -> dict[str, Any]:
        from mlcycle.monitor.analysis import MISSING, fraction

        reasons = rows["reason"].fillna("")
        served = accepted[accepted["duration_s"].notna() | accepted["width"].notna()]
        ref = reference["inputs"]
        inputs = {}
        for name in self.stats.numeric:
            inputs[name] = drift.numeric_drift(ref.get(name, []), served[name].dropna())
        for name in self.stats.categorical:
            inputs[name] = drift.categorical_drift(ref.get(name, []), served[name].dropna())
        return {
            "missing": fraction(reasons.isin(MISSING) | (rows["non_finite"].fillna(0) > 0)),
            "silent": fraction(self.quiet(served)) if len(served) else 0.0,
            "inputs": inputs,
        }

    def plotted(self, rows, reference):
        return list(self.stats.numeric), list(self.stats.categorical), rows

    def parse_shifts(self, specs: list[str]) -> dict[str, Any]:
        from mlcycle.monitor.simulate import parse_shifts

        return parse_shifts(specs, self.shifts, self.name)

    def simulate(self, url, params, split, count, concurrency, seconds, shifts, seed):
        from mlcycle.monitor.simulate import simulate

        manifest = Path(params.paths.validated) / "manifest.csv"
        return simulate(
            url, manifest, split, self.shifts, self.mime, count, concurrency, seconds, shifts, seed
        )

    def export(self, params: DictConfig, log, labels_csv: Path, out: Path, fmt: str) -> int:
        from mlcycle.monitor.export import export_labelled

        return export_labelled(log, labels_csv, out, fmt)

    def sample(self, params: DictConfig, log: pd.DataFrame, n: int, out: Path) -> int:
        """<out>/to_label.csv: `n` kept inputs to label, least confident first."""
        from mlcycle.monitor.export import sample_for_labelling

        return sample_for_labelling(log, n, out)
