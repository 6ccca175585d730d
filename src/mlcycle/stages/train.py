"""train: fit the configured network on data/features; best epoch -> models/model.ckpt.

Training state is checkpointed every epoch under models/train_state/; if a run is
interrupted, running the stage again with the same data and parameters resumes it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from dvclive.lightning import DVCLiveLogger
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, TensorDataset

from mlcycle.atomic import write_json_atomic, write_with
from mlcycle.models.classifier import Classifier, RandomShift, SpecAugment
from mlcycle.models.training import EpochReport, EpochSeed, EpochShuffle
from mlcycle.stages.runner import StageError, log, run_stage

FEATURES = Path("data/features")
MODELS = Path("models")
STATE = MODELS / "train_state"
METRICS = Path("metrics/train.json")
CURVES = Path("plots/train")


def load_split(split: str) -> TensorDataset:
    path = FEATURES / f"{split}.pt"
    if not path.is_file():
        raise StageError(f"{path} not found (run the featurize stage first)")
    data = torch.load(path, weights_only=True)
    return TensorDataset(data["x"], data["y"])


def fingerprint(params: DictConfig) -> str:
    """What a resumable run must share with the interrupted one: data and parameters."""
    h = hashlib.sha256()
    for name in ("stats.json", "train.pt", "val.pt"):
        h.update((FEATURES / name).read_bytes())
    for section in ("seed", "train", "model", "task"):
        h.update(
            json.dumps(
                OmegaConf.to_container(params, resolve=True)[section], sort_keys=True
            ).encode()
        )
    return h.hexdigest()


def resumable(key: str) -> Path | None:
    """models/train_state/last.ckpt if it belongs to this run, else None (state cleared)."""
    last = STATE / "last.ckpt"
    if last.is_file():
        try:
            hp = torch.load(last, map_location="cpu", weights_only=True)["hyper_parameters"]
            if hp.get("fingerprint") == key:
                return last
        except Exception:  # a checkpoint cut short by the interruption: start over
            pass
        log.info("discarding %s: it belongs to other data or parameters", STATE)
    shutil.rmtree(STATE, ignore_errors=True)
    return None


def build_model(params: DictConfig, stats: dict) -> Classifier:
    cfg = params.train
    labels, in_channels = stats["labels"], stats["input_shape"][0]
    net = instantiate(params.model, n_classes=len(labels), in_channels=in_channels, _convert_="all")
    if params.task.modality == "audio":
        augment = SpecAugment(**cfg.spec_augment)
    else:
        augment = RandomShift(cfg.max_shift)
    return Classifier(
        net,
        len(labels),
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        label_smoothing=cfg.label_smoothing,
        warmup_fraction=cfg.warmup_fraction,
        augment=augment,
    )


def train(params: DictConfig) -> None:
    cfg = params.train
    pl.seed_everything(params.seed, workers=True)
    train_set, val_set = load_split("train"), load_split("val")
    stats = json.loads((FEATURES / "stats.json").read_text())
    model = build_model(params, stats)
    key = fingerprint(params)
    # Stored in the checkpoint so that evaluate and serving rebuild the same network.
    model.save_hyperparameters(
        {
            "model": OmegaConf.to_container(params.model),
            "n_classes": len(stats["labels"]),
            "in_channels": stats["input_shape"][0],
            "labels": stats["labels"],
            "fingerprint": key,
        }
    )
    resume = resumable(key)
    checkpoint = pl.callbacks.ModelCheckpoint(
        dirpath=STATE,
        filename="best",
        monitor="val_acc",
        mode="max",
        save_top_k=1,
        enable_version_counter=False,
    )
    latest = pl.callbacks.ModelCheckpoint(  # every epoch: what an interrupted run resumes
        dirpath=STATE, filename="last", save_top_k=1, enable_version_counter=False
    )
    report = EpochReport()
    trainer = pl.Trainer(
        accelerator="auto",
        devices=1,
        max_epochs=cfg.max_epochs,
        deterministic=True,
        callbacks=[
            checkpoint,
            latest,
            EpochSeed(params.seed),
            report,
            pl.callbacks.EarlyStopping(monitor="val_acc", mode="max", patience=cfg.patience),
        ],
        logger=DVCLiveLogger(
            dir=str(CURVES),
            dvcyaml=False,
            save_dvc_exp=False,
            report=None,
            resume=resume is not None,
        ),
        enable_progress_bar=sys.stderr.isatty(),
        enable_model_summary=False,
        limit_train_batches=cfg.limit_train_batches or 1.0,
        log_every_n_steps=1,
    )
    train_loader = DataLoader(
        train_set, batch_size=cfg.batch_size, sampler=EpochShuffle(len(train_set), params.seed)
    )
    val_loader = DataLoader(val_set, batch_size=256)
    if resume is not None:
        log.info("resuming the interrupted run from %s", resume)
    start = time.perf_counter()
    trainer.fit(model, train_loader, val_loader, ckpt_path=resume)
    seconds = time.perf_counter() - start
    write_with(MODELS / "model.ckpt", lambda p: shutil.copyfile(checkpoint.best_model_path, p))
    shutil.rmtree(STATE, ignore_errors=True)
    epochs = trainer.current_epoch
    epochs_here = epochs - report.first_epoch  # a resumed run trained only these
    seen = (
        len(train_set) * epochs_here
        if not cfg.limit_train_batches
        else (cfg.limit_train_batches * cfg.batch_size * epochs_here)
    )
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
