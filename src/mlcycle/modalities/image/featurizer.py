"""The image featurizer: grayscale, resized, normalised (mlcycle.features.image)."""

from mlcycle.features.image import ImageFeaturizer as PART

__all__ = ["PART"]
