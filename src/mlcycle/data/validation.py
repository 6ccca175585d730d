"""Validate a collection: check every file, drop duplicates, split by group, count.

Every collected file ends in exactly one of the valid rows (with its split) and the
rejected rows (with a reason and a detail).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from mlcycle.data.checks import Invalid
from mlcycle.data.splits import HELD_OUT, SPLITS, split_of
from mlcycle.data.tables import Rejected, ValidatedManifest
from mlcycle.progress import progress

REJECTED_COLUMNS = ["path", "label", "reason", "detail"]


class ValidationError(ValueError):
    """The collection as a whole cannot be trained on; the message says why."""


@dataclass(frozen=True)
class Checker:
    """A file modality's check (its validate part names it): `check(path, limits, row)`
    returns the file's facts (a dataclass of `facts`) or raises Invalid; its limits are
    validate.<modality>."""

    check: Callable[[Path, DictConfig, dict], object]
    facts: type


@dataclass
class Validation:
    valid: pd.DataFrame  # ValidatedManifest
    rejected: pd.DataFrame  # Rejected
    metrics: dict  # metrics/data.json


def rejection(row: dict, reason: str, detail: str) -> dict:
    return {"path": row["path"], "label": row["label"], "reason": reason, "detail": detail}


def check_files(
    raw: pd.DataFrame, root: Path, task: DictConfig, checks: DictConfig, check: Callable
):
    """Check each row's file with the modality's `check`; returns (valid rows, rejected
    rows)."""
    labels = set(task.labels)
    valid, rejected = [], []
    with progress(len(raw), "checking", "file") as bar:
        for row in raw.to_dict("records"):
            bar.update()
            try:
                if isinstance(row.get("problem"), str) and row["problem"]:
                    raise Invalid(row["problem"].split(":")[0], row["problem"])
                if row["label"] not in labels:
                    raise Invalid("unknown_label", f"label {row['label']!r} not in task.labels")
                facts = check(root / row["path"], checks, row)
            except Invalid as e:
                rejected.append(rejection(row, e.reason, str(e)))
                continue
            valid.append({**row, **vars(facts)})
    return valid, rejected


def drop_duplicates(valid: pd.DataFrame) -> tuple[pd.DataFrame, list]:
    """Reject every copy of content that carries conflicting labels, and repeats of the rest."""
    rejected = []
    keep = pd.Series(True, index=valid.index)
    for _, rows in valid.groupby("sha256", sort=False):
        if len(rows) == 1:
            continue
        if rows["label"].nunique() > 1:
            conflict = ", ".join(sorted(rows["label"].unique()))
            detail = f"same content as {len(rows) - 1} other file(s) with labels {conflict}"
            for i, r in rows.iterrows():
                keep[i] = False
                rejected.append(rejection(r, "duplicate_conflict", detail))
        else:
            first = rows.iloc[0]["path"]
            for i, r in rows.iloc[1:].iterrows():
                keep[i] = False
                rejected.append(rejection(r, "duplicate", f"same content as {first}"))
    return valid[keep], rejected


def held_out_rows(frame: pd.DataFrame) -> list[bool]:
    """Which rows a source marked held out (voices never trained on)."""
    if "held_out" not in frame:
        return [False] * len(frame)
    return [str(v).strip().lower() in ("true", "1", "1.0") for v in frame["held_out"]]


def data_metrics(valid: pd.DataFrame, rejected: pd.DataFrame, total: int) -> dict:
    splits = [*SPLITS, HELD_OUT] if (valid["split"] == HELD_OUT).any() else list(SPLITS)
    return split_metrics(valid, rejected, total, splits)


def split_metrics(
    valid: pd.DataFrame,
    rejected: pd.DataFrame,
    total: int,
    splits: list[str],
    label: str = "label",
    group: str = "group",
) -> dict:
    """metrics/data.json's counts: rejections by reason, and per split its size, groups
    and examples per class (a table names its own label and group columns)."""
    per_split = {
        s: valid.loc[valid["split"] == s, label].value_counts().sort_index().to_dict()
        for s in splits
    }
    return {
        "collected": total,
        "valid": len(valid),
        "rejected": len(rejected),
        "rejected_fraction": round(len(rejected) / max(total, 1), 4),
        "rejected_by_reason": rejected["reason"].value_counts().sort_index().to_dict(),
        "split_sizes": {s: int((valid["split"] == s).sum()) for s in splits},
        "groups": {s: int(valid.loc[valid["split"] == s, group].nunique()) for s in splits},
        "per_class": {s: {k: int(v) for k, v in c.items()} for s, c in per_split.items()},
    }


def validate_collection(
    raw: pd.DataFrame, root: Path, task: DictConfig, cfg: DictConfig, checker: Checker
) -> Validation:
    """Check (with the modality's `checker`), deduplicate and split the collection in
    `root` (raw: its manifest).

    `cfg` is the validate section; paths in the result are `root`/path, ready to read.
    """
    if len(set(task.labels)) != len(task.labels):
        raise ValidationError(f"task.labels has duplicates: {list(task.labels)}")
    valid_rows, rejected_rows = check_files(raw, root, task, cfg[task.modality], checker.check)
    facts = [f.name for f in fields(checker.facts)]
    columns = list(raw.columns) + [c for c in facts if c not in raw.columns]
    valid, duplicates = drop_duplicates(pd.DataFrame(valid_rows, columns=columns))
    held_out = held_out_rows(valid)
    valid = valid.assign(
        split=[
            HELD_OUT if out else split_of(g, cfg.val_fraction, cfg.test_fraction)
            for g, out in zip(valid["group"], held_out)
        ]
    )
    rejected = pd.DataFrame(rejected_rows + duplicates, columns=REJECTED_COLUMNS)
    assert len(valid) + len(rejected) == len(raw), "a collected file was lost in validation"
    valid["path"] = [(root / p).as_posix() for p in valid["path"]]
    rejected["path"] = [(root / p).as_posix() for p in rejected["path"]]
    return Validation(
        ValidatedManifest.validate(valid),
        Rejected.validate(rejected),
        data_metrics(valid, rejected, len(raw)),
    )


def enforce_limits(metrics: dict, labels: list[str], cfg: DictConfig, rejected_csv: Path) -> None:
    """ValidationError when too much was rejected or a class cannot be learnt."""
    if metrics["rejected_fraction"] > cfg.max_rejected_fraction:
        raise ValidationError(
            f"{metrics['rejected']} of {metrics['collected']} files rejected "
            f"({metrics['rejected_fraction']:.1%} > validate.max_rejected_fraction="
            f"{cfg.max_rejected_fraction:.1%}); by reason: {metrics['rejected_by_reason']}"
            f" — see {rejected_csv}"
        )
    train = metrics["per_class"]["train"]
    for split in [s for s in metrics["per_class"] if s != "train"]:
        for label in metrics["per_class"][split]:
            if label not in train:
                raise ValidationError(
                    f"class {label!r} is in the {split} split but has no "
                    "training files: the model could never predict it"
                )
    for label in labels:
        if train.get(label, 0) < cfg.min_per_class:
            raise ValidationError(
                f"class {label!r} has {train.get(label, 0)} valid training files, "
                f"fewer than validate.min_per_class={cfg.min_per_class}"
            )
