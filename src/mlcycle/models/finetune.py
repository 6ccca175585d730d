"""Fine-tuning from a package: its network and weights, its featurizer, labels by name.

The classifier's last linear layer has one row per label. Rows of labels the package
shares with the task keep their weights, labels new to the task get freshly initialised
rows, labels the task no longer has are dropped; every other layer starts as trained.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from mlcycle.models.checkpoint import build_network, head
from mlcycle.models.package import Package, PackageError, load_package


def load_base(init_from: str, base_root: str) -> Package:
    """The package at train.init_from, which must lie under paths.base (so that DVC
    tracks it as a dependency); PackageError names what is wrong."""
    path, root = Path(init_from).resolve(), Path(base_root).resolve()
    if not path.is_relative_to(root):
        raise PackageError(
            f"train.init_from={init_from} is not under paths.base={base_root}: put the package "
            f"there (dvc get / dvc import / cp) so that DVC reruns training when it changes"
        )
    try:
        return load_package(path)
    except PackageError as e:
        raise PackageError(f"train.init_from={init_from}: {e}") from None


def conflicts(ours: dict[str, Any], theirs: dict[str, Any], prefix: str) -> list[str]:
    """The keys whose values differ, as `prefix.key=ours (package: theirs)`."""
    return [
        f"{prefix}.{key}={ours.get(key)!r} (the package has {theirs.get(key)!r})"
        for key in sorted(set(ours) | set(theirs))
        if ours.get(key) != theirs.get(key)
    ]


def transfer(base: Package, labels: list[str]) -> tuple[nn.Module, dict[str, list[str]]]:
    """The package's network for `labels`: trained weights, the head matched by label name.

    Returns the network and which labels were kept, added and dropped.
    """
    spec = dict(base.card["network"], n_classes=len(labels))
    net = build_network(spec)  # the caller seeded torch: new rows are reproducible
    new_head, old_head = head(net), head(base.net)
    head_names = {name for name, m in net.named_modules() if m is new_head}
    state = {
        k: v
        for k, v in base.net.state_dict().items()
        if not any(k.startswith(f"{name}.") for name in head_names)
    }
    missing, unexpected = net.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith(tuple(f"{n}." for n in head_names)) for k in missing):
        raise ValueError(f"the package's weights do not fit its network: {missing, unexpected}")
    kept = [label for label in labels if label in base.labels]
    with torch.no_grad():
        for label in kept:
            new_head.weight[labels.index(label)] = old_head.weight[base.labels.index(label)]
            new_head.bias[labels.index(label)] = old_head.bias[base.labels.index(label)]
    report = {
        "kept": kept,
        "new": [label for label in labels if label not in base.labels],
        "dropped": [label for label in base.labels if label not in labels],
    }
    return net, report


class FreezeFeatures(pl.Callback):
    """Train only the classifier for the first `epochs` epochs, then everything.

    Frozen parameters get no gradient, so AdamW leaves them (and their decay) alone.
    """

    def __init__(self, net: nn.Module, epochs: int) -> None:
        self.classifier = set(map(id, head(net).parameters()))
        self.net, self.epochs = net, epochs

    def on_train_epoch_start(self, trainer: pl.Trainer, _: pl.LightningModule) -> None:
        frozen = trainer.current_epoch < self.epochs
        for p in self.net.parameters():
            if id(p) not in self.classifier:
                p.requires_grad_(not frozen)
