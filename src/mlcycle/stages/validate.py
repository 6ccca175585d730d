"""validate: check the raw manifest and every file; split the valid rows by group hash.

Every collected file ends in exactly one of data/validated/manifest.csv (with its split)
and data/validated/rejected.csv (with the reason).
"""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from mlcycle.atomic import write_csv_atomic, write_json_atomic
from mlcycle.data.audio_checks import AudioFacts, check_audio
from mlcycle.data.checks import Invalid
from mlcycle.data.image_checks import ImageFacts, check_image
from mlcycle.data.report import write_report
from mlcycle.data.splits import split_of
from mlcycle.data.tables import (
    SPLITS,
    RawManifest,
    Rejected,
    ValidatedManifest,
    read_table,
)
from mlcycle.stages.runner import StageError, log, run_stage

OUT = Path("data/validated")
METRICS = Path("metrics/data.json")
REPORT = Path("reports/data")


def read_raw_manifest(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise StageError(f"raw manifest not found: {path} (run the collect stage first)")
    try:
        return read_table(path, RawManifest)
    except ValueError as e:
        raise StageError(str(e)) from None


# modality -> (per-file check, the facts it measures); its limits are validate.<modality>
CHECKERS = {"audio": (check_audio, AudioFacts), "image": (check_image, ImageFacts)}


def check_files(raw: pd.DataFrame, root: Path, params: DictConfig) -> tuple[list, list]:
    """Check each row; returns (valid rows with facts, rejected rows)."""
    labels = set(params.task.labels)
    modality = params.task.modality
    check = CHECKERS[modality][0]
    valid, rejected = [], []
    for row in raw.to_dict("records"):
        try:
            if isinstance(row.get("problem"), str) and row["problem"]:
                raise Invalid(row["problem"].split(":")[0], row["problem"])
            if row["label"] not in labels:
                raise Invalid("unknown_label", f"label {row['label']!r} is not in task.labels")
            facts = check(root / row["path"], params.validate[modality])
        except Invalid as e:
            rejected.append(
                {"path": row["path"], "label": row["label"], "reason": e.reason, "detail": str(e)}
            )
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
            for i, r in rows.iterrows():
                keep[i] = False
                rejected.append(
                    {
                        "path": r["path"],
                        "label": r["label"],
                        "reason": "duplicate_conflict",
                        "detail": "same content as "
                        f"{len(rows) - 1} other file(s) with labels {conflict}",
                    }
                )
        else:
            first = rows.iloc[0]["path"]
            for i, r in rows.iloc[1:].iterrows():
                keep[i] = False
                rejected.append(
                    {
                        "path": r["path"],
                        "label": r["label"],
                        "reason": "duplicate",
                        "detail": f"same content as {first}",
                    }
                )
    return valid[keep], rejected


def data_metrics(valid: pd.DataFrame, rejected: pd.DataFrame, total: int) -> dict:
    per_split = {
        s: valid.loc[valid["split"] == s, "label"].value_counts().sort_index().to_dict()
        for s in SPLITS
    }
    return {
        "collected": total,
        "valid": len(valid),
        "rejected": len(rejected),
        "rejected_fraction": round(len(rejected) / max(total, 1), 4),
        "rejected_by_reason": rejected["reason"].value_counts().sort_index().to_dict(),
        "split_sizes": {s: int((valid["split"] == s).sum()) for s in SPLITS},
        "groups": {s: int(valid.loc[valid["split"] == s, "group"].nunique()) for s in SPLITS},
        "per_class": {s: {k: int(v) for k, v in c.items()} for s, c in per_split.items()},
    }


def enforce_limits(metrics: dict, params: DictConfig) -> None:
    cfg = params.validate
    if metrics["rejected_fraction"] > cfg.max_rejected_fraction:
        raise StageError(
            f"{metrics['rejected']} of {metrics['collected']} files rejected "
            f"({metrics['rejected_fraction']:.1%} > validate.max_rejected_fraction="
            f"{cfg.max_rejected_fraction:.1%}); by reason: {metrics['rejected_by_reason']}"
            f" — see {OUT / 'rejected.csv'}"
        )
    train = metrics["per_class"]["train"]
    for split in ("val", "test"):
        for label in metrics["per_class"][split]:
            if label not in train:
                raise StageError(
                    f"class {label!r} is in the {split} split but has no "
                    "training files: the model could never predict it"
                )
    for label in params.task.labels:
        if train.get(label, 0) < cfg.min_per_class:
            raise StageError(
                f"class {label!r} has {train.get(label, 0)} valid training files, "
                f"fewer than validate.min_per_class={cfg.min_per_class}"
            )


def validate(params: DictConfig) -> None:
    root = Path(params.collect.out_dir)
    if params.task.modality not in CHECKERS:
        raise StageError(
            f"unknown task.modality {params.task.modality!r}; choose from {sorted(CHECKERS)}"
        )
    if len(set(params.task.labels)) != len(params.task.labels):
        raise StageError(f"task.labels has duplicates: {list(params.task.labels)}")
    raw = read_raw_manifest(root / "manifest.csv")
    valid_rows, rejected_rows = check_files(raw, root, params)
    facts = [f.name for f in fields(CHECKERS[params.task.modality][1])]
    columns = list(raw.columns) + [c for c in facts if c not in raw.columns]
    valid = pd.DataFrame(valid_rows, columns=columns)
    valid, duplicates = drop_duplicates(valid)
    valid = valid.assign(
        split=[
            split_of(g, params.validate.val_fraction, params.validate.test_fraction)
            for g in valid["group"]
        ]
    )
    rejected = pd.DataFrame(
        rejected_rows + duplicates, columns=["path", "label", "reason", "detail"]
    )
    assert len(valid) + len(rejected) == len(raw), "a collected file was lost in validation"
    # Paths in the validated manifest are relative to the project root, ready to read.
    valid["path"] = [(root / p).as_posix() for p in valid["path"]]
    rejected["path"] = [(root / p).as_posix() for p in rejected["path"]]
    write_csv_atomic(OUT / "manifest.csv", ValidatedManifest.validate(valid))
    write_csv_atomic(OUT / "rejected.csv", Rejected.validate(rejected))
    metrics = data_metrics(valid, rejected, len(raw))
    write_json_atomic(METRICS, metrics)
    write_report(REPORT, valid, rejected, params.task.modality)
    log.info(
        "%d valid, %d rejected %s; split sizes %s",
        metrics["valid"],
        metrics["rejected"],
        metrics["rejected_by_reason"],
        metrics["split_sizes"],
    )
    enforce_limits(metrics, params)


def main(argv: list[str] | None = None) -> int:
    return run_stage("validate", validate, argv)


if __name__ == "__main__":
    sys.exit(main())
