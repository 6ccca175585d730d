"""validate for table tasks: every row checked, the past trained on, the future scored.

* Each row is held to the pandera schema derived from task.table (columns.row_schema):
  ranges, allowed categories, missing values only where a column is nullable; a repeated
  id keeps its first row. A row that fails is rejected with its reason and detail, never
  dropped silently: every collected row is valid or rejected.
* The table as a whole: a column missing in more than validate.table.max_missing_fraction
  of its rows, or a feature that predicts the label on its own (a single-column ROC-AUC
  of at least validate.table.max_feature_auc: a label leak) stops the stage naming it.
* The split reflects deployment: accounts (task.table.group_column) are assigned to
  train / val / test by hashing their id (validate.val_fraction, test_fraction), and time
  is cut so that validate.table.future_fraction of the rows lie after it. Train keeps its
  accounts' past rows; val and test keep their accounts' future rows. What is left is
  `unused` and counted: train accounts' future (training on it would train on what
  deployment has not seen yet) and val/test accounts' past (it is in their velocity
  features already). No account is in two splits, and the model is scored on the future.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa
from omegaconf import DictConfig
from sklearn.metrics import roc_auc_score

from mlcycle.data.splits import split_of
from mlcycle.data.validation import split_metrics
from mlcycle.modalities.table.columns import NUMBER, TableSpec, row_schema

UNUSED = "unused"
# pandera's check names -> the reason a rejected row carries
REASONS = {
    "not_nullable": "missing_value",
    "greater_than_or_equal_to": "out_of_range",
    "less_than_or_equal_to": "out_of_range",
    "isin": "unknown_category",
    "finite": "not_finite",
}


class TableValidationError(ValueError):
    """The table as a whole cannot be trained on; the message names the column."""


@dataclass
class TableValidation:
    valid: pd.DataFrame  # the valid rows, with `split`
    rejected: pd.DataFrame  # row, id, label, reason, detail
    metrics: dict


def reject_rows(rows: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """One rejection per failing row (its first failure): row, id, label, reason, detail."""
    found: dict[int, tuple[str, str]] = {}
    repeats = rows[spec.id_column].duplicated(keep="first")
    first = rows.index[~repeats].to_series(index=rows.loc[~repeats, spec.id_column])
    for i in rows.index[repeats]:
        found[i] = (
            "duplicate",
            f"same {spec.id_column} as row {first[rows.at[i, spec.id_column]]}",
        )
    try:
        row_schema(spec).validate(rows.loc[~repeats], lazy=True)
    except pa.errors.SchemaErrors as e:
        cases = e.failure_cases.dropna(subset=["index"])
        for column, check, index, value in cases[
            ["column", "check", "index", "failure_case"]
        ].itertuples(index=False):
            name = str(check).split("(")[0]
            reason = REASONS.get(name, name)
            found.setdefault(int(index), (reason, f"column {column!r}: {value!r} fails {check}"))
    order = sorted(found)
    return pd.DataFrame(
        {
            "row": order,
            "id": rows.loc[order, spec.id_column].to_numpy(),
            "label": rows.loc[order, spec.label_column].to_numpy(),
            "reason": [found[i][0] for i in order],
            "detail": [found[i][1] for i in order],
        },
        columns=["row", "id", "label", "reason", "detail"],
    )


def missing_shares(valid: pd.DataFrame, spec: TableSpec) -> dict[str, float]:
    return {c.name: round(float(valid[c.name].isna().mean()), 4) for c in spec.columns}


def leak_scores(valid: pd.DataFrame, spec: TableSpec, positive: str) -> dict[str, float]:
    """Each feature's ROC-AUC on its own for the positive label (the larger of AUC and
    1 - AUC; categories scored by their label rate): 1.0 means it gives the label away."""
    y = (valid[spec.label_column] == positive).to_numpy()
    if y.all() or not y.any():
        return {}
    scores = {}
    for c in spec.columns:
        col = valid[c.name]
        if c.type == NUMBER:
            x = col.fillna(col.median() if col.notna().any() else 0.0).to_numpy()
        else:
            x = pd.Series(y, index=col.index).groupby(col.fillna("<missing>")).transform("mean")
        auc = roc_auc_score(y, x)
        scores[c.name] = round(float(max(auc, 1 - auc)), 4)
    return scores


def time_group_split(
    times: pd.Series, groups: pd.Series, val: float, test: float, future: float
) -> np.ndarray:
    """train / val / test / unused per row: groups hashed to splits, train on the past,
    val and test on the future (the last `future` share of the rows by time)."""
    cut = times.quantile(1.0 - future)
    by_group = {g: split_of(g, val, test) for g in groups.unique()}
    split = groups.map(by_group).to_numpy(dtype=object)
    past = (times < cut).to_numpy()
    keep = np.where(split == "train", past, ~past)
    return np.where(keep, split, UNUSED)


def validate_rows(rows: pd.DataFrame, spec: TableSpec, labels: list[str], cfg: DictConfig):
    """Check and split a collection (collect's rows.parquet); TableValidation."""
    rows = rows.reset_index(drop=True)
    rejected = reject_rows(rows, spec)
    valid = rows.drop(index=rejected["row"]).copy()
    limits = cfg.table
    shares = missing_shares(valid, spec)
    for name, share in shares.items():
        if share > limits.max_missing_fraction:
            raise TableValidationError(
                f"column {name!r} is missing in {share:.1%} of the valid rows "
                f"(> validate.table.max_missing_fraction={limits.max_missing_fraction:.1%})"
            )
    leaks = leak_scores(valid, spec, labels[-1])
    for name, auc in leaks.items():
        if auc >= limits.max_feature_auc:
            raise TableValidationError(
                f"column {name!r} predicts {spec.label_column!r} on its own (ROC-AUC {auc:.4f} "
                f">= validate.table.max_feature_auc={limits.max_feature_auc}): a label leak? "
                "Remove it from task.table.columns"
            )
    valid["split"] = time_group_split(
        valid[spec.time_column],
        valid[spec.group_column],
        cfg.val_fraction,
        cfg.test_fraction,
        limits.future_fraction,
    )
    assert len(valid) + len(rejected) == len(rows), "a collected row was lost in validation"
    return TableValidation(valid, rejected, table_metrics(valid, rejected, spec, shares, leaks))


def table_metrics(valid, rejected, spec: TableSpec, shares: dict, leaks: dict) -> dict:
    splits = ["train", "val", "test", UNUSED]
    total = len(valid) + len(rejected)
    return {
        **split_metrics(valid, rejected, total, splits, spec.label_column, spec.group_column),
        "missing_fraction": shares,
        "missing_fraction_overall": round(float(np.mean(list(shares.values()) or [0])), 4),
        "single_feature_auc": leaks,
        "time_range": {
            s: [
                str(t) for t in valid.loc[valid["split"] == s, spec.time_column].agg(["min", "max"])
            ]
            for s in splits[:3]
        },
    }


def PART(params: DictConfig) -> None:  # noqa: N802 (the validate stage of tables)
    from mlcycle.modalities.table.report import validate

    validate(params)
