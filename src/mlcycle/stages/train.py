"""train: fit the configured network on data/features; best epoch -> models/model.ckpt."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from dvclive.lightning import DVCLiveLogger
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, TensorDataset

from mlcycle.atomic import write_json_atomic
from mlcycle.models.classifier import Classifier, RandomShift, SpecAugment
from mlcycle.stages._main import StageError, log, run_stage

FEATURES = Path("data/features")
MODELS = Path("models")
METRICS = Path("metrics/train.json")
CURVES = Path("plots/train")


def load_split(split: str) -> TensorDataset:
    path = FEATURES / f"{split}.pt"
    if not path.is_file():
        raise StageError(f"{path} not found (run the featurize stage first)")
    data = torch.load(path, weights_only=True)
    return TensorDataset(data["x"], data["y"])


class EpochReport(pl.Callback):
    """One log line per epoch, readable in `dvc repro` output without a progress bar."""

    def on_train_epoch_end(self, trainer, _):
        m = {k: float(v) for k, v in trainer.callback_metrics.items()}
        log.info(
            "epoch %d: train_loss %.4f val_loss %.4f val_acc %.4f",
            trainer.current_epoch,
            m.get("train_loss", float("nan")),
            m.get("val_loss", float("nan")),
            m.get("val_acc", float("nan")),
        )


def train(params: DictConfig) -> None:
    cfg = params.train
    pl.seed_everything(params.seed, workers=True)
    train_set, val_set = load_split("train"), load_split("val")
    stats = json.loads((FEATURES / "stats.json").read_text())
    labels, in_channels = stats["labels"], stats["input_shape"][0]
    net = instantiate(params.model, n_classes=len(labels), in_channels=in_channels, _convert_="all")
    if params.task.modality == "audio":
        augment = SpecAugment(**cfg.spec_augment)
    else:
        augment = RandomShift(cfg.max_shift)
    model = Classifier(
        net,
        len(labels),
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        label_smoothing=cfg.label_smoothing,
        warmup_fraction=cfg.warmup_fraction,
        augment=augment,
    )
    # Stored in the checkpoint so that evaluate and serving rebuild the same network.
    model.save_hyperparameters(
        {
            "model": OmegaConf.to_container(params.model),
            "n_classes": len(labels),
            "in_channels": in_channels,
            "labels": labels,
        }
    )
    checkpoint = pl.callbacks.ModelCheckpoint(
        dirpath=MODELS,
        filename="model",
        monitor="val_acc",
        mode="max",
        save_top_k=1,
        enable_version_counter=False,
    )
    stop = pl.callbacks.EarlyStopping(monitor="val_acc", mode="max", patience=cfg.patience)
    logger = DVCLiveLogger(dir=str(CURVES), dvcyaml=False, save_dvc_exp=False, report=None)
    trainer = pl.Trainer(
        accelerator="auto",
        devices=1,
        max_epochs=cfg.max_epochs,
        deterministic=True,
        callbacks=[checkpoint, stop, EpochReport()],
        logger=logger,
        enable_progress_bar=sys.stderr.isatty(),
        enable_model_summary=False,
        limit_train_batches=cfg.limit_train_batches or 1.0,
        log_every_n_steps=1,
    )
    g = torch.Generator().manual_seed(params.seed)
    train_loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, generator=g)
    val_loader = DataLoader(val_set, batch_size=256)
    start = time.perf_counter()
    trainer.fit(model, train_loader, val_loader)
    seconds = time.perf_counter() - start
    epochs = trainer.current_epoch
    seen = epochs * min(len(train_loader), trainer.num_training_batches) * cfg.batch_size
    write_json_atomic(
        METRICS,
        {
            "best_val_acc": round(float(checkpoint.best_model_score), 4),
            "epochs": epochs,
            "device": str(trainer.strategy.root_device.type),
            "train_seconds": round(seconds, 1),
            "train_samples_per_s": round(seen / seconds, 1),
        },
    )
    log.info(
        "best val_acc %.4f after %d epochs on %s (%.0f s)",
        checkpoint.best_model_score,
        epochs,
        trainer.strategy.root_device,
        seconds,
    )


def main(argv: list[str] | None = None) -> int:
    return run_stage("train", train, argv)


if __name__ == "__main__":
    sys.exit(main())
