"""Pick the featurizer of a modality; rebuild one from the stats.json it wrote."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict

import torch
from omegaconf import DictConfig, OmegaConf

from mlcycle.features.audio import AudioFeaturizer
from mlcycle.features.base import Featurizer
from mlcycle.features.image import ImageFeaturizer

FEATURIZERS = {f.modality: f for f in (AudioFeaturizer, ImageFeaturizer)}


def build(modality: str, featurize: DictConfig) -> tuple[Featurizer, dict]:
    """The featurizer for `modality` from the featurize params; also its config as a dict."""
    if modality not in FEATURIZERS:
        raise ValueError(f"unknown task.modality {modality!r}; choose from {sorted(FEATURIZERS)}")
    section = featurize.get(modality)
    if section is None:
        raise ValueError(f"featurize.{modality} is not set for this {modality} task")
    featurizer_type = FEATURIZERS[modality]
    cfg = featurizer_type.config_type(**OmegaConf.to_container(section))
    return featurizer_type(cfg), asdict(cfg)


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
    featurizer: Featurizer, paths: list, batch_size: int = 64, workers: int | None = None
) -> torch.Tensor:
    """Un-normalised features of many files, in their order.

    Chunks of `batch_size` files go to `workers` threads (None: one per CPU core where
    the featurizer's `threads_help`, else one), each decoding its chunk and transforming
    it with single-threaded torch. Decoding is Python and holds the GIL while torch's
    kernels release it, so one thread's decoding overlaps another's FFTs; this measured
    faster than torch's own threads on the whole batch (they idle while Python decodes)
    and than worker processes (start-up and copying the features back cost more than they
    save). Every chunk runs the same code, so the features do not depend on `workers` or
    `batch_size` (a test holds them equal).
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
        return featurizer.raw_features([decode(p) for p in chunk])

    if workers is None:
        workers = cpu_cores() if featurizer.threads_help else 1
    workers = min(workers, len(chunks))
    with torch_threads(1), ThreadPoolExecutor(workers) as pool:
        return torch.cat(list(pool.map(features, chunks)))


def from_stats(stats: dict) -> Featurizer:
    """The exact featurizer (config + normalisation) recorded in data/features/stats.json."""
    return FEATURIZERS[stats["modality"]].from_stats(stats)
