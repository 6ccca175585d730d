"""collect: gather raw files into <paths.raw>/<label>/ and write its manifest.csv.

Sources (collect.sources, any combination): the built-in `keywords` (audio) or `digits`
(images), and the user's own `folder` or `manifest` (mlcycle.data.sources). A table task
collects rows instead (mlcycle.modalities.table.collect).
"""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import DictConfig

from mlcycle.data.collection import build_collection
from mlcycle.modalities.table.collect import collect as collect_rows
from mlcycle.stages.runner import StageError, log, run_stage

# Modalities whose data are not files bring their own collect.
OWN_COLLECT = {"table": collect_rows}


def collect(params: DictConfig) -> None:
    if own := OWN_COLLECT.get(params.task.modality):
        try:
            return own(params)
        except ValueError as e:  # TableError: the column and the line
            raise StageError(str(e)) from None
    out = Path(params.paths.raw)
    try:
        manifest, spoilt = build_collection(params, out)
    except ValueError as e:  # SourceError, CorrectionError, or a value a source refuses
        raise StageError(str(e)) from None
    log.info(
        "collected %d files into %s from %s (%d defective on purpose): %s",
        len(manifest),
        out,
        list(params.collect.sources),
        spoilt,
        manifest["label"].value_counts().sort_index().to_dict(),
    )


def main(argv: list[str] | None = None) -> int:
    return run_stage("collect", collect, argv)


if __name__ == "__main__":
    sys.exit(main())
