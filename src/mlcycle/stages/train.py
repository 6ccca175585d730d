"""train: fit the configured network on the feature store; best epoch -> paths.checkpoint.

The network (`model`) and the Lightning Trainer (`trainer`) are built from their
`_target_` configs. Training state is checkpointed every epoch under paths.train_state;
if a run is interrupted, running the stage again with the same data and parameters
resumes it.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytorch_lightning as pl
from dvclive.lightning import DVCLiveLogger
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, TensorDataset

from mlcycle.atomic import write_json_atomic, write_with
from mlcycle.features import store
from mlcycle.models.classifier import Classifier, augmentation
from mlcycle.models.training import EpochReport, EpochSeed, EpochShuffle, fingerprint, resumable
from mlcycle.stages.runner import log, run_stage


def train(params: DictConfig) -> None:
    cfg, paths = params.train, params.paths
    pl.seed_everything(params.seed, workers=True)
    train_split = store.load_split(paths.features, "train")
    val_split = store.load_split(paths.features, "val")
    stats = store.load_stats(paths.features)
    net = instantiate(
        params.model,
        n_classes=len(stats.labels),
        in_channels=stats.input_shape[0],
        _convert_="all",
    )
    model = Classifier(
        net,
        len(stats.labels),
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        label_smoothing=cfg.label_smoothing,
        warmup_fraction=cfg.warmup_fraction,
        augment=augmentation(params.task.modality, cfg),
    )
    config = OmegaConf.to_container(params, resolve=True)
    run = {k: config[k] for k in ("seed", "train", "model", "trainer")}
    run["modality"] = params.task.modality
    key = fingerprint(store.files(paths.features, ("train", "val")), run)
    # Stored in the checkpoint so that evaluate and serving rebuild the same network.
    model.save_hyperparameters(
        {
            "model": config["model"],
            "n_classes": len(stats.labels),
            "in_channels": stats.input_shape[0],
            "labels": stats.labels,
            "fingerprint": key,
        }
    )
    state = Path(paths.train_state)
    resume = resumable(state, key)
    best = pl.callbacks.ModelCheckpoint(
        dirpath=state,
        filename="best",
        monitor="val_acc",
        mode="max",
        save_top_k=1,
        enable_version_counter=False,
    )
    latest = pl.callbacks.ModelCheckpoint(  # every epoch: what an interrupted run resumes
        dirpath=state, filename="last", save_top_k=1, enable_version_counter=False
    )
    report = EpochReport()
    trainer = instantiate(
        params.trainer,
        max_epochs=cfg.max_epochs,
        callbacks=[
            best,
            latest,
            EpochSeed(params.seed),
            report,
            pl.callbacks.EarlyStopping(monitor="val_acc", mode="max", patience=cfg.patience),
        ],
        logger=DVCLiveLogger(
            dir=paths.train_log,
            dvcyaml=False,
            save_dvc_exp=False,
            report=None,
            resume=resume is not None,
        ),
        enable_progress_bar=sys.stderr.isatty(),
    )
    train_loader = DataLoader(
        TensorDataset(train_split.x, train_split.y),
        batch_size=cfg.batch_size,
        sampler=EpochShuffle(len(train_split), params.seed),
    )
    val_loader = DataLoader(TensorDataset(val_split.x, val_split.y), batch_size=256)
    if resume is not None:
        log.info("resuming the interrupted run from %s", resume)
    start = time.perf_counter()
    trainer.fit(model, train_loader, val_loader, ckpt_path=resume)
    seconds = time.perf_counter() - start
    write_with(paths.checkpoint, lambda p: shutil.copyfile(best.best_model_path, p))
    shutil.rmtree(state, ignore_errors=True)
    device = trainer.strategy.root_device
    write_json_atomic(
        paths.metrics.train,
        {
            "best_val_acc": round(float(best.best_model_score), 4),
            "epochs": trainer.current_epoch,
            "device": device.type,
            "train_seconds": round(seconds, 1),
            "train_samples_per_s": round(report.samples / seconds, 1),
        },
    )
    log.info(
        "best val_acc %.4f after %d epochs on %s (%.0f s)",
        best.best_model_score,
        trainer.current_epoch,
        device,
        seconds,
    )


def main(argv: list[str] | None = None) -> int:
    return run_stage("train", train, argv)


if __name__ == "__main__":
    sys.exit(main())
