"""Training mechanics that make runs reproducible and resumable.

fingerprint / resumable: whether an interrupted run's state belongs to this run
ShardShuffle, EpochSeed: data order and randomness that depend only on (seed, epoch)
EpochReport:             one log line per epoch, samples trained in this process
schedule:                how long to train on this much data, and whether to early-stop
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import Sampler

log = logging.getLogger("mlcycle")
LAST = "last.ckpt"


def fingerprint(files: list[Path], config: dict[str, Any]) -> str:
    """What a resumable run must share with the interrupted one: data files and config."""
    h = hashlib.sha256()
    for path in files:
        with open(path, "rb") as f:  # in blocks: memory flat in the data's size
            h.update(hashlib.file_digest(f, "sha256").digest())
    h.update(json.dumps(config, sort_keys=True).encode())
    return h.hexdigest()


def resumable(state: Path, key: str) -> Path | None:
    """<state>/last.ckpt if its hyper-parameters carry fingerprint `key`, else None.

    State that belongs to other data or parameters (or that the interruption cut short)
    is deleted, so the run starts over.
    """
    last = state / LAST
    if last.is_file():
        try:
            hp = torch.load(last, map_location="cpu", weights_only=True)["hyper_parameters"]
            if hp.get("fingerprint") == key:
                return last
        except Exception:  # a checkpoint cut short by the interruption: start over
            pass
        log.info("discarding %s: it belongs to other data or parameters", state)
    shutil.rmtree(state, ignore_errors=True)
    return None


class ShardShuffle(Sampler[int]):
    """Row order for a sharded split (features.store) that depends only on (seed, epoch),
    so a resumed run sees the same batches: the shards in a random order, the rows of each
    in a random order, so a reader holds one shard at a time (featurize shuffled the rows
    before writing them: a table's within each chunk of rows it reads). Lightning calls
    set_epoch before each epoch.

    Under distributed training each process takes every world_size-th row of that order
    (padded by repeating its head to a multiple of world_size, so every process runs the
    same number of batches): the processes walk the same shard together. Set the
    Trainer's use_distributed_sampler to false: this sampler splits the rows itself.
    """

    def __init__(self, sizes: list[int], seed: int) -> None:
        self.sizes, self.seed, self.epoch = list(sizes), seed, 0
        self.n = sum(self.sizes)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @staticmethod
    def world() -> tuple[int, int]:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        starts = [0]
        for size in self.sizes:
            starts.append(starts[-1] + size)
        order: list[int] = []
        for shard in torch.randperm(len(self.sizes), generator=g).tolist():
            rows = torch.randperm(self.sizes[shard], generator=g) + starts[shard]
            order += rows.tolist()
        rank, world = self.world()
        if world > 1:
            order += order[: -len(order) % world]
            order = order[rank::world]
        return iter(order)

    def __len__(self) -> int:
        return math.ceil(self.n / self.world()[1])


class EpochSeed(pl.Callback):
    """Reseed torch before each epoch, so augmentation and dropout do not depend on whether
    the run was resumed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_epoch_start(self, trainer, _):
        torch.manual_seed(self.seed * 100_003 + trainer.current_epoch)


class EpochReport(pl.Callback):
    """One log line per epoch, readable in `dvc repro` output without a progress bar.

    `samples` counts the training examples this process fed (a resumed run counts only its
    own epochs; limit_train_batches is honoured), for the throughput figure.
    """

    samples = 0

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.samples += len(batch[0])

    def on_train_epoch_end(self, trainer, _):
        m = {k: float(v) for k, v in trainer.callback_metrics.items()}
        log.info(
            "epoch %d: train_loss %.4f val_loss %.4f val_acc %.4f",
            trainer.current_epoch,
            m.get("train_loss", float("nan")),
            m.get("val_loss", float("nan")),
            m.get("val_acc", float("nan")),
        )


@dataclass
class Schedule:
    """How long to train, and whether the validation split may steer it."""

    max_epochs: int
    steer: bool  # early stopping and best-epoch selection on validation accuracy
    notes: list[str]  # what was adapted to a small data set, for the log


def schedule(
    n_train: int, n_val: int, n_classes: int, train: Any, limit_batches: float | int = 1.0
) -> Schedule:
    """Fit the schedule to the data: at least train.min_steps steps (a small training set
    gets more epochs), and no steering by a validation split with fewer than
    train.min_val_per_class clips per class."""
    steps = math.ceil(n_train / train.batch_size)
    if isinstance(limit_batches, int) and not isinstance(limit_batches, bool):
        steps = min(steps, limit_batches)
    elif limit_batches < 1.0:
        steps = max(1, int(steps * limit_batches))
    epochs = max(train.max_epochs, math.ceil(train.min_steps / steps))
    notes = []
    if epochs > train.max_epochs:
        notes.append(
            f"{n_train} training examples make {steps} steps an epoch: training {epochs} "
            f"epochs (not train.max_epochs={train.max_epochs}) to reach "
            f"train.min_steps={train.min_steps}"
        )
    steer = n_val >= train.min_val_per_class * n_classes
    if not steer:
        notes.append(
            f"the validation split is too small to steer early stopping ({n_val} examples, "
            f"{n_val / n_classes:.1f} per class < train.min_val_per_class="
            f"{train.min_val_per_class}): training all {epochs} epochs and keeping the last"
        )
    return Schedule(epochs, steer, notes)
