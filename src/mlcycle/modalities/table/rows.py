"""Monitoring a table model's rows: what the article's fraud example watches, literally.

The reference profile of a table package (mlcycle.modalities.table.reference,
written by the package stage) holds a seeded sample of the training rows' feature values,
each column's missing share over the whole training split, the vocabulary of each
category column, and the model's validation scores with their labels (for the alert share
and for estimating performance before labels arrive, mlcycle.monitor.labels).

`row_figures(rows, reference)` reads the rows the server logged (the `row_values` column: the
decoded row as JSON) and gives, against that reference:

    missing_fraction            the share of missing values over every feature cell
    missing_increase            the largest rise of one column's missing share
    unknown_category_fraction   category values outside the training vocabulary
    flagged_fraction            answers that raised an alert (score >= the threshold)
    flagged_ratio               that share / the share validation flagged
    estimated_precision         precision and recall estimated from the scores alone
    estimated_recall            (mlcycle.monitor.cbpe), before any label arrives
    estimated_recall_change     that recall - the recall validation measured

and, per column, the missing share (served and reference), the unknown share and the
drift of its values (mlcycle.monitor.drift: numbers and categories as for file inputs).
"""

from __future__ import annotations

from typing import Any

import orjson
import pandas as pd

from mlcycle.monitor import drift
from mlcycle.monitor.cbpe import Estimator


def logged_rows(rows: pd.DataFrame, fields: list[str]) -> pd.DataFrame:
    """The logged rows' values (one column per field; None where missing)."""
    values = [orjson.loads(text) for text in rows["row_values"].dropna()]
    return pd.DataFrame.from_records(values, columns=fields) if values else pd.DataFrame()


def row_figures(rows: pd.DataFrame, reference: dict[str, Any]) -> tuple[dict, dict]:
    """(figures, details) of a model version's answered rows against a table reference."""
    fields = reference["numeric"] + reference["categorical"]
    frame = logged_rows(rows, fields)
    n = len(frame)
    details: dict[str, Any] = {"rows": n, "columns": {}}
    figures: dict[str, Any] = dict.fromkeys(
        (
            "missing_increase",
            "unknown_category_fraction",
            "flagged_fraction",
            "flagged_ratio",
            "estimated_precision",
            "estimated_recall",
            "estimated_recall_change",
        )
    )
    if n == 0:
        return figures, {**details, "input_drift": {}}
    missing = frame.isna()
    unknown_cells, category_cells, results = 0, 0, {}
    for name in fields:
        values = frame[name].dropna()
        column = {
            "missing": round(float(missing[name].mean()), 4),
            "reference_missing": reference["missing"].get(name, 0.0),
        }
        if name in reference["categorical"]:
            known = set(reference["vocabulary"][name])
            unknown = int((~values.astype(str).isin(known)).sum())
            unknown_cells, category_cells = unknown_cells + unknown, category_cells + len(values)
            column["unknown"] = round(unknown / len(values), 4) if len(values) else 0.0
            results[name] = drift.categorical_drift(reference["inputs"][name], values.tolist())
        else:
            results[name] = drift.numeric_drift(
                [v for v in reference["inputs"][name] if v is not None], values.astype(float)
            )
        details["columns"][name] = column
    rises = [c["missing"] - c["reference_missing"] for c in details["columns"].values()]
    figures["missing_increase"] = round(max(rises), 4)
    figures["unknown_category_fraction"] = (
        round(unknown_cells / category_cells, 4) if category_cells else 0.0
    )
    outputs = reference["outputs"]
    if "threshold" in outputs:
        scores = rows["score"].dropna() if "score" in rows else pd.Series(dtype=float)
        if len(scores):
            flagged = float((scores >= outputs["threshold"]).mean())
            figures["flagged_fraction"] = round(flagged, 4)
            expected = outputs["flagged_share"]
            figures["flagged_ratio"] = round(flagged / expected, 4) if expected else None
            estimator = Estimator.of(reference)
            if estimator is not None:
                figures.update(estimator.estimate(scores))
                if figures["estimated_recall"] is not None and estimator.reference_recall:
                    change = figures["estimated_recall"] - estimator.reference_recall
                    figures["estimated_recall_change"] = round(change, 4)
        details["score_drift"] = drift.numeric_drift(outputs["scores"], scores)
    details["input_drift"] = results
    details["missing_cells"] = round(float(missing.to_numpy().mean()), 4)
    return figures, details
