"""Featurize many files at once: chunks on threads, each with single-threaded torch.

featurize_paths:    files -> un-normalised features, in order
featurize_manifest: a validated manifest -> normalised FeatureSplits, statistics fitted on
                    the training split
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pandas as pd
import torch

from mlcycle.data.splits import SPLITS
from mlcycle.features.featurizer import Featurizer
from mlcycle.features.store import FeatureSplit


def cpu_cores() -> int:
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op thread count set to `n` for the block, then restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def featurize_paths(
    featurizer: Featurizer,
    paths: list,
    batch_size: int,
    workers: int | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Un-normalised features of many files, in their order.

    Chunks of `batch_size` files go to `workers` threads (None: one per CPU core where
    the featurizer's `threads_help`, else one), each decoding its chunk and transforming
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
        workers = cpu_cores() if featurizer.threads_help else 1
    workers = min(workers, len(chunks))
    with torch_threads(1), ThreadPoolExecutor(workers) as pool:
        return torch.cat(list(pool.map(features, chunks)))


def featurize_manifest(
    manifest: pd.DataFrame,
    featurizer: Featurizer,
    labels: list[str],
    batch_size: int,
    workers: int | None = None,
    on_chunk: Callable[[int], None] | None = None,
    fit: bool = True,
) -> dict[str, FeatureSplit]:
    """Every split of a validated manifest (path, label, split), normalised with statistics
    of the training split only, which are fitted on `featurizer` (featurizer.stats()); with
    fit=False, with the statistics the featurizer has (a package's, to fine-tune it).

    ValueError names the files whose features are not finite: nothing non-finite is ever
    written, nor folded into the statistics.
    """
    index = {label: i for i, label in enumerate(labels)}
    raw = {}
    for split in SPLITS:
        rows = manifest[manifest["split"] == split]
        if rows.empty:
            raise ValueError(f"split {split!r} is empty: no valid files were assigned to it")
        paths = rows["path"].tolist()
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
        raw[split] = (x, torch.tensor([index[y] for y in rows["label"]]), paths)
    if fit:
        featurizer.fit_stats(raw["train"][0])
    return {s: FeatureSplit(featurizer.normalise(x), y, p) for s, (x, y, p) in raw.items()}
