"""train: fit the configured network on the feature store; best epoch -> paths.checkpoint.

The network (`model`, or the package of train.init_from to fine-tune) and the Lightning
Trainer (`trainer`) are built from their `_target_` configs; the schedule adapts to small
data (models.training.schedule). Training state is checkpointed every epoch under paths.train_state;
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
from torch.utils.data import DataLoader

from mlcycle.atomic import write_json_atomic, write_with
from mlcycle.features import store
from mlcycle.features.registry import from_stats
from mlcycle.modalities import modality
from mlcycle.models.classifier import Classifier, class_weights
from mlcycle.models.finetune import FreezeFeatures, conflicts, load_base, transfer
from mlcycle.models.package import PackageError
from mlcycle.models.training import (
    EpochReport,
    EpochSeed,
    ShardShuffle,
    fingerprint,
    resumable,
    schedule,
)
from mlcycle.stages.runner import StageError, log, run_stage


def starting_network(params: DictConfig, stats: store.FeatureStats):
    """The network training starts from: the model config's, freshly initialised, or the
    package's of train.init_from with its weights. Returns (net, its origin or None)."""
    if not params.train.init_from:
        net = instantiate(
            params.model,
            n_classes=len(stats.labels),
            in_channels=stats.input_shape[0],
            **network_inputs(stats),
            _convert_="all",
        )
        return net, None
    try:
        base = load_base(params.train.init_from, params.paths.base)
    except PackageError as e:
        raise StageError(str(e)) from None
    clash = conflicts(
        OmegaConf.to_container(params.model, resolve=True), base.card["network"]["model"], "model"
    )
    if clash:
        raise StageError(f"fine-tuning keeps the package's network, but {'; '.join(clash)}")
    net, labels = transfer(base, list(stats.labels))
    log.info(
        "fine-tuning %s from %s: labels kept %s, new %s, dropped %s",
        base.version,
        params.train.init_from,
        labels["kept"],
        labels["new"],
        labels["dropped"],
    )
    origin = {
        "path": params.train.init_from,
        "version": base.version,
        "task": base.card["task"],
        "git_revision": base.card.get("git_revision"),
        "labels": labels,
    }
    return net, origin


MONITORS = ("val_acc", "val_ap")  # what train.monitor may pick the best epoch by


def network_inputs(stats: store.FeatureStats) -> dict:
    """What the network needs to know of its inputs beyond their channels (a table's
    numeric width and category cardinalities); {} for audio and images."""
    return from_stats(stats.to_dict()).network_inputs()


def train(params: DictConfig) -> None:
    cfg, paths = params.train, params.paths
    pl.seed_everything(params.seed, workers=True)
    stats = store.load_stats(paths.features)
    if cfg.monitor not in MONITORS or (cfg.monitor == "val_ap" and len(stats.labels) != 2):
        raise StageError(
            f"train.monitor is {cfg.monitor!r}: choose val_acc, or val_ap for a task of two "
            f"labels (this one has {len(stats.labels)})"
        )
    train_split = store.load_split(paths.features, "train")
    val_split = store.load_split(paths.features, "val")
    net, origin = starting_network(params, stats)
    model = Classifier(
        net,
        len(stats.labels),
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        label_smoothing=cfg.label_smoothing,
        warmup_fraction=cfg.warmup_fraction,
        augment=modality(params.task.modality, "train")(cfg),
        weights=class_weights(cfg.class_weight, train_split.y, len(stats.labels)),
    )
    config = OmegaConf.to_container(params, resolve=True)
    run = {k: config[k] for k in ("seed", "threads", "train", "model", "trainer")}
    run["modality"] = params.task.modality
    key = fingerprint(store.files(paths.features, ("train", "val")), run)
    # Stored in the checkpoint so that evaluate and serving rebuild the same network.
    model.save_hyperparameters(
        {
            "model": config["model"],
            "n_classes": len(stats.labels),
            "in_channels": stats.input_shape[0],
            "inputs": network_inputs(stats),
            "labels": stats.labels,
            "fingerprint": key,
            "fine_tuned_from": origin,
        }
    )
    plan = schedule(
        len(train_split),
        len(val_split),
        len(stats.labels),
        cfg,
        config["trainer"].get("limit_train_batches", 1.0),
    )
    for note in plan.notes:
        log.info("%s", note)
    state = Path(paths.train_state)
    resume = resumable(state, key)
    best = pl.callbacks.ModelCheckpoint(
        dirpath=state,
        filename="best",
        monitor=cfg.monitor,
        mode="max",
        save_top_k=1,
        enable_version_counter=False,
    )
    latest = pl.callbacks.ModelCheckpoint(  # every epoch: what an interrupted run resumes
        dirpath=state, filename="last", save_top_k=1, enable_version_counter=False
    )
    report = EpochReport()
    callbacks = [latest, EpochSeed(params.seed), report]
    if plan.steer:
        callbacks += [
            best,
            pl.callbacks.EarlyStopping(monitor=cfg.monitor, mode="max", patience=cfg.patience),
        ]
    if origin and cfg.freeze_epochs:
        callbacks.append(FreezeFeatures(net, cfg.freeze_epochs))
    trainer = instantiate(
        params.trainer,
        max_epochs=plan.max_epochs,
        min_steps=cfg.min_steps,
        callbacks=callbacks,
        logger=DVCLiveLogger(
            dir=paths.train_log,
            dvcyaml=False,
            save_dvc_exp=False,
            report=None,
            resume=resume is not None,
        ),
        enable_progress_bar=sys.stderr.isatty(),
    )
    # one shard of the feature store in memory at a time (features.store)
    train_loader = DataLoader(
        train_split.dataset(),
        batch_size=cfg.batch_size,
        sampler=ShardShuffle(train_split.sizes, params.seed),
    )
    val_loader = DataLoader(val_split.dataset(), batch_size=256)
    if resume is not None:
        log.info("resuming the interrupted run from %s", resume)
    start = time.perf_counter()
    trainer.fit(model, train_loader, val_loader, ckpt_path=resume)
    seconds = time.perf_counter() - start
    if not trainer.is_global_zero:
        return  # distributed training: the other processes write nothing
    kept = best.best_model_path if plan.steer else str(state / "last.ckpt")
    write_with(paths.checkpoint, lambda p: shutil.copyfile(kept, p))
    shutil.rmtree(state, ignore_errors=True)
    device = trainer.strategy.root_device
    val_acc = best.best_model_score if plan.steer else trainer.callback_metrics[cfg.monitor]
    write_json_atomic(
        paths.metrics.train,
        {
            f"best_{cfg.monitor}": round(float(val_acc), 4),
            "epochs": trainer.current_epoch,
            "early_stopping": plan.steer,
            "device": device.type,
            "train_seconds": round(seconds, 1),
            "processes": trainer.world_size,
            "train_samples_per_s": round(report.samples * trainer.world_size / seconds, 1),
        },
    )
    log.info(
        "%s %s %.4f after %d epochs on %s (%.0f s)",
        "best" if plan.steer else "last",
        cfg.monitor,
        val_acc,
        trainer.current_epoch,
        device,
        seconds,
    )


def main(argv: list[str] | None = None) -> int:
    return run_stage("train", train, argv, pinned=True)


if __name__ == "__main__":
    sys.exit(main())
