"""Training mechanics that make runs reproducible and resumable."""

from __future__ import annotations

import logging

import pytorch_lightning as pl
import torch
from torch.utils.data import Sampler

log = logging.getLogger("mlcycle")


class EpochShuffle(Sampler[int]):
    """A shuffle that depends only on (seed, epoch): a resumed run sees the same batches.

    Lightning calls set_epoch before each epoch, as it does for distributed samplers.
    """

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


class EpochSeed(pl.Callback):
    """Reseed torch before each epoch, so augmentation and dropout do not depend on whether
    the run was resumed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_epoch_start(self, trainer, _):
        torch.manual_seed(self.seed * 100_003 + trainer.current_epoch)


class EpochReport(pl.Callback):
    """One log line per epoch, readable in `dvc repro` output without a progress bar.

    `first_epoch` is where this process started (after a resume, the restored epoch), so
    throughput counts only the epochs trained here.
    """

    first_epoch = 0

    def on_train_start(self, trainer, _):
        self.first_epoch = trainer.current_epoch

    def on_train_epoch_end(self, trainer, _):
        m = {k: float(v) for k, v in trainer.callback_metrics.items()}
        log.info(
            "epoch %d: train_loss %.4f val_loss %.4f val_acc %.4f",
            trainer.current_epoch,
            m.get("train_loss", float("nan")),
            m.get("val_loss", float("nan")),
            m.get("val_acc", float("nan")),
        )
