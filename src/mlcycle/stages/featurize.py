"""featurize: validated examples -> the feature store (normalised inputs per split, in
shards, + stats).

Normalisation statistics come from the training split only; when fine-tuning
(train.init_from) the package's featurizer and statistics are kept. The modality's
pipeline does it (mlcycle.modalities).
"""

from __future__ import annotations

import sys

from omegaconf import DictConfig

from mlcycle.modalities import modality
from mlcycle.models.finetune import load_base
from mlcycle.models.package import Package, PackageError
from mlcycle.stages.runner import StageError, run_stage


def base_package(params: DictConfig) -> Package:
    """The package of train.init_from, of this task's modality; StageError names it."""
    try:
        base = load_base(params.train.init_from, params.paths.base)
    except PackageError as e:
        raise StageError(str(e)) from None
    if base.card["modality"] != params.task.modality:
        raise StageError(
            f"train.init_from={params.train.init_from} is a {base.card['modality']} model; "
            f"this task is {params.task.modality}"
        )
    return base


def featurize(params: DictConfig) -> None:
    base = base_package(params) if params.train.init_from else None
    try:
        modality(params.task.modality, "featurize")(params, base)
    except (ValueError, FileNotFoundError) as e:  # a bad config, an undecodable file...
        raise StageError(str(e)) from None


def main(argv: list[str] | None = None) -> int:
    return run_stage("featurize", featurize, argv)


if __name__ == "__main__":
    sys.exit(main())
