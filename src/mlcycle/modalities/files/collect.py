"""collect for files: the sources' files into <paths.raw>/<label>/ and its manifest.csv
(mlcycle.data.collection: the built-in keywords or digits, the user's folder or manifest),
with the modality's own defects injected."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from mlcycle.data.collection import build_collection
from mlcycle.data.defects import Defects

log = logging.getLogger("mlcycle")


@dataclass(frozen=True)
class FileCollect:
    defects: Defects

    def __call__(self, params: DictConfig) -> None:
        out = Path(params.paths.raw)
        # SourceError, CorrectionError...
        manifest, spoilt = build_collection(params, out, self.defects)
        log.info(
            "collected %d files into %s from %s (%d defective on purpose): %s",
            len(manifest),
            out,
            list(params.collect.sources),
            spoilt,
            manifest["label"].value_counts().sort_index().to_dict(),
        )
