"""Labels that arrive late: `mlcycle monitor labels FILE`.

A fraud team learns which answers were wrong days later (chargebacks); a person labels a
sample of audio. FILE (CSV or Parquet) holds `request_id,label`, or `<id column>,label`
for a table model (e.g. `transaction_id,label`: the id each served row carried, logged with
it in `row_values`). Joined to the answers of the prediction log, it gives per window of
time and per model version:

    realised_accuracy    answers equal to their label (labelled answers)
    realised_precision   of the labelled answers flagged (the positive class), the share
                         that were positive
    realised_recall      of the labelled positives, the share flagged

and, for the answers of the package's own version, CBPE's estimate of precision and recall
from the scores alone (mlcycle.monitor.cbpe) beside them, over every answer of the window,
labelled or not: what the estimate said before the labels came, and how far off it was.

A window is `monitor.labels.window` (a pandas duration: 1D, 6h) of the rows' own time
(the task's time column, where the served rows carry it) or else of the time the server
answered. Labels for requests the log does not hold are counted and named (the log's
retention may have dropped them), never an error, unless none match at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from mlcycle.monitor.cbpe import Estimator

FIGURES = {
    "answered": "answers in the window",
    "labelled": "answers with a label",
    "labelled_positives": "labelled answers whose label is the positive class",
    "labelled_flagged": "labelled answers flagged as the positive class",
    "realised_accuracy": "realised accuracy (labelled answers)",
    "realised_precision": "realised precision of the flagged answers",
    "realised_recall": "realised recall of the positive class",
    "estimated_precision": "precision estimated from the scores (CBPE)",
    "estimated_recall": "recall estimated from the scores (CBPE)",
}
# the figure counting the sample each rule's figure stands on (its min_count applies to it)
SAMPLE = {
    "realised_accuracy": "labelled",
    "realised_precision": "labelled_flagged",
    "realised_recall": "labelled_positives",
}
BINARY_LABELS = {"1": -1, "0": 0, "true": -1, "false": 0}  # -1: the positive (last) label


def read_labels(path: Path, classes: list[str], id_column: str | None) -> tuple[pd.DataFrame, str]:
    """(labels, key): one row per key with its label, and the column they join on
    (request_id, or the table's id column). ValueError names a bad column or line."""
    if not path.is_file():
        raise FileNotFoundError(f"labels file not found: {path}")
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path).astype(str)
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty: expected a header request_id,label") from None
    except (ValueError, OSError) as e:
        raise ValueError(f"{path}: cannot read it as a table of labels: {e}") from None
    keys = ["request_id", *([id_column] if id_column else [])]
    key = next((k for k in keys if k in frame.columns), None)
    if key is None or "label" not in frame.columns:
        wanted = " or ".join(f"{k},label" for k in keys)
        raise ValueError(f"{path}: columns {list(frame.columns)}; expected {wanted}")
    if frame.empty:
        raise ValueError(f"{path} holds no labels (a header and no rows)")
    first = 2 if path.suffix != ".parquet" else 0  # a CSV's line (the header is line 1)
    frame = frame.assign(line=np.arange(first, first + len(frame)))
    frame["label"] = frame["label"].str.strip()
    frame = frame[frame["label"] != ""]  # not labelled (yet)
    binary = {k: classes[v] for k, v in BINARY_LABELS.items()} if len(classes) == 2 else {}
    frame["label"] = frame["label"].map(lambda v: v if v in classes else binary.get(v.lower(), v))
    for name, bad in (
        ("label", ~frame["label"].isin(classes)),
        (key, frame[key].str.strip() == ""),
    ):
        if bad.any():
            row = frame[bad].iloc[0]
            problem = f"unknown label {row['label']!r}; the model's labels are {classes}"
            if name == key:
                problem = f"empty {key}"
            raise ValueError(f"{path} line {row['line']}: {problem}")
    repeated = frame[frame.duplicated(key, keep=False)]
    for value, group in repeated.groupby(key):
        if group["label"].nunique() > 1:
            lines = ", ".join(str(v) for v in group["line"])
            raise ValueError(f"{path} lines {lines}: {key} {value!r} has different labels")
    return frame.drop_duplicates(key, keep="last")[[key, "label", "line"]], key


