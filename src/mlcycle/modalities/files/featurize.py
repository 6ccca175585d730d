"""featurize for files: the validated files into the feature store, normalised with the
training split's statistics (or, fine-tuning, the package's featurizer as it is)."""

from __future__ import annotations

import logging

from omegaconf import DictConfig, OmegaConf

from mlcycle.data.tables import read_validated
from mlcycle.features.extract import featurize_to_store
from mlcycle.features.registry import build
from mlcycle.features.store import FeatureStats, load_split, save_stats
from mlcycle.models.finetune import conflicts
from mlcycle.models.package import Package
from mlcycle.progress import progress

log = logging.getLogger("mlcycle")


def featurize(params: DictConfig, base: Package | None) -> None:
    labels = list(params.task.labels)
    out = params.paths.features
    manifest = read_validated(params.paths.validated)
    if base is not None:  # fine-tuning keeps the package's featurizer
        featurizer, cfg = base.featurizer, kept_featurizer(params, base)
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
            fit=base is None,
            seed=params.seed,
        )
    if base is not None:
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


def kept_featurizer(params: DictConfig, base: Package) -> dict:
    """The preprocessing of train.init_from's package, which fine-tuning keeps; ValueError
    names a featurize key that conflicts with it."""
    modality = params.task.modality
    theirs = base.card["preprocessing"][modality]
    ours = OmegaConf.to_container(params.featurize[modality], resolve=True)
    clash = conflicts(ours, theirs, f"featurize.{modality}")
    if clash:
        raise ValueError(
            f"fine-tuning keeps the package's featurizer, but {'; '.join(clash)}: "
            f"set featurize.{modality} to the package's values"
        )
    return theirs
