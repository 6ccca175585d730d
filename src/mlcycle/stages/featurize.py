"""featurize: validated files -> the feature store (normalised inputs per split, in shards,
+ stats).

Normalisation statistics come from the training split only; when fine-tuning
(train.init_from) the package's featurizer and statistics are kept.
"""

from __future__ import annotations

import sys

from omegaconf import DictConfig, OmegaConf

from mlcycle.data.tables import read_validated
from mlcycle.features.extract import featurize_to_store
from mlcycle.features.featurizer import Featurizer
from mlcycle.features.registry import build
from mlcycle.features.store import FeatureStats, load_split, save_stats
from mlcycle.modalities.table.features import featurize as featurize_rows
from mlcycle.models.finetune import conflicts, load_base
from mlcycle.models.package import PackageError
from mlcycle.progress import progress
from mlcycle.stages.runner import StageError, log, run_stage


def base_package(params: DictConfig):
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


def package_featurizer(params: DictConfig) -> tuple[Featurizer, dict]:
    """train.init_from's featurizer (config and normalisation): fine-tuning keeps it.

    StageError names the package, or the featurize key that conflicts with it.
    """
    base, modality = base_package(params), params.task.modality
    theirs = base.card["preprocessing"][modality]
    ours = OmegaConf.to_container(params.featurize[modality], resolve=True)
    clash = conflicts(ours, theirs, f"featurize.{modality}")
    if clash:
        raise StageError(
            f"fine-tuning keeps the package's featurizer, but {'; '.join(clash)}: "
            f"set featurize.{modality} to the package's values"
        )
    return base.featurizer, theirs


# Modalities whose data are not files bring their own featurize.
OWN_FEATURIZE = {"table": featurize_rows}


def featurize(params: DictConfig) -> None:
    if own := OWN_FEATURIZE.get(params.task.modality):
        kept = None
        if params.train.init_from:
            kept = base_package(params).featurizer
        try:
            counts = own(params, kept)
        except (ValueError, FileNotFoundError) as e:
            raise StageError(str(e)) from None
        log.info("table rows featurized per split: %s", counts)
        if kept is not None:
            log.info("featurized with the featurizer of %s", params.train.init_from)
        return
    labels = list(params.task.labels)
    fine_tune = bool(params.train.init_from)
    out = params.paths.features
    try:
        manifest = read_validated(params.paths.validated)
        if fine_tune:
            featurizer, cfg = package_featurizer(params)
        else:
            featurizer, cfg = build(params.task.modality, params.featurize)
        with progress(len(manifest), "featurizing", "file") as bar:
            counts = featurize_to_store(
                manifest,
                featurizer,
                labels,
                out,
                params.featurize.batch_size,
                params.featurize.shard_size,
                params.featurize.workers,
                on_chunk=bar.update,
                fit=not fine_tune,
                seed=params.seed,
            )
    except ValueError as e:  # a malformed manifest, a bad config, an undecodable file
        raise StageError(str(e)) from None
    if fine_tune:
        log.info("normalised with the statistics of %s", params.train.init_from)
    shape = load_split(out, "train").input_shape()
    for split, rows in counts.items():
        shards = -(-rows // params.featurize.shard_size)
        log.info(
            "%s: %d examples in %d shard%s, input %s",
            split,
            rows,
            shards,
            "s" if shards > 1 else "",
            tuple(shape),
        )
    stats = featurizer.stats()
    save_stats(
        out,
        FeatureStats(
            task=params.task.name,
            modality=params.task.modality,
            labels=labels,
            input_shape=shape,
            config=cfg,
            mean=stats["mean"],
            std=stats["std"],
        ),
    )


def main(argv: list[str] | None = None) -> int:
    return run_stage("featurize", featurize, argv)


if __name__ == "__main__":
    sys.exit(main())
