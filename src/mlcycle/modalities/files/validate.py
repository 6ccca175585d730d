"""validate for files: every file checked (mlcycle.data.validation), the valid ones split by
group hash; <paths.validated>/manifest.csv, rejected.csv, metrics/data.json, the report.
The modality names its check and the report's histograms."""

from __future__ import annotations

import logging
from dataclasses import dataclass
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
from mlcycle.data.validation import Checker, enforce_limits, validate_collection

log = logging.getLogger("mlcycle")


@dataclass(frozen=True)
class FileValidate:
    checker: Checker
    distributions: dict[str, str]  # the report's histograms: column -> title (unit)

    def __call__(self, params: DictConfig) -> None:
        root, out = Path(params.paths.raw), Path(params.paths.validated)
        if not (root / RAW_MANIFEST).is_file():
            raise FileNotFoundError(
                f"raw manifest not found: {root / RAW_MANIFEST} (run the collect stage first)"
            )
        raw = read_table(root / RAW_MANIFEST, RawManifest)  # ValueError: malformed, or invalid
        result = validate_collection(raw, root, params.task, params.validate, self.checker)
        write_csv_atomic(out / VALIDATED_MANIFEST, result.valid)
        write_csv_atomic(out / REJECTED, result.rejected)
        write_json_atomic(params.paths.metrics.data, result.metrics)
        write_report(
            Path(params.paths.data_report), result.valid, result.rejected, self.distributions
        )
        m = result.metrics
        log.info(
            "%d valid, %d rejected %s; split sizes %s",
            m["valid"],
            m["rejected"],
            m["rejected_by_reason"],
            m["split_sizes"],
        )
        enforce_limits(m, list(params.task.labels), params.validate, out / REJECTED)
