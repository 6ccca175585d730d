"""The audio featurizer: log-mel spectrograms (mlcycle.features.audio)."""

from mlcycle.features.audio import AudioFeaturizer as PART

__all__ = ["PART"]
