"""The data report validate writes to reports/data/: what a person looks at before training.

Every table is a small CSV that `dvc plots show` renders (declared in dvc.yaml), plus a
Markdown summary with example files for each rejection reason.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mlcycle.atomic import write_csv_atomic, write_text_atomic


class Histogram:
    """A histogram of 20 bins from the smallest to the largest value, accumulated a chunk
    at a time once that range is known (a table's validate); `histogram` is one chunk."""

    def __init__(self, low: float, high: float, bins: int = 20) -> None:
        self.range, self.bins = (low, high), bins
        self.counts = np.zeros(bins, dtype=np.int64)
        self.edges: np.ndarray | None = None

    def add(self, values: pd.Series) -> None:
        x = finite(values)
        if np.isfinite(self.range).all():
            counts, self.edges = np.histogram(x, bins=self.bins, range=self.range)
            self.counts += counts

    def frame(self) -> pd.DataFrame:
        if self.edges is None or not self.counts.sum():
            return pd.DataFrame({"bin": [], "count": []})
        centres = ((self.edges[:-1] + self.edges[1:]) / 2).round(3)
        return pd.DataFrame({"bin": centres, "count": self.counts})


def finite(values: pd.Series) -> np.ndarray:
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    return x[np.isfinite(x)]


def histogram(values: pd.Series, bins: int = 20) -> pd.DataFrame:
    x = finite(values)
    if not len(x):
        return pd.DataFrame({"bin": [], "count": []})
    whole = Histogram(float(x.min()), float(x.max()), bins)
    whole.add(values)
    return whole.frame()


def rejected_section(rejected: pd.DataFrame, what: str, name, examples: int) -> list[str]:
    """The report's rejections: a heading per reason with its first `examples`, each
    named by `name(row)` and followed by its detail."""
    lines = ["", f"## Rejected {what} by reason", ""]
    if rejected.empty:
        lines.append("None.")
    for reason, rows in rejected.groupby("reason"):
        lines.append(f"### {reason} ({len(rows)})")
        lines += [f"- {name(r)}: {r.detail}" for r in rows.head(examples).itertuples()]
        lines.append("")
    return lines


def write_report(
    out: Path,
    valid: pd.DataFrame,
    rejected: pd.DataFrame,
    distributions: dict[str, str],
    examples: int = 3,
) -> list[Path]:
    """Write the report files under `out`, with a histogram of each of `distributions`
    (column -> its title and unit: the modality's, named by its validate part); returns
    their paths."""
    written = []

    def save(name: str, frame: pd.DataFrame) -> None:
        write_csv_atomic(out / name, frame)
        written.append(out / name)

    balance = valid.groupby(["split", "label"]).size().rename("count").reset_index()
    balance["class"] = balance["label"] + " (" + balance["split"] + ")"
    save("class_balance.csv", balance[["class", "split", "label", "count"]])
    for column in distributions:
        if column in valid.columns:
            save(f"hist/{column}.csv", histogram(valid[column]))
    reasons = rejected.groupby("reason").size().rename("count").reset_index()
    save("rejected_by_reason.csv", reasons.sort_values("count", ascending=False))

    lines = [
        "# Data report",
        "",
        f"{len(valid)} valid files, {len(rejected)} rejected.",
        "",
        "| split | files | classes |",
        "| --- | --- | --- |",
    ]
    for split, rows in valid.groupby("split"):
        lines.append(f"| {split} | {len(rows)} | {rows['label'].nunique()} |")
    lines += ["", "## Distributions", ""]
    for column, title in distributions.items():
        if column in valid.columns:
            v = pd.to_numeric(valid[column], errors="coerce")
            lines.append(
                f"- {title}: min {v.min():.2f}, median {v.median():.2f}, "
                f"max {v.max():.2f} (`hist/{column}.csv`)"
            )
    lines += rejected_section(rejected, "files", lambda r: f"`{r.path}`", examples)
    write_text_atomic(out / "README.md", "\n".join(lines) + "\n")
    written.append(out / "README.md")
    return written
