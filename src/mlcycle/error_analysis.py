"""Where the model fails: accuracy by slice, confused pairs, calibration.

Slices come from the validated manifest's metadata (accent, voice variant family and SNR
bucket for audio; size and mode for images; any user column named in evaluate.slices).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd


def add_derived_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns worth slicing on that the manifest holds only implicitly."""
    frame = frame.copy()
    if "variant" in frame:
        frame["variant_family"] = [re.sub(r"\d+$", "", str(v)).lower() for v in frame["variant"]]
    if "snr_db" in frame:
        snr = pd.to_numeric(frame["snr_db"], errors="coerce")
        frame["snr_bucket"] = pd.cut(
            snr, [-np.inf, 10, 20, np.inf], labels=["<10 dB", "10-20 dB", ">=20 dB"]
        ).astype(str)
        frame.loc[snr.isna(), "snr_bucket"] = "no speech"
    if "width" in frame and "height" in frame:
        frame["size"] = [
            f"{int(w)}x{int(h)}" if w == w and h == h else "?"
            for w, h in zip(frame["width"], frame["height"])
        ]
    return frame


def slice_accuracy(frame: pd.DataFrame, columns: list[str], min_count: int = 5) -> pd.DataFrame:
    """Accuracy per value of each column (frame has `correct`); worst first."""
    rows = []
    for column in columns:
        if column not in frame:
            continue
        for value, group in frame.groupby(column, dropna=False):
            if len(group) >= min_count:
                rows.append(
                    {
                        "slice": column,
                        "value": str(value),
                        "count": len(group),
                        "accuracy": round(float(group["correct"].mean()), 4),
                    }
                )
    table = pd.DataFrame(rows, columns=["slice", "value", "count", "accuracy"])
    return table.sort_values(["accuracy", "count"], ascending=[True, False], ignore_index=True)


def confused_pairs(y: np.ndarray, pred: np.ndarray, labels: list[str], top: int = 5) -> list:
    """The most frequent (true, predicted) mistakes."""
    counts: dict[tuple[int, int], int] = {}
    for t, p in zip(y.tolist(), pred.tolist()):
        if t != p:
            counts[(t, p)] = counts.get((t, p), 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [{"true": labels[t], "predicted": labels[p], "count": n} for (t, p), n in ranked]


def calibration(confidence: np.ndarray, correct: np.ndarray, bins: int = 15):
    """Expected calibration error and the reliability-diagram table (per confidence bin)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        mask = index == b
        if not mask.any():
            continue
        conf, acc = float(confidence[mask].mean()), float(correct[mask].mean())
        ece += mask.mean() * abs(acc - conf)
        rows.append(
            {"confidence": round(conf, 4), "accuracy": round(acc, 4), "count": int(mask.sum())}
        )
    return round(float(ece), 4), pd.DataFrame(rows, columns=["confidence", "accuracy", "count"])


def worst_slices_markdown(
    table: pd.DataFrame, frame: pd.DataFrame, top: int = 8, examples: int = 3
) -> str:
    """A Markdown page: the worst slices, each with misclassified example files."""
    lines = [
        "# Worst slices",
        "",
        "| slice | value | files | accuracy |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r.slice} | {r.value} | {r.count} | {r.accuracy:.3f} |"
        for r in table.head(top).itertuples()
    ]
    for r in table.head(top).itertuples():
        wrong = frame[(frame[r.slice].astype(str) == r.value) & ~frame["correct"]]
        if wrong.empty:
            continue
        lines += ["", f"## {r.slice} = {r.value}", ""]
        lines += [
            f"- `{w.path}`: {w.label} predicted as {w.predicted} ({w.confidence:.2f})"
            for w in wrong.head(examples).itertuples()
        ]
    return "\n".join(lines) + "\n"


@dataclass
class ErrorAnalysis:
    slices: pd.DataFrame  # accuracy per slice, worst first
    worst_slices: str  # Markdown, with misclassified examples
    reliability: pd.DataFrame  # the reliability diagram
    metrics: dict  # ece, worst_slice


def analyse(
    results: pd.DataFrame,
    manifest: pd.DataFrame,
    slices: list[str],
    min_slice_count: int,
) -> ErrorAnalysis:
    """Slices and calibration of `results` (path, label, predicted, confidence, correct),
    sliced by the validated `manifest`'s metadata: `slices` (the modality's own columns
    and evaluate.slices)."""
    frame = add_derived_columns(
        results.merge(manifest.drop(columns=["label"]), on="path", how="left")
    )
    table = slice_accuracy(frame, list(slices), min_slice_count)
    ece, reliability = calibration(frame["confidence"].to_numpy(), frame["correct"].to_numpy())
    worst = table.iloc[0] if len(table) else None
    return ErrorAnalysis(
        table,
        worst_slices_markdown(table, frame),
        reliability,
        {
            "ece": ece,
            "worst_slice": None
            if worst is None
            else {"slice": worst["slice"], "value": worst["value"], "accuracy": worst["accuracy"]},
        },
    )
