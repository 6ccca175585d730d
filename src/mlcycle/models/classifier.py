"""The LightningModule: any network from config, cross-entropy, augmentation, AdamW."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
import torchaudio
from torch import nn
from torchmetrics.functional import accuracy
from torchmetrics.functional.classification import binary_average_precision


class SpecAugment(nn.Module):
    """Frequency and time masking on (batch, 1, freq, time), each example masked on its own."""

    def __init__(self, freq_masks: int, freq_width: int, time_masks: int, time_width: int) -> None:
        super().__init__()
        self.masks = nn.ModuleList(
            [
                torchaudio.transforms.FrequencyMasking(freq_width, iid_masks=True)
                for _ in range(freq_masks)
            ]
            + [
                torchaudio.transforms.TimeMasking(time_width, iid_masks=True)
                for _ in range(time_masks)
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for mask in self.masks:
            x = mask(x)
        return x


class RandomShift(nn.Module):
    """Shift each image of (batch, C, H, W) by up to `max_shift` pixels (edges replicated)."""

    def __init__(self, max_shift: int) -> None:
        super().__init__()
        self.max_shift = max_shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.max_shift
        if m <= 0:
            return x
        padded = nn.functional.pad(x, (m, m, m, m), mode="replicate")
        h, w = x.shape[-2:]
        offsets = torch.randint(0, 2 * m + 1, (x.shape[0], 2))
        return torch.stack(
            [padded[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offsets.tolist())]
        )


def class_weights(choice: str | None, y: torch.Tensor, n_classes: int) -> torch.Tensor | None:
    """train.class_weight: None, or "balanced" (n / (classes x count), as scikit-learn)."""
    if choice is None:
        return None
    if choice != "balanced":
        raise ValueError(f"train.class_weight is {choice!r}; choose null or balanced")
    counts = torch.bincount(y, minlength=n_classes).double().clamp_min(1)
    return (len(y) / (n_classes * counts)).float()


class Classifier(pl.LightningModule):
    """Any network from config trained with label-smoothed cross-entropy, AdamW and a
    one-cycle schedule; `augment` runs on training batches only."""

    def __init__(
        self,
        net: nn.Module,
        n_classes: int,
        *,
        lr: float,
        weight_decay: float,
        label_smoothing: float,
        warmup_fraction: float,
        augment: nn.Module | None = None,
        weights: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.augment = augment
        self.n_classes = n_classes
        self.lr, self.weight_decay, self.warmup_fraction = lr, weight_decay, warmup_fraction
        self.loss = nn.CrossEntropyLoss(weight=weights, label_smoothing=label_smoothing)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, _):
        x, y = batch
        if self.augment is not None:
            x = self.augment(x)
        logits = self(x)
        loss = self.loss(logits, y)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log(
            "train_acc",
            accuracy(logits, y, "multiclass", num_classes=self.n_classes),
            on_step=False,
            on_epoch=True,
        )
        return loss

    def validation_step(self, batch, _):
        x, y = batch
        logits = self(x)
        self.log("val_loss", self.loss(logits, y), on_epoch=True, prog_bar=True)
        self.log(
            "val_acc",
            accuracy(logits, y, "multiclass", num_classes=self.n_classes),
            on_epoch=True,
            prog_bar=True,
        )
        if self.n_classes == 2:  # rare positives (fraud): what ranks them, the last label
            self.val_scores.append((logits.softmax(-1)[:, 1].detach(), y))

    def on_validation_epoch_start(self) -> None:
        self.val_scores: list[tuple[torch.Tensor, torch.Tensor]] = []

    def on_validation_epoch_end(self) -> None:
        if self.n_classes == 2 and self.val_scores:
            scores = torch.cat([s for s, _ in self.val_scores])
            y = torch.cat([t for _, t in self.val_scores])
            self.log("val_ap", binary_average_precision(scores, y), prog_bar=True)

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        total = max(int(self.trainer.estimated_stepping_batches), 4)
        # OneCycleLR needs at least two warm-up steps; tiny runs get exactly that.
        warmup = min(max(self.warmup_fraction, 2.0 / total), 0.5)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=self.lr, total_steps=total, pct_start=warmup
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
