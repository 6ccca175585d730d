"""Training images: random shifts of up to train.max_shift pixels."""

from mlcycle.models.classifier import RandomShift


def PART(train):  # noqa: N802 (a modality's part)
    return RandomShift(train.max_shift)
