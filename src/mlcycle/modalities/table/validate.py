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
* A chunk of rows at a time (mlcycle.modalities.table.chunks), in two passes: memory
  stays flat as rows grow.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
from omegaconf import DictConfig
from sklearn.metrics import roc_auc_score

from mlcycle.data.report import Histogram, finite
from mlcycle.data.splits import split_of
from mlcycle.modalities.table.chunks import RowWriter, arrow_schema, chunks
from mlcycle.modalities.table.columns import NUMBER, TableSpec, row_schema

UNUSED = "unused"
LEAK_SAMPLE = 200_000  # valid rows the label-leak check scores (a seeded sample beyond)
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
    valid: pd.DataFrame | None  # the valid rows, with `split` (None: written to a file)
    rejected: pd.DataFrame  # row, id, label, reason, detail
    metrics: dict
    histograms: dict[str, pd.DataFrame]  # the report's, per number column


def reject_rows(
    rows: pd.DataFrame, spec: TableSpec, repeated: dict[int, int], schema: pa.DataFrameSchema
) -> pd.DataFrame:
    """One rejection per failing row of a chunk (its first failure): row, id, label,
    reason, detail. `repeated`: the rows of the whole file whose id an earlier row has
    ({row: that row}, repeated_ids)."""
    found: dict[int, tuple[str, str]] = {}
    repeats = rows.index.isin(list(repeated))
    for i in rows.index[repeats]:
        found[int(i)] = ("duplicate", f"same {spec.id_column} as row {repeated[int(i)]}")
    try:
        schema.validate(rows.loc[~repeats], lazy=True)
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
    times: pd.Series, groups: pd.Series, val: float, test: float, cut, by_group: dict
) -> np.ndarray:
    """train / val / test / unused per row: groups hashed to splits (cached in
    `by_group`), train on the past, val and test on the future (from `cut` on)."""
    for g in groups.unique():
        if g not in by_group:
            by_group[g] = split_of(g, val, test)
    split = groups.map(by_group).to_numpy(dtype=object)
    past = (times < cut).to_numpy()
    keep = np.where(split == "train", past, ~past)
    return np.where(keep, split, UNUSED)


def repeated_ids(raw: Path, spec: TableSpec) -> tuple[dict[int, int], np.ndarray]:
    """Rows whose id an earlier row has ({row: that first row}), found from the id column
    alone, a chunk at a time, by 64-bit hashes (8 bytes a row in memory); and the hashes."""
    hashes = np.concatenate(
        [
            pd.util.hash_pandas_object(c[spec.id_column], index=False).to_numpy()
            for c in chunks(raw, [spec.id_column])
        ]
        or [np.zeros(0, np.uint64)]
    )
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    repeat = np.concatenate([[False], ordered[1:] == ordered[:-1]])
    run_start = np.maximum.accumulate(np.where(repeat, 0, np.arange(len(order))))
    return dict(zip(order[repeat].tolist(), order[run_start[repeat]].tolist())), hashes


