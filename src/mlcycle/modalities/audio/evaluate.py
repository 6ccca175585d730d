"""evaluate for audio: the files' (mlcycle.modalities.files.evaluate)."""

from mlcycle.modalities.files.evaluate import evaluate as PART

__all__ = ["PART"]
