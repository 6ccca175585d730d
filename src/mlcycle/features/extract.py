"""Featurize many files at once: chunks on threads, each with single-threaded torch.

featurize_paths:    files -> un-normalised features, in order
featurize_to_store: a validated manifest -> the feature store, shard by shard, normalised
                    with statistics fitted on the training split
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import torch

from mlcycle.data.splits import HELD_OUT, SPLITS
from mlcycle.features import store
from mlcycle.features.featurizer import Featurizer, RunningStats
from mlcycle.threads import torch_threads


def featurize_paths(
    featurizer: Featurizer,
    paths: list,
    batch_size: int,
    workers: int | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Un-normalised features of many files, in their order.

    Chunks of `batch_size` files go to `workers` threads (None: the stage's share of the
    cores where the featurizer's `threads_help`, else one), each decoding its chunk and
    transforming
    it with single-threaded torch. Decoding is Python and holds the GIL while torch's
    kernels release it, so one thread's decoding overlaps another's FFTs; this measured
    faster than torch's own threads on the whole batch (they idle while Python decodes)
    and than worker processes (start-up and copying the features back cost more than they
    save). Every chunk runs the same code, so the features do not depend on `workers` or
    `batch_size` (a test holds them equal). `on_chunk(n)` is called as each chunk of n
    files is done (a progress bar).
    """
    if not paths:
        raise ValueError("no files to featurize")
    if batch_size < 1:
        raise ValueError(f"featurize.batch_size must be at least 1, got {batch_size}")
    if workers is not None and workers < 1:
        raise ValueError(
            f"featurize.workers must be at least 1 (or null: one per core), got {workers}"
        )
    chunks = [paths[i : i + batch_size] for i in range(0, len(paths), batch_size)]

    def decode(path):
        try:
            return featurizer.decode(path)
        except ValueError as e:
            raise ValueError(f"cannot decode {path}: {e}") from None

    def features(chunk: list) -> torch.Tensor:
        x = featurizer.raw_features([decode(p) for p in chunk])
        if on_chunk is not None:
            on_chunk(len(chunk))
        return x

    if workers is None:
        # the stage's share of the cores (mlcycle.threads.apply set torch's count to it)
        workers = torch.get_num_threads() if featurizer.threads_help else 1
    workers = min(workers, len(chunks))
    with torch_threads(1), ThreadPoolExecutor(workers) as pool:
        return torch.cat(list(pool.map(features, chunks)))


def featurize_to_store(
    manifest: pd.DataFrame,
    featurizer: Featurizer,
    labels: list[str],
    out: str | Path,
    batch_size: int,
    shard_size: int,
    workers: int | None = None,
    on_chunk: Callable[[int], None] | None = None,
    fit: bool = True,
    seed: int = 0,
) -> dict[str, int]:
    """Every split of a validated manifest (path, label, split) into the feature store at
    `out`, shard by shard: memory holds one shard of `shard_size` files, whatever the size
    of the data. Normalised with statistics of the training split only, fitted on
    `featurizer` (featurizer.stats()) from running sums over its shards; with fit=False,
    with the statistics the featurizer has (a package's, to fine-tune it). The training
    rows are shuffled (seeded) first, so that each shard mixes classes and speakers and
    a shard-by-shard shuffle (models.training.ShardShuffle) mixes as well as a full one.

    ValueError names the files whose features are not finite: nothing non-finite is ever
    written, nor folded into the statistics. Returns the rows of each split.
    """
    if shard_size < 1:
        raise ValueError(f"featurize.shard_size must be at least 1, got {shard_size}")
    index = {label: i for i, label in enumerate(labels)}
    rows_of = {}
    for split in (*SPLITS, HELD_OUT):
        rows = manifest[manifest["split"] == split]
        if rows.empty and split == HELD_OUT:  # no source held voices out: no stale split
            shutil.rmtree(store.split_dir(out, split), ignore_errors=True)
            continue
        if rows.empty:
            raise ValueError(f"split {split!r} is empty: no valid files were assigned to it")
        if split == "train":
            rows = rows.sample(frac=1.0, random_state=seed)
        rows_of[split] = rows
    running = RunningStats(featurizer.stat_dim) if fit else None
    counts = {}
    for split, rows in rows_of.items():
        # the training split waits, un-normalised, in a scratch folder for its statistics
        raw = fit and split == "train"
        writer = store.SplitWriter(out, f".{split}-raw" if raw else split)
        for start in range(0, len(rows), shard_size):
            chunk = rows.iloc[start : start + shard_size]
            paths = chunk["path"].tolist()
            try:
                x = featurize_paths(featurizer, paths, batch_size, workers, on_chunk)
            except ValueError as e:
                raise ValueError(f"featurize {split}: {e}") from None
            bad = (~torch.isfinite(x)).flatten(1).any(1).nonzero().flatten().tolist()
            if bad:
                named = [paths[i] for i in bad[:5]]
                raise ValueError(
                    f"featurize {split}: {len(bad)} files give non-finite features: {named}"
                )
            y = torch.tensor([index[label] for label in chunk["label"]])
            if raw:
                running.update(x)
            else:
                x = featurizer.normalise(x)
            writer.add(store.FeatureSplit(x, y, paths))
        counts[split] = writer.close()
        if raw:
            featurizer.set_stats(*running.result())
            scratch = store.load_split(out, f".{split}-raw")
            final = store.SplitWriter(out, split)
            for i, (start, end) in enumerate(scratch.bounds()):
                final.add(
                    store.FeatureSplit(
                        featurizer.normalise(scratch.shard(i)),
                        scratch.y[start:end],
                        scratch.paths[start:end],
                    )
                )
            final.close()
            shutil.rmtree(scratch.dir)
    return counts
