"""Rows -> model inputs, the same in featurize and in serving (no training/serving skew).

One row becomes one vector, in this order:

    numbers      each numeric column (log1p first where its transform is "log"),
                 standardised with the training split's mean and std; a missing value is
                 the mean (0 after standardising)
    missing      one 0/1 indicator per nullable column
    categories   each category column's index in its vocabulary (learnt on the training
                 split: values seen at least featurize.table.min_category_count times,
                 at most featurize.table.max_categories); 0 is the bucket of unknown and
                 missing values

The network (models.tabular.TabularMLP) embeds the indices; `network_inputs` tells it the
widths. Everything is in the package's card (preprocessing.table), so serving rebuilds it.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from mlcycle.features.featurizer import Featurizer
from mlcycle.modalities.table.columns import TableSpec


class RowError(ValueError):
    """A row does not match the package's schema; the message names the field."""


@dataclass
class TableFeatures:
    """preprocessing.table of stats.json and the card: the fitted featurizer."""

    numeric: list[dict]  # {name, transform, nullable}
    categorical: list[dict]  # {name, nullable, vocabulary}
    id_column: str
    time_column: str

    @property
    def nullable(self) -> list[str]:
        return [c["name"] for c in self.numeric + self.categorical if c["nullable"]]

    @property
    def fields(self) -> list[str]:
        return [c["name"] for c in self.numeric + self.categorical]


def category_counts(rows: pd.DataFrame, spec: TableSpec) -> dict[str, Counter]:
    """{category column: {value: rows holding it}} of `rows` (add them up chunk by chunk)."""
    return {c.name: Counter(rows[c.name].dropna().astype(str).tolist()) for c in spec.categorical}


def fit_features(counts: dict, spec: TableSpec, min_count: int, max_categories: int):
    """The featurizer's config learnt from the training rows: each category column's
    vocabulary from `counts` ({column: {value: training rows holding it}})."""
    numeric = [
        {"name": c.name, "transform": c.transform, "nullable": c.nullable} for c in spec.numeric
    ]
    categorical = []
    for c in spec.categorical:
        seen = pd.Series(dict(counts[c.name]), dtype="int64").sort_values(
            ascending=False, kind="stable"
        )
        kept = seen[seen >= min_count].head(max_categories)
        categorical.append(
            {"name": c.name, "nullable": c.nullable, "vocabulary": sorted(kept.index.tolist())}
        )
    return TableFeatures(numeric, categorical, spec.id_column, spec.time_column)


class TableFeaturizer(Featurizer):
    modality = "table"
    config_type = TableFeatures
    stat_dim = 1
    threads_help = False

    def __init__(self, cfg: TableFeatures, mean=None, std=None) -> None:
        super().__init__(cfg, mean, std)
        self.index = [{v: i + 1 for i, v in enumerate(c["vocabulary"])} for c in cfg.categorical]
        self.known = set(cfg.fields)

    def _per_stat(self, values: torch.Tensor) -> torch.Tensor:
        return values.view(1, -1)

    @property
    def width(self) -> int:
        return len(self.cfg.numeric) + len(self.cfg.nullable) + len(self.cfg.categorical)

    def network_inputs(self) -> dict[str, Any]:
        return {
            "numeric": len(self.cfg.numeric) + len(self.cfg.nullable),
            "cardinalities": [len(c["vocabulary"]) + 1 for c in self.cfg.categorical],
        }

    def decode(self, source: Any) -> dict:
        """A JSON row (a mapping of field -> value) checked against the schema; RowError
        names an unknown field, a missing one that is not nullable, or a wrong type."""
        if not isinstance(source, dict):
            raise RowError(f"a row is a JSON object of fields, got {type(source).__name__}")
        unknown = sorted(set(source) - self.known - {self.cfg.id_column, self.cfg.time_column})
        if unknown:
            raise RowError(f"unknown field(s) {unknown}; the model reads {self.cfg.fields}")
        row = {}
        for c in self.cfg.numeric:
            v = source.get(c["name"])
            if v is None:
                if not c["nullable"]:
                    raise RowError(f"field {c['name']!r} is required (not nullable)")
            elif isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
                raise RowError(f"field {c['name']!r} must be a finite number, got {v!r}")
            row[c["name"]] = None if v is None else float(v)
        for c in self.cfg.categorical:
            v = source.get(c["name"])
            if v is None and not c["nullable"]:
                raise RowError(f"field {c['name']!r} is required (not nullable)")
            if v is not None and not isinstance(v, str):
                raise RowError(f"field {c['name']!r} must be a string, got {v!r}")
            row[c["name"]] = v
        return row

    def raw_features(self, decoded: list) -> torch.Tensor:
        """The un-normalised vectors of decoded rows (serving's path: plain Python and one
        numpy array, 0.02 ms a row against 6.5 ms through a pandas frame)."""
        numeric, log = self.cfg.numeric, [c["transform"] == "log" for c in self.cfg.numeric]
        out = np.empty((len(decoded), self.width))
        for i, row in enumerate(decoded):
            values = [row[c["name"]] for c in numeric]
            x = [np.nan if v is None else (math.log1p(max(v, 0.0)) if lg else v)
                 for v, lg in zip(values, log)]  # fmt: skip
            x += [float(row[name] is None) for name in self.cfg.nullable]
            x += [
                index.get(row[c["name"]], 0) for c, index in zip(self.cfg.categorical, self.index)
            ]
            out[i] = x
        return torch.from_numpy(out).float()

    def frame_features(self, frame: pd.DataFrame) -> torch.Tensor:
        """The un-normalised vectors of a frame holding the columns (NaN/None missing)."""
        parts = []
        for c in self.cfg.numeric:
            x = pd.to_numeric(frame[c["name"]], errors="coerce").to_numpy(dtype=np.float64)
            parts.append(np.log1p(np.maximum(x, 0.0)) if c["transform"] == "log" else x)
        parts += [frame[name].isna().to_numpy(dtype=np.float64) for name in self.cfg.nullable]
        for c, index in zip(self.cfg.categorical, self.index):
            parts.append(frame[c["name"]].map(index).fillna(0).to_numpy(dtype=np.float64))
        return torch.from_numpy(np.stack(parts, axis=1)).float()

    def fit_stats(self, feats: torch.Tensor) -> None:
        """Mean and std of the numbers (missing ones left out); identity for the rest."""
        n = len(self.cfg.numeric)
        x = feats[:, :n].double()
        present = ~torch.isnan(x)
        count = present.sum(0).clamp_min(2)
        mean = torch.where(present, x, 0).sum(0) / count
        var = (torch.where(present, x - mean, 0) ** 2).sum(0) / (count - 1)
        self.set_moments(mean, var.sqrt())

    def set_moments(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """The numbers' mean and std (float64, one per numeric column); identity for the
        missing indicators and category indices."""
        ones = torch.ones(self.width - len(self.cfg.numeric), dtype=torch.float64)
        self.set_stats(
            self._per_stat(torch.cat([mean, ones * 0]).float()),
            self._per_stat(torch.cat([std.clamp_min(1e-5), ones]).float()),
        )

    def normalise(self, feats: torch.Tensor) -> torch.Tensor:
        self._check_stats()
        x = (feats - self.mean) / self.std
        return torch.nan_to_num(x, nan=0.0)  # a missing number is the training mean


def features_config(cfg: TableFeatures) -> dict:
    return asdict(cfg)


PART = TableFeaturizer  # the table modality's featurizer (mlcycle.modalities)
