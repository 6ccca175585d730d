"""collect for files: the sources' files into <paths.raw>/<label>/ and its manifest.csv
(mlcycle.data.collection: the built-in keywords or digits, the user's folder or manifest)."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from mlcycle.data.collection import build_collection

log = logging.getLogger("mlcycle")


def collect(params: DictConfig) -> None:
    out = Path(params.paths.raw)
    manifest, spoilt = build_collection(params, out)  # SourceError, CorrectionError...
    log.info(
        "collected %d files into %s from %s (%d defective on purpose): %s",
        len(manifest),
        out,
        list(params.collect.sources),
        spoilt,
        manifest["label"].value_counts().sort_index().to_dict(),
    )
