"""Training audio: SpecAugment on the log-mel features (train.spec_augment)."""

from mlcycle.models.classifier import SpecAugment


def PART(train):  # noqa: N802 (a modality's part)
    return SpecAugment(**train.spec_augment)
