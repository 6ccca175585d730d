"""What the prediction log says about each model version: input quality, outputs, drift.

`summarise(log, reference, cfg)` returns, per model version, the figures alert rules and
Prometheus gauges use (flat names, see FIGURES) and the details the report shows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlcycle.modalities import modality as modality_part
from mlcycle.monitor import drift

# Why an input got no output, by kind of problem.
MISSING = {"empty", "non_finite", "no_file"}  # no value, or NaN / infinite values
UNDECODABLE = {"undecodable", "wrong_modality", "content_type", "bad_multipart", "bad_json"}
UNDECODABLE |= {"invalid_row"}  # a table row that does not fit the package's schema
OUT_OF_RANGE = {"too_long", "too_large", "too_many_pixels", "sample_rate", "too_many_rows"}

FIGURES = {
    "requests": "requests logged (not counting shadow runs)",
    "missing_fraction": "inputs with missing values (empty body, NaN/inf samples; rows: cells)",
    "undecodable_fraction": "inputs that could not be decoded (or were the wrong kind)",
    "out_of_range_fraction": "inputs out of range (too long, too large, absurd rate)",
    "silent_fraction": "inputs that are silent (audio) or blank (images)",
    "non_null_fraction": "accepted inputs answered with a label",
    "low_confidence_rate": "answers below monitor.low_confidence",
    "mean_confidence": "mean confidence of the answers",
    "latency_p50_ms": "latency p50",
    "latency_p95_ms": "latency p95",
    "latency_p99_ms": "latency p99",
    "drift_share": "share of input statistics that drifted from the reference",
    "prediction_drift": "1 if the predicted-class distribution drifted, else 0",
    "confidence_drift": "1 if the confidence distribution drifted, else 0",
    # table rows only (mlcycle.modalities.table.rows)
    "missing_increase": "largest rise of one column's missing share over the training split's",
    "unknown_category_fraction": "category values never seen in training",
    "flagged_fraction": "answers that raised an alert (score at or above the threshold)",
    "flagged_ratio": "share of answers flagged / the share validation flagged",
    "estimated_precision": "precision estimated from the scores (CBPE), before labels arrive",
    "estimated_recall": "recall estimated from the scores (CBPE), before labels arrive",
    "estimated_recall_change": "estimated recall - the recall measured on validation",
}


def fraction(mask: pd.Series) -> float:
    return round(float(mask.mean()), 4) if len(mask) else 0.0


def percentile(values: pd.Series, q: float) -> float | None:
    values = values.dropna()
    return round(float(np.percentile(values, q)), 3) if len(values) else None


def version_summary(
    rows: pd.DataFrame, reference: dict, modality: str, cfg: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(figures, details) of one model version's rows."""
    reasons = rows["reason"].fillna("")
    accepted = rows[~rows["status"].between(400, 499)]
    answered = accepted[accepted["label"].notna()]
    confidence = answered["confidence"].dropna()
    outputs = {
        "label": drift.categorical_drift(reference["outputs"]["labels"], answered["label"]),
        "confidence": drift.numeric_drift(reference["outputs"]["confidence"], confidence),
    }
    found = modality_part(modality, "monitoring").figures(rows, accepted, reference, cfg)
    missing, silent, inputs = found["missing"], found["silent"], found["inputs"]
    extra, extra_details = found.get("figures", {}), found.get("details", {})
    outputs.update(found.get("outputs", {}))
    share = drift.dataset_drift(inputs, cfg.drift_share)
    figures = {
        "requests": len(rows),
        "missing_fraction": missing,
        "undecodable_fraction": fraction(reasons.isin(UNDECODABLE)),
        "out_of_range_fraction": fraction(reasons.isin(OUT_OF_RANGE)),
        "silent_fraction": silent,
        "non_null_fraction": fraction(accepted["label"].notna()) if len(accepted) else 1.0,
        "low_confidence_rate": fraction(confidence < cfg.low_confidence),
        "mean_confidence": round(float(confidence.mean()), 4) if len(confidence) else None,
        "latency_p50_ms": percentile(answered["latency_ms"], 50),
        "latency_p95_ms": percentile(answered["latency_ms"], 95),
        "latency_p99_ms": percentile(answered["latency_ms"], 99),
        "drift_share": share["share"],
        "prediction_drift": int(bool(outputs["label"].get("drift"))),
        "confidence_drift": int(bool(outputs["confidence"].get("drift"))),
        **extra,
    }
    details = {
        **extra_details,
        "by_reason": {r: fraction(reasons == r) for r in sorted(set(reasons) - {""})},
        "label_shares": answered["label"].value_counts(normalize=True).round(4).to_dict(),
        "reference_label_shares": reference["outputs"]["label_shares"],
        "input_drift": inputs,
        "dataset_drift": share,
        "output_drift": outputs,
        "first": float(rows["time"].min()),
        "last": float(rows["time"].max()),
    }
    return figures, details


def summarise(log: pd.DataFrame, reference: dict, cfg: Any) -> dict[str, Any]:
    """Figures and details per model version of a prediction log (shadow runs apart)."""
    modality = reference["modality"]
    rows = log[log["route"] != "shadow"]
    versions = {}
    for version, group in rows.groupby(rows["model_version"].fillna("unknown"), sort=True):
        figures, details = version_summary(group, reference, modality, cfg)
        versions[str(version)] = {"figures": figures, "details": details}
    return {
        "rows": len(log),
        "shadow_rows": int((log["route"] == "shadow").sum()),
        "versions": versions,
    }


def over_time(log: pd.DataFrame, buckets: int = 20) -> pd.DataFrame:
    """Per time bucket: requests, missing / undecodable shares, low-confidence rate, p95."""
    rows = log[log["route"] != "shadow"].copy()
    if rows.empty:
        return pd.DataFrame()
    edges = np.linspace(rows["time"].min(), rows["time"].max() + 1e-9, buckets + 1)
    rows["bucket"] = np.digitize(rows["time"], edges[1:-1])
    reasons = rows["reason"].fillna("")
    rows["missing"] = reasons.isin(MISSING)
    rows["undecodable"] = reasons.isin(UNDECODABLE)
    return rows.groupby("bucket").agg(
        time=("time", "min"),
        requests=("id", "count"),
        missing=("missing", "mean"),
        undecodable=("undecodable", "mean"),
        confidence=("confidence", "mean"),
        latency_p95_ms=(
            "latency_ms",
            lambda v: np.nanpercentile(v, 95) if v.notna().any() else np.nan,
        ),
    )
