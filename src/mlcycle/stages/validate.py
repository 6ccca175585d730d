"""validate: check the raw manifest and every file; split the valid rows by group hash.

Writes <paths.validated>/manifest.csv (valid rows + split) and rejected.csv (path, reason,
detail), metrics/data.json and the data report under reports/data/.
"""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import DictConfig

from mlcycle.atomic import write_csv_atomic, write_json_atomic
from mlcycle.data.report import write_report
from mlcycle.data.tables import (
    RAW_MANIFEST,
    REJECTED,
    VALIDATED_MANIFEST,
    RawManifest,
    read_table,
)
from mlcycle.data.validation import ValidationError, enforce_limits, validate_collection
from mlcycle.modalities.table.report import validate as validate_rows
from mlcycle.stages.runner import StageError, log, run_stage

# Modalities whose data are not files bring their own validate.
OWN_VALIDATE = {"table": validate_rows}


def validate(params: DictConfig) -> None:
    if own := OWN_VALIDATE.get(params.task.modality):
        try:
            return own(params)
        except (ValueError, FileNotFoundError) as e:  # a bad table, or no collection yet
            raise StageError(str(e)) from None
    root, out = Path(params.paths.raw), Path(params.paths.validated)
    if not (root / RAW_MANIFEST).is_file():
        raise StageError(
            f"raw manifest not found: {root / RAW_MANIFEST} (run the collect stage first)"
        )
    try:
        raw = read_table(root / RAW_MANIFEST, RawManifest)
        result = validate_collection(raw, root, params.task, params.validate)
    except ValueError as e:  # a malformed manifest, or ValidationError
        raise StageError(str(e)) from None
    write_csv_atomic(out / VALIDATED_MANIFEST, result.valid)
    write_csv_atomic(out / REJECTED, result.rejected)
    write_json_atomic(params.paths.metrics.data, result.metrics)
    write_report(
        Path(params.paths.data_report), result.valid, result.rejected, params.task.modality
    )
    m = result.metrics
    log.info(
        "%d valid, %d rejected %s; split sizes %s",
        m["valid"],
        m["rejected"],
        m["rejected_by_reason"],
        m["split_sizes"],
    )
    try:
        enforce_limits(m, list(params.task.labels), params.validate, out / REJECTED)
    except ValidationError as e:
        raise StageError(str(e)) from None


def main(argv: list[str] | None = None) -> int:
    return run_stage("validate", validate, argv)


if __name__ == "__main__":
    sys.exit(main())
