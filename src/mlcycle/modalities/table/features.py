"""The featurize stage of a table task: the valid rows into the feature store (one vector
per row, mlcycle.modalities.table.featurizer), fitted on the training split only; when
fine-tuning, the package's featurizer (vocabularies, statistics) as it is. A chunk of rows
at a time (the training rows shuffled within their chunk): memory stays flat."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig

from mlcycle.features import store
from mlcycle.modalities.table.chunks import chunks
from mlcycle.modalities.table.columns import ROWS, TableSpec
from mlcycle.modalities.table.featurizer import (
    TableFeaturizer,
    category_counts,
    features_config,
    fit_features,
)

SPLITS = ("train", "val", "test")


def _train_chunks(rows: Path, seed: int):
    for i, chunk in enumerate(chunks(rows)):
        train = chunk[chunk["split"] == "train"]
        if len(train):
            # shuffled within its chunk
            yield i, train.sample(frac=1.0, random_state=np.random.default_rng([seed, i]))


def fit(rows: Path, spec: TableSpec, knobs: DictConfig, seed: int) -> TableFeaturizer:
    """The featurizer fitted on the train split of the valid rows, a chunk at a time:
    vocabularies from category counts, then the numbers' mean, then their deviation."""
    counts: dict[str, Counter] = {c.name: Counter() for c in spec.categorical}
    for _, train in _train_chunks(rows, seed):
        for name, seen in category_counts(train, spec).items():
            counts[name].update(seen)
    featurizer = TableFeaturizer(
        fit_features(counts, spec, knobs.min_category_count, knobs.max_categories)
    )
    n = len(featurizer.cfg.numeric)
    total, count = torch.zeros(n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
    for _, train in _train_chunks(rows, seed):
        x = featurizer.frame_features(train)[:, :n].double()
        present = ~torch.isnan(x)
        total += torch.where(present, x, 0).sum(0)
        count += present.sum(0)
    count = count.clamp_min(2)
    mean = total / count
    squares = torch.zeros(n, dtype=torch.float64)
    for _, train in _train_chunks(rows, seed):
        x = featurizer.frame_features(train)[:, :n].double()
        squares += (torch.where(~torch.isnan(x), x - mean, 0) ** 2).sum(0)
    featurizer.set_moments(mean, (squares / (count - 1)).sqrt())
    return featurizer


def featurize(params: DictConfig, featurizer: TableFeaturizer | None = None) -> dict[str, int]:
    """The valid rows into the feature store, a chunk of rows at a time; the featurizer
    fitted on the train split unless one is given (fine-tuning keeps the package's)."""
    spec = TableSpec.from_config(params.task.table)
    labels = list(params.task.labels)
    rows = Path(params.paths.validated) / ROWS
    if not rows.is_file():
        raise FileNotFoundError(f"{rows} not found (run the validate stage first)")
    if featurizer is None:
        featurizer = fit(rows, spec, params.featurize.table, params.seed)
    else:
        ours = [c.name for c in spec.columns]
        if sorted(ours) != sorted(featurizer.cfg.fields):
            raise ValueError(
                f"fine-tuning keeps the package's featurizer, which reads "
                f"{featurizer.cfg.fields}; task.table.columns declares {ours}"
            )
    index = {label: i for i, label in enumerate(labels)}
    out, size = params.paths.features, params.featurize.shard_size
    writers = {split: store.SplitWriter(out, split) for split in SPLITS}
    pending: dict[str, list[pd.DataFrame]] = {split: [] for split in SPLITS}

    def flush(split: str, last: bool) -> None:
        part = pd.concat(pending[split]) if pending[split] else None
        pending[split] = []
        while part is not None and (len(part) >= size or (last and len(part))):
            chunk, part = part.iloc[:size], part.iloc[size:]
            writers[split].add(
                store.FeatureSplit(
                    featurizer.normalise(featurizer.frame_features(chunk)),
                    torch.tensor([index[v] for v in chunk[spec.label_column]]),
                    chunk[spec.id_column].tolist(),
                )
            )
        if part is not None and len(part):
            pending[split] = [part]

    for i, chunk in enumerate(chunks(rows)):
        for split in SPLITS:
            part = chunk[chunk["split"] == split]
            if split == "train":
                part = part.sample(frac=1.0, random_state=np.random.default_rng([params.seed, i]))
            pending[split].append(part)
            flush(split, last=False)
    counts = {}
    for split in SPLITS:
        flush(split, last=True)
        counts[split] = writers[split].close()
        if not counts[split]:
            raise ValueError(f"split {split!r} is empty: no valid rows were assigned to it")
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
