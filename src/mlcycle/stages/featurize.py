"""featurize: validated files -> the feature store (normalised inputs per split + stats).

Normalisation statistics come from the training split only.
"""

from __future__ import annotations

import sys

from omegaconf import DictConfig

from mlcycle.data.tables import read_validated
from mlcycle.features.extract import featurize_manifest
from mlcycle.features.registry import build
from mlcycle.features.store import FeatureStats, save_split, save_stats
from mlcycle.progress import progress
from mlcycle.stages.runner import StageError, log, run_stage


def featurize(params: DictConfig) -> None:
    labels = list(params.task.labels)
    try:
        manifest = read_validated(params.paths.validated)
        featurizer, cfg = build(params.task.modality, params.featurize)
        with progress(len(manifest), "featurizing", "file") as bar:
            splits = featurize_manifest(
                manifest,
                featurizer,
                labels,
                params.featurize.batch_size,
                params.featurize.workers,
                on_chunk=bar.update,
            )
    except ValueError as e:  # a malformed manifest, a bad config, an undecodable file
        raise StageError(str(e)) from None
    out = params.paths.features
    for split, data in splits.items():
        save_split(out, split, data)
        log.info("%s: %d examples, input %s", split, len(data), tuple(data.x.shape[1:]))
    stats = featurizer.stats()
    save_stats(
        out,
        FeatureStats(
            task=params.task.name,
            modality=params.task.modality,
            labels=labels,
            input_shape=list(splits["train"].x.shape[1:]),
            config=cfg,
            mean=stats["mean"],
            std=stats["std"],
        ),
    )


def main(argv: list[str] | None = None) -> int:
    return run_stage("featurize", featurize, argv)


if __name__ == "__main__":
    sys.exit(main())