def validate_file(raw: Path, out: Path, spec: TableSpec, labels: list[str], cfg: DictConfig):
    """Check and split a collection (collect's rows.parquet) into out (the valid rows,
    each with its split), a chunk of rows at a time: memory stays flat as rows grow (the
    ids' hashes and the valid rows' times, 8 bytes a row each, are all it keeps per row;
    the label-leak check scores a seeded sample of at most LEAK_SAMPLE valid rows).
    TableValidation (valid: None, the rows being in `out`) with the report's histograms."""
    limits = cfg.table
    repeats, hashes = repeated_ids(raw, spec)
    total = len(hashes)
    sample_share = min(1.0, LEAK_SAMPLE / max(total, 1))
    in_sample = hashes % np.uint64(2**32) < np.uint64(int(sample_share * 2**32))
    schema = row_schema(spec)
    rejected_parts, sample_parts, times = [], [], []
    missing = {c.name: 0 for c in spec.columns}
    low = {c.name: np.inf for c in spec.numeric}
    high = {c.name: -np.inf for c in spec.numeric}
    valid_count = 0
    for rows in chunks(raw):  # 1: what is rejected, and what the split and checks need
        rejected = reject_rows(rows, spec, repeats, schema)
        rejected_parts.append(rejected)
        valid = rows.drop(index=rejected["row"])
        valid_count += len(valid)
        for name in missing:
            missing[name] += int(valid[name].isna().sum())
        for name in low:
            x = finite(valid[name])
            if len(x):
                low[name], high[name] = min(low[name], x.min()), max(high[name], x.max())
        times.append(valid[spec.time_column].to_numpy(dtype="datetime64[ns]"))
        sample_parts.append(valid.loc[in_sample[valid.index]])
    rejected = pd.concat(rejected_parts, ignore_index=True) if rejected_parts else None
    if rejected is None:  # a file of no row groups
        rejected = pd.DataFrame(columns=["row", "id", "label", "reason", "detail"])
    shares = {name: round(float(n / valid_count), 4) if valid_count else float("nan")
              for name, n in missing.items()}  # fmt: skip
    for name, share in shares.items():
        if share > limits.max_missing_fraction:
            raise TableValidationError(
                f"column {name!r} is missing in {share:.1%} of the valid rows "
                f"(> validate.table.max_missing_fraction={limits.max_missing_fraction:.1%})"
            )
    leaks = leak_scores(pd.concat(sample_parts), spec, labels[-1]) if sample_parts else {}
    for name, auc in leaks.items():
        if auc >= limits.max_feature_auc:
            raise TableValidationError(
                f"column {name!r} predicts {spec.label_column!r} on its own (ROC-AUC {auc:.4f} "
                f">= validate.table.max_feature_auc={limits.max_feature_auc}): a label leak? "
                "Remove it from task.table.columns"
            )
    del sample_parts
    cut = pd.Series(np.concatenate(times) if times else np.zeros(0, "datetime64[ns]"))
    cut = cut.quantile(1.0 - limits.future_fraction)
    del times
    splits = ["train", "val", "test", UNUSED]
    sizes = dict.fromkeys(splits, 0)
    per_class: dict[str, dict[str, int]] = {s: {} for s in splits}
    groups: dict[str, set] = {s: set() for s in splits}
    spans: dict[str, list] = {s: [None, None] for s in splits}
    hists = {name: Histogram(low[name], high[name]) for name in low}
    by_group: dict = {}
    rejected_rows = np.sort(rejected["row"].to_numpy(dtype=np.int64))
    written = 0
    with RowWriter(out, arrow_schema(spec, ("source", "defect", "split"))) as writer:
        for rows in chunks(raw):  # 2: the valid rows with their split, and their figures
            valid = rows.loc[~np.isin(rows.index.to_numpy(), rejected_rows)].copy()
            valid["split"] = time_group_split(
                valid[spec.time_column],
                valid[spec.group_column],
                cfg.val_fraction,
                cfg.test_fraction,
                cut,
                by_group,
            )
            writer.write(valid)
            written += len(valid)
            for name, hist in hists.items():
                hist.add(valid[name])
            for split, part in valid.groupby("split"):
                sizes[split] += len(part)
                for label, n in part[spec.label_column].value_counts().items():
                    per_class[split][label] = per_class[split].get(label, 0) + int(n)
                groups[split].update(part[spec.group_column].unique().tolist())
                t = part[spec.time_column]
                first, last = spans[split]
                spans[split] = [
                    t.min() if first is None else min(first, t.min()),
                    t.max() if last is None else max(last, t.max()),
                ]
    assert written + len(rejected) == total, "a collected row was lost in validation"
    metrics = {
        "collected": total,
        "valid": written,
        "rejected": len(rejected),
        "rejected_fraction": round(len(rejected) / max(total, 1), 4),
        "rejected_by_reason": rejected["reason"].value_counts().sort_index().to_dict(),
        "split_sizes": sizes,
        "groups": {s: len(g) for s, g in groups.items()},
        "per_class": {s: dict(sorted(c.items())) for s, c in per_class.items()},
        "missing_fraction": shares,
        "missing_fraction_overall": round(float(np.mean(list(shares.values()) or [0])), 4),
        "single_feature_auc": leaks,
        "time_range": {s: [str(t) for t in spans[s]] for s in splits[:3]},
    }
    return TableValidation(None, rejected, metrics, {n: h.frame() for n, h in hists.items()})


def PART(params: DictConfig) -> None:  # noqa: N802 (the validate stage of tables)
    from mlcycle.modalities.table.report import validate

    validate(params)
