"""featurize for tables: one vector per row (mlcycle.modalities.table.features)."""

from __future__ import annotations

import logging

from omegaconf import DictConfig

from mlcycle.modalities.table.features import featurize

log = logging.getLogger("mlcycle")


def PART(params: DictConfig, base) -> None:  # noqa: N802 (a modality's part)
    counts = featurize(params, None if base is None else base.featurizer)
    log.info("table rows featurized per split: %s", counts)
    if base is not None:
        log.info("featurized with the featurizer of %s", params.train.init_from)
