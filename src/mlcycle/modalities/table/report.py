"""The validate stage of a table task: check, split, write the valid rows, the rejected
ones, metrics/data.json and the data report (reports/data/).

    <paths.validated>/rows.parquet  the valid rows, each with its split
    <paths.validated>/rejected.csv  row, id, label, reason, detail
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from mlcycle.atomic import write_csv_atomic, write_json_atomic, write_text_atomic
from mlcycle.data.report import rejected_section
from mlcycle.data.validation import enforce_limits
from mlcycle.modalities.table.columns import ROWS, TableSpec
from mlcycle.modalities.table.validate import validate_file

log = logging.getLogger("mlcycle")
REJECTED = "rejected.csv"


def validate(params: DictConfig) -> None:
    spec = TableSpec.from_config(params.task.table)
    labels = list(params.task.labels)
    raw = Path(params.paths.raw) / ROWS
    if not raw.is_file():
        raise FileNotFoundError(f"{raw} not found (run the collect stage first)")
    out = Path(params.paths.validated)
    result = validate_file(raw, out / ROWS, spec, labels, params.validate)
    write_csv_atomic(out / REJECTED, result.rejected)
    write_json_atomic(params.paths.metrics.data, result.metrics)
    write_report(Path(params.paths.data_report), result, spec)
    m = result.metrics
    log.info(
        "%d valid rows, %d rejected %s; split sizes %s (unused: the train accounts' future "
        "and the val/test accounts' past)",
        m["valid"],
        m["rejected"],
        m["rejected_by_reason"],
        m["split_sizes"],
    )
    enforce_limits(m, labels, params.validate, out / REJECTED)


def write_report(out: Path, result, spec: TableSpec, examples: int = 3) -> None:
    """reports/data/: class balance, rejections, a histogram per number, missing shares."""
    rejected, m = result.rejected, result.metrics
    balance = pd.DataFrame(
        [
            (split, label, n)
            for split, counts in sorted(m["per_class"].items())
            for label, n in sorted(counts.items())
        ],
        columns=["split", "label", "count"],
    )
    balance["class"] = balance["label"] + " (" + balance["split"] + ")"
    seen = sorted({label for counts in m["per_class"].values() for label in counts})
    write_csv_atomic(out / "class_balance.csv", balance[["class", "split", "label", "count"]])
    reasons = rejected.groupby("reason").size().rename("count").reset_index()
    write_csv_atomic(out / "rejected_by_reason.csv", reasons.sort_values("count", ascending=False))
    for c in spec.numeric:
        write_csv_atomic(out / "hist" / f"{c.name}.csv", result.histograms[c.name])
    lines = [
        "# Data report",
        "",
        f"{m['valid']} valid rows, {m['rejected']} rejected.",
        "",
        "| split | rows | accounts | " + " | ".join(seen) + " |",
        "| --- | --- | --- |" + " --- |" * len(seen),
    ]
    for split, size in m["split_sizes"].items():
        counts = " | ".join(str(m["per_class"][split].get(k, 0)) for k in seen)
        lines.append(f"| {split} | {size} | {m['groups'][split]} | {counts} |")
    lines += ["", "## Missing values and single-column ROC-AUC", ""]
    lines += ["| column | missing | ROC-AUC alone |", "| --- | --- | --- |"]
    for name, share in m["missing_fraction"].items():
        lines.append(f"| {name} | {share:.2%} | {m['single_feature_auc'].get(name, '')} |")
    lines += rejected_section(rejected, "rows", lambda r: f"row {r.row} (`{r.id}`)", examples)
    write_text_atomic(out / "README.md", "\n".join(lines) + "\n")
