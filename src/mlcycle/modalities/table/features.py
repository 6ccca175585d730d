"""The featurize stage of a table task: the valid rows into the feature store (one vector
per row, mlcycle.modalities.table.featurizer), fitted on the training split only; when
fine-tuning, the package's featurizer (vocabularies, statistics) as it is."""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from mlcycle.features import store
from mlcycle.modalities.table.columns import TableSpec, read_rows
from mlcycle.modalities.table.featurizer import TableFeaturizer, features_config, fit_features

SPLITS = ("train", "val", "test")


def featurize(params: DictConfig, featurizer: TableFeaturizer | None = None) -> dict[str, int]:
    """The valid rows into the feature store; the featurizer fitted on the train split
    unless one is given (fine-tuning keeps the package's)."""
    spec = TableSpec.from_config(params.task.table)
    labels = list(params.task.labels)
    rows = read_rows(params.paths.validated, "validate")
    knobs = params.featurize.table
    train = rows[rows["split"] == "train"].sample(frac=1.0, random_state=params.seed)
    if featurizer is None:
        featurizer = TableFeaturizer(
            fit_features(train, spec, knobs.min_category_count, knobs.max_categories)
        )
        featurizer.fit_stats(featurizer.frame_features(train))
    else:
        ours = [c.name for c in spec.columns]
        if sorted(ours) != sorted(featurizer.cfg.fields):
            raise ValueError(
                f"fine-tuning keeps the package's featurizer, which reads "
                f"{featurizer.cfg.fields}; task.table.columns declares {ours}"
            )
    index = {label: i for i, label in enumerate(labels)}
    out, size = params.paths.features, params.featurize.shard_size
    counts = {}
    for split in SPLITS:
        part = train if split == "train" else rows[rows["split"] == split]
        if part.empty:
            raise ValueError(f"split {split!r} is empty: no valid rows were assigned to it")
        writer = store.SplitWriter(out, split)
        for start in range(0, len(part), size):
            chunk = part.iloc[start : start + size]
            writer.add(
                store.FeatureSplit(
                    featurizer.normalise(featurizer.frame_features(chunk)),
                    torch.tensor([index[v] for v in chunk[spec.label_column]]),
                    chunk[spec.id_column].tolist(),
                )
            )
        counts[split] = writer.close()
    stats = featurizer.stats()
    store.save_stats(
        out,
        store.FeatureStats(
            task=params.task.name,
            modality="table",
            labels=labels,
            input_shape=[featurizer.width],
            config=features_config(featurizer.cfg),
            mean=stats["mean"],
            std=stats["std"],
        ),
    )
    return counts
