"""collect: the sources' examples into paths.raw.

Audio and images: files into <paths.raw>/<label>/ and its manifest.csv, from the built-in
`keywords` (audio) or `digits` (images) and the user's own `folder` or `manifest`
(mlcycle.data.sources); tables: rows into <paths.raw>/rows.parquet
(mlcycle.modalities.table.collect). The modality's pipeline does it (mlcycle.modalities).
"""

from __future__ import annotations

import sys

from omegaconf import DictConfig

from mlcycle.modalities import modality
from mlcycle.stages.runner import StageError, run_stage


def collect(params: DictConfig) -> None:
    try:
        modality(params.task.modality, "collect")(params)
    except (ValueError, FileNotFoundError) as e:  # a source, a correction, a table's line
        raise StageError(str(e)) from None


def main(argv: list[str] | None = None) -> int:
    return run_stage("collect", collect, argv)


if __name__ == "__main__":
    sys.exit(main())