def duration(window: str) -> pd.Timedelta:
    """monitor.labels.window as a duration; ValueError names a bad one."""
    try:
        step = pd.Timedelta(window)
    except ValueError:
        raise ValueError(
            f"monitor.labels.window {window!r} is not a duration (1D, 6h, 30min)"
        ) from None
    if step <= pd.Timedelta(0):
        raise ValueError(f"monitor.labels.window {window!r} must be longer than zero")
    return step


def answers(log: pd.DataFrame, id_column: str | None, time_column: str | None) -> pd.DataFrame:
    """The log's answers (no shadow runs, no refusals): request id, version, the decision,
    score, the row's id and its own time where the rows carry them, and `when`."""
    served = log[(log["route"] != "shadow") & (log["status"] == 200) & log["label"].notna()]
    served = served.reset_index(drop=True)
    out = pd.DataFrame(
        {
            "request_id": served["request_id"],
            "model_version": served["model_version"].fillna("unknown"),
            "predicted": served["label"],
            "score": served["score"] if "score" in served else np.nan,
            "when": pd.to_datetime(served["time"], unit="s", utc=True),
        }
    )
    values = served["row_values"] if "row_values" in served else pd.Series(dtype=object)
    rows = [orjson.loads(v) if isinstance(v, str) else {} for v in values]
    if id_column and rows:
        out[id_column] = [None if r.get(id_column) is None else str(r[id_column]) for r in rows]
    if time_column and rows and all(r.get(time_column) is not None for r in rows):
        times = pd.Series([r[time_column] for r in rows])
        numbers = pd.to_numeric(times, errors="coerce")
        when = (
            pd.to_datetime(numbers, unit="s", utc=True)
            if numbers.notna().all()
            else pd.to_datetime(times, utc=True, errors="coerce", format="mixed")
        )
        if when.notna().all():
            out["when"], out.attrs["clock"] = when, f"the rows' own time ({time_column})"
    out.attrs.setdefault("clock", "the time the server answered")
    return out


def figures_of(
    window: pd.DataFrame, positive: str | None, estimator: Estimator | None
) -> dict[str, Any]:
    """The figures of one window's answers (`truth`: the label, None where none came)."""
    labelled = window[window["truth"].notna()]
    out: dict[str, Any] = dict.fromkeys(FIGURES)
    out.update(answered=len(window), labelled=len(labelled))
    if len(labelled):
        out["realised_accuracy"] = round(
            float((labelled["predicted"] == labelled["truth"]).mean()), 4
        )
    if positive is not None:
        flagged = labelled["predicted"] == positive
        actual = labelled["truth"] == positive
        hits = int((flagged & actual).sum())
        out.update(labelled_positives=int(actual.sum()), labelled_flagged=int(flagged.sum()))
        out["realised_precision"] = round(hits / flagged.sum(), 4) if flagged.any() else None
        out["realised_recall"] = round(hits / actual.sum(), 4) if actual.any() else None
    if estimator is not None:
        out.update(estimator.estimate(window["score"].dropna()))
    return out


def performance(
    answered: pd.DataFrame,
    labels: pd.DataFrame,
    key: str,
    step: pd.Timedelta,
    positive: str | None,
    estimators: dict[str, Estimator],
    unlabelled_as: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(per version: its total and its windows, the join's counts) of the answers with the
    labels joined on `key`; `estimators` maps a model version to its package's CBPE;
    `unlabelled_as` labels the answers no label names (a chargeback file lists frauds)."""
    if key not in answered.columns:
        raise ValueError(f"the log's answers carry no {key}: join on request_id instead")
    truth = labels.set_index(key)["label"]
    joined = answered.assign(truth=answered[key].map(truth))
    if unlabelled_as is not None:
        joined["truth"] = joined["truth"].fillna(unlabelled_as)
    matched = set(answered[key].dropna()) & set(truth.index)
    unmatched = [k for k in truth.index if k not in matched]
    join = {"labels": len(truth), "matched": len(matched), "unmatched": len(unmatched)}
    join["unmatched_examples"] = unmatched[:5]
    versions: dict[str, Any] = {}
    for version, rows in joined.groupby("model_version", sort=False):
        estimator = estimators.get(version)
        starts = rows["when"].dt.floor(step)
        windows = [
            {
                "start": start.isoformat(),
                "end": (start + step).isoformat(),
                **figures_of(w, positive, estimator),
            }
            for start, w in rows.groupby(starts)
        ]
        versions[version] = {
            "estimated": estimator is not None,
            "total": figures_of(rows, positive, estimator),
            "windows": windows,
        }
    return versions, join
