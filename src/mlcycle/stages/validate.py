"""validate: check every example and split the valid ones by group hash.

Files: <paths.validated>/manifest.csv (valid rows + split) and rejected.csv (path,
reason, detail); tables: rows.parquet and rejected.csv; both metrics/data.json and the
data report under reports/data/. The modality's pipeline does it (mlcycle.modalities).
"""

from __future__ import annotations

import sys

from omegaconf import DictConfig

from mlcycle.modalities import modality
from mlcycle.stages.runner import StageError, run_stage


def validate(params: DictConfig) -> None:
    try:
        modality(params.task.modality, "validate")(params)
    except (ValueError, FileNotFoundError) as e:  # no collection, a malformed one, too bad
        raise StageError(str(e)) from None


def main(argv: list[str] | None = None) -> int:
    return run_stage("validate", validate, argv)


if __name__ == "__main__":
    sys.exit(main())
